"""Where things came from: source buffers, cpp linemarkers and file:line:column.

Every buffer read during one compilation (the main source, /include/d files)
gets a range in one address space, so a position is a single integer.  cpp
linemarkers (``# 12 "board.dtsi" 1``) are honoured, so a position in
preprocessed text is reported in the file the user wrote.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

_LINEMARKER = re.compile(r'^#(?:line)?[ \t]+([0-9]+)[ \t]+"((?:[^\\"\n]|\\.)*)"[ \t0-9]*$', re.MULTILINE)


@dataclass
class Buffer:
    name: str
    text: str
    base: int
    _newlines: list[int] | None = field(default=None, repr=False)
    _markers: list[tuple[int, int, str]] | None = field(default=None, repr=False)

    @property
    def newlines(self) -> list[int]:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return self._newlines

    @property
    def markers(self) -> list[tuple[int, int, str]]:
        """(physical line after the marker, logical line number, file name), in order."""
        if self._markers is None:
            out: list[tuple[int, int, str]] = []
            if "#" in self.text:
                for m in _LINEMARKER.finditer(self.text):
                    phys = bisect.bisect_left(self.newlines, m.start()) + 1
                    out.append((phys + 1, int(m.group(1)), m.group(2).replace('\\"', '"').replace("\\\\", "\\")))
            self._markers = out
        return self._markers


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SourceMap:
    """All buffers of one compilation, addressable by a single integer position."""

    def __init__(self) -> None:
        self.buffers: list[Buffer] = []
        self._bases: list[int] = []
        self._next = 0

    def add(self, name: str, text: str) -> Buffer:
        buf = Buffer(name, text, self._next)
        self.buffers.append(buf)
        self._bases.append(self._next)
        self._next += len(text) + 1
        return buf

    def buffer_at(self, pos: int) -> Buffer:
        return self.buffers[bisect.bisect_right(self._bases, pos) - 1]

    def locate(self, pos: int) -> Location:
        buf = self.buffer_at(pos)
        off = pos - buf.base
        nl = buf.newlines
        idx = bisect.bisect_left(nl, off)  # physical line index (0-based)
        line_start = nl[idx - 1] + 1 if idx > 0 else 0
        phys = idx + 1
        column = off - line_start + 1
        name, line = buf.name, phys
        markers = buf.markers
        if markers:
            k = bisect.bisect_right(markers, (phys, float("inf"), "")) - 1
            if k >= 0:
                first_phys, logical, fname = markers[k]
                name, line = fname, logical + (phys - first_phys)
        return Location(name, line, column)

    def line_text(self, pos: int) -> str:
        """The physical source line containing ``pos`` (as preprocessed)."""
        buf = self.buffer_at(pos)
        off = pos - buf.base
        start = buf.text.rfind("\n", 0, off) + 1
        end = buf.text.find("\n", off)
        return buf.text[start : end if end >= 0 else len(buf.text)]
