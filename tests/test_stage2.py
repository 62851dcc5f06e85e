"""Stage-2 tables: the builder's descriptors read back bit by bit (Arm ARM D8.3, stage-2 attributes),
the walker's faults, HPFAR_EL2/ESR_EL2, and the mapped ranges a VM's unicorn map is made from.
"""

from __future__ import annotations

import ctypes
import mmap
import struct

import pytest
from armboot.hyp.arch.stage1 import FaultKind
from armboot.hyp.arch.stage2 import (
    NORMAL_WB,
    DEVICE_nGnRE,
    Perm,
    S2Range,
    S2Walk,
    Stage2Fault,
    Stage2Tables,
    iter_mappings,
    start_level,
    walk,
)
from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, UC_PROT_ALL, Uc
from unicorn import arm64_const as A

BASE = 0x9000_0000  # where the table memory sits in the host's physical map
GB, MB2, KB4 = 1 << 30, 1 << 21, 1 << 12
OA = ((1 << 48) - 1) & ~0xFFF


def tables(ipa_bits: int = 40, pages: int = 64, **kw: int) -> Stage2Tables:
    return Stage2Tables(bytearray(pages * KB4), BASE, ipa_bits=ipa_bits, **kw)


def leaf_of(t: Stage2Tables, ipa: int) -> tuple[int, int]:
    """(level, descriptor) of the leaf for ``ipa``, read from memory by the layout alone."""
    table, level = t.root, t.start
    while True:
        width = t.first_bits if level == t.start else 9
        shift = 12 + 9 * (3 - level)
        desc = t.read64(table + 8 * ((ipa >> shift) & ((1 << width) - 1)))
        assert desc is not None
        if level < 3 and desc & 3 == 3:
            table, level = desc & OA, level + 1
            continue
        return level, desc


@pytest.mark.parametrize(
    ("ipa_bits", "start", "sl0", "root_bytes"),
    [
        (32, 2, 0, 4 * KB4),
        (34, 2, 0, 16 * KB4),
        (36, 1, 1, 512),
        (40, 1, 1, 2 * KB4),
        (44, 0, 2, 256),
        (48, 0, 2, KB4),
    ],
)
def test_vtcr_and_root(ipa_bits: int, start: int, sl0: int, root_bytes: int) -> None:
    t = tables(ipa_bits, pages=40)
    assert (t.start, start_level(t.vtcr)) == (start, start)
    assert (t.vtcr >> 6) & 3 == sl0 and t.vtcr & 0x3F == 64 - ipa_bits
    assert 8 << t.first_bits == root_bytes and t.root % root_bytes == 0  # up to 16 concatenated tables
    assert t.vtcr >> 31 == 1 and (t.vtcr >> 14) & 3 == 0  # RES1, TG0 = 4 KB


def test_vtcr_for_a_40_bit_ipa_is_kvms() -> None:
    """T0SZ 24, SL0 1, IRGN0/ORGN0 WBWA, SH0 inner, TG0 4 KB, PS 40 bits: 0x80023558, as KVM programs it."""
    t = tables(40, pa_bits=40, vmid=0x2A)
    assert t.vtcr == 0x80023558
    assert t.vttbr == (0x2A << 48) | t.root


def test_blocks_and_pages_by_alignment() -> None:
    t = tables()
    t.map(0x4000_0000, 0x1_0000_0000, GB + MB2 + KB4)  # a 1 GB block, a 2 MB block, a page
    t.map(0x1000, 0x2000, KB4, Perm.R, DEVICE_nGnRE)
    t.map(0x20_0000, 0x30_1000, MB2)  # IPA 2 MB aligned, PA not: pages only
    cases = [
        (0x4000_0000, 1, 0x1_0000_0000, 0b01),
        (0x8000_0000, 2, 0x1_4000_0000, 0b01),
        (0x8020_0000, 3, 0x1_4020_0000, 0b11),
        (0x1000, 3, 0x2000, 0b11),
        (0x3F_F000, 3, 0x50_0000, 0b11),
    ]
    for ipa, level, pa, kind in cases:
        got_level, desc = leaf_of(t, ipa)
        span = 1 << (12 + 9 * (3 - level))
        assert (got_level, desc & 3, desc & OA & ~(span - 1)) == (level, kind, pa), hex(ipa)
        assert desc & (1 << 10)  # AF
        assert (desc >> 8) & 3 == 3  # SH inner shareable
    _, rw = leaf_of(t, 0x4000_0000)
    assert (rw >> 2) & 0xF == NORMAL_WB and (rw >> 6) & 3 == 0b11 and not rw >> 54 & 1
    _, ro = leaf_of(t, 0x1000)
    assert (ro >> 2) & 0xF == DEVICE_nGnRE and (ro >> 6) & 3 == 0b01 and ro >> 54 & 1  # S2AP read-only, XN


