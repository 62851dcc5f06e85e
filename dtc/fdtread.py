"""DTB to tree: dtc's flattree.c dt_from_blob, with libfdt-style validation and plain errors.

The tree built is the one dtc builds (names, properties in blob order with
marker-less values, /memreserve/ entries, boot_cpuid from the header, the
version 1-3 layout with full-path names and 8-byte aligned values).

Anything dtc refuses raises a DtcError whose Diagnostic gives the byte offset
of the problem.  Where dtc 1.6.1 reads an odd blob (a struct block running past
its declared size, misaligned blocks, NOPs in an old version...) this reader
reads it too, the same way, and reports a warning instead.  A few blobs dtc
"reads" only by chance (blocks inside the header, unknown versions, names whose
parsing reads past a buffer) are refused, and so are trees nested deeper than
MAX_DEPTH and property names adding up to more than NAME_BUDGET times the
blob: time and memory stay linear in the blob's size, whatever its bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NoReturn

from .data import Data
from .errors import Diagnostic, DtcError
from .fdt import FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_NOP, FDT_PROP
from .tree import DeviceTree, Node, Property, ReserveEntry

FDT_V1_SIZE = 28
HEADER_SIZES = {1: 28, 2: 32, 3: 36, 16: 36, 17: 40}
LAST_SUPPORTED_VERSION = 17

_U32 = struct.Struct(">I").unpack_from

# Limits of armboot that dtc does not have (dtc recurses in C; Python does not go as deep).
MAX_DEPTH = 256
NAME_BUDGET = 4

TAG_NAMES = {
    FDT_BEGIN_NODE: "FDT_BEGIN_NODE",
    FDT_END_NODE: "FDT_END_NODE",
    FDT_PROP: "FDT_PROP",
    FDT_NOP: "FDT_NOP",
    FDT_END: "FDT_END",
}


@dataclass(frozen=True)
class Header:
    """The header fields dtc reads; sizes are None when the version has no such field."""

    totalsize: int
    off_dt_struct: int
    off_dt_strings: int
    off_mem_rsvmap: int
    version: int
    last_comp_version: int
    boot_cpuid_phys: int
    size_dt_strings: int | None
    size_dt_struct: int | None

    @property
    def size(self) -> int:
        return HEADER_SIZES.get(self.version, 40)

    @property
    def old_layout(self) -> bool:
        """Versions 1-3: full-path node names, "name" properties, 8-byte aligned big values."""
        return self.version < 16

    @property
    def strings_end(self) -> int:
        if self.size_dt_strings is None:
            return self.totalsize
        return self.off_dt_strings + self.size_dt_strings


class _Blob:
    """The bytes being read, and the diagnostics gathered so far."""

    def __init__(self, blob: bytes, name: str) -> None:
        self.blob = blob
        self.name = name
        self.warnings: list[Diagnostic] = []

    def fail(self, offset: int, message: str) -> NoReturn:
        raise DtcError([*self.warnings, Diagnostic("error", message, dtb_offset=offset, file=self.name)])

    def warn(self, offset: int, message: str) -> None:
        self.warnings.append(Diagnostic("warning", message, dtb_offset=offset, file=self.name))

    def u32(self, offset: int) -> int:
        return _U32(self.blob, offset)[0]


def read_header(b: _Blob) -> Header:
    """Check magic, sizes, version and block offsets the way dtc (and libfdt) do."""
    blob = b.blob
    if len(blob) < 4:
        b.fail(0, f"file is too short to be a DTB ({len(blob)} bytes; a header is at least {FDT_V1_SIZE})")
    magic = b.u32(0)
    if magic != FDT_MAGIC:
        b.fail(0, f"bad magic number 0x{magic:08x} (a DTB starts with 0x{FDT_MAGIC:08x})")
    if len(blob) < 8:
        b.fail(4, f"file is too short to be a DTB ({len(blob)} bytes; a header is at least {FDT_V1_SIZE})")
    totalsize = b.u32(4)
    if totalsize < FDT_V1_SIZE:
        b.fail(4, f"totalsize 0x{totalsize:x} is smaller than the smallest header ({FDT_V1_SIZE} bytes)")
    if len(blob) < totalsize:
        b.fail(
            len(blob),
            f"blob is truncated: totalsize is 0x{totalsize:x} but the file has only 0x{len(blob):x} bytes",
        )
    if len(blob) > totalsize:
        b.warn(totalsize, f"0x{len(blob) - totalsize:x} bytes after totalsize (0x{totalsize:x}) are ignored")
    version = b.u32(20)
    last_comp = b.u32(24)
    if version not in HEADER_SIZES and version <= LAST_SUPPORTED_VERSION:
        b.fail(
            20,
            f"unknown DTB version {version} (versions are 1, 2, 3, 16, 17, or later ones compatible with 17)",
        )
    if last_comp > LAST_SUPPORTED_VERSION:
        b.warn(
            24,
            f"last_comp_version {last_comp} asks for a reader newer than version {LAST_SUPPORTED_VERSION} "
            "(dtc ignores it and reads the blob as version 17; libfdt would refuse it)",
        )
    elif last_comp > version:
        b.warn(
            24,
            f"last_comp_version {last_comp} is greater than the version ({version}); libfdt would refuse it",
        )
    hsize = HEADER_SIZES.get(version, 40)
    if totalsize < hsize:
        b.fail(4, f"totalsize 0x{totalsize:x} is smaller than the version {version} header ({hsize} bytes)")
    h = Header(
        totalsize=totalsize,
        off_dt_struct=b.u32(8),
        off_dt_strings=b.u32(12),
        off_mem_rsvmap=b.u32(16),
        version=version,
        last_comp_version=last_comp,
        boot_cpuid_phys=b.u32(28) if totalsize >= 32 else 0,
        size_dt_strings=b.u32(32) if version >= 3 else None,
        size_dt_struct=b.u32(36) if version >= 17 else None,
    )
    _check_blocks(b, h)
    return h


def _check_blocks(b: _Blob, h: Header) -> None:
    """Block offsets and sizes: inside totalsize (dtc), after the header (libfdt), aligned (warning)."""
    total = h.totalsize
    blocks = (
        ("memory reserve map", 16, h.off_mem_rsvmap),
        ("structure block", 8, h.off_dt_struct),
        ("strings block", 12, h.off_dt_strings),
    )
    for what, field_at, off in blocks:
        if off < h.size:
            b.fail(field_at, f"{what} offset 0x{off:x} lies inside the {h.size}-byte header")
    if h.off_mem_rsvmap >= total:
        b.fail(16, f"memory reserve map offset 0x{h.off_mem_rsvmap:x} is not below totalsize 0x{total:x}")
    if h.off_dt_struct >= total:
        b.fail(8, f"structure block offset 0x{h.off_dt_struct:x} is not below totalsize 0x{total:x}")
    if h.off_dt_strings > total:
        b.fail(12, f"strings block offset 0x{h.off_dt_strings:x} is beyond totalsize 0x{total:x}")
    if h.size_dt_strings is not None and h.off_dt_strings + h.size_dt_strings > total:
        b.fail(
            32,
            f"strings block (offset 0x{h.off_dt_strings:x}, size 0x{h.size_dt_strings:x}) "
            f"extends past totalsize 0x{total:x}",
        )
    if h.size_dt_struct is not None and h.off_dt_struct + h.size_dt_struct > total:
        b.fail(
            36,
            f"structure block (offset 0x{h.off_dt_struct:x}, size 0x{h.size_dt_struct:x}) "
            f"extends past totalsize 0x{total:x}",
        )
    if h.off_mem_rsvmap % 8:
        b.warn(16, f"memory reserve map offset 0x{h.off_mem_rsvmap:x} is not 8-byte aligned")
    if h.off_dt_struct % 4:
        b.warn(8, f"structure block offset 0x{h.off_dt_struct:x} is not 4-byte aligned")


def read_reserves(b: _Blob, h: Header) -> tuple[list[ReserveEntry], int]:
    """The /memreserve/ entries, up to the first one of size 0; also where the map ends."""
    entries: list[ReserveEntry] = []
    pos = h.off_mem_rsvmap
    while True:
        if pos + 16 > h.totalsize:
            b.fail(
                pos,
                f"memory reserve map is truncated: entry {len(entries)} at offset 0x{pos:x} "
                f"runs past totalsize 0x{h.totalsize:x} (no terminating entry of size 0)",
            )
        address, size = struct.unpack_from(">QQ", b.blob, pos)
        pos += 16
        if size == 0:
            return entries, pos
        entries.append(ReserveEntry(address, size))


class _Strings:
    """Property names from the strings block, NUL-terminated inside it (flat_read_stringtable).

    Names at distinct offsets may overlap (one is a suffix of another); a hostile
    blob could make them add up to far more text than it holds, so the text read
    is capped at NAME_BUDGET times the blob size.
    """

    def __init__(self, b: _Blob, start: int, end: int) -> None:
        self.b = b
        self.start = start
        self.end = max(start, end)
        self.cache: dict[int, str] = {}
        self.budget = NAME_BUDGET * len(b.blob)

    def name(self, offset: int, prop_at: int) -> str:
        cached = self.cache.get(offset)
        if cached is not None:
            return cached
        size = self.end - self.start
        if offset >= size:
            self.b.fail(
                prop_at + 8,
                f"property at offset 0x{prop_at:x}: name offset 0x{offset:x} "
                f"is outside the strings block (size 0x{size:x})",
            )
        at = self.start + offset
        nul = self.b.blob.find(b"\0", at, self.end)
        if nul < 0:
            self.b.fail(
                at,
                f"property at offset 0x{prop_at:x}: its name (strings offset 0x{offset:x}) "
                "is not NUL-terminated inside the strings block",
            )
        self.budget -= nul - at
        if self.budget < 0:
            self.b.fail(
                prop_at + 8,
                f"property at offset 0x{prop_at:x}: the property names overlap so much that they add up "
                f"to more than {NAME_BUDGET} times the blob's size (armboot's limit)",
            )
        name = self.b.blob[at:nul].decode("latin-1")
        self.cache[offset] = name
        return name


@dataclass
class _Open:
    """A node whose FDT_END_NODE has not been read yet."""

    node: Node
    flatname: str
    offset: int


class _StructReader:
    """Walks the structure block (unflatten_tree), without recursion."""

    def __init__(self, b: _Blob, h: Header, strings: _Strings) -> None:
        self.b = b
        self.h = h
        self.strings = strings
        self.base = h.off_dt_struct
        self.limit = h.totalsize  # dtc reads up to totalsize, not to the declared block size
        self.pos = h.off_dt_struct
        self.stack: list[_Open] = []

    def fail(self, offset: int, message: str) -> NoReturn:
        """Fail, naming the node being read (its path is only worked out now)."""
        where = f" (inside {self.stack[-1].node.path})" if self.stack else ""
        self.b.fail(offset, message + where)

    def word(self, what: str) -> int:
        if self.pos + 4 > self.limit:
            self.fail(self.pos, f"structure block ends at totalsize 0x{self.limit:x} where {what} should be")
        value = self.b.u32(self.pos)
        self.pos += 4
        return value

    def align(self, n: int, what: str, at: int) -> None:
        rel = self.pos - self.base
        self.pos = self.base + ((rel + n - 1) & ~(n - 1))
        if self.pos > self.limit:
            self.fail(
                self.limit,
                f"{what} at offset 0x{at:x} runs past totalsize 0x{self.limit:x} once padded to {n} bytes",
            )

    def node_name(self, at: int) -> str:
        end = self.b.blob.find(b"\0", self.pos, self.limit)
        if end < 0:
            self.fail(
                self.pos,
                f"the name of the node at offset 0x{at:x} is not NUL-terminated "
                f"before totalsize 0x{self.limit:x}",
            )
        name = self.b.blob[self.pos : end].decode("latin-1")
        self.pos = end + 1
        self.align(4, "the name of the node", at)
        return name

    def begin_node(self, at: int) -> None:
        parent = self.stack[-1] if self.stack else None
        flatname = self.node_name(at)
        name = flatname
        if self.h.old_layout:
            name = self._name_from_path(parent.flatname if parent else "", flatname, at)
        node = Node(name)
        if parent is not None:
            parent.node.add_child(node)
        self.stack.append(_Open(node, flatname, at))

    def _name_from_path(self, parent_path: str, path: str, at: int) -> str:
        """Old versions store full paths; the name is what follows the parent's path (nodename_from_path)."""
        if not path.startswith(parent_path):
            self.fail(
                at + 4, f'node at offset 0x{at:x}: path "{path}" is not valid as a child of "{parent_path}"'
            )
        skip = len(parent_path) + (0 if parent_path == "/" else 1)
        if skip > len(path):
            self.fail(at + 4, f'node at offset 0x{at:x}: path "{path}" names no node below "{parent_path}"')
        return path[skip:]

    def prop(self, at: int) -> Property:
        length = self.word("a property length")
        name = self.strings.name(self.word("a property name offset"), at)
        if self.h.old_layout and length >= 8:
            self.align(8, f"property '{name}'", at)
        if length == 0:
            return Property(name, Data(b""))
        if self.pos + length > self.limit:
            self.fail(
                at + 4,
                f"property '{name}' at offset 0x{at:x}: its length 0x{length:x} "
                f"runs past totalsize 0x{self.limit:x}",
            )
        value = self.b.blob[self.pos : self.pos + length]
        self.pos += length
        self.align(4, f"property '{name}'", at)
        return Property(name, Data(value))

    def read(self) -> Node:
        first = self.word("the root node's FDT_BEGIN_NODE")
        if first != FDT_BEGIN_NODE:
            self.fail(self.pos - 4, f"structure block starts with {_tag(first)} instead of FDT_BEGIN_NODE")
        self.begin_node(self.base)
        root = self.stack[0].node
        stack = self.stack
        while stack:
            node = stack[-1].node
            at = self.pos
            tag = self.word("a tag")
            if tag == FDT_PROP:
                if node.children:
                    self.b.warn(
                        at,
                        f"property at offset 0x{at:x} in {node.path} follows subnodes "
                        "(dtc reads it, and writes properties first)",
                    )
                node.props.append(self.prop(at))
            elif tag == FDT_BEGIN_NODE:
                if len(stack) >= MAX_DEPTH:
                    self.fail(at, f"nodes nested more than {MAX_DEPTH} deep (armboot's limit)")
                self.begin_node(at)
            elif tag == FDT_END_NODE:
                stack.pop()
            elif tag == FDT_END:
                self.fail(
                    at,
                    f"FDT_END at offset 0x{at:x} before the FDT_END_NODE of the node "
                    f"at offset 0x{stack[-1].offset:x}",
                )
            elif tag == FDT_NOP:
                if self.h.old_layout:
                    self.b.warn(
                        at,
                        f"FDT_NOP at offset 0x{at:x} in a version {self.h.version} blob "
                        "(NOPs came with version 16)",
                    )
            else:
                self.fail(at, f"invalid tag 0x{tag:08x} at offset 0x{at:x}")
        at = self.pos
        last = self.word("FDT_END after the root node")
        if last != FDT_END:
            self.fail(
                at,
                f"{_tag(last)} at offset 0x{at:x} after the root node's FDT_END_NODE, "
                "where FDT_END should be",
            )
        self._check_declared_size()
        return root

    def _check_declared_size(self) -> None:
        declared = self.h.size_dt_struct
        used = self.pos - self.base
        if declared is not None and used > declared:
            self.b.warn(
                self.base + declared,
                f"structure block uses 0x{used:x} bytes but size_dt_struct says "
                f"0x{declared:x} (dtc reads it; libfdt would refuse it)",
            )


