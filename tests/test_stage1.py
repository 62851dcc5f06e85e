"""The stage-1 walker against the VMSAv8-64 descriptor formats (Arm ARM D8), every granule.

Tables are built here bit by bit from the architecture's layouts (not with
the walker's helpers), in a dictionary standing for physical memory.
"""

from __future__ import annotations

import pytest
from armboot.hyp.arch import stage1 as s1
from armboot.hyp.arch.stage1 import AccessKind, Fault, FaultKind, Stage1Regs, Walk

VALID, TABLE, PAGE, AF = 1, 2, 2, 1 << 10
AP_EL0 = 1 << 6  # AP[1]
AP_RO = 1 << 7  # AP[2]
PXN, UXN = 1 << 53, 1 << 54
PXN_TABLE, UXN_TABLE = 1 << 59, 1 << 60
APT_NO_EL0, APT_RO = 1 << 61, 1 << 62
NORMAL = 1 << 2  # AttrIndx 1
MAIR = 0xFF << 8  # Attr0 Device-nGnRnE, Attr1 Normal WB
M, WXN = 1, 1 << 19
TG0_BITS = {12: 0b00, 14: 0b10, 16: 0b01}
TG1_BITS = {12: 0b10, 14: 0b01, 16: 0b11}
IPS_48 = 0b101 << 32


