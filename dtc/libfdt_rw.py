"""libfdt 1.6.1's in-place editing, re-implemented on a bytearray.

libfdt edits a blob inside a fixed buffer: an insertion memmove()s
everything behind it (the rest of the structure block and the strings
block) into the free space at the end, and nothing clears the bytes it
leaves behind.  A new property's padding therefore holds whatever bytes
were there before, and fdtoverlay's output shows them.  To be
byte-identical the buffer here has libfdt's size, free space and memmove
semantics exactly; the free space of a fresh buffer is taken to be zeros
(in C it is uninitialised malloc() memory).
"""

from __future__ import annotations

from .libfdt_ro import (
    FDT_BEGIN_NODE,
    FDT_END,
    FDT_END_NODE,
    FDT_MAGIC,
    FDT_NOP,
    FDT_PROP,
    HEADER_SIZE,
    LAST_SUPPORTED_VERSION,
    OFF_BOOT_CPUID_PHYS,
    OFF_DT_STRINGS,
    OFF_DT_STRUCT,
    OFF_LAST_COMP_VERSION,
    OFF_MAGIC,
    OFF_MEM_RSVMAP,
    OFF_SIZE_DT_STRINGS,
    OFF_SIZE_DT_STRUCT,
    OFF_TOTALSIZE,
    OFF_VERSION,
    RESERVE_ENTRY_SIZE,
    U32_MASK,
    BlobRangeError,
    FdtErr,
    FdtReader,
    tagalign,
)


