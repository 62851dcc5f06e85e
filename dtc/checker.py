"""``armboot check``: dtc's semantic checks and binding-schema validation of many trees.

Each input is read as ``armboot build`` reads it, the checks run with every
finding kept (dtc would stop at the first error-level one), then, unless told
otherwise, the processed tree is validated against the binding schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from .compiler import BuildOptions, process
from .errors import Diagnostic, DtcError, diagnostic_from_dict, diagnostic_to_dict
from .frontend import ParseCache
from .pipeline import load_with, preprocess_ahead
from .workers import run as workers_run
from .workers import worker_count


@dataclass
class CheckOptions:
    build: BuildOptions
    schemas: bool = True
    schema_dirs: list[str] = field(default_factory=list)
    unknown_compatible: str = "warning"  # "warning" | "error" | "off"


class Checker:
    def __init__(self, opts: CheckOptions) -> None:
        self.opts = opts
        self.cache = ParseCache()
        self._validator = None

    @property
    def validator(self):
        if self._validator is None:
            from .schemacheck import load_validator

            self._validator = load_validator(self.opts.schema_dirs)
        return self._validator

    def check_many(self, paths: list[str], jobs: int = 0) -> Iterator[tuple[str, list[Diagnostic]]]:
        """Findings per input, in input order: a large batch in worker processes (as builds are),
        otherwise here, with the preprocessor running ahead."""
        workers = worker_count(jobs, len(paths))
        if workers > 1 and "-" not in paths:
            found: dict[int, list[Diagnostic]] = {}
            for index, result in workers_run(_worker, self.opts, paths, workers):
                if result is None:
                    result = [diagnostic_to_dict(Diagnostic("error", "armboot: the check worker for this input stopped", check="input", file=paths[index]))]
                found[index] = [diagnostic_from_dict(d) for d in result]
            for index, path in enumerate(paths):
                yield path, found[index]
            return
        build = replace(self.opts.build, force=True)
        for path, pre in zip(paths, preprocess_ahead(paths, build, max(1, jobs or 2)), strict=True):
            yield path, self.check(path, pre)

    def check(self, path: str, pre: Future | None = None) -> list[Diagnostic]:
        build = replace(self.opts.build, force=True)
        try:
            tree, _deps, diags = load_with(path, build, self.cache, pre)
            more, _errors = process(tree, build)
        except DtcError as e:
            for d in e.diagnostics:
                d.check = d.check or "input"
                d.file = d.file or path
            return e.diagnostics
        findings = [*diags, *more]
        if self.opts.schemas:
            from .schemacheck import validate

            findings += validate(tree, self.validator, self.opts.unknown_compatible)
        for d in findings:
            d.file = d.file or path
        return findings


def _worker(opts: CheckOptions, group: list[tuple[int, str]], results: Any) -> None:
    """One worker process: check its inputs in order, one message per input."""
    checker = Checker(opts)
    build = replace(opts.build, force=True)
    for (index, path), pre in zip(group, preprocess_ahead([p for _, p in group], build, 1), strict=True):
        try:
            found = checker.check(path, pre)
        except Exception as e:  # an armboot bug: this input fails, the others go on
            found = [Diagnostic("error", f"armboot: internal error: {type(e).__name__}: {e}", check="input", file=path)]
        results.put((index, [diagnostic_to_dict(d) for d in found]))
