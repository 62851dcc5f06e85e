"""libfdt 1.6.1's read side, re-implemented on a byte buffer.

fdtoverlay edits blobs in place with libfdt, and its output bytes depend on
every decision libfdt makes: which node a name matches ("foo" matches
"foo@1"), where a walk stops on a damaged structure, which error code comes
back.  So these methods keep libfdt's offset arithmetic, bounds checks and
return conventions instead of offering a friendlier API: offsets are
structure-block offsets, and a negative return value is ``-FdtErr``.

Reads never go past the buffer: where libfdt would read out of bounds
(undefined behaviour in C) a ``BlobRangeError`` is raised instead.  Callers
check the header once with ``ro_probe()`` (libfdt repeats that check in every
call; the answer cannot change while a blob is being worked on).
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Iterator
from enum import IntEnum

FDT_MAGIC = 0xD00DFEED
FDT_SW_MAGIC = 0x2FF20112  # ~FDT_MAGIC: an unfinished sequential-write blob
FDT_BEGIN_NODE = 0x1
FDT_END_NODE = 0x2
FDT_PROP = 0x3
FDT_NOP = 0x4
FDT_END = 0x9
TAGSIZE = 4
HEADER_SIZE = 40
RESERVE_ENTRY_SIZE = 16
FIRST_SUPPORTED_VERSION = 0x02
LAST_SUPPORTED_VERSION = 0x11
U32_MASK = 0xFFFFFFFF

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_HEADER = struct.Struct(">10I")
_PROP_FIELDS = struct.Struct(">II")  # a property's length and name offset

# Header field offsets.
OFF_MAGIC = 0
OFF_TOTALSIZE = 4
OFF_DT_STRUCT = 8
OFF_DT_STRINGS = 12
OFF_MEM_RSVMAP = 16
OFF_VERSION = 20
OFF_LAST_COMP_VERSION = 24
OFF_BOOT_CPUID_PHYS = 28
OFF_SIZE_DT_STRINGS = 32
OFF_SIZE_DT_STRUCT = 36


class FdtErr(IntEnum):
    """libfdt's error codes; functions return them negated."""

    NOTFOUND = 1
    EXISTS = 2
    NOSPACE = 3
    BADOFFSET = 4
    BADPATH = 5
    BADPHANDLE = 6
    BADSTATE = 7
    TRUNCATED = 8
    BADMAGIC = 9
    BADVERSION = 10
    BADSTRUCTURE = 11
    BADLAYOUT = 12
    INTERNAL = 13
    BADNCELLS = 14
    BADVALUE = 15
    BADOVERLAY = 16
    NOPHANDLES = 17
    BADFLAGS = 18
    ALIGNMENT = 19


def strerror(code: int) -> str:
    """The name fdt_strerror() prints for a (negative) libfdt return value."""
    try:
        return f"FDT_ERR_{FdtErr(-code).name}"
    except ValueError:
        return f"<unknown error {code}>"


def tagalign(n: int) -> int:
    return (n + TAGSIZE - 1) & ~(TAGSIZE - 1)


class BlobRangeError(Exception):
    """An access that libfdt would make outside the blob (undefined behaviour in C)."""

    def __init__(self, name: str, offset: int, length: int) -> None:
        self.name = name
        self.offset = offset
        self.length = length
        super().__init__(f"{length} bytes at offset 0x{offset:x} lie outside the blob")