def _tag(value: int) -> str:
    return TAG_NAMES.get(value, f"0x{value:08x}")


def _overlaps(b: _Blob, h: Header, reserve_end: int, struct_end: int) -> None:
    """Warn about blocks sharing bytes: dtc reads such blobs, but writers never produce them."""
    spans = [
        ("memory reserve map", h.off_mem_rsvmap, reserve_end),
        ("structure block", h.off_dt_struct, struct_end),
    ]
    if h.size_dt_strings is not None:
        spans.append(("strings block", h.off_dt_strings, h.strings_end))
    for i, (name_a, start_a, end_a) in enumerate(spans):
        for name_b, start_b, end_b in spans[i + 1 :]:
            if start_a < end_b and start_b < end_a:
                b.warn(max(start_a, start_b), f"the {name_a} and the {name_b} overlap")


def parse_dtb(blob: bytes, name: str = "<dtb>") -> tuple[DeviceTree, list[Diagnostic]]:
    """Read a DTB; returns the tree and the warnings about odd but readable parts."""
    b = _Blob(bytes(blob), name)
    h = read_header(b)
    reserves, reserve_end = read_reserves(b, h)
    strings = _Strings(b, h.off_dt_strings, h.strings_end)
    reader = _StructReader(b, h, strings)
    root = reader.read()
    _overlaps(b, h, reserve_end, reader.pos)
    tree = DeviceTree(root, reserves, plugin=False, boot_cpuid=h.boot_cpuid_phys, sources=None, origin=name)
    return tree, b.warnings


def read_dtb(blob: bytes, name: str = "<dtb>") -> DeviceTree:
    """Read a DTB into the tree model (warnings dropped; use parse_dtb to keep them)."""
    return parse_dtb(blob, name)[0]


def read_dtb_file(path: str) -> DeviceTree:
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise DtcError(Diagnostic("error", f"cannot read {path}: {e.strerror}", file=path)) from None
    return read_dtb(blob, path)