class Memory:
    """Physical memory as 64-bit words; tables handed out from 0x80000000 upwards."""

    def __init__(self) -> None:
        self.words: dict[int, int] = {}
        self.next = 0x8000_0000

    def read64(self, pa: int) -> int | None:
        return self.words.get(pa, 0)

    def table(self, size: int) -> int:
        """A table, aligned to its size (a TTBR's low bits are RES0 up to the table's alignment)."""
        size = max(size, 64)
        base = -(-self.next // size) * size
        self.next = base + size
        return base


class Tables:
    """One translation range's tables for a granule and input size, built from the ARM ARM layouts."""

    def __init__(self, mem: Memory, granule: int, inputsize: int) -> None:
        self.mem, self.g, self.inputsize = mem, granule, inputsize
        self.stride = granule - 3
        levels = -(-(inputsize - granule) // self.stride)
        self.start = 4 - levels
        first_bits = inputsize - (granule + self.stride * (levels - 1))
        self.root = mem.table(8 << first_bits)
        self.tables: dict[tuple[int, int], int] = {}

    def shift(self, level: int) -> int:
        return self.g + self.stride * (3 - level)

    def index(self, va: int, level: int) -> int:
        """The descriptor index at ``level``: the first level resolves the bits left over."""
        width = self.inputsize - self.shift(level) if level == self.start else self.stride
        return (va >> self.shift(level)) & ((1 << width) - 1)

    def slot(self, va: int, level: int) -> int:
        """Descriptor address for ``va`` at ``level``, creating the tables above it."""
        base = self.root
        for lvl in range(self.start, level):
            addr = base + 8 * self.index(va, lvl)
            desc = self.mem.words.get(addr, 0)
            if not desc & VALID:
                desc = self.mem.table(1 << self.g) | VALID | TABLE
                self.mem.words[addr] = desc
            base = desc & ((1 << 48) - 1) & ~((1 << self.g) - 1)
        return base + 8 * self.index(va, level)

    def leaf(self, va: int, pa: int, level: int, attrs: int = AF | NORMAL) -> int:
        addr = self.slot(va, level)
        self.mem.words[addr] = pa | attrs | VALID | (PAGE if level == 3 else 0)
        return addr

    def set_table_bits(self, va: int, level: int, bits: int) -> None:
        """OR hierarchical attributes into the table descriptor at ``level`` on ``va``'s path."""
        addr = self.slot(va, level)
        self.mem.words[addr] |= bits


def regs(granule: int = 12, t0sz: int = 16, t1sz: int = 16, tcr_extra: int = 0, sctlr: int = M, ttbr0: int = 0,
         ttbr1: int = 0, pa_bits: int = 48) -> Stage1Regs:  # fmt: skip
    tcr = t0sz | (TG0_BITS[granule] << 14) | (t1sz << 16) | (TG1_BITS[granule] << 30) | IPS_48 | tcr_extra
    return Stage1Regs(sctlr, tcr, ttbr0, ttbr1, MAIR, pa_bits)


def walk_ok(r: Stage1Regs, va: int, mem: Memory, **kw: bool) -> Walk:
    w = s1.walk(r, va, mem.read64, **kw)
    assert isinstance(w, Walk), w
    return w


def walk_fault(r: Stage1Regs, va: int, mem: Memory, **kw: bool) -> Fault:
    w = s1.walk(r, va, mem.read64, **kw)
    assert isinstance(w, Fault), w
    return w


# Start levels (D8.2, "Translation table walk": levels by granule and input size)
@pytest.mark.parametrize(
    ("granule", "inputsize", "start"),
    [(12, 48, 0), (12, 40, 0), (12, 39, 1), (12, 31, 1), (12, 30, 2), (12, 25, 2),
     (14, 48, 0), (14, 47, 1), (14, 37, 1), (14, 36, 2), (14, 26, 2), (14, 25, 3),
     (16, 48, 1), (16, 42, 2), (16, 30, 2), (16, 29, 3), (16, 25, 3)],
)  # fmt: skip
def test_start_level(granule: int, inputsize: int, start: int) -> None:
    assert s1.Granule(granule).start_level(inputsize) == start
    assert Tables(Memory(), granule, inputsize).start == start


# Pages at level 3 and blocks at every level that allows them, every granule and a few input sizes
BLOCK_LEVELS = {12: [1, 2], 14: [2], 16: [2]}


@pytest.mark.parametrize("granule", [12, 14, 16])
@pytest.mark.parametrize("inputsize", [48, 39, 36, 25])
def test_pages_and_blocks(granule: int, inputsize: int) -> None:
    mem = Memory()
    t = Tables(mem, granule, inputsize)
    r = regs(granule, t0sz=64 - inputsize, ttbr0=t.root)
    levels = [lvl for lvl in [*BLOCK_LEVELS[granule], 3] if lvl >= t.start]
    for i, level in enumerate(levels):
        size = 1 << t.shift(level)
        va = (i + 1) * size * 3 % (1 << inputsize) & ~(size - 1)
        pa = 0x4_0000_0000 + i * size * 8 & ~(size - 1)
        t.leaf(va, pa, level)
        offset = size - 8
        w = walk_ok(r, va + offset, mem)
        assert (w.pa, w.level, w.size) == (pa + offset, level, size)
        assert w.memattr == 0xFF and not w.device


@pytest.mark.parametrize("granule", [12, 14, 16])
def test_ttbr1_for_the_upper_range(granule: int) -> None:
    mem = Memory()
    low, high = Tables(mem, granule, 39), Tables(mem, granule, 42)
    r = regs(
        granule, t0sz=25, t1sz=22, ttbr0=low.root | (5 << 48), ttbr1=high.root | (7 << 48)
    )  # ASIDs ignored
    high.leaf(0xFFFF_FFC0_0000_0000 & ((1 << 42) - 1), 0x5000_0000, 3)
    low.leaf(0, 0x6000_0000, 3)
    assert walk_ok(r, 0xFFFF_FFC0_0000_0010, mem).pa == 0x5000_0010
    assert walk_ok(r, 0x10, mem).pa == 0x6000_0010


def test_tg0_and_tg1_encode_granules_differently() -> None:
    """TG0 0b10 is 16 KB but TG1 0b10 is 4 KB: the same bits select different walks."""
    mem = Memory()
    t16, t4 = Tables(mem, 14, 36), Tables(mem, 12, 36)
    tcr = (64 - 36) | (0b10 << 14) | ((64 - 36) << 16) | (0b10 << 30) | IPS_48
    r = Stage1Regs(M, tcr, t16.root, t4.root, MAIR)
    t16.leaf(0x4000, 0x1_0000_0000, 3)
    t4.leaf(0xF_FFFF_F000, 0x2_0000_0000, 3)
    w0 = walk_ok(r, 0x4000 + 0x3FF0, mem)
    assert (w0.pa, w0.size) == (0x1_0000_3FF0, 1 << 14)
    w1 = walk_ok(r, 0xFFFF_FFFF_FFFF_F008, mem)
    assert (w1.pa, w1.size) == (0x2_0000_0008, 1 << 12)


@pytest.mark.parametrize("granule", [12, 14, 16])
def test_translation_fault_at_each_level(granule: int) -> None:
    mem = Memory()
    t = Tables(mem, granule, 48)
    r = regs(granule, ttbr0=t.root)
    va = 0x0000_1234_5678_0000 & ~((1 << granule) - 1)
    assert walk_fault(r, va, mem) == Fault(FaultKind.TRANSLATION, t.start)
    for level in range(t.start + 1, 4):
        t.slot(va, level)  # tables down to ``level``, its slot still invalid
        assert walk_fault(r, va, mem) == Fault(FaultKind.TRANSLATION, level)
    assert Fault(FaultKind.TRANSLATION, 3).fsc == 0x07


def test_va_outside_both_ranges_faults_at_level_0() -> None:
    mem = Memory()
    r = regs(12, t0sz=25, t1sz=25, ttbr0=mem.table(4096), ttbr1=mem.table(4096))
    for va in (1 << 39, 0xFFFF_FF00_0000_0000, 0x0080_0000_0000_0000):
        assert walk_fault(r, va, mem) == Fault(FaultKind.TRANSLATION, 0)


def test_epd_disables_a_range() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x1000, 0x1000, 3)
    epd0, epd1 = 1 << 7, 1 << 23
    r = regs(12, t0sz=25, ttbr0=t.root, tcr_extra=epd0)
    assert walk_fault(r, 0x1000, mem) == Fault(FaultKind.TRANSLATION, 0)
    r = regs(12, t1sz=25, ttbr1=t.root, tcr_extra=epd1)
    assert walk_fault(r, 0xFFFF_FF80_0000_1000, mem) == Fault(FaultKind.TRANSLATION, 0)


def test_top_byte_ignore() -> None:
    mem = Memory()
    t = Tables(mem, 12, 48)
    t.leaf(0x1000, 0x9000, 3)
    tagged = 0x5A00_0000_0000_1008
    assert walk_fault(regs(ttbr0=t.root), tagged, mem).kind is FaultKind.TRANSLATION
    assert walk_ok(regs(ttbr0=t.root, tcr_extra=1 << 37), tagged, mem).pa == 0x9008  # TBI0
    # TBI1 does not apply to the lower range, and TBID0 keeps tags from instruction fetches
    assert walk_fault(regs(ttbr0=t.root, tcr_extra=1 << 38), tagged, mem).level == 0
    assert walk_fault(regs(ttbr0=t.root, tcr_extra=(1 << 37) | (1 << 51)), tagged, mem, fetch=True).level == 0


@pytest.mark.parametrize(("granule", "level"), [(12, 0), (14, 1), (16, 1), (14, 0)])
def test_blocks_where_the_granule_allows_none(granule: int, level: int) -> None:
    mem = Memory()
    t = Tables(mem, granule, 48)
    if level < t.start:
        pytest.skip("level above the walk's start")
    t.leaf(0, 0, level)
    assert walk_fault(regs(granule, ttbr0=t.root), 0, mem) == Fault(FaultKind.TRANSLATION, level)


def test_reserved_level3_encoding() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    addr = t.leaf(0x2000, 0x2000, 3)
    mem.words[addr] &= ~PAGE  # 0b01 at level 3 is reserved
    assert walk_fault(regs(t0sz=25, ttbr0=t.root), 0x2000, mem) == Fault(FaultKind.TRANSLATION, 3)


def test_access_flag_fault_at_the_leaf_level() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x4000_0000, 0x4000_0000, 1, attrs=NORMAL)
    t.leaf(0x8020_0000, 0x8020_0000, 2, attrs=NORMAL)
    t.leaf(0x9000_3000, 0x9000_3000, 3, attrs=NORMAL)
    r = regs(t0sz=25, ttbr0=t.root)
    for va, level in ((0x4000_0000, 1), (0x8020_0000, 2), (0x9000_3000, 3)):
        f = walk_fault(r, va, mem)
        assert f == Fault(FaultKind.ACCESS_FLAG, level) and f.fsc == 0x08 | level


