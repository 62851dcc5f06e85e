"""The flattened device tree (DTB) writer, byte-compatible with dtc's flattree.c.

Layout: header, memory reserve map (8-byte aligned), structure block,
strings block, optional padding.  Property names go into the strings block
the way dtc's stringtable_insert does it: a name that already occurs as a
NUL-terminated suffix of the table reuses that offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .tree import DeviceTree, Node

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 1
FDT_END_NODE = 2
FDT_PROP = 3
FDT_NOP = 4
FDT_END = 9


@dataclass(frozen=True)
class Version:
    number: int
    last_compatible: int
    header_size: int
    full_paths: bool = False  # v1-3: node names are full paths
    var_align: bool = False  # v1-3: values of 8+ bytes are 8-byte aligned
    name_props: bool = False  # v1-3: every node gets a "name" property
    boot_cpuid: bool = True
    strings_size: bool = True
    struct_size: bool = True


VERSIONS = {
    1: Version(1, 1, 28, True, True, True, False, False, False),
    2: Version(2, 1, 32, True, True, True, True, False, False),
    3: Version(3, 1, 36, True, True, True, True, True, False),
    16: Version(16, 16, 36, struct_size=False),
    17: Version(17, 16, 40),
}


class StringTable:
    """dtc's string table: reuse any existing NUL-terminated suffix, else append."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.offsets: dict[bytes, int] = {}

    def insert(self, name: bytes) -> int:
        off = self.offsets.get(name)
        if off is not None:
            return off
        off = len(self.blob)
        self.blob += name + b"\0"
        for i in range(len(name) + 1):
            self.offsets.setdefault(name[i:], off + i)
        return off


def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


def _flatten(node: Node, out: bytearray, strings: StringTable, v: Version) -> None:
    pack = struct.pack
    name = (node.path if v.full_paths else node.name).encode("latin-1")
    out += pack(">I", FDT_BEGIN_NODE)
    out += name + b"\0"
    out += b"\0" * (_align(len(out), 4) - len(out))
    seen_name = False
    for prop in node.props:
        if prop.deleted:
            continue
        if prop.name == "name":
            seen_name = True
        value = prop.data.value
        out += pack(">III", FDT_PROP, len(value), strings.insert(prop.name.encode("latin-1")))
        if v.var_align and len(value) >= 8:
            out += b"\0" * (_align(len(out), 8) - len(out))
        out += value
        out += b"\0" * (_align(len(out), 4) - len(out))
    if v.name_props and not seen_name:
        base = node.basename.encode("latin-1") if node.parent is not None else b""
        out += pack(">III", FDT_PROP, len(base) + 1, strings.insert(b"name"))
        if v.var_align and len(base) + 1 >= 8:
            out += b"\0" * (_align(len(out), 8) - len(out))
        out += base + b"\0"
        out += b"\0" * (_align(len(out), 4) - len(out))
    for child in node.children:
        if not child.deleted:
            _flatten(child, out, strings, v)
    out += pack(">I", FDT_END_NODE)


def to_dtb(
    tree: DeviceTree,
    version: int = 17,
    reserve_slots: int = 0,
    min_size: int = 0,
    pad: int = 0,
    align: int = 0,
) -> tuple[bytes, list[str]]:
    """Flatten a tree (dtc's dt_to_blob); returns the blob and any warnings."""
    v = VERSIONS[version]
    warnings: list[str] = []
    dt = bytearray()
    strings = StringTable()
    if not tree.root.deleted:
        _flatten(tree.root, dt, strings, v)
    dt += struct.pack(">I", FDT_END)
    rsv = bytearray()
    for entry in tree.reserves:
        rsv += struct.pack(">QQ", entry.address & (2**64 - 1), entry.size & (2**64 - 1))
    rsv += b"\0" * (16 * reserve_slots)
    reserve_off = _align(v.header_size, 8)
    rsv_size = len(rsv) + 16
    total = reserve_off + rsv_size + len(dt) + len(strings.blob)
    padlen = 0
    if min_size > 0:
        padlen = min_size - total
        if padlen < 0:
            padlen = 0
            warnings.append(f"blob size {total} >= minimum size {min_size}")
    if pad > 0:
        padlen = pad
    if align > 0:
        padlen = _align(total + padlen, align) - total
    fields = [
        FDT_MAGIC,
        total + max(padlen, 0),
        reserve_off + rsv_size,
        reserve_off + rsv_size + len(dt),
        reserve_off,
        v.number,
        v.last_compatible,
        tree.boot_cpuid & 0xFFFFFFFF if v.boot_cpuid else 0xFFFFFFFF,
        len(strings.blob) if v.strings_size else 0xFFFFFFFF,
        len(dt) if v.struct_size else 0xFFFFFFFF,
    ]
    header = struct.pack(">10I", *fields)[: v.header_size]
    blob = bytearray(header)
    blob += b"\0" * (reserve_off - len(blob))
    blob += rsv + b"\0" * 16
    blob += dt
    blob += strings.blob
    if padlen > 0:
        blob += b"\0" * padlen
    return bytes(blob), warnings
