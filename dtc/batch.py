"""Building one or many inputs in one run.

Many inputs share a parse cache (a dtsi included by many boards is parsed
once per worker), the C preprocessor runs for upcoming inputs in threads
while a worker parses (cpp is a separate process), a failing input does not
stop the others, and every output goes through the on-disk build cache.

Parsing is Python, so one process uses one core: a large batch is split
among worker processes, one per core, each taking whole folders (the boards
of one SoC share their .dtsi, so each is still parsed by one worker).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, fields

from .buildcache import BuildCache
from .compiler import BuildOptions, emit, process
from .errors import Diagnostic, DtcError
from .frontend import ParseCache
from .outputs import depfile_text, write_atomic
from .pipeline import load_with, preprocess_ahead
from .preprocess import system_cpp
from .source import Location


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


def diagnostic_to_dict(d: Diagnostic) -> dict:
    out = asdict(d)
    out["location"] = [d.location.file, d.location.line, d.location.column] if d.location else None
    out["related"] = [[text, [loc.file, loc.line, loc.column]] for text, loc in d.related]
    return out


def diagnostic_from_dict(raw: dict) -> Diagnostic:
    raw = dict(raw)
    loc = raw.pop("location")
    related = raw.pop("related", [])
    names = {f.name for f in fields(Diagnostic)}
    d = Diagnostic(**{k: v for k, v in raw.items() if k in names})
    d.location = Location(*loc) if loc else None
    d.related = [(text, Location(*where)) for text, where in related]
    return d


def _settings(opts: BuildOptions, job: Job) -> dict:
    """Everything besides file contents that shapes a build's result."""
    s = {f.name: getattr(opts, f.name) for f in fields(BuildOptions)}
    s["include_dirs"] = [os.path.abspath(d) for d in opts.include_dirs]
    s["fmt"] = job.fmt
    s["cpp_path"] = system_cpp() if opts.system_cpp is not False else None
    return s


MIN_JOBS_PER_WORKER = 12  # below this, starting a worker process costs more than it saves


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
        self.use_cache = use_cache
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
        workers = min(self.jobs, len(pending) // MIN_JOBS_PER_WORKER)
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
        """Split by folder among worker processes; outcomes arrive as each job finishes."""
        groups = _by_folder(pending, workers)
        ctx = multiprocessing.get_context("spawn")  # no fork: the parent may run threads (a progress bar)
        results = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(self.opts, self.use_cache, group, results), daemon=True) for group in groups]
        for proc in procs:
            proc.start()
        outcomes: dict[int, Outcome] = {}
        expected = len(pending)
        index_of = {i: job for i, (job, _) in enumerate(pending)}
        while len(outcomes) < expected:
            try:
                index, ok, diags, cached = results.get(timeout=1.0)
            except Exception:  # queue.Empty: is anyone still working?
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
                continue
            outcome = Outcome(index_of[index], ok, [diagnostic_from_dict(d) for d in diags], cached)
            outcomes[index] = outcome
            if on_done:
                on_done(outcome)
        for proc in procs:
            proc.join(timeout=5)
        for i, job in index_of.items():  # a worker that died took its jobs with it: say so, never hang
            if i not in outcomes:
                outcome = Outcome(job, False, [Diagnostic("error", "armboot: the build worker for this input stopped", file=job.input)])
                outcomes[i] = outcome
                if on_done:
                    on_done(outcome)
        return [outcomes[i] for i in range(expected)]

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


def _by_folder(pending: list[tuple[Job, str | None]], workers: int) -> list[list[tuple[int, Job, str | None]]]:
    """Whole folders to each worker, largest first onto the least loaded (boards of a folder share includes)."""
    folders: dict[str, list[tuple[int, Job, str | None]]] = {}
    for i, (job, key) in enumerate(pending):
        folders.setdefault(os.path.dirname(os.path.abspath(job.input)), []).append((i, job, key))
    groups: list[list[tuple[int, Job, str | None]]] = [[] for _ in range(workers)]
    for members in sorted(folders.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [g for g in groups if g]


def _worker(opts: BuildOptions, use_cache: bool, group: list[tuple[int, Job, str | None]], results: object) -> None:
    """One worker process: build its jobs in order, one message per job (index, ok, diagnostics, cached)."""
    builder = Builder(opts, use_cache, jobs=1)
    ahead = preprocess_ahead([job.input for _, job, _ in group], opts, 1)
    for (index, job, key), pre in zip(group, ahead, strict=True):
        try:
            outcome = builder._build(job, key, pre)
        except Exception as e:  # an armboot bug: this input fails, the others go on
            outcome = Outcome(job, False, [Diagnostic("error", f"armboot: internal error: {type(e).__name__}: {e}", file=job.input)])
        results.put((index, outcome.ok, [diagnostic_to_dict(d) for d in outcome.diagnostics], outcome.cached))  # type: ignore[attr-defined]
