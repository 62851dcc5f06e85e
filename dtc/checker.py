"""``armboot check``: dtc's semantic checks and binding-schema validation of many trees.

Each input is read as ``armboot build`` reads it, the checks run with every
finding kept (dtc would stop at the first error-level one), then, unless told
otherwise, the processed tree is validated against the binding schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from .compiler import BuildOptions, process
from .errors import Diagnostic, DtcError
from .frontend import ParseCache
from .pipeline import load_with, preprocess_ahead


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

    def check_many(self, paths: list[str], jobs: int = 2) -> Iterator[tuple[str, list[Diagnostic]]]:
        """Findings per input, with the preprocessor running ahead as in batch builds."""
        build = replace(self.opts.build, force=True)
        for path, pre in zip(paths, preprocess_ahead(paths, build, jobs), strict=True):
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