class FdtReader:
    """Read-only libfdt operations over ``buf`` (a complete blob, header first)."""

    def __init__(self, buf: bytes | bytearray, name: str = "") -> None:
        self.buf = buf
        self.name = name  # the file it came from, for error messages
        self._header: tuple[int, ...] | None = None  # cached fields, then the struct limit
        # Whole-tree walks, remembered until the next write (FdtWriter bumps ``generation``).
        self.generation = 0
        self._walks: dict[str, _LazyWalk] = {}
        self._strings: dict[int, bytes | None] = {}
        self._strings_size = -1

    # -- raw access --------------------------------------------------------

    def u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > len(self.buf):
            raise BlobRangeError(self.name, pos, 4)
        return _U32.unpack_from(self.buf, pos)[0]

    def u64(self, pos: int) -> int:
        if pos < 0 or pos + 8 > len(self.buf):
            raise BlobRangeError(self.name, pos, 8)
        return _U64.unpack_from(self.buf, pos)[0]

    def cstring(self, pos: int) -> bytes:
        """The NUL-terminated string at ``pos``, as C's strlen() would see it."""
        end = self.buf.find(b"\0", pos) if pos >= 0 else -1
        if end < 0:
            raise BlobRangeError(self.name, pos, len(self.buf) - pos)
        return bytes(self.buf[pos:end])

    def header(self) -> tuple[int, ...]:
        """The ten header fields (a field past a short blob's end reads as 0), then the struct limit.

        Read once and kept: the header changes only through FdtWriter, which
        forgets this copy when it writes there.
        """
        if self._header is None:
            fields = _HEADER.unpack(bytes(self.buf[:HEADER_SIZE]).ljust(HEADER_SIZE, b"\0"))
            totalsize, off_struct, version, size_struct = fields[1], fields[2], fields[5], fields[9]
            limit = min(totalsize, len(self.buf)) - off_struct
            if version >= 0x11:
                limit = min(limit, size_struct)
            self._header = (*fields, limit)
        return self._header

    @property
    def magic(self) -> int:
        return self.header()[0]

    @property
    def totalsize(self) -> int:
        return self.header()[1]

    @property
    def off_dt_struct(self) -> int:
        return self.header()[2]

    @property
    def off_dt_strings(self) -> int:
        return self.header()[3]

    @property
    def off_mem_rsvmap(self) -> int:
        return self.header()[4]

    @property
    def version(self) -> int:
        return self.header()[5]

    @property
    def last_comp_version(self) -> int:
        return self.header()[6]

    @property
    def boot_cpuid_phys(self) -> int:
        return self.header()[7]

    @property
    def size_dt_strings(self) -> int:
        return self.header()[8]

    @property
    def size_dt_struct(self) -> int:
        return self.header()[9]

    # -- header probe ------------------------------------------------------

    def ro_probe(self) -> int:
        """fdt_ro_probe_(): totalsize, or an error for a header libfdt refuses."""
        magic = self.magic
        if magic == FDT_MAGIC:
            if self.version < FIRST_SUPPORTED_VERSION or self.last_comp_version > LAST_SUPPORTED_VERSION:
                return -FdtErr.BADVERSION
        elif magic == FDT_SW_MAGIC:
            if self.size_dt_struct == 0:
                return -FdtErr.BADSTATE
        else:
            return -FdtErr.BADMAGIC
        totalsize = self.totalsize
        return totalsize if totalsize < 0x7FFFFFFF else -FdtErr.TRUNCATED

    # -- structure block ---------------------------------------------------

    def struct_limit(self) -> int:
        """Largest ``offset + len`` that fdt_offset_ptr() accepts (never past the buffer)."""
        return self.header()[10]

    def offset_ptr(self, offset: int, length: int) -> int | None:
        """fdt_offset_ptr(): the absolute position of a struct-block range, or None."""
        if offset < 0 or offset + length > self.struct_limit():
            return None
        return self.off_dt_struct + offset

    def next_tag(self, start: int) -> tuple[int, int]:
        """fdt_next_tag(): (tag, next offset); FDT_END with a negative offset on damage."""
        header = self.header()
        limit = header[10]
        base = header[2]
        if start < 0 or start + TAGSIZE > limit:
            return FDT_END, -FdtErr.TRUNCATED
        tag = _U32.unpack_from(self.buf, base + start)[0]
        offset = start + TAGSIZE
        if tag == FDT_BEGIN_NODE:
            nul = self.buf.find(b"\0", base + offset, base + limit)
            if nul < 0:
                return FDT_END, -FdtErr.BADSTRUCTURE
            offset = nul - base + 1
        elif tag == FDT_PROP:
            if offset + 4 > limit:
                return FDT_END, -FdtErr.BADSTRUCTURE
            length = _U32.unpack_from(self.buf, base + offset)[0]
            if length >= 0x7FFFFFF0:  # libfdt's int arithmetic would wrap: damaged
                return FDT_END, -FdtErr.BADSTRUCTURE
            offset += 8 + length
            if header[5] < 0x10 and length >= 8 and (offset - length) % 8:
                offset += 4
            if offset > limit:
                return FDT_END, -FdtErr.BADSTRUCTURE
        elif tag not in (FDT_END, FDT_END_NODE, FDT_NOP):
            return FDT_END, -FdtErr.BADSTRUCTURE
        return tag, tagalign(offset)

    def check_node_offset(self, offset: int) -> int:
        if offset < 0 or offset % TAGSIZE:
            return -FdtErr.BADOFFSET
        tag, nxt = self.next_tag(offset)
        return nxt if tag == FDT_BEGIN_NODE else -FdtErr.BADOFFSET

    def check_prop_offset(self, offset: int) -> int:
        if offset < 0 or offset % TAGSIZE:
            return -FdtErr.BADOFFSET
        tag, nxt = self.next_tag(offset)
        return nxt if tag == FDT_PROP else -FdtErr.BADOFFSET

    def next_node(self, offset: int, depth: int) -> tuple[int, int]:
        """fdt_next_node() with a depth: (next node in document order, its depth).

        Leaving ``offset``'s subtree upwards past depth 0 returns the offset
        after the END_NODE with a negative depth, as libfdt does.
        """
        offset, new_depth = self._next_node(offset, depth)
        return offset, depth if new_depth is None else new_depth

    def next_node_any(self, offset: int) -> int:
        """fdt_next_node() without a depth (a truncated final FDT_END counts as the end)."""
        return self._next_node(offset, None)[0]

    def _next_node(self, offset: int, depth: int | None) -> tuple[int, int | None]:
        nextoffset = 0
        if offset >= 0:
            nextoffset = self.check_node_offset(offset)
            if nextoffset < 0:
                return nextoffset, depth
        while True:
            offset = nextoffset
            tag, nextoffset = self.next_tag(offset)
            if tag == FDT_BEGIN_NODE:
                if depth is not None:
                    depth += 1
                return offset, depth
            if tag == FDT_END_NODE:
                if depth is not None:
                    depth -= 1
                    if depth < 0:
                        return nextoffset, depth
            elif tag == FDT_END:
                if nextoffset >= 0 or (nextoffset == -FdtErr.TRUNCATED and depth is None):
                    return -FdtErr.NOTFOUND, depth
                return nextoffset, depth

    def first_subnode(self, offset: int) -> int:
        offset, depth = self.next_node(offset, 0)
        return offset if offset >= 0 and depth == 1 else -FdtErr.NOTFOUND

    def next_subnode(self, offset: int) -> int:
        depth = 1
        while True:
            offset, depth = self.next_node(offset, depth)
            if offset < 0 or depth < 1:
                return -FdtErr.NOTFOUND
            if depth <= 1:
                return offset

    def subnodes(self, parent: int) -> Iterator[int]:
        """fdt_for_each_subnode(): stops quietly at the first error, as libfdt does."""
        node = self.first_subnode(parent)
        while node >= 0:
            yield node
            node = self.next_subnode(node)

    def num_mem_rsv(self) -> int:
        base = self.off_mem_rsvmap
        totalsize = self.totalsize
        i = 0
        while True:
            pos = base + i * RESERVE_ENTRY_SIZE
            if pos > U32_MASK or totalsize < RESERVE_ENTRY_SIZE or pos > totalsize - RESERVE_ENTRY_SIZE:
                return -FdtErr.TRUNCATED
            if self.u64(pos + 8) == 0:
                return i
            i += 1

    # -- strings and names -------------------------------------------------

    def get_string(self, stroffset: int) -> tuple[int | None, int]:
        """fdt_get_string(): (absolute position, length) or (None, error)."""
        totalsize = self.totalsize
        if stroffset >= 0x80000000:  # negative as libfdt's int
            return None, -FdtErr.BADOFFSET
        pos = stroffset + self.off_dt_strings
        if pos >= totalsize:
            return None, -FdtErr.BADOFFSET
        avail = min(totalsize, len(self.buf)) - pos
        if self.magic == FDT_MAGIC:
            if self.version >= 17:
                size = self.size_dt_strings
                if stroffset >= size:
                    return None, -FdtErr.BADOFFSET
                avail = min(avail, size - stroffset)
        else:
            return None, -FdtErr.INTERNAL
        nul = self.buf.find(b"\0", pos, pos + avail)
        if nul < 0:
            return None, -FdtErr.TRUNCATED
        return pos, nul - pos

    def string_eq(self, stroffset: int, name: bytes) -> bool:
        """fdt_string_eq_(): get_string() gives exactly ``name``."""
        return self.string_at(stroffset) == name

    def string_at(self, stroffset: int) -> bytes | None:
        """get_string() as bytes (None where it fails), remembered per strings-block size.

        Edits move the strings block but never change the bytes at an
        existing offset; only appending (or rolling back) a string does,
        and that changes the size.
        """
        size = self.size_dt_strings
        if self._strings_size != size:
            self._strings = {}
            self._strings_size = size
        if stroffset not in self._strings:
            pos, length = self.get_string(stroffset)
            self._strings[stroffset] = None if pos is None else bytes(self.buf[pos : pos + length])
        return self._strings[stroffset]

    def get_name(self, nodeoffset: int) -> tuple[bytes | None, int]:
        """fdt_get_name(): (name, 0) or (None, error); v1-3 blobs give the leaf name."""
        err = self.check_node_offset(nodeoffset)
        if err < 0:
            return None, err
        name = self.cstring(self.off_dt_struct + nodeoffset + TAGSIZE)
        if self.version < 0x10:
            slash = name.rfind(b"/")
            if slash < 0:
                return None, -FdtErr.BADSTRUCTURE
            name = name[slash + 1 :]
        return name, 0

    def nodename_eq(self, offset: int, name: bytes) -> bool:
        """A node name matches ``name``, or ``name`` plus a unit address if it has none."""
        actual, _ = self.get_name(offset)
        if actual is None or len(actual) < len(name) or not actual.startswith(name):
            return False
        if len(actual) == len(name):
            return True
        return b"@" not in name and actual[len(name)] == ord("@")

    # -- node lookup -------------------------------------------------------

    def subnode_offset(self, parent: int, name: bytes) -> int:
        """fdt_subnode_offset_namelen(): the first child whose name matches (see nodename_eq).

        libfdt walks the parent's whole subtree node by node; this walks the
        same tags once, with the same answers and the same error codes.
        """
        if parent < 0:
            return parent
        offset = self.check_node_offset(parent)
        if offset < 0:
            return offset
        depth = 0
        while True:
            tag, nxt = self.next_tag(offset)
            if tag == FDT_BEGIN_NODE:
                depth += 1
                if depth == 1 and self.nodename_eq(offset, name):
                    return offset
            elif tag == FDT_END_NODE:
                depth -= 1
                if depth < 0:
                    return -FdtErr.NOTFOUND
            elif tag == FDT_END:
                return -FdtErr.NOTFOUND if nxt >= 0 else nxt
            offset = nxt

    def path_offset(self, path: bytes, _alias_depth: int = 0) -> int:
        """fdt_path_offset_namelen(): a path, or an alias name followed by a path."""
        end = len(path)
        p = 0
        offset = 0
        if not path or path[0] != ord("/"):
            q = path.find(b"/")
            if q < 0:
                q = end
            alias = self.get_alias(path[:q])
            if alias is None or _alias_depth > 16:  # libfdt 1.6.1 recurses without bound
                return -FdtErr.BADPATH
            offset = self.path_offset(alias, _alias_depth + 1)
            p = q
        while p < end:
            while path[p] == ord("/"):
                p += 1
                if p == end:
                    return offset
            q = path.find(b"/", p)
            if q < 0:
                q = end
            offset = self.subnode_offset(offset, path[p:q])
            if offset < 0:
                return offset
            p = q
        return offset

    def get_alias(self, name: bytes) -> bytes | None:
        """fdt_get_alias_namelen(): the alias value as C would read it (up to a NUL)."""
        aliases = self.path_offset(b"/aliases")
        if aliases < 0:
            return None
        pos, _ = self.getprop(aliases, name)
        return None if pos is None else self.cstring(pos)

    # -- properties --------------------------------------------------------

    def next_prop(self, offset: int) -> int:
        while True:
            tag, nxt = self.next_tag(offset)
            if tag == FDT_END:
                return -FdtErr.BADSTRUCTURE if nxt >= 0 else nxt
            if tag == FDT_PROP:
                return offset
            if tag != FDT_NOP:
                return -FdtErr.NOTFOUND
            offset = nxt

    def first_property_offset(self, nodeoffset: int) -> int:
        offset = self.check_node_offset(nodeoffset)
        return offset if offset < 0 else self.next_prop(offset)

    def next_property_offset(self, offset: int) -> int:
        offset = self.check_prop_offset(offset)
        return offset if offset < 0 else self.next_prop(offset)

    def properties(self, nodeoffset: int) -> Iterator[int]:
        """fdt_for_each_property_offset(): stops quietly at the first error."""
        prop = self.first_property_offset(nodeoffset)
        while prop >= 0:
            yield prop
            prop = self.next_property_offset(prop)

    def _value_pos(self, propoffset: int, length: int) -> int:
        """Where a property's value starts; v1-3 blobs 8-align values of 8+ bytes."""
        pos = self.off_dt_struct + propoffset + 12
        if self.version < 0x10 and (propoffset + 12) % 8 and length >= 8:
            pos += 4
        return pos

    def get_property(self, nodeoffset: int, name: bytes) -> tuple[int | None, int]:
        """fdt_get_property_namelen_(): (struct offset of the first such property, length) or (None, error)."""
        for offset, nameoff, length in self._leading_properties(nodeoffset):
            if offset < 0:
                return None, offset
            if self.string_eq(nameoff, name):
                return offset, length
        return None, -FdtErr.INTERNAL  # not reached: the scan always ends with an error entry

    def _leading_properties(self, nodeoffset: int) -> Iterator[tuple[int, int, int]]:
        """(offset, name offset, length) of each property libfdt iterates, then (error, 0, 0).

        One pass over the tags that fdt_first_property_offset() and
        fdt_next_property_offset() would visit; the final entry carries the
        code their iteration ends with (usually -FDT_ERR_NOTFOUND).
        """
        offset = self.check_node_offset(nodeoffset)
        if offset < 0:
            yield offset, 0, 0
            return
        buf = self.buf
        base = self.header()[2]
        while True:
            tag, nxt = self.next_tag(offset)
            if tag == FDT_PROP:
                length, nameoff = _PROP_FIELDS.unpack_from(buf, base + offset + 4)
                yield offset, nameoff, length
            elif tag == FDT_END:
                yield (-FdtErr.BADSTRUCTURE if nxt >= 0 else nxt), 0, 0
                return
            elif tag != FDT_NOP:
                yield -FdtErr.NOTFOUND, 0, 0
                return
            offset = nxt

    def getprop(self, nodeoffset: int, name: bytes) -> tuple[int | None, int]:
        """fdt_getprop_namelen(): (absolute position of the value, length) or (None, error)."""
        offset, length = self.get_property(nodeoffset, name)
        if offset is None:
            return None, length
        return self._value_pos(offset, length), length

    def getprop_by_offset(self, offset: int) -> tuple[int | None, bytes, int]:
        """fdt_getprop_by_offset(): (value position, name, length) or (None, b"", error)."""
        err = self.check_prop_offset(offset)
        if err < 0:
            return None, b"", err
        pos = self.off_dt_struct + offset
        length = self.u32(pos + 4)
        namepos, namelen = self.get_string(self.u32(pos + 8))
        if namepos is None:
            return None, b"", namelen
        name = bytes(self.buf[namepos : namepos + namelen])
        return self._value_pos(offset, length), name, length

    def get_phandle(self, nodeoffset: int) -> int:
        """fdt_get_phandle(): the first "phandle", else the first "linux,phandle", if 4 bytes long; else 0."""
        phandle: tuple[int, int] | None = None
        linux: tuple[int, int] | None = None
        for offset, nameoff, length in self._leading_properties(nodeoffset):
            if offset < 0:
                break
            if phandle is None and self.string_eq(nameoff, b"phandle"):
                phandle = (offset, length)
                if length == 4 or linux is not None:
                    break
            elif linux is None and self.string_eq(nameoff, b"linux,phandle"):
                linux = (offset, length)
        for found in (phandle, linux):
            if found is not None and found[1] == 4:
                return self.u32(self.off_dt_struct + found[0] + 12)
        return 0

    def _next_node_from(self, offset: int) -> int:
        """The rest of fdt_next_node() without a depth, from just after a node's header."""
        while True:
            tag, nxt = self.next_tag(offset)
            if tag == FDT_BEGIN_NODE:
                return offset
            if tag == FDT_END:
                return -FdtErr.NOTFOUND if nxt >= 0 or nxt == -FdtErr.TRUNCATED else nxt
            offset = nxt

    def _cached_walk(self, kind: type[_LazyWalk]) -> _LazyWalk:
        walk = self._walks.get(kind.__name__)
        if walk is None or walk.generation != self.generation:
            walk = self._walks[kind.__name__] = kind(self)
        return walk

    def node_offset_by_phandle(self, phandle: int) -> int:
        if phandle in (0, U32_MASK):
            return -FdtErr.BADPHANDLE
        for node, value in self._cached_walk(_PhandleWalk):
            if node < 0 or value == phandle:
                return node
        return -FdtErr.INTERNAL  # not reached: every walk ends with a negative offset

    def find_max_phandle(self) -> tuple[int, int]:
        """fdt_find_max_phandle(): (0, highest phandle) or (error, 0)."""
        highest = 0
        for node, value in self._cached_walk(_PhandleWalk):
            if node < 0:
                return (0, highest) if node == -FdtErr.NOTFOUND else (node, 0)
            highest = max(highest, value)
        return -FdtErr.INTERNAL, 0  # not reached: every walk ends with a negative offset

    # -- ancestry ----------------------------------------------------------

    def supernode_atdepth_offset(self, nodeoffset: int, superdepth: int) -> tuple[int, int]:
        """fdt_supernode_atdepth_offset(): (ancestor at ``superdepth``, node depth)."""
        if superdepth < 0:
            return -FdtErr.NOTFOUND, -1
        supernode = -FdtErr.INTERNAL
        offset = 0
        for offset, depth in self._cached_walk(_DepthWalk):
            if offset < 0 or offset > nodeoffset:
                break
            if depth == superdepth:
                supernode = offset
            if offset == nodeoffset:
                return (-FdtErr.NOTFOUND if superdepth > depth else supernode), depth
        return _walk_end_error(offset), -1

    def parent_offset(self, nodeoffset: int) -> int:
        err, depth = self.supernode_atdepth_offset(nodeoffset, 0)
        if err:
            return err if err < 0 else -FdtErr.INTERNAL
        return self.supernode_atdepth_offset(nodeoffset, depth - 1)[0]

    def get_path(self, nodeoffset: int, buflen: int) -> tuple[int, bytes]:
        """fdt_get_path() into a ``buflen``-byte buffer: (0, path) or (error, b"")."""
        if buflen < 2:
            return -FdtErr.NOSPACE, b""
        buf = bytearray(buflen)
        p = pdepth = offset = 0
        for offset, depth in self._cached_walk(_DepthWalk):
            if offset < 0 or offset > nodeoffset:
                break
            while pdepth > depth:
                while True:
                    p -= 1
                    if p < 1:
                        return -FdtErr.INTERNAL, b""
                    if buf[p - 1] == ord("/"):
                        break
                pdepth -= 1
            if pdepth >= depth:
                name, err = self.get_name(offset)
                if name is None:
                    return err, b""
                if p + len(name) + 1 <= buflen:
                    buf[p : p + len(name)] = name
                    p += len(name)
                    buf[p] = ord("/")
                    p += 1
                    pdepth += 1
            if offset == nodeoffset:
                if pdepth < depth + 1:
                    return -FdtErr.NOSPACE, b""
                if p > 1:
                    p -= 1
                return 0, bytes(buf[:p])
        return _walk_end_error(offset), b""

    def path_of(self, nodeoffset: int) -> str:
        """A node's path for messages ('?' when it cannot be worked out)."""
        err, path = self.get_path(nodeoffset, 1 << 16)
        return path.decode("utf-8", "backslashreplace") if err == 0 else "?"


