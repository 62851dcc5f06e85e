"""VMSAv8-64 stage-1 translation of the EL1&0 regime, walked in Python (Arm ARM D8).

unicorn walks the payload's tables itself, but when that walk faults it says
only "data abort" or "prefetch abort".  The fault's kind and level, and the
physical address of an instruction when the MMU is on, are found again here
by walking the same tables the architecture's way.  Reads go through a
``read64(pa)`` callback that returns None where no memory answers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from .cpu import Cpu

Read64 = Callable[[int], "int | None"]

MASK64 = (1 << 64) - 1
OA_TOP = 48  # descriptors hold OA[47:n] (no FEAT_LPA/LPA2)
SCTLR_M, SCTLR_A, SCTLR_WXN = 1 << 0, 1 << 1, 1 << 19
PSTATE_PAN = 1 << 22
AF_BIT = 1 << 10


class FaultKind(Enum):
    """Fault status codes (ESR_ELx.DFSC/IFSC, with the level in bits [1:0] where there is one)."""

    ADDRESS_SIZE = 0x00
    TRANSLATION = 0x04
    ACCESS_FLAG = 0x08
    PERMISSION = 0x0C
    EXTERNAL = 0x10
    EXTERNAL_WALK = 0x14
    ALIGNMENT = 0x21


_LEVELLED = {
    FaultKind.ADDRESS_SIZE,
    FaultKind.TRANSLATION,
    FaultKind.ACCESS_FLAG,
    FaultKind.PERMISSION,
    FaultKind.EXTERNAL_WALK,
}


@dataclass(frozen=True, slots=True)
class Fault:
    """A translation that fails: the kind and the lookup level it failed at."""

    kind: FaultKind
    level: int = 0
    address: int | None = None  # the descriptor's address, for an external abort on the walk

    @property
    def fsc(self) -> int:
        return self.kind.value | (self.level & 3) if self.kind in _LEVELLED else self.kind.value

    def __str__(self) -> str:
        name = self.kind.name.lower().replace("_", " ") + " fault"
        return f"{name}, level {self.level}" if self.kind in _LEVELLED else name


@dataclass(frozen=True, slots=True)
class Granule:
    """A translation granule: 4, 16 or 64 KB pages, 8-byte descriptors."""

    shift: int

    @property
    def size(self) -> int:
        return 1 << self.shift

    @property
    def stride(self) -> int:
        return self.shift - 3

    def start_level(self, inputsize: int) -> int:
        levels = -(-(inputsize - self.shift) // self.stride)
        return 4 - levels

    def block_allowed(self, level: int) -> bool:
        """Blocks at level 1 and 2 for 4 KB, level 2 only for 16 and 64 KB (no FEAT_LPA/LPA2)."""
        return level == 2 or (level == 1 and self.shift == 12)

    def level_shift(self, level: int) -> int:
        """log2 of the bytes one descriptor at ``level`` maps."""
        return self.shift + self.stride * (3 - level)


G4K, G16K, G64K = Granule(12), Granule(14), Granule(16)
# TCR_EL1.TG0 and TG1 encode the same granules differently; reserved values act as 4 KB.
TG0 = {0b00: G4K, 0b01: G64K, 0b10: G16K}
TG1 = {0b01: G16K, 0b10: G4K, 0b11: G64K}
PA_BITS = {0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48}  # IPS/PS/PARange; 52-bit needs FEAT_LPA


def pa_size(code: int) -> int:
    return PA_BITS.get(code, 48)


@dataclass(frozen=True, slots=True)
class Stage1Regs:
    """The EL1 registers that define the regime, read once per translation."""

    sctlr: int
    tcr: int
    ttbr0: int
    ttbr1: int
    mair: int = 0
    pa_bits: int = 48  # implemented PA size (ID_AA64MMFR0_EL1.PARange)

    @classmethod
    def of(cls, cpu: Cpu) -> Stage1Regs:
        mmfr0 = cpu.sysreg("ID_AA64MMFR0_EL1")
        return cls(
            cpu.sysreg("SCTLR_EL1"), cpu.sysreg("TCR_EL1"), cpu.sysreg("TTBR0_EL1"),
            cpu.sysreg("TTBR1_EL1"), cpu.sysreg("MAIR_EL1"), pa_size(mmfr0 & 0xF),
        )  # fmt: skip

    @property
    def mmu_on(self) -> bool:
        return bool(self.sctlr & SCTLR_M)

    @property
    def oa_bits(self) -> int:
        return min(pa_size((self.tcr >> 32) & 7), self.pa_bits)

    def key(self) -> tuple[int, int, int, int]:
        return (self.sctlr, self.tcr, self.ttbr0, self.ttbr1)


@dataclass(frozen=True, slots=True)
class Walk:
    """A successful walk: where the VA goes and the leaf's attributes (hierarchical bits folded in)."""

    va: int
    pa: int
    level: int
    size: int  # bytes the leaf maps
    memattr: int  # MAIR_EL1 attribute byte (0x00 = Device-nGnRnE, as with the MMU off)
    ap: int  # AP[2:1] after APTable
    pxn: bool
    uxn: bool
    ng: bool = False
    descriptor: int = 0
    descriptor_address: int | None = None  # None when the MMU is off

    @property
    def device(self) -> bool:
        return self.memattr & 0xF0 == 0


