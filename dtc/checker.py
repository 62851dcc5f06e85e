"""``armboot check``: dtc's semantic checks and binding-schema validation of many trees.

Each input is read as ``armboot build`` reads it, the checks run with every
finding kept (dtc would stop at the first error-level one), then, unless told
otherwise, the processed tree is validated against the binding schemas.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .compiler import BuildOptions, load, process
from .errors import Diagnostic, DtcError
from .frontend import ParseCache


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

    def check(self, path: str) -> list[Diagnostic]:
        build = replace(self.opts.build, force=True)
        try:
            tree, _deps, diags = load(path, build, self.cache)
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