class FdtWriter(FdtReader):
    """A blob in a fixed-size buffer, edited the way libfdt edits it.

    ``out_of_room`` records that an edit failed for lack of free space, the
    one -FDT_ERR_NOSPACE that fdtoverlay cures by retrying in a bigger buffer.
    """

    buf: bytearray

    def __init__(self, buf: bytearray, name: str = "") -> None:
        super().__init__(buf, name)
        self.out_of_room = False

    def set_u32(self, pos: int, value: int) -> None:
        self.write(pos, (value & U32_MASK).to_bytes(4, "big"))

    def write(self, pos: int, data: bytes) -> None:
        if pos < 0 or pos + len(data) > len(self.buf):
            raise BlobRangeError(self.name, pos, len(data))
        self.buf[pos : pos + len(data)] = data
        self.generation += 1
        if pos < HEADER_SIZE:
            self._header = None

    # -- layout checks -----------------------------------------------------

    def rw_probe(self) -> int:
        """fdt_rw_probe_(): editing needs a v17 blob with its blocks in order."""
        err = self.ro_probe()
        if err < 0:
            return err
        if self.version < 17:
            return -FdtErr.BADVERSION
        if blocks_misordered(self, RESERVE_ENTRY_SIZE, self.size_dt_struct):
            return -FdtErr.BADLAYOUT
        if self.version > LAST_SUPPORTED_VERSION:
            self.set_u32(OFF_VERSION, LAST_SUPPORTED_VERSION)
        return 0

    def data_size(self) -> int:
        return (self.off_dt_strings + self.size_dt_strings) & U32_MASK

    # -- splicing ----------------------------------------------------------

    def splice(self, pos: int, oldlen: int, newlen: int) -> int:
        """fdt_splice_(): move everything after ``pos + oldlen`` to ``pos + newlen``."""
        dsize = self.data_size()
        if oldlen < 0 or pos + oldlen > dsize or pos < 0 or dsize + newlen < oldlen:
            return -FdtErr.BADOFFSET
        if dsize - oldlen + newlen > self.totalsize:
            self.out_of_room = True
            return -FdtErr.NOSPACE
        if dsize - oldlen + newlen > len(self.buf):
            raise BlobRangeError(self.name, pos, newlen)
        self.buf[pos + newlen : dsize - oldlen + newlen] = self.buf[pos + oldlen : dsize]
        self.generation += 1
        return 0

    def splice_struct(self, pos: int, oldlen: int, newlen: int) -> int:
        err = self.splice(pos, oldlen, newlen)
        if err:
            return err
        delta = newlen - oldlen
        self.set_u32(OFF_SIZE_DT_STRUCT, self.size_dt_struct + delta)
        self.set_u32(OFF_DT_STRINGS, self.off_dt_strings + delta)
        return 0

    def find_add_string(self, name: bytes) -> tuple[int, bool]:
        """fdt_find_add_string_(): (string offset or error, whether it was appended)."""
        start = self.off_dt_strings
        size = self.size_dt_strings
        if start + size > len(self.buf):
            raise BlobRangeError(self.name, start, size)
        found = self.buf.find(name + b"\0", start, start + size)
        if found >= 0:
            return found - start, False
        end = start + size
        err = self.splice(end, 0, len(name) + 1)
        if err:
            return err, False
        self.set_u32(OFF_SIZE_DT_STRINGS, size + len(name) + 1)
        self.write(end, name + b"\0")
        return size, True

    # -- property and node edits -------------------------------------------

    def _resize_property(self, nodeoffset: int, name: bytes, length: int) -> tuple[int, int]:
        propoffset, oldlen = self.get_property(nodeoffset, name)
        if propoffset is None:
            return oldlen, 0
        pos = self.off_dt_struct + propoffset
        err = self.splice_struct(pos + 12, tagalign(oldlen), tagalign(length))
        if err:
            return err, 0
        self.set_u32(pos + 4, length)
        return 0, pos

    def _add_property(self, nodeoffset: int, name: bytes, length: int) -> tuple[int, int]:
        """New properties go first in the node, straight after its name."""
        nextoffset = self.check_node_offset(nodeoffset)
        if nextoffset < 0:
            return nextoffset, 0
        nameoff, allocated = self.find_add_string(name)
        if nameoff < 0:
            return nameoff, 0
        pos = self.off_dt_struct + nextoffset
        err = self.splice_struct(pos, 0, 12 + tagalign(length))
        if err:
            if allocated:
                self.set_u32(OFF_SIZE_DT_STRINGS, self.size_dt_strings - len(name) - 1)
            return err, 0
        self.set_u32(pos, FDT_PROP)
        self.set_u32(pos + 4, length)
        self.set_u32(pos + 8, nameoff)
        return 0, pos

    def setprop_placeholder(self, nodeoffset: int, name: bytes, length: int) -> tuple[int, int]:
        """fdt_setprop_placeholder(): (0, value position) with the value left unwritten."""
        err = self.rw_probe()
        if err:
            return err, 0
        err, pos = self._resize_property(nodeoffset, name, length)
        if err == -FdtErr.NOTFOUND:
            err, pos = self._add_property(nodeoffset, name, length)
        return (err, 0) if err else (0, pos + 12)

    def setprop(self, nodeoffset: int, name: bytes, value: bytes) -> int:
        err, pos = self.setprop_placeholder(nodeoffset, name, len(value))
        if err:
            return err
        self.write(pos, value)
        return 0

    def setprop_inplace_partial(self, nodeoffset: int, name: bytes, index: int, value: bytes) -> int:
        """fdt_setprop_inplace_namelen_partial(): overwrite part of an existing value."""
        pos, length = self.getprop(nodeoffset, name)
        if pos is None:
            return length
        if length < len(value) + index:
            return -FdtErr.NOSPACE
        self.write(pos + index, value)
        return 0

    def add_subnode(self, parentoffset: int, name: bytes) -> int:
        """fdt_add_subnode(): the new node goes first among the parent's children."""
        err = self.rw_probe()
        if err:
            return err
        offset = self.subnode_offset(parentoffset, name)
        if offset >= 0:
            return -FdtErr.EXISTS
        if offset != -FdtErr.NOTFOUND:
            return offset
        tag, nextoffset = self.next_tag(parentoffset)
        if tag != FDT_BEGIN_NODE:
            return -FdtErr.INTERNAL
        while True:
            offset = nextoffset
            tag, nextoffset = self.next_tag(offset)
            if tag not in (FDT_PROP, FDT_NOP):
                break
        namelen = tagalign(len(name) + 1)
        pos = self.off_dt_struct + offset
        err = self.splice_struct(pos, 0, 8 + namelen)
        if err:
            return err
        self.set_u32(pos, FDT_BEGIN_NODE)
        self.write(pos + 4, name.ljust(namelen, b"\0"))
        self.set_u32(pos + 4 + namelen, FDT_END_NODE)
        return offset

    # -- whole-blob operations ---------------------------------------------

    def pack_blocks(self, src: FdtReader, mem_rsv_size: int, struct_size: int) -> None:
        """fdt_packblocks_(): reserve map, structure and strings back to back after the header."""
        rsv_off = HEADER_SIZE
        struct_off = rsv_off + mem_rsv_size
        strings_off = struct_off + struct_size
        strings_size = src.size_dt_strings
        self._copy_from(src, src.off_mem_rsvmap, rsv_off, mem_rsv_size)
        self.set_u32(OFF_MEM_RSVMAP, rsv_off)
        self._copy_from(src, src.off_dt_struct, struct_off, struct_size)
        self.set_u32(OFF_DT_STRUCT, struct_off)
        self.set_u32(OFF_SIZE_DT_STRUCT, struct_size)
        self._copy_from(src, src.off_dt_strings, strings_off, strings_size)
        self.set_u32(OFF_DT_STRINGS, strings_off)
        self.set_u32(OFF_SIZE_DT_STRINGS, strings_size)

    def _copy_from(self, src: FdtReader, src_pos: int, dst_pos: int, size: int) -> None:
        if src_pos + size > len(src.buf):
            raise BlobRangeError(src.name, src_pos, size)
        self.write(dst_pos, bytes(src.buf[src_pos : src_pos + size]))

    def pack(self) -> int:
        """fdt_pack(): drop the free space and any gaps between blocks."""
        err = self.rw_probe()
        if err:
            return err
        count = self.num_mem_rsv()
        if count < 0:
            return count
        self.pack_blocks(self, (count + 1) * RESERVE_ENTRY_SIZE, self.size_dt_struct)
        self.set_u32(OFF_TOTALSIZE, self.data_size())
        return 0


