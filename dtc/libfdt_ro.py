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

    @property
    def magic(self) -> int:
        return self.u32(OFF_MAGIC)

    @property
    def totalsize(self) -> int:
        return self.u32(OFF_TOTALSIZE)

    @property
    def off_dt_struct(self) -> int:
        return self.u32(OFF_DT_STRUCT)

    @property
    def off_dt_strings(self) -> int:
        return self.u32(OFF_DT_STRINGS)

    @property
    def off_mem_rsvmap(self) -> int:
        return self.u32(OFF_MEM_RSVMAP)

    @property
    def version(self) -> int:
        return self.u32(OFF_VERSION)

    @property
    def last_comp_version(self) -> int:
        return self.u32(OFF_LAST_COMP_VERSION)

    @property
    def boot_cpuid_phys(self) -> int:
        return self.u32(OFF_BOOT_CPUID_PHYS)

    @property
    def size_dt_strings(self) -> int:
        return self.u32(OFF_SIZE_DT_STRINGS)

    @property
    def size_dt_struct(self) -> int:
        return self.u32(OFF_SIZE_DT_STRUCT)

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
        """Largest ``offset + len`` that fdt_offset_ptr() accepts."""
        limit = self.totalsize - self.off_dt_struct
        if self.version >= 0x11:
            limit = min(limit, self.size_dt_struct)
        return limit

    def offset_ptr(self, offset: int, length: int) -> int | None:
        """fdt_offset_ptr(): the absolute position of a struct-block range, or None."""
        if offset < 0 or offset + length > self.struct_limit():
            return None
        return self.off_dt_struct + offset

    def next_tag(self, start: int) -> tuple[int, int]:
        """fdt_next_tag(): (tag, next offset); FDT_END with a negative offset on damage."""
        limit = self.struct_limit()
        base = self.off_dt_struct
        if start < 0 or start + TAGSIZE > limit:
            return FDT_END, -FdtErr.TRUNCATED
        tag = self.u32(base + start)
        offset = start + TAGSIZE
        if tag == FDT_BEGIN_NODE:
            nul = self.buf.find(b"\0", base + offset, base + limit)
            if nul < 0:
                return FDT_END, -FdtErr.BADSTRUCTURE
            offset = nul - base + 1
        elif tag == FDT_PROP:
            if offset + 4 > limit:
                return FDT_END, -FdtErr.BADSTRUCTURE
            length = self.u32(base + offset)
            if length >= 0x7FFFFFF0:  # libfdt's int arithmetic would wrap: damaged
                return FDT_END, -FdtErr.BADSTRUCTURE
            offset += 8 + length
            if self.version < 0x10 and length >= 8 and (offset - length) % 8:
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

    def next_node(self, offset: int, depth: int | None) -> tuple[int, int | None]:
        """fdt_next_node(): the next BEGIN_NODE in document order, tracking depth."""
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
        depth: int | None = 1
        while True:
            offset, depth = self.next_node(offset, depth)
            if offset < 0 or depth is None or depth < 1:
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
        avail = totalsize - pos
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
        pos, length = self.get_string(stroffset)
        return pos is not None and length == len(name) and self.buf[pos : pos + length] == name

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

    def subnode_offset(self, offset: int, name: bytes) -> int:
        """fdt_subnode_offset_namelen()."""
        depth: int | None = 0
        while offset >= 0 and depth is not None and depth >= 0:
            if depth == 1 and self.nodename_eq(offset, name):
                return offset
            offset, depth = self.next_node(offset, depth)
        if depth is not None and depth < 0:
            return -FdtErr.NOTFOUND
        return offset

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
        """fdt_get_property_namelen_(): (struct offset of the property, length) or (None, error)."""
        offset = self.first_property_offset(nodeoffset)
        while offset >= 0:
            pos = self.off_dt_struct + offset
            if self.string_eq(self.u32(pos + 8), name):
                return offset, self.u32(pos + 4)
            offset = self.next_property_offset(offset)
        return None, offset

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
        """fdt_get_phandle(): "phandle", else "linux,phandle", if 4 bytes long; else 0."""
        for name in (b"phandle", b"linux,phandle"):
            pos, length = self.getprop(nodeoffset, name)
            if pos is not None and length == 4:
                return self.u32(pos)
        return 0

    def node_offset_by_phandle(self, phandle: int) -> int:
        if phandle in (0, U32_MASK):
            return -FdtErr.BADPHANDLE
        offset, _ = self.next_node(-1, None)
        while offset >= 0:
            if self.get_phandle(offset) == phandle:
                return offset
            offset, _ = self.next_node(offset, None)
        return offset

    def find_max_phandle(self) -> tuple[int, int]:
        """fdt_find_max_phandle(): (0, highest phandle) or (error, 0)."""
        highest = 0
        offset = -1
        while True:
            offset, _ = self.next_node(offset, None)
            if offset < 0:
                return (0, highest) if offset == -FdtErr.NOTFOUND else (offset, 0)
            highest = max(highest, self.get_phandle(offset))

    # -- ancestry ----------------------------------------------------------

    def supernode_atdepth_offset(self, nodeoffset: int, superdepth: int) -> tuple[int, int]:
        """fdt_supernode_atdepth_offset(): (ancestor at ``superdepth``, node depth)."""
        if superdepth < 0:
            return -FdtErr.NOTFOUND, -1
        supernode = -FdtErr.INTERNAL
        offset: int = 0
        depth: int | None = 0
        while offset >= 0 and offset <= nodeoffset:
            if depth == superdepth:
                supernode = offset
            if offset == nodeoffset:
                assert depth is not None
                return (-FdtErr.NOTFOUND if superdepth > depth else supernode), depth
            offset, depth = self.next_node(offset, depth)
        if offset == -FdtErr.NOTFOUND or offset >= 0:
            return -FdtErr.BADOFFSET, -1
        if offset == -FdtErr.BADOFFSET:
            return -FdtErr.BADSTRUCTURE, -1
        return offset, -1

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
        p = pdepth = 0
        offset: int = 0
        depth: int | None = 0
        while offset >= 0 and offset <= nodeoffset:
            assert depth is not None
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
            offset, depth = self.next_node(offset, depth)
        if offset == -FdtErr.NOTFOUND or offset >= 0:
            return -FdtErr.BADOFFSET, b""
        if offset == -FdtErr.BADOFFSET:
            return -FdtErr.BADSTRUCTURE, b""
        return offset, b""

    def path_of(self, nodeoffset: int) -> str:
        """A node's path for messages ('?' when it cannot be worked out)."""
        err, path = self.get_path(nodeoffset, 1 << 16)
        return path.decode("utf-8", "backslashreplace") if err == 0 else "?"
