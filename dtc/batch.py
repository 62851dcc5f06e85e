"""Building one or many inputs in one run.

Many inputs share a parse cache (a dtsi included by many boards is parsed
once per worker), the C preprocessor runs for upcoming inputs in threads
while a worker parses (cpp is a separate process), a failing input does not
stop the others, and every output goes through the on-disk build cache.

A large batch is split among worker processes (dtc/workers.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from typing import Any

from .buildcache import BuildCache
from .compiler import BuildOptions, emit, process
from .errors import Diagnostic, DtcError, diagnostic_from_dict, diagnostic_to_dict
from .frontend import ParseCache
from .outputs import depfile_text, write_atomic
from .pipeline import load_with, preprocess_ahead
from .preprocess import system_cpp
from .workers import run as workers_run
from .workers import worker_count


@dataclass
class Job:
    input: str
    output: str  # "-" for stdout
    fmt: str = "dtb"
    depfile: str | None = None


@dataclass
class Outcome:
    job: Job
    ok: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)
    cached: bool = False


def _settings(opts: BuildOptions, job: Job) -> dict:
    """Everything besides file contents that shapes a build's result."""
    s = {f.name: getattr(opts, f.name) for f in fields(BuildOptions)}
    s["include_dirs"] = [os.path.abspath(d) for d in opts.include_dirs]
    s["fmt"] = job.fmt
    s["cpp_path"] = system_cpp() if opts.system_cpp is not False else None
    return s


class Builder:
    """Runs build jobs with shared caches; ``on_done`` is called after each job.

    ``jobs`` is how many workers run at once (default: the cores): processes for a large
    batch, cpp threads within each.
    """

    def __init__(self, opts: BuildOptions, use_cache: bool = True, jobs: int = 0) -> None:
        opts.validate()
        self.opts = opts
        self.parse_cache = ParseCache()
        self.cache = BuildCache(enabled=use_cache)
        self.jobs = jobs or min(8, os.cpu_count() or 1)

    def run(self, jobs: list[Job], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        outcomes: list[Outcome] = []
        pending: list[tuple[Job, str | None]] = []
        for job in jobs:
            key = self._key(job)
            hit = self.cache.get(key) if key else None
            if hit is not None:
                outcome = self._replay(job, hit.output, hit.deps, hit.diagnostics)
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
            else:
                pending.append((job, key))
        workers = worker_count(self.jobs, len(pending))
        if workers > 1 and all(job.output != "-" for job, _ in pending):
            built = self._in_workers(pending, workers, on_done)
        else:
            built = self._here(pending, on_done)
        outcomes += built
        order = {id(j): i for i, j in enumerate(jobs)}
        outcomes.sort(key=lambda o: order[id(o.job)])
        return outcomes

    def _here(self, pending: list[tuple[Job, str | None]], on_done: Callable[[Outcome], None] | None) -> list[Outcome]:
        outcomes = []
        ahead = preprocess_ahead([job.input for job, _ in pending], self.opts, max(1, self.jobs))
        for (job, key), pre in zip(pending, ahead, strict=True):
            outcome = self._build(job, key, pre)
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
        return outcomes

    def _in_workers(
        self, pending: list[tuple[Job, str | None]], workers: int, on_done: Callable[[Outcome], None] | None
    ) -> list[Outcome]:
        """Worker processes take whole folders; outcomes arrive as each job finishes."""
        setup = (self.opts, self.cache.enabled, pending)
        outcomes: dict[int, Outcome] = {}
        for index, result in workers_run(_worker, setup, [job.input for job, _ in pending], workers):
            job = pending[index][0]
            if result is None:  # its worker died: say so, never hang
                outcome = Outcome(job, False, [Diagnostic("error", "armboot: the build worker for this input stopped", file=job.input)])
            else:
                ok, diags, cached = result
                outcome = Outcome(job, ok, [diagnostic_from_dict(d) for d in diags], cached)
            outcomes[index] = outcome
            if on_done:
                on_done(outcome)
        return [outcomes[i] for i in range(len(pending))]

    def _key(self, job: Job) -> str | None:
        if not self.cache.enabled or job.input == "-":
            return None
        return self.cache.key(job.input, _settings(self.opts, job))

    def _build(self, job: Job, key: str | None, pre: Future | None) -> Outcome:
        opts = self.opts
        diags: list[Diagnostic] = []
        try:
            tree, deps, load_diags = load_with(job.input, opts, self.parse_cache, pre)
            diags += load_diags
            more, _errors = process(tree, opts)
            diags += more
            data, warnings = emit(tree, job.fmt, opts)
            diags += [Diagnostic("warning", w, file=job.input) for w in warnings]
        except DtcError as e:
            return Outcome(job, False, diags + e.diagnostics)
        try:
            self._write(job, data, deps)
        except OSError as e:
            return Outcome(job, False, [*diags, Diagnostic("error", f"cannot write {job.output}: {e.strerror}")])
        if key is not None:
            self.cache.put(key, data, deps, [diagnostic_to_dict(d) for d in diags])
        return Outcome(job, True, diags)

    def _write(self, job: Job, data: bytes, deps: list[str]) -> None:
        write_atomic(job.output, data)
        if job.depfile:
            write_atomic(job.depfile, depfile_text(job.output, deps).encode())

    def _replay(self, job: Job, data: bytes, deps: list[str], diagnostics: list[dict]) -> Outcome:
        diags = [diagnostic_from_dict(d) for d in diagnostics]
        try:
            self._write(job, data, deps)
        except OSError as e:
            return Outcome(job, False, [Diagnostic("error", f"cannot write {job.output}: {e.strerror}")], cached=True)
        return Outcome(job, True, diags, cached=True)



def _worker(setup: tuple, group: list[tuple[int, str]], results: Any) -> None:
    """One worker process: build its jobs in order, one message per job."""
    opts, use_cache, pending = setup
    builder = Builder(opts, use_cache, jobs=1)
    ahead = preprocess_ahead([path for _, path in group], opts, 1)
    for (index, _path), pre in zip(group, ahead, strict=True):
        job, key = pending[index]
        try:
            outcome = builder._build(job, key, pre)
        except Exception as e:  # an armboot bug: this input fails, the others go on
            outcome = Outcome(job, False, [Diagnostic("error", f"armboot: internal error: {type(e).__name__}: {e}", file=job.input)])
        results.put((index, (outcome.ok, [diagnostic_to_dict(d) for d in outcome.diagnostics], outcome.cached)))