def test_address_size_faults() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x1000, 0x1_0000_0000, 3)  # beyond a 32-bit output size
    r32 = Stage1Regs(M, 25 | (0 << 32), t.root, 0, MAIR, 48)  # IPS = 32 bits
    assert walk_fault(r32, 0x1000, mem) == Fault(FaultKind.ADDRESS_SIZE, 3)
    # The implemented PA size limits IPS too; the TTBR itself is checked at level 0
    assert walk_fault(regs(t0sz=25, ttbr0=t.root, pa_bits=31), 0x1000, mem) == Fault(
        FaultKind.ADDRESS_SIZE, 0
    )
    # A table descriptor pointing beyond the output size faults at its own level
    mem2 = Memory()
    t2 = Tables(mem2, 12, 39)
    mem2.next = 0x10_0000_0000
    t2.slot(0x4000_0000, 3)
    r36 = Stage1Regs(M, 25 | (1 << 32), t2.root, 0, MAIR, 48)
    assert walk_fault(r36, 0x4000_0000, mem2) == Fault(FaultKind.ADDRESS_SIZE, 1)


def test_external_abort_on_the_walk() -> None:
    t = Tables(Memory(), 12, 39)
    t.slot(0x1000, 3)
    missing = t.slot(0x1000, 2)
    mem = t.mem

    def read64(pa: int) -> int | None:
        return None if pa == (mem.words[missing] & ~0xFFF) + 8 else mem.words.get(pa, 0)

    f = s1.walk(regs(t0sz=25, ttbr0=t.root), 0x1000, read64)
    assert isinstance(f, Fault) and f.kind is FaultKind.EXTERNAL_WALK and f.level == 3 and f.fsc == 0x17