@dataclass(frozen=True, slots=True)
class AccessKind:
    """What an access needs: reading, writing or executing, with which EL's permissions."""

    write: bool = False
    fetch: bool = False
    el0: bool = False  # EL0's permissions (at EL0, or LDTR/STTR at EL1)
    pan: bool = False  # PSTATE.PAN for a privileged data access


@dataclass(frozen=True, slots=True)
class _Range:
    ttbr: int
    inputsize: int
    granule: Granule
    hpd: bool


def addr_top(tcr: int, va: int, fetch: bool) -> int:
    """Top VA bit that translation looks at: 55 with top-byte-ignore (TBI0/TBI1, TBID for fetches)."""
    upper = (va >> 55) & 1
    tbi = (tcr >> (38 if upper else 37)) & 1
    tbid = (tcr >> (52 if upper else 51)) & 1
    return 55 if tbi and not (fetch and tbid) else 63


def _txsz(value: int) -> int:
    """TxSZ outside 16..39 is constrained UNPREDICTABLE: clamped, as QEMU does."""
    return min(max(value, 16), 39)


def _select(regs: Stage1Regs, va: int, fetch: bool, el0: bool) -> _Range | Fault:
    """TTBR0 for VAs whose bits above the input size are zero, TTBR1 for all ones (D8.2.x)."""
    tcr = regs.tcr
    top = addr_top(tcr, va, fetch)
    span = (1 << (top + 1)) - 1
    size0 = 64 - _txsz(tcr & 0x3F)
    upper0 = span & ~((1 << size0) - 1)
    e0pd0, e0pd1 = el0 and bool(tcr >> 55 & 1), el0 and bool(tcr >> 56 & 1)
    if va & upper0 == 0 and not (tcr >> 7 & 1) and not e0pd0:
        return _Range(regs.ttbr0, size0, TG0.get((tcr >> 14) & 3, G4K), bool(tcr >> 41 & 1))
    size1 = 64 - _txsz((tcr >> 16) & 0x3F)
    upper1 = span & ~((1 << size1) - 1)
    if va & upper1 == upper1 and not (tcr >> 23 & 1) and not e0pd1:
        return _Range(regs.ttbr1, size1, TG1.get((tcr >> 30) & 3, G4K), bool(tcr >> 42 & 1))
    return Fault(FaultKind.TRANSLATION, 0)


