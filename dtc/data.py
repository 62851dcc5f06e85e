"""Property values: bytes plus typed markers, as dtc's ``struct data``.

Markers record what the bytes came from (cells of some width, strings,
phandle or path references, labels inside a value).  The DTB needs only the
bytes; references need the markers to be resolved, and the DTS/YAML writers
use them to print values the way they were written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Kind(IntEnum):
    """Marker kinds, in dtc's ``enum markertype`` order."""

    NONE = 0
    REF_PHANDLE = 1
    REF_PATH = 2
    LABEL = 3
    UINT8 = 4
    UINT16 = 5
    UINT32 = 6
    UINT64 = 7
    STRING = 8


TYPE_KINDS = frozenset({Kind.UINT8, Kind.UINT16, Kind.UINT32, Kind.UINT64, Kind.STRING})
WIDTH_OF_KIND = {Kind.UINT8: 1, Kind.UINT16: 2, Kind.UINT32: 4, Kind.UINT64: 8}
KIND_OF_BITS = {8: Kind.UINT8, 16: Kind.UINT16, 32: Kind.UINT32, 64: Kind.UINT64}


@dataclass(frozen=True, slots=True)
class Marker:
    offset: int
    kind: Kind
    ref: str | None = None


class Data:
    """An immutable property value: ``value`` bytes and ``markers`` in offset order."""

    __slots__ = ("markers", "value")

    value: bytes
    markers: tuple[Marker, ...]

    def __init__(self, value: bytes = b"", markers: tuple[Marker, ...] = ()) -> None:
        self.value = value
        self.markers = markers

    def __len__(self) -> int:
        return len(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Data) and self.value == other.value and self.markers == other.markers

    def __hash__(self) -> int:
        return hash((self.value, self.markers))

    def __repr__(self) -> str:
        return f"Data({self.value!r}, {list(self.markers)!r})"

    def merge(self, other: Data) -> Data:
        """Concatenate, shifting the other value's markers (dtc's data_merge)."""
        if not other.markers:
            return Data(self.value + other.value, self.markers)
        base = len(self.value)
        shifted = tuple(Marker(m.offset + base, m.kind, m.ref) for m in other.markers)
        return Data(self.value + other.value, self.markers + shifted)

    def with_marker(self, kind: Kind, ref: str | None = None) -> Data:
        """Add a marker at the current end of the value."""
        return Data(self.value, (*self.markers, Marker(len(self.value), kind, ref)))

    def markers_of(self, kind: Kind) -> list[Marker]:
        return [m for m in self.markers if m.kind == kind]

    def patch_cell(self, offset: int, cell: int) -> Data:
        """Overwrite the 32-bit cell at ``offset`` (phandle fix-up)."""
        value = self.value[:offset] + cell.to_bytes(4, "big") + self.value[offset + 4 :]
        return Data(value, self.markers)

    def insert_at(self, marker: Marker, blob: bytes) -> Data:
        """Insert bytes at a marker; every later marker moves (dtc's data_insert_at_marker)."""
        at = marker.offset
        value = self.value[:at] + blob + self.value[at:]
        moved: list[Marker] = []
        seen = False
        for m in self.markers:
            if seen:
                moved.append(Marker(m.offset + len(blob), m.kind, m.ref))
            else:
                moved.append(m)
                seen = m is marker
        return Data(value, tuple(moved))

    # Typed readers used by everything downstream of the compiler.

    def is_string_list(self) -> bool:
        """True when the value is one or more NUL-terminated printable strings."""
        v = self.value
        if not v or v[-1] != 0:
            return False
        return all(s and all(0x20 <= c <= 0x7E for c in s) for s in v[:-1].split(b"\0"))

    def strings(self) -> list[str]:
        v = self.value
        if v.endswith(b"\0"):
            v = v[:-1]
        return [s.decode("latin-1") for s in v.split(b"\0")] if v else []

    def cells(self) -> list[int]:
        v = self.value
        return [int.from_bytes(v[i : i + 4], "big") for i in range(0, len(v) - len(v) % 4, 4)]


EMPTY = Data()


def u32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "big")


def cells_data(*cells: int) -> Data:
    return Data(b"".join(u32(c) for c in cells), (Marker(0, Kind.UINT32),))


def string_data(*strings: str) -> Data:
    return Data(b"".join(s.encode("latin-1") + b"\0" for s in strings), (Marker(0, Kind.STRING),))