def test_walk_translates_and_reports_permissions() -> None:
    t = tables()
    t.map(0x4000_0000, 0x8000_0000, 4 * MB2, Perm.RW)
    w = t.translate(0x4012_3458)
    assert isinstance(w, S2Walk) and (w.pa, w.level, w.size, w.perms) == (0x8012_3458, 2, MB2, Perm.RW)
    f = t.translate(0x4012_3458, fetch=True)  # XN
    assert f == Stage2Fault(FaultKind.PERMISSION, 2, 0x4012_3458) and f.fsc == 0x0E
    t.map(0x1000, 0x9000, KB4, Perm.W | Perm.X)
    assert t.translate(0x1000, write=True).pa == 0x9000  # type: ignore[union-attr]
    assert t.translate(0x1000, fetch=True).pa == 0x9000  # type: ignore[union-attr]  # XN is independent of S2AP
    assert t.translate(0x1000) == Stage2Fault(FaultKind.PERMISSION, 3, 0x1000)


def test_translation_faults_at_each_level() -> None:
    t = tables(48)
    assert t.translate(0x1234_5000) == Stage2Fault(FaultKind.TRANSLATION, 0, 0x1234_5000)
    t.map(0x8000_0000, 0x8000_0000, KB4)
    assert t.translate(0x1_0000_0000).level == 1  # type: ignore[union-attr]
    assert t.translate(0x8020_0000).level == 2  # type: ignore[union-attr]
    assert t.translate(0x8000_1000).level == 3  # type: ignore[union-attr]
    assert t.translate(1 << 48) == Stage2Fault(FaultKind.TRANSLATION, 0, 1 << 48)  # beyond T0SZ


def test_access_flag_and_address_size_faults() -> None:
    t = tables(40, pa_bits=40)
    t.map(0x1000, 0x2000, KB4)
    _, desc = leaf_of(t, 0x1000)
    addr = _leaf_address(t, 0x1000)
    t._write(addr, desc & ~(1 << 10))
    assert t.translate(0x1000) == Stage2Fault(FaultKind.ACCESS_FLAG, 3, 0x1000)
    t._write(addr, desc | (1 << 41))  # an output address beyond PS (40 bits)
    f = t.translate(0x1000)
    assert f == Stage2Fault(FaultKind.ADDRESS_SIZE, 3, 0x1000) and f.fsc == 0x03  # type: ignore[union-attr]


def _leaf_address(t: Stage2Tables, ipa: int) -> int:
    table, level = t.root, t.start
    while True:
        width = t.first_bits if level == t.start else 9
        addr = table + 8 * ((ipa >> (12 + 9 * (3 - level))) & ((1 << width) - 1))
        desc = t.read64(addr) or 0
        if level == 3 or desc & 3 != 3:
            return addr
        table, level = desc & OA, level + 1


def test_inconsistent_sl0_is_a_translation_fault() -> None:
    t = tables(40)
    bad = (t.vtcr & ~(3 << 6)) | (0 << 6)  # start level 2 cannot resolve a 40-bit IPA
    assert walk(bad, t.vttbr, 0x1000, t.read64) == Stage2Fault(FaultKind.TRANSLATION, 1, 0x1000)


def test_external_abort_on_the_stage2_walk() -> None:
    t = tables()
    assert walk(t.vtcr, 0x1_0000_0000, 0, t.read64) == Stage2Fault(FaultKind.EXTERNAL_WALK, 1, 0)


def test_hpfar_and_esr() -> None:
    f = Stage2Fault(FaultKind.TRANSLATION, 3, 0x8123_4567)
    assert f.hpfar == 0x81234 << 4
    isv_ldr_x1 = (1 << 24) | (3 << 22) | (1 << 16) | (1 << 15)  # ldr x1, [..]: ISV, SAS=3, SRT=1, SF
    assert f.esr(write=False, insn_iss=isv_ldr_x1) == (0x24 << 26) | (1 << 25) | isv_ldr_x1 | 0x07
    assert f.esr(write=True) == (0x24 << 26) | (1 << 25) | (1 << 6) | 0x07
    # On a stage-1 table walk: S1PTW, no instruction syndrome
    assert f.esr(insn_iss=isv_ldr_x1, s1ptw=True) == (0x24 << 26) | (1 << 25) | (1 << 7) | 0x07
    assert f.esr(fetch=True) == (0x20 << 26) | (1 << 25) | 0x07


def test_unmap_splits_blocks_and_frees_tables() -> None:
    t = tables()
    free0 = len(t.free)
    t.map(0x4000_0000, 0x8000_0000, MB2)
    t.unmap(0x4000_3000, 2 * KB4)
    assert t.translate(0x4000_2FF8).pa == 0x8000_2FF8  # type: ignore[union-attr]
    assert t.translate(0x4000_3000) == Stage2Fault(FaultKind.TRANSLATION, 3, 0x4000_3000)
    assert t.translate(0x4000_4FF8).kind is FaultKind.TRANSLATION  # type: ignore[union-attr]
    assert t.translate(0x4000_5000).pa == 0x8000_5000  # type: ignore[union-attr]
    assert leaf_of(t, 0x4000_5000)[0] == 3
    t.unmap(0x4000_0000, MB2)
    assert list(t.mappings()) == [] and len(t.free) == free0