# Permissions: AP[2:1] (D8.4 "Memory access control"), EL1 and EL0
@pytest.mark.parametrize(
    ("ap", "el1", "el0"),
    [(0b00, "rw", ""), (0b01, "rw", "rw"), (0b10, "r", ""), (0b11, "r", "r")],
)
def test_access_permissions(ap: int, el1: str, el0: str) -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x1000, 0x1000, 3, attrs=AF | NORMAL | (ap << 6))
    r = regs(t0sz=25, ttbr0=t.root)
    w = walk_ok(r, 0x1000, mem)
    for user, allowed in ((False, el1), (True, el0)):
        for write in (False, True):
            fault = s1.permission_fault(w, r, AccessKind(write=write, el0=user))
            want = ("w" if write else "r") in allowed
            assert (fault is None) == want, (ap, user, write)
            if fault is not None:
                assert fault == Fault(FaultKind.PERMISSION, 3) and fault.fsc == 0x0F


def test_hierarchical_ap_table() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x1000, 0x1000, 3, attrs=AF | NORMAL | AP_EL0)  # EL0 RW
    r = regs(t0sz=25, ttbr0=t.root)
    t.set_table_bits(0x1000, 2, APT_NO_EL0)
    p = s1.permissions(walk_ok(r, 0x1000, mem), r)
    assert (p.user_r, p.user_w, p.priv_r, p.priv_w) == (False, False, True, True)
    assert p.priv_x  # no longer EL0-writable, so EL1 may execute it
    t.set_table_bits(0x1000, 1, APT_RO)
    p = s1.permissions(walk_ok(r, 0x1000, mem), r)
    assert (p.user_r, p.user_w, p.priv_r, p.priv_w) == (False, False, True, False)
    # TCR_EL1.HPD0 turns hierarchical permissions off
    r_hpd = regs(t0sz=25, ttbr0=t.root, tcr_extra=1 << 41)
    p = s1.permissions(walk_ok(r_hpd, 0x1000, mem), r_hpd)
    assert (p.user_r, p.user_w) == (True, True)


def test_execute_never() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    r = regs(t0sz=25, ttbr0=t.root)
    t.leaf(0x1000, 0x1000, 3, attrs=AF | NORMAL | PXN)
    t.leaf(0x2000, 0x2000, 3, attrs=AF | NORMAL | UXN | AP_EL0 | AP_RO)
    t.leaf(0x3000, 0x3000, 3, attrs=AF | NORMAL | AP_EL0)  # EL0-writable: never executable at EL1
    t.leaf(0x4000_0000, 0x4000_0000, 3, attrs=AF | NORMAL | AP_EL0 | AP_RO)
    t.set_table_bits(0x4000_0000, 1, UXN_TABLE | PXN_TABLE)
    fetch1, fetch0 = AccessKind(fetch=True), AccessKind(fetch=True, el0=True)
    cases = {0x1000: (False, True), 0x2000: (True, False), 0x3000: (False, True), 0x4000_0000: (False, False)}
    for va, (x1, x0) in cases.items():
        w = walk_ok(r, va, mem)
        assert (s1.permission_fault(w, r, fetch1) is None) == x1, hex(va)
        assert (s1.permission_fault(w, r, fetch0) is None) == x0, hex(va)


