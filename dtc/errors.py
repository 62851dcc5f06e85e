"""Diagnostics as values, and the one exception of the compiler layer.

A Diagnostic says what is wrong and where (file:line:column when the input
was source text, a byte offset when it was a DTB, a node path always when there
is one); rendering to a terminal, JSON or SARIF happens elsewhere, once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import NoReturn

from .source import Location


@dataclass
class Diagnostic:
    level: str  # "error" | "warning" | "note"
    message: str
    location: Location | None = None
    check: str = ""
    path: str = ""
    property: str = ""
    source_line: str = ""
    hint: str = ""
    related: list[tuple[str, Location]] = field(default_factory=list)
    dtb_offset: int | None = None
    file: str = ""
    schema: str = ""  # the binding schema's $id, for schema findings

    def where(self) -> str:
        if self.location is not None:
            return str(self.location)
        if self.dtb_offset is not None:
            return f"{self.file}:offset 0x{self.dtb_offset:x}" if self.file else f"offset 0x{self.dtb_offset:x}"
        return self.file

    def __str__(self) -> str:
        where = self.where()
        head = f"{where}: " if where else ""
        check = f" ({self.check})" if self.check else ""
        return f"{head}{self.level}{check}: {self.message}"


class DtcError(Exception):
    """Input the compiler cannot turn into a tree (or a DTB it cannot read)."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = Diagnostic("error", diagnostics)
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


def fail(message: str, location: Location | None = None, **kw: object) -> NoReturn:
    raise DtcError(Diagnostic("error", message, location, **kw))  # type: ignore[arg-type]


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
