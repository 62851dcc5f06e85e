"""Stage-2 translation tables for armboot's hypervisor (VMSAv8-64, Arm ARM D8).

A VM's IPA space is kept the way hardware would walk it: real stage-2 tables
in memory the caller owns, with the VTCR_EL2/VTTBR_EL2 values that describe
them.  unicorn has no stage 2, so the runtime realises a VM's memory map by
iterating the mapped ranges (:func:`iter_mappings`), and reports a stage-2
fault with what HPFAR_EL2 and ESR_EL2 would hold (:class:`Stage2Fault`).
The builder uses the 4 KB granule; the walker takes any granule VTCR_EL2 names.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntFlag
from typing import Any

from .stage1 import G4K, OA_TOP, TG0, Fault, FaultKind, Granule, Read64, pa_size

S2AP_SHIFT = 6
XN = 1 << 54
AF = 1 << 10
SH_INNER = 3 << 8
OA_MASK = (1 << OA_TOP) - 1
ATTR_MASK = (0xF << 2) | (3 << S2AP_SHIFT) | XN
PS_CODES = {32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5}

# MemAttr[3:0] with HCR_EL2.FWB = 0 (D8.6.5): Device types, or Normal outer:inner cacheability
DEVICE_nGnRnE, DEVICE_nGnRE, DEVICE_GRE = 0b0000, 0b0001, 0b0011
NORMAL_NC, NORMAL_WB = 0b0101, 0b1111


class Perm(IntFlag):
    """Stage-2 permissions: S2AP[0] read, S2AP[1] write; EXEC is the absence of XN."""

    NONE = 0
    R = 1
    W = 2
    X = 4
    RW = 3
    RWX = 7


@dataclass(frozen=True, slots=True)
class S2Range:
    """A mapped IPA range with uniform attributes (what the runtime maps into a VM's unicorn)."""

    ipa: int
    pa: int
    size: int
    perms: Perm
    memattr: int


@dataclass(frozen=True, slots=True)
class S2Walk:
    ipa: int
    pa: int
    level: int
    size: int
    perms: Perm
    memattr: int
    descriptor: int


@dataclass(frozen=True, slots=True)
class Stage2Fault:
    """A stage-2 fault on an IPA, and how EL2 is told about it."""

    kind: FaultKind
    level: int
    ipa: int

    @property
    def fsc(self) -> int:
        return Fault(self.kind, self.level).fsc

    @property
    def hpfar(self) -> int:
        """HPFAR_EL2: FIPA (bits [43:4]) = IPA[51:12]."""
        return ((self.ipa >> 12) << 4) & ((1 << 44) - 1)

    def esr(self, fetch: bool = False, write: bool = False, s1ptw: bool = False, insn_iss: int = 0) -> int:
        """ESR_EL2 for a guest access from EL1/EL0 (EC 0x20/0x24, IL = 1).

        ``insn_iss`` is ISS[24:14] of the access (``decode.MemOp.iss()``); a
        stage-2 fault on a stage-1 table walk (``s1ptw``) carries none, and
        its WnR says whether the walk wrote.
        """
        ec = 0x20 if fetch else 0x24
        iss = self.fsc | ((1 << 7) if s1ptw else 0)
        if not fetch:
            iss |= (1 << 6) if write else 0
            if not s1ptw:
                iss |= insn_iss
        return (ec << 26) | (1 << 25) | iss


def _granule(vtcr: int) -> Granule:
    return TG0.get((vtcr >> 14) & 3, G4K)


def start_level(vtcr: int) -> int | None:
    """The initial lookup level VTCR_EL2.SL0 names for its granule (None when reserved)."""
    sl0, g = (vtcr >> 6) & 3, _granule(vtcr)
    if g is G4K:
        return {0: 2, 1: 1, 2: 0}.get(sl0)
    return {0: 3, 1: 2, 2: 1}.get(sl0)


def _consistent(g: Granule, level: int, iasize: int) -> bool:
    """AArch64.S2InconsistentSL: the start level resolves 1 to stride + 4 bits (up to 16 concatenated tables)."""
    low = (3 - level) * g.stride + g.shift + 1
    return low <= iasize <= low + g.stride - 1 + 4


def _perms(desc: int) -> Perm:
    return Perm((desc >> S2AP_SHIFT) & 3) | (Perm.NONE if desc & XN else Perm.X)


def walk(vtcr: int, vttbr: int, ipa: int, read64: Read64, pa_bits: int = 48) -> S2Walk | Stage2Fault:
    """The stage-2 walk of ``ipa`` (translation, address size, access flag, external faults)."""
    g = _granule(vtcr)
    iasize = 64 - (vtcr & 0x3F)
    if ipa >> iasize:
        return Stage2Fault(FaultKind.TRANSLATION, 0, ipa)
    level = start_level(vtcr)
    if level is None or not _consistent(g, level, iasize):
        return Stage2Fault(FaultKind.TRANSLATION, 1, ipa)
    oa_bits = min(pa_size((vtcr >> 16) & 7), pa_bits)
    width = iasize - g.level_shift(level)
    base = vttbr & OA_MASK & ~((1 << max(width + 3, 6)) - 1)
    if base >> oa_bits:
        return Stage2Fault(FaultKind.ADDRESS_SIZE, level, ipa)
    while True:
        shift = g.level_shift(level)
        address = base + ((ipa >> shift) & ((1 << width) - 1)) * 8
        desc = read64(address)
        if desc is None:
            return Stage2Fault(FaultKind.EXTERNAL_WALK, level, ipa)
        if not desc & 1:
            return Stage2Fault(FaultKind.TRANSLATION, level, ipa)
        if level < 3 and desc & 2:
            base = desc & OA_MASK & ~(g.size - 1)
            if base >> oa_bits:
                return Stage2Fault(FaultKind.ADDRESS_SIZE, level, ipa)
            level, width = level + 1, g.stride
            continue
        if (level == 3) != bool(desc & 2) or (level < 3 and not g.block_allowed(level)):
            return Stage2Fault(FaultKind.TRANSLATION, level, ipa)
        out = desc & OA_MASK & ~((1 << shift) - 1)
        if out >> oa_bits:
            return Stage2Fault(FaultKind.ADDRESS_SIZE, level, ipa)
        if not desc & AF:
            return Stage2Fault(FaultKind.ACCESS_FLAG, level, ipa)
        pa = out | (ipa & ((1 << shift) - 1))
        return S2Walk(ipa, pa, level, 1 << shift, _perms(desc), (desc >> 2) & 0xF, desc)


def translate(
    vtcr: int, vttbr: int, ipa: int, read64: Read64, write: bool = False, fetch: bool = False
) -> S2Walk | Stage2Fault:
    """Walk, then check S2AP (reads, writes) or XN (instruction fetches): a permission fault at the leaf."""
    w = walk(vtcr, vttbr, ipa, read64)
    if isinstance(w, Stage2Fault):
        return w
    need = Perm.X if fetch else (Perm.W if write else Perm.R)
    return w if need in w.perms else Stage2Fault(FaultKind.PERMISSION, w.level, ipa)


def iter_mappings(vtcr: int, vttbr: int, read64: Read64) -> Iterator[S2Range]:
    """Every mapped IPA range in address order, adjacent leaves with the same attributes merged."""
    g = _granule(vtcr)
    iasize = 64 - (vtcr & 0x3F)
    level = start_level(vtcr)
    if level is None or not _consistent(g, level, iasize):
        return
    width = iasize - g.level_shift(level)
    root = vttbr & OA_MASK & ~((1 << max(width + 3, 6)) - 1)
    pending: S2Range | None = None
    for leaf in _leaves(g, root, level, 1 << width, 0, read64):
        if (
            pending is not None
            and pending.ipa + pending.size == leaf.ipa
            and pending.pa + pending.size == leaf.pa
            and (pending.perms, pending.memattr) == (leaf.perms, leaf.memattr)
        ):
            pending = S2Range(
                pending.ipa, pending.pa, pending.size + leaf.size, pending.perms, pending.memattr
            )
            continue
        if pending is not None:
            yield pending
        pending = leaf
    if pending is not None:
        yield pending


def _leaves(g: Granule, table: int, level: int, entries: int, ipa: int, read64: Read64) -> Iterator[S2Range]:
    shift = g.level_shift(level)
    for i in range(entries):
        desc = read64(table + 8 * i)
        if desc is None or not desc & 1:
            continue
        at = ipa + (i << shift)
        if level < 3 and desc & 2:
            yield from _leaves(g, desc & OA_MASK & ~(g.size - 1), level + 1, 1 << g.stride, at, read64)
        elif (level == 3) == bool(desc & 2) and desc & AF and (level == 3 or g.block_allowed(level)):
            out = desc & OA_MASK & ~((1 << shift) - 1)
            yield S2Range(at, out, 1 << shift, _perms(desc), (desc >> 2) & 0xF)


class Stage2Tables:
    """Stage-2 tables (4 KB granule) built in a caller-owned region at physical address ``base``."""

    def __init__(self, memory: Any, base: int, ipa_bits: int = 40, pa_bits: int = 40, vmid: int = 0) -> None:
        if base % G4K.size or len(memory) % G4K.size:
            raise ValueError("stage-2 table memory must be 4 KB aligned and a whole number of pages")
        if pa_bits not in PS_CODES or not 0 <= vmid < 256:
            raise ValueError(f"unsupported PA size {pa_bits} or VMID {vmid}")
        self.g = G4K
        self.view = memoryview(memory).cast("B")
        self.base, self.ipa_bits, self.pa_bits, self.vmid = base, ipa_bits, pa_bits, vmid
        level = next((lvl for lvl in (2, 1, 0) if _consistent(G4K, lvl, ipa_bits)), None)
        if level is None or ipa_bits > 48:
            raise ValueError(f"no 4 KB stage-2 walk for a {ipa_bits}-bit IPA space")
        self.start = level
        self.first_bits = ipa_bits - G4K.level_shift(level)
        root_size = max(8 << self.first_bits, G4K.size)
        first = -(-base // root_size) * root_size - base
        if first + root_size > len(memory):
            raise ValueError("stage-2 table memory too small for the root table")
        self.root = base + first
        self.free = [base + off for off in range(len(memory) - G4K.size, -1, -G4K.size)
                     if not first <= off < first + root_size]  # fmt: skip
        self._zero(self.root, root_size)

    # Registers

    @property
    def vtcr(self) -> int:
        """VTCR_EL2: T0SZ, SL0, inner/outer write-back walks, inner shareable, TG0 = 4 KB, PS; RES1 bit 31."""
        walks = (3 << 12) | (1 << 10) | (1 << 8)  # SH0 inner, ORGN0/IRGN0 write-back; TG0 0 = 4 KB
        return (
            (1 << 31)
            | (PS_CODES[self.pa_bits] << 16)
            | walks
            | ((2 - self.start) << 6)
            | (64 - self.ipa_bits)
        )

    @property
    def vttbr(self) -> int:
        return (self.vmid << 48) | self.root

    # Memory

    def read64(self, pa: int) -> int | None:
        off = pa - self.base
        if not 0 <= off <= len(self.view) - 8:
            return None
        return struct.unpack_from("<Q", self.view, off)[0]

    def _write(self, pa: int, value: int) -> None:
        struct.pack_into("<Q", self.view, pa - self.base, value)

    def _zero(self, pa: int, size: int) -> None:
        off = pa - self.base
        self.view[off : off + size] = bytes(size)

    def _table(self) -> int:
        if not self.free:
            raise MemoryError("stage-2 table memory exhausted")
        pa = self.free.pop()
        self._zero(pa, G4K.size)
        return pa

    def _release(self, table: int, level: int) -> None:
        """Give back a table and the tables under it."""
        if level < 3:
            for i in range(512):
                d = self.read64(table + 8 * i) or 0
                if d & 3 == 3:
                    self._release(d & OA_MASK & ~0xFFF, level + 1)
        self.free.append(table)

    # Editing

    def map(self, ipa: int, pa: int, size: int, perms: Perm = Perm.RWX, memattr: int = NORMAL_WB) -> None:
        """Map [ipa, ipa + size) to [pa, ...): the largest blocks alignment allows, pages elsewhere."""
        self._check(ipa, size)
        if pa % G4K.size or (pa + size - 1) >> self.pa_bits:
            raise ValueError(f"PA range {pa:#x}+{size:#x} not page aligned or beyond {self.pa_bits} bits")
        attrs = (
            AF | SH_INNER | (memattr << 2) | ((int(perms) & 3) << S2AP_SHIFT) | (0 if perms & Perm.X else XN)
        )
        while size:
            for level in (1, 2, 3):
                span = 1 << self.g.level_shift(level)
                if level >= self.start and not (ipa | pa) % span and size >= span:
                    break
            self._set(ipa, level, pa | attrs | (3 if level == 3 else 1))
            ipa, pa, size = ipa + span, pa + span, size - span

    def unmap(self, ipa: int, size: int) -> None:
        """Unmap [ipa, ipa + size), splitting blocks that straddle its ends; emptied tables are freed."""
        self._check(ipa, size)
        self._apply(self.root, self.start, ipa, ipa + size, None)

    def protect(self, ipa: int, size: int, perms: Perm) -> None:
        """Change S2AP and XN of what is mapped in [ipa, ipa + size)."""
        self._check(ipa, size)
        bits = ((int(perms) & 3) << S2AP_SHIFT) | (0 if perms & Perm.X else XN)
        self._apply(self.root, self.start, ipa, ipa + size, bits)

    def mappings(self) -> Iterator[S2Range]:
        return iter_mappings(self.vtcr, self.vttbr, self.read64)

    def translate(self, ipa: int, write: bool = False, fetch: bool = False) -> S2Walk | Stage2Fault:
        return translate(self.vtcr, self.vttbr, ipa, self.read64, write, fetch)

    def _check(self, ipa: int, size: int) -> None:
        if ipa % G4K.size or size % G4K.size or size <= 0 or (ipa + size - 1) >> self.ipa_bits:
            raise ValueError(f"IPA range {ipa:#x}+{size:#x} not page aligned or beyond {self.ipa_bits} bits")

    def _slot(self, table: int, level: int, ipa: int) -> int:
        width = self.first_bits if level == self.start else self.g.stride
        return table + ((ipa >> self.g.level_shift(level)) & ((1 << width) - 1)) * 8

    def _set(self, ipa: int, level: int, desc: int) -> None:
        table = self.root
        for lvl in range(self.start, level):
            slot = self._slot(table, lvl, ipa)
            table = self._descend(slot, lvl)
        slot = self._slot(table, level, ipa)
        old = self.read64(slot) or 0
        if level < 3 and old & 3 == 3:
            self._release(old & OA_MASK & ~0xFFF, level + 1)
        self._write(slot, desc)

    def _descend(self, slot: int, level: int) -> int:
        """The next-level table under ``slot``: created when invalid, split from a block when one is there."""
        d = self.read64(slot) or 0
        if d & 3 == 3:
            return d & OA_MASK & ~0xFFF
        table = self._table()
        if d & 1:  # a block: the same mapping, one level down
            span = 1 << self.g.level_shift(level + 1)
            attrs = d & ~(OA_MASK & ~0xFFF) & ~3
            kind = 3 if level + 1 == 3 else 1
            out = d & OA_MASK & ~((1 << self.g.level_shift(level)) - 1)
            for i in range(512):
                self._write(table + 8 * i, (out + i * span) | attrs | kind)
        self._write(slot, table | 3)
        return table

    def _apply(self, table: int, level: int, lo: int, hi: int, bits: int | None) -> None:
        """Unmap (``bits`` None) or set ``bits`` on the leaves in [lo, hi) under ``table``."""
        shift = self.g.level_shift(level)
        span = 1 << shift
        for at in range(lo & ~(span - 1), hi, span):
            a, b = max(lo, at), min(hi, at + span)
            slot = self._slot(table, level, at)
            d = self.read64(slot) or 0
            if not d & 1:
                continue
            whole = a == at and b == at + span
            if level < 3 and d & 2 and not (whole and bits is None):
                sub = d & OA_MASK & ~0xFFF
                self._apply(sub, level + 1, a, b, bits)
                if bits is None and self._empty(sub):
                    self._write(slot, 0)
                    self.free.append(sub)
            elif whole:
                if bits is None and level < 3 and d & 2:
                    self._release(d & OA_MASK & ~0xFFF, level + 1)
                self._write(slot, 0 if bits is None else (d & ~((3 << S2AP_SHIFT) | XN)) | bits)
            else:
                self._apply(self._descend(slot, level), level + 1, a, b, bits)

    def _empty(self, table: int) -> bool:
        return not any(struct.unpack_from("<512Q", self.view, table - self.base))