def test_wxn_makes_writable_memory_execute_never() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x1000, 0x1000, 3)
    t.leaf(0x2000, 0x2000, 3, attrs=AF | NORMAL | AP_RO)
    r = regs(t0sz=25, ttbr0=t.root, sctlr=M | WXN)
    assert s1.permission_fault(walk_ok(r, 0x1000, mem), r, AccessKind(fetch=True)) is not None
    assert s1.permission_fault(walk_ok(r, 0x2000, mem), r, AccessKind(fetch=True)) is None


def test_pan_blocks_privileged_data_access_to_el0_memory() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x1000, 0x1000, 3, attrs=AF | NORMAL | AP_EL0)
    r = regs(t0sz=25, ttbr0=t.root)
    w = walk_ok(r, 0x1000, mem)
    assert s1.permission_fault(w, r, AccessKind(pan=True)) == Fault(FaultKind.PERMISSION, 3)
    assert s1.permission_fault(w, r, AccessKind(pan=True, el0=True)) is None  # LDTR: EL0's permissions


def test_translate_access_orders_walk_then_permission() -> None:
    mem = Memory()
    t = Tables(mem, 12, 39)
    t.leaf(0x1000, 0x1000, 3, attrs=NORMAL | AP_RO)  # AF = 0 and read-only
    r = regs(t0sz=25, ttbr0=t.root)
    assert s1.translate_access(r, 0x1000, AccessKind(write=True), mem.read64) == Fault(
        FaultKind.ACCESS_FLAG, 3
    )


def test_mmu_off_is_flat_device_memory() -> None:
    r = Stage1Regs(0, 0, 0, 0, 0, 40)
    w = s1.walk(r, 0x1234_5678, Memory().read64)
    assert isinstance(w, Walk) and w.pa == 0x1234_5678 and w.device
    assert s1.walk(r, 1 << 40, Memory().read64) == Fault(FaultKind.ADDRESS_SIZE, 0)


def test_translate_on_a_cpu_with_its_cache() -> None:
    """``translate`` for Cpu.translate: walks guest memory, re-checks the leaf on a cache hit."""
    import mmap

    from armboot.hyp.arch.cpu import Cpu

    cpu = Cpu(0, 0)
    ram = mmap.mmap(-1, 0x20_0000)
    cpu.map_ram(0x4000_0000, 0x20_0000, ram)
    root, l2, l3 = 0x4010_0000, 0x4010_1000, 0x4010_2000

    def put(pa: int, value: int) -> None:
        cpu.write_phys(pa, value.to_bytes(8, "little"))

    put(root + 8 * 1, l2 | VALID | TABLE)  # VA 0x40000000.. (L1 index 1)
    put(l2 + 8 * 0, l3 | VALID | TABLE)
    put(l3 + 8 * 5, 0x4000_7000 | VALID | PAGE | AF | NORMAL)
    cpu.set_sysreg("TTBR0_EL1", root)
    cpu.set_sysreg("TCR_EL1", 25 | (1 << 23) | IPS_48)
    assert s1.translate(cpu, 0x4000_5004) == 0x4000_5004  # MMU off: flat
    cpu.set_sysreg("SCTLR_EL1", cpu.sysreg("SCTLR_EL1") | M)
    assert s1.translate(cpu, 0x4000_5004) == 0x4000_7004
    put(l3 + 8 * 5, 0x4000_8000 | VALID | PAGE | AF | NORMAL)  # remapped: the hit is re-checked
    assert s1.translate(cpu, 0x4000_5008) == 0x4000_8008
    put(l3 + 8 * 5, 0)
    assert s1.translate(cpu, 0x4000_5008) is None
    assert s1.translate(cpu, 0x1_0000_0000) is None  # outside TTBR0's 39 bits, TTBR1 disabled
    s1.drop_cache(cpu)
    s1.drop_cache()