def open_into(src: FdtReader, buf: bytearray) -> int:
    """fdt_open_into(): copy ``src`` into ``buf`` as an editable v17 blob of ``len(buf)`` bytes.

    Returns 0 or a negative libfdt error.
    """
    bufsize = len(buf)
    err = src.ro_probe()
    if err < 0:
        return err
    count = src.num_mem_rsv()
    if count < 0:
        return count
    mem_rsv_size = (count + 1) * RESERVE_ENTRY_SIZE
    if src.version >= 17:
        struct_size = src.size_dt_struct
    elif src.version == 16:
        struct_size = 0
        while True:
            tag, struct_size = src.next_tag(struct_size)
            if tag == FDT_END:
                break
        if struct_size < 0:
            return struct_size
    else:
        return -FdtErr.BADVERSION
    dst = FdtWriter(buf, src.name)
    if not blocks_misordered(src, mem_rsv_size, struct_size):
        totalsize = src.totalsize
        if totalsize > bufsize:
            return -FdtErr.NOSPACE
        dst._copy_from(src, 0, 0, totalsize)
        dst.set_u32(OFF_VERSION, 17)
        dst.set_u32(OFF_SIZE_DT_STRUCT, struct_size)
        dst.set_u32(OFF_TOTALSIZE, bufsize)
        return 0
    newsize = HEADER_SIZE + mem_rsv_size + struct_size + src.size_dt_strings
    if bufsize < newsize:
        return -FdtErr.NOSPACE
    dst.pack_blocks(src, mem_rsv_size, struct_size)
    dst.set_u32(OFF_MAGIC, FDT_MAGIC)
    dst.set_u32(OFF_TOTALSIZE, bufsize)
    dst.set_u32(OFF_VERSION, 17)
    dst.set_u32(OFF_LAST_COMP_VERSION, 16)
    dst.set_u32(OFF_BOOT_CPUID_PHYS, src.boot_cpuid_phys)
    return 0


def blocks_misordered(blob: FdtReader, mem_rsv_size: int, struct_size: int) -> bool:
    """libfdt edits only blobs laid out header, reserve map, structure, strings, in that order."""
    return (
        blob.off_mem_rsvmap < HEADER_SIZE
        or blob.off_dt_struct < (blob.off_mem_rsvmap + mem_rsv_size) & U32_MASK
        or blob.off_dt_strings < (blob.off_dt_struct + struct_size) & U32_MASK
        or blob.totalsize < (blob.off_dt_strings + blob.size_dt_strings) & U32_MASK
    )