def flat(regs: Stage1Regs, va: int, fetch: bool = False) -> Walk | Fault:
    """The MMU off: VA = PA (address size fault level 0 beyond the PA size), data as Device-nGnRnE."""
    top = addr_top(regs.tcr, va, fetch) if regs.tcr else 63
    addr = va & ((1 << (top + 1)) - 1)
    if addr >> regs.pa_bits:
        return Fault(FaultKind.ADDRESS_SIZE, 0)
    memattr = 0xFF if fetch else 0x00
    return Walk(va, addr, 0, 1 << 12, memattr, 0b00, False, False)


def walk(regs: Stage1Regs, va: int, read64: Read64, fetch: bool = False, el0: bool = False) -> Walk | Fault:
    """The translation table walk for ``va`` (translation, address size, access flag, external faults)."""
    if not regs.mmu_on:
        return flat(regs, va, fetch)
    rng = _select(regs, va, fetch, el0)
    if isinstance(rng, Fault):
        return rng
    g, oa_bits = rng.granule, regs.oa_bits
    level = g.start_level(rng.inputsize)
    first_bits = rng.inputsize - g.level_shift(level)
    align = max(first_bits + 3, 6)
    base = rng.ttbr & ((1 << OA_TOP) - 1) & ~((1 << align) - 1)
    if base >> oa_bits:
        return Fault(FaultKind.ADDRESS_SIZE, 0)
    ap_table, pxn_table, uxn_table = 0, False, False
    width = first_bits
    while True:
        shift = g.level_shift(level)
        address = base + ((va >> shift) & ((1 << width) - 1)) * 8
        desc = read64(address)
        if desc is None:
            return Fault(FaultKind.EXTERNAL_WALK, level, address)
        if not desc & 1:
            return Fault(FaultKind.TRANSLATION, level)
        if level < 3 and desc & 2:  # table descriptor
            base = desc & ((1 << OA_TOP) - 1) & ~(g.size - 1)
            if base >> oa_bits:
                return Fault(FaultKind.ADDRESS_SIZE, level)
            if not rng.hpd:
                ap_table |= (desc >> 61) & 3
                uxn_table |= bool(desc >> 60 & 1)
                pxn_table |= bool(desc >> 59 & 1)
            level, width = level + 1, g.stride
            continue
        if (level == 3) != bool(desc & 2) or (level < 3 and not g.block_allowed(level)):
            return Fault(FaultKind.TRANSLATION, level)  # reserved encoding, or a block where none may be
        out = desc & ((1 << OA_TOP) - 1) & ~((1 << shift) - 1)
        if out >> oa_bits:
            return Fault(FaultKind.ADDRESS_SIZE, level)
        if not desc & AF_BIT:
            return Fault(FaultKind.ACCESS_FLAG, level)
        ap = (desc >> 6) & 3
        ap = (ap | (ap_table & 2)) & ~(ap_table & 1)  # APTable[1]: no writes; APTable[0]: no EL0 access
        index = (desc >> 2) & 7
        return Walk(
            va, out | (va & ((1 << shift) - 1)), level, 1 << shift, (regs.mair >> (8 * index)) & 0xFF, ap,
            bool(desc >> 53 & 1) or pxn_table, bool(desc >> 54 & 1) or uxn_table, bool(desc >> 11 & 1),
            desc, address,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Permissions:
    priv_r: bool
    priv_w: bool
    priv_x: bool
    user_r: bool
    user_w: bool
    user_x: bool


def permissions(w: Walk, regs: Stage1Regs, pan: bool = False) -> Permissions:
    """AP[2:1], UXN/PXN, SCTLR.WXN and PAN as AArch64.CheckPermission combines them (EL1&0 regime)."""
    if not regs.mmu_on:
        return Permissions(True, True, True, True, True, True)
    user_w = w.ap == 0b01
    user_r = bool(w.ap & 1)
    priv_w = not w.ap & 2
    wxn = bool(regs.sctlr & SCTLR_WXN)
    priv_x = not (w.pxn or (priv_w and wxn) or user_w)  # EL0-writable memory never executes at EL1
    user_x = not (w.uxn or (user_w and wxn))
    priv_r = True
    if pan and user_r:
        priv_r = priv_w = False
    return Permissions(priv_r, priv_w, priv_x, user_r, user_w, user_x)


def permission_fault(w: Walk, regs: Stage1Regs, access: AccessKind) -> Fault | None:
    """A permission fault at the leaf's level when ``access`` is not allowed there."""
    p = permissions(w, regs, access.pan and not access.el0 and not access.fetch)
    if access.fetch:
        ok = p.user_x if access.el0 else p.priv_x
    elif access.write:
        ok = p.user_w if access.el0 else p.priv_w
    else:
        ok = p.user_r if access.el0 else p.priv_r
    return None if ok else Fault(FaultKind.PERMISSION, w.level)


def translate_access(regs: Stage1Regs, va: int, access: AccessKind, read64: Read64) -> Walk | Fault:
    """Walk, then check permissions: the fault the architecture reports first, or the translation."""
    w = walk(regs, va, read64, access.fetch, access.el0)
    if isinstance(w, Fault):
        return w
    return permission_fault(w, regs, access) or w


def cpu_reader(cpu: Cpu) -> Read64:
    """``read64`` over the CPU's physical address space (None where nothing is mapped)."""
    from unicorn import UcError

    def read64(pa: int) -> int | None:
        try:
            return int.from_bytes(cpu.uc.mem_read(pa, 8), "little")
        except UcError:
            return None

    return read64


class PageCache:
    """Recent VA page -> PA page translations of one CPU, checked against the leaf descriptor on use.

    A hit re-reads the leaf descriptor, so remapped or unmapped pages are seen
    without TLB maintenance; tables changed above the leaf are not, so the owner
    drops the cache when the payload invalidates its TLB.
    """

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self.key: tuple[int, int, int, int] | None = None
        self.pages: OrderedDict[int, tuple[int, int, int]] = OrderedDict()

    def clear(self) -> None:
        self.pages.clear()

    def lookup(self, regs: Stage1Regs, va: int, read64: Read64) -> int | None:
        if regs.key() != self.key:
            self.key = regs.key()
            self.pages.clear()
        page = va >> 12
        hit = self.pages.get(page)
        if hit is not None and read64(hit[1]) == hit[2]:
            self.pages.move_to_end(page)
            return hit[0] | (va & 0xFFF)
        w = walk(regs, va, read64, fetch=True)
        if isinstance(w, Fault):
            self.pages.pop(page, None)
            return None
        if w.descriptor_address is not None:
            self.pages[page] = (w.pa & ~0xFFF, w.descriptor_address, w.descriptor)
            if len(self.pages) > self.capacity:
                self.pages.popitem(last=False)
        return w.pa


_caches: WeakKeyDictionary[Cpu, PageCache] = WeakKeyDictionary()


def translate(cpu: Cpu, va: int) -> int | None:
    """VA -> PA for reading instructions (``Cpu.translate``); None when the walk faults."""
    if va >> 32 == 0 and not cpu.sysreg("SCTLR_EL1") & SCTLR_M:
        return va  # MMU off, below every PA size and the tag byte: flat (the common trap path)
    regs = Stage1Regs.of(cpu)
    if not regs.mmu_on:
        w = flat(regs, va, fetch=True)
        return None if isinstance(w, Fault) else w.pa
    cache = _caches.get(cpu)
    if cache is None:
        cache = _caches[cpu] = PageCache()
    return cache.lookup(regs, va & MASK64, cpu_reader(cpu))


def drop_cache(cpu: Cpu | None = None) -> None:
    """Forget cached translations (of one CPU, or all): after TLB maintenance by the payload."""
    if cpu is None:
        _caches.clear()
    else:
        _caches.pop(cpu, None)
