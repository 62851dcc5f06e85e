"""Building one or many inputs in one process.

Many inputs share a parse cache (a dtsi included by many boards is parsed
once per run), the C preprocessor runs for upcoming inputs in worker threads
while the main thread parses (cpp is a separate process, so the two cores are
both busy), a failing input does not stop the others, and every output goes
through the on-disk build cache.
"""

from __future__ import annotations

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


class Builder:
    """Runs build jobs with shared caches; ``on_done`` is called after each job."""

    def __init__(self, opts: BuildOptions, use_cache: bool = True, jobs: int = 0) -> None:
        opts.validate()
        self.opts = opts
        self.parse_cache = ParseCache()
        self.cache = BuildCache(enabled=use_cache)
        self.jobs = jobs or min(4, os.cpu_count() or 1)

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
        ahead = preprocess_ahead([job.input for job, _ in pending], self.opts, self.jobs)
        for (job, key), pre in zip(pending, ahead, strict=True):
            outcome = self._build(job, key, pre)
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
        order = {id(j): i for i, j in enumerate(jobs)}
        outcomes.sort(key=lambda o: order[id(o.job)])
        return outcomes

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
