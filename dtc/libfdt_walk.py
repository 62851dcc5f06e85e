"""A strict walk over a whole DTB, to say where a damaged blob goes wrong.

libfdt answers a damaged structure with a bare error code from deep inside
some lookup.  When that happens, this walker goes through the blob from the
header on, checking everything libfdt relies on, and reports the first
problem with its byte offset, so the user learns where the damage is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .libfdt_ro import (
    FDT_BEGIN_NODE,
    FDT_END,
    FDT_END_NODE,
    FDT_MAGIC,
    FDT_NOP,
    FDT_PROP,
    FIRST_SUPPORTED_VERSION,
    LAST_SUPPORTED_VERSION,
    RESERVE_ENTRY_SIZE,
    BlobRangeError,
    FdtReader,
)


@dataclass(frozen=True)
class Damage:
    offset: int  # absolute byte offset in the blob
    reason: str


@dataclass(frozen=True)
class Token:
    """One structure-block item: a node start (with name), a property (with name and value), a node end."""

    tag: int
    offset: int  # absolute byte offset of the tag
    name: bytes = b""
    value: bytes = b""


class _Damaged(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.damage = Damage(offset, reason)


def find_damage(blob: bytes | bytearray) -> Damage | None:
    """The first thing wrong with ``blob``, or None if the walk finds nothing."""
    try:
        for _ in walk(blob):
            pass
    except _Damaged as exc:
        return exc.damage
    except BlobRangeError as exc:
        return Damage(exc.offset, "the blob ends too early")
    return None


def walk(blob: bytes | bytearray) -> Iterator[Token]:
    """Every token of the structure block, in order, checking as it goes."""
    fdt = FdtReader(blob)
    _check_header(fdt)
    _check_reserve_map(fdt)
    yield from _walk_structure(fdt)


def _check_header(fdt: FdtReader) -> None:
    if len(fdt.buf) < 28:
        raise _Damaged(0, f"only {len(fdt.buf)} bytes: too short for a DTB header")
    if fdt.magic != FDT_MAGIC:
        raise _Damaged(0, f"bad magic 0x{fdt.magic:08x} (a DTB starts with 0xd00dfeed)")
    version, last_comp = fdt.version, fdt.last_comp_version
    if version < FIRST_SUPPORTED_VERSION or last_comp > LAST_SUPPORTED_VERSION:
        raise _Damaged(20, f"unsupported DTB version {version} (last compatible version {last_comp})")
    totalsize = fdt.totalsize
    if totalsize > len(fdt.buf):
        raise _Damaged(4, f"header says {totalsize} bytes but the blob has {len(fdt.buf)}")
    header_size = 40 if version >= 17 else 36 if version >= 3 else 32 if version >= 2 else 28
    if totalsize < header_size:
        raise _Damaged(4, f"total size {totalsize} is smaller than the {header_size}-byte header")
    for field, name in ((8, "structure block"), (12, "strings block"), (16, "memory reserve map")):
        if fdt.u32(field) > totalsize:
            raise _Damaged(field, f"the {name} starts at 0x{fdt.u32(field):x}, beyond the blob's end")
    if version >= 3 and fdt.off_dt_strings + fdt.size_dt_strings > totalsize:
        raise _Damaged(32, "the strings block runs past the blob's end")
    if version >= 17 and fdt.off_dt_struct + fdt.size_dt_struct > totalsize:
        raise _Damaged(36, "the structure block runs past the blob's end")


def _check_reserve_map(fdt: FdtReader) -> None:
    pos = fdt.off_mem_rsvmap
    while True:
        if pos + RESERVE_ENTRY_SIZE > fdt.totalsize:
            raise _Damaged(pos, "the memory reserve map has no terminating entry")
        if fdt.u64(pos + 8) == 0:
            return
        pos += RESERVE_ENTRY_SIZE


def _walk_structure(fdt: FdtReader) -> Iterator[Token]:
    base = fdt.off_dt_struct
    offset = 0
    depth = 0
    while True:
        tag, nxt = fdt.next_tag(offset)
        where = base + offset
        if tag == FDT_END:
            if nxt < 0:
                raise _Damaged(where, _tag_problem(fdt, offset))
            if depth:
                raise _Damaged(where, f"FDT_END inside {depth} unclosed node(s)")
            return
        if tag == FDT_BEGIN_NODE:
            if depth == 0 and offset:
                raise _Damaged(where, "a second root node")
            name, _ = fdt.get_name(offset)
            depth += 1
            yield Token(tag, where, name or b"")
        elif tag == FDT_END_NODE:
            if depth == 0:
                raise _Damaged(where, "FDT_END_NODE without a matching FDT_BEGIN_NODE")
            depth -= 1
            yield Token(tag, where)
        elif tag == FDT_PROP:
            if depth == 0:
                raise _Damaged(where, "a property outside the root node")
            pos, name, length = fdt.getprop_by_offset(offset)
            if pos is None:
                raise _Damaged(where + 8, "the property's name offset does not point at a string")
            yield Token(tag, where, name, bytes(fdt.buf[pos : pos + length]))
        elif tag != FDT_NOP:  # pragma: no cover - next_tag reports unknown tags as FDT_END
            raise _Damaged(where, f"unknown tag 0x{tag:x}")
        offset = nxt


def _tag_problem(fdt: FdtReader, offset: int) -> str:
    """Why next_tag() stopped at ``offset``."""
    limit = fdt.struct_limit()
    if offset + 4 > limit:
        return "the structure block ends without an FDT_END tag"
    tag = fdt.u32(fdt.off_dt_struct + offset)
    if tag == FDT_BEGIN_NODE:
        return "a node name runs past the end of the structure block"
    if tag == FDT_PROP:
        return "a property value runs past the end of the structure block"
    return f"unknown tag 0x{tag:08x}"