def _walk_end_error(offset: int) -> int:
    """What fdt_get_path() and fdt_supernode_atdepth_offset() return when the walk misses the node."""
    if offset == -FdtErr.NOTFOUND or offset >= 0:
        return -FdtErr.BADOFFSET
    if offset == -FdtErr.BADOFFSET:
        return -FdtErr.BADSTRUCTURE
    return offset


class _LazyWalk(ABC):
    """A whole-tree walk, computed only as far as callers go and kept until the blob is written.

    Each step is a pair of ints; the last one has a negative offset first.
    """

    def __init__(self, fdt: FdtReader) -> None:
        self.fdt = fdt
        self.generation = fdt.generation
        self.done: list[tuple[int, int]] = []
        self.finished = False

    def __iter__(self) -> Iterator[tuple[int, int]]:
        index = 0
        while index < len(self.done) or not self.finished:
            if index == len(self.done):
                step = self.advance()
                self.done.append(step)
                self.finished = step[0] < 0
            yield self.done[index]
            index += 1

    @abstractmethod
    def advance(self) -> tuple[int, int]:
        """The step after ``self.done[-1]`` (or the first step)."""


class _PhandleWalk(_LazyWalk):
    """(node, phandle) as fdt_next_node() without a depth, then fdt_get_phandle(), visit them."""

    def advance(self) -> tuple[int, int]:
        fdt = self.fdt
        start = fdt.check_node_offset(self.done[-1][0]) if self.done else 0
        node = fdt._next_node_from(start)
        return node, fdt.get_phandle(node) if node >= 0 else 0


class _DepthWalk(_LazyWalk):
    """(offset, depth) as repeated fdt_next_node(offset, &depth) calls from (0, 0) give them.

    Like libfdt, the walk carries on past the root's end (with a negative
    depth) while it finds nodes there.
    """

    def advance(self) -> tuple[int, int]:
        if not self.done:
            return 0, 0
        fdt = self.fdt
        offset, depth = self.done[-1]
        after = fdt.check_node_offset(offset)
        if after < 0:
            return after, depth
        while True:
            tag, nxt = fdt.next_tag(after)
            if tag == FDT_BEGIN_NODE:
                return after, depth + 1
            if tag == FDT_END_NODE:
                depth -= 1
                if depth < 0:
                    return nxt, depth
            elif tag == FDT_END:
                return (-FdtErr.NOTFOUND if nxt >= 0 else nxt), depth
            after = nxt