def test_map_over_existing_replaces_and_releases() -> None:
    t = tables()
    free0 = len(t.free)
    t.map(0x4000_0000, 0x8000_0000, 16 * KB4)
    t.map(0x4000_0000, 0xA000_0000, MB2)  # a block where a level 3 table was
    assert leaf_of(t, 0x4000_0000) == (2, leaf_of(t, 0x4000_0000)[1]) and len(t.free) == free0 - 1
    t.map(0x4000_1000, 0xB000_0000, KB4)  # a page inside the block: the block is split
    assert t.translate(0x4000_1000).pa == 0xB000_0000  # type: ignore[union-attr]
    assert t.translate(0x4000_2000).pa == 0xA000_2000  # type: ignore[union-attr]


def test_protect_changes_only_its_range() -> None:
    t = tables()
    t.map(0x4000_0000, 0x8000_0000, MB2, Perm.RWX)
    t.protect(0x4000_1000, KB4, Perm.R)
    assert t.translate(0x4000_1000, write=True) == Stage2Fault(FaultKind.PERMISSION, 3, 0x4000_1000)
    assert t.translate(0x4000_1000, fetch=True).kind is FaultKind.PERMISSION  # type: ignore[union-attr]
    assert t.translate(0x4000_2000, write=True).pa == 0x8000_2000  # type: ignore[union-attr]


def test_mapped_ranges_are_merged() -> None:
    t = tables()
    t.map(0x4000_0000, 0x1_0000_0000, GB + 3 * MB2 + 5 * KB4)
    t.map(0x0900_0000, 0x0900_0000, KB4, Perm.RW, DEVICE_nGnRE)
    t.map(0x0900_1000, 0x0900_1000, KB4, Perm.R, DEVICE_nGnRE)
    assert list(t.mappings()) == [
        S2Range(0x0900_0000, 0x0900_0000, KB4, Perm.RW, DEVICE_nGnRE),
        S2Range(0x0900_1000, 0x0900_1000, KB4, Perm.R, DEVICE_nGnRE),
        S2Range(0x4000_0000, 0x1_0000_0000, GB + 3 * MB2 + 5 * KB4, Perm.RWX, NORMAL_WB),
    ]
    assert list(iter_mappings(t.vtcr, t.vttbr, t.read64)) == list(t.mappings())


def test_errors() -> None:
    t = tables(40, pages=3)
    with pytest.raises(ValueError):
        t.map(0x1001, 0x2000, KB4)
    with pytest.raises(ValueError):
        t.map(1 << 40, 0, KB4)
    with pytest.raises(MemoryError):
        for i in range(8):
            t.map(i * GB + KB4, 0, KB4)
    with pytest.raises(ValueError):
        Stage2Tables(bytearray(100), BASE)


def test_granule_64k_walk() -> None:
    """The walker follows VTCR_EL2.TG0: 64 KB granule, SL0 = 1 starts at level 2 (512 MB blocks)."""
    mem: dict[int, int] = {}
    root, l3 = 0x10_0000, 0x20_0000
    vtcr = (1 << 31) | (2 << 16) | (0b01 << 14) | (1 << 6) | (64 - 36)
    mem[root + 8 * 1] = 0x6000_0000 | (1 << 10) | (0b11 << 6) | (NORMAL_WB << 2) | 1  # 512 MB block
    mem[root + 8 * 2] = l3 | 3
    mem[l3 + 8 * 3] = 0x7_0003_0000 | (1 << 10) | (0b01 << 6) | 3  # 64 KB page
    read64 = mem.get
    assert walk(vtcr, root, 0x2123_4567, lambda a: read64(a, 0)) == S2Walk(
        0x2123_4567, 0x6123_4567, 2, 1 << 29, Perm.RWX, NORMAL_WB, mem[root + 8]
    )
    w = walk(vtcr, root, 0x4003_0010, lambda a: read64(a, 0))
    assert isinstance(w, S2Walk) and (w.pa, w.level, w.size, w.perms) == (
        0x7_0003_0010,
        3,
        1 << 16,
        Perm.R | Perm.X,
    )


def test_a_vm_memory_map_realised_from_the_tables() -> None:
    """The runtime's use: each mapped range becomes a mem_map_ptr of host RAM at its IPA."""
    host = mmap.mmap(-1, 4 * MB2)  # host physical 0x8000_0000..
    host_base = 0x8000_0000
    struct.pack_into("<Q", host, MB2 + 0x10, 0x1122_3344_5566_7788)
    t = tables()
    t.map(0x4000_0000, host_base + MB2, MB2)
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    address = ctypes.addressof(ctypes.c_char.from_buffer(host))
    for r in t.mappings():
        uc.mem_map_ptr(r.ipa, r.size, UC_PROT_ALL, address + (r.pa - host_base))
    code = struct.pack("<II", 0xF9400820, 0xD503201F)  # ldr x0, [x1, #16]; nop
    uc.mem_write(0x4000_1000, code)
    uc.reg_write(A.UC_ARM64_REG_X1, 0x4000_0000)
    uc.emu_start(0x4000_1000, 0x4000_1008)
    assert uc.reg_read(A.UC_ARM64_REG_X0) == 0x1122_3344_5566_7788
