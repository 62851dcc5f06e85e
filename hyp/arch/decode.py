"""A64 load/store decoding for data abort syndromes (Arm ARM C4.1 "Loads and Stores").

A data abort that unicorn reports names no access.  The address, size,
direction and registers that ESR_ELx.ISS and FAR_ELx need come from the
instruction at the faulting PC: :func:`decode` says what it accesses and
:meth:`MemOp.address` where, from the register values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

MASK64 = (1 << 64) - 1
ISV, SSE, SF, AR = 1 << 24, 1 << 21, 1 << 15, 1 << 14


class Op(Enum):
    LOAD = "load"
    STORE = "store"
    RMW = "read-modify-write"  # atomics, CAS, SWP: read and write the same location
    PREFETCH = "prefetch"  # never faults
    CACHE = "cache maintenance"  # DC/IC by VA (ISS.CM = 1)
    ZERO = "DC ZVA"  # a store of a whole block


@dataclass(frozen=True, slots=True)
class MemOp:
    """What one A64 instruction reads or writes."""

    op: Op
    size: int  # bytes per register transferred (ISS.SAS = log2)
    length: int  # bytes touched from the first address
    rt: int
    rn: int  # base register, 31 = SP; -1 for PC-relative (literal)
    rt2: int | None = None
    sign_extend: bool = False
    reg64: bool = False  # ISS.SF: the register is X, not W
    acquire_release: bool = False
    exclusive: bool = False
    pair: bool = False
    simd: bool = False
    writeback: bool = False
    unprivileged: bool = False  # LDTR/STTR: EL0's permissions
    offset: int = 0
    post_index: bool = False  # accesses [base], then adds the offset
    rm: int | None = None  # register offset
    option: int = 0b011  # extend of the register offset (UXTW 010, LSL 011, SXTW 110, SXTX 111)
    shift: int = 0
    align: int = 1  # alignment the instruction itself requires (exclusive, ordered, atomic)
    needs_write: bool = False  # cache maintenance that needs write permission (DC IVAC)

    @property
    def write(self) -> bool:
        """ISS.WnR before any fault is known (an RMW that faults on its read reports 0)."""
        return self.op in (Op.STORE, Op.RMW, Op.CACHE, Op.ZERO)

    @property
    def isv(self) -> bool:
        """A single general-purpose register, no writeback, not exclusive (D17.2.37 ISV)."""
        return self.op in (Op.LOAD, Op.STORE) and not (
            self.pair or self.simd or self.exclusive or self.writeback
        )

    def iss(self) -> int:
        """ISS[24:14]: ISV, SAS, SSE, SRT, SF, AR, or 0 when the syndrome cannot be valid."""
        if not self.isv:
            return 0
        sas = self.size.bit_length() - 1
        value = ISV | (sas << 22) | (self.rt << 16)
        value |= (SSE if self.sign_extend else 0) | (SF if self.reg64 else 0)
        return value | (AR if self.acquire_release else 0)

    def address(self, x: Callable[[int], int], sp: int, pc: int) -> int:
        """The first virtual address accessed, from X registers (``x(n)``, n < 31), SP and PC."""
        if self.rn < 0:
            return (pc + self.offset) & MASK64
        if self.op in (Op.ZERO, Op.CACHE):  # the operand is Xt: register 31 is XZR here, not SP
            return x(self.rn) & MASK64 if self.rn < 31 else 0
        base = sp if self.rn == 31 else x(self.rn)
        if self.post_index:
            return base & MASK64
        if self.rm is not None:
            return (base + (_extend(x(self.rm) if self.rm < 31 else 0, self.option) << self.shift)) & MASK64
        return (base + self.offset) & MASK64


def _extend(value: int, option: int) -> int:
    if option & 3 == 2:  # 32-bit W register
        value &= 0xFFFFFFFF
        if option & 4 and value >> 31:
            value -= 1 << 32
    elif option & 4 and value >> 63:
        value -= 1 << 64
    return value


def _sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _gpr(size: int, opc: int) -> tuple[Op, bool, bool] | None:
    """A general-purpose load/store's size/opc: (op, sign_extend, X register), None if unallocated."""
    if opc == 0:
        return Op.STORE, False, size == 3
    if opc == 1:
        return Op.LOAD, False, size == 3
    if opc == 2:
        return (Op.PREFETCH, False, False) if size == 3 else (Op.LOAD, True, True)
    return (Op.LOAD, True, False) if size < 2 else None


def _fp_size(size: int, opc: int) -> int | None:
    """Bytes of a SIMD&FP register load/store; opc<1> with size 00 is the 128-bit Q form."""
    if opc & 2:
        return 16 if size == 0 else None
    return 1 << size


def _single(insn: int, size: int, opc: int, v: bool, **kw: Any) -> MemOp | None:
    rt, rn = insn & 31, (insn >> 5) & 31
    if v:
        nbytes = _fp_size(size, opc)
        if nbytes is None:
            return None
        op = Op.LOAD if opc & 1 else Op.STORE
        return MemOp(op, nbytes, nbytes, rt, rn, simd=True, **kw)
    kind = _gpr(size, opc)
    if kind is None:
        return None
    op, sse, x = kind
    nbytes = 1 << size
    return MemOp(op, nbytes, nbytes, rt, rn, sign_extend=sse, reg64=x, **kw)


def _exclusive_group(insn: int) -> MemOp | None:
    """Load/store exclusive, ordered (LDAR/STLR, LDLAR/STLLR), compare-and-swap (bits 29:24 = 001000)."""
    size, o2, load, o1, o0 = insn >> 30, insn >> 23 & 1, bool(insn >> 22 & 1), insn >> 21 & 1, insn >> 15 & 1
    rt, rn, rt2 = insn & 31, (insn >> 5) & 31, (insn >> 10) & 31
    nbytes = 1 << size
    if o2 == 0 and o1 == 0:  # LDXR, LDAXR, STXR, STLXR
        op = Op.LOAD if load else Op.STORE
        return MemOp(
            op,
            nbytes,
            nbytes,
            rt,
            rn,
            reg64=size == 3,
            acquire_release=bool(o0),
            exclusive=True,
            align=nbytes,
        )
    if o2 == 0:  # o1 = 1: LDXP/STXP (size 1x), CASP (size 0x)
        if size >= 2:
            esize = 4 << (size & 1)
            op = Op.LOAD if load else Op.STORE
            return MemOp(op, esize, 2 * esize, rt, rn, rt2, reg64=esize == 8, acquire_release=bool(o0),
                         exclusive=True, pair=True, align=2 * esize)  # fmt: skip
        esize = 4 << size
        return MemOp(Op.RMW, esize, 2 * esize, rt, rn, rt + 1, reg64=esize == 8,
                     acquire_release=load or bool(o0), pair=True, align=2 * esize)  # fmt: skip
    if o1 == 0:  # LDAR, STLR, LDLAR, STLLR
        op = Op.LOAD if load else Op.STORE
        return MemOp(op, nbytes, nbytes, rt, rn, reg64=size == 3, acquire_release=True, align=nbytes)
    if rt2 != 31:
        return None
    return MemOp(
        Op.RMW, nbytes, nbytes, rt, rn, reg64=size == 3, acquire_release=load or bool(o0), align=nbytes
    )


def _literal(insn: int) -> MemOp | None:
    """LDR (literal), LDRSW (literal), PRFM (literal): PC-relative, imm19 words."""
    opc, v, rt = insn >> 30, bool(insn >> 26 & 1), insn & 31
    offset = _sext((insn >> 5) & 0x7FFFF, 19) * 4
    if v:
        if opc == 3:
            return None
        nbytes = 4 << opc
        return MemOp(Op.LOAD, nbytes, nbytes, rt, -1, simd=True, offset=offset)
    if opc == 3:
        return MemOp(Op.PREFETCH, 8, 8, rt, -1, offset=offset)
    nbytes = 8 if opc == 1 else 4
    return MemOp(Op.LOAD, nbytes, nbytes, rt, -1, sign_extend=opc == 2, reg64=opc != 0, offset=offset)


def _pair(insn: int) -> MemOp | None:
    """LDP/STP/LDNP/STNP/LDPSW, GPR and SIMD&FP, offset and pre/post-index (imm7 scaled)."""
    opc, v, index, load = insn >> 30, bool(insn >> 26 & 1), insn >> 23 & 3, bool(insn >> 22 & 1)
    rt, rn, rt2 = insn & 31, (insn >> 5) & 31, (insn >> 10) & 31
    if opc == 3 or (not v and opc == 1 and (not load or index == 0)):
        return None  # unallocated, or STGP (MTE)
    esize = 4 << opc if v else (8 if opc == 2 else 4)
    offset = _sext((insn >> 15) & 0x7F, 7) * esize
    return MemOp(
        Op.LOAD if load else Op.STORE, esize, 2 * esize, rt, rn, rt2, sign_extend=not v and opc == 1,
        reg64=not v and opc != 0, pair=True, simd=v, writeback=index in (1, 3), offset=offset, post_index=index == 1,
    )  # fmt: skip


def _register_group(insn: int) -> MemOp | None:
    """Bits 29:27 = 111, 25:24 = 00: unscaled/pre/post/unprivileged immediate, register offset, atomics."""
    size, v, opc = insn >> 30, bool(insn >> 26 & 1), insn >> 22 & 3
    form = insn >> 10 & 3
    if insn >> 21 & 1:
        if form == 2:  # register offset
            option, s = insn >> 13 & 7, insn >> 12 & 1
            if not option & 2:
                return None
            scale = 4 if v and opc & 2 else size
            return _single(insn, size, opc, v, rm=(insn >> 16) & 31, option=option, shift=scale if s else 0)
        if form == 0 and not v:
            return _atomic(insn)
        return None  # LDRAA/LDRAB (FEAT_PAuth)
    imm = _sext((insn >> 12) & 0x1FF, 9)
    if form == 2:  # LDTR/STTR
        if v:
            return None
        m = _single(insn, size, opc, v, offset=imm, unprivileged=True)
        return None if m is None or m.op is Op.PREFETCH else m
    m = _single(insn, size, opc, v, offset=imm, writeback=form != 0, post_index=form == 1)
    if m is not None and m.op is Op.PREFETCH and form != 0:
        return None
    return m


def _atomic(insn: int) -> MemOp | None:
    """LDADD..LDUMIN, SWP (read-modify-write) and LDAPR (load-acquire RCpc)."""
    size, a, r, o3, opc = insn >> 30, insn >> 23 & 1, insn >> 22 & 1, insn >> 15 & 1, insn >> 12 & 7
    rt, rn = insn & 31, (insn >> 5) & 31
    nbytes = 1 << size
    if o3 and opc == 4:
        if not a or r or (insn >> 16) & 31 != 31:
            return None
        return MemOp(Op.LOAD, nbytes, nbytes, rt, rn, reg64=size == 3, acquire_release=True, align=nbytes)
    if o3 and opc != 0:
        return None
    return MemOp(Op.RMW, nbytes, nbytes, rt, rn, reg64=size == 3, acquire_release=bool(a or r), align=nbytes)


def _unsigned_offset(insn: int) -> MemOp | None:
    size, v, opc = insn >> 30, bool(insn >> 26 & 1), insn >> 22 & 3
    scale = 4 if v and opc & 2 else size
    return _single(insn, size, opc, v, offset=((insn >> 10) & 0xFFF) << scale)


def _rcpc_unscaled(insn: int) -> MemOp | None:
    """LDAPUR*/STLUR* (FEAT_LRCPC2): ordered, unscaled imm9, no writeback."""
    size, opc = insn >> 30, insn >> 22 & 3
    m = _single(
        insn, size, opc, False, offset=_sext((insn >> 12) & 0x1FF, 9), acquire_release=True, align=1 << size
    )
    return None if m is None or m.op is Op.PREFETCH else m


_MULTIPLE_REGS = {0b0000: 4, 0b0010: 4, 0b0100: 3, 0b0110: 3, 0b0111: 1, 0b1000: 2, 0b1010: 2}


def _structures(insn: int) -> MemOp | None:
    """LD1-LD4/ST1-ST4 (multiple and single structures, LDnR), with post-index."""
    q, load, single, post = insn >> 30 & 1, bool(insn >> 22 & 1), bool(insn >> 24 & 1), bool(insn >> 23 & 1)
    rt, rn, rm, size = insn & 31, (insn >> 5) & 31, (insn >> 16) & 31, (insn >> 10) & 3
    if not post and rm != 0:
        return None
    if not single:
        if insn >> 21 & 1:
            return None
        regs = _MULTIPLE_REGS.get((insn >> 12) & 0xF)
        if regs is None:
            return None
        esize, length = 1 << size, regs * (16 if q else 8)
    else:
        opcode, r, s = (insn >> 13) & 7, insn >> 21 & 1, insn >> 12 & 1
        selem, scale = ((opcode & 1) << 1 | r) + 1, opcode >> 1
        if scale == 3:
            if not load or s:
                return None
            esize = 1 << size
        elif scale == 2:
            if size & 2 or (size & 1 and s):
                return None
            esize = 8 if size & 1 else 4
        elif scale == 1:
            if size & 1:
                return None
            esize = 2
        else:
            esize = 1
        length = selem * esize
    op = Op.LOAD if load else Op.STORE
    return MemOp(op, esize, length, rt, rn, simd=True, writeback=post, post_index=post,
                 offset=length if post and rm == 31 else 0)  # fmt: skip


_CACHE_OPS = {(0, 6, 1): Op.STORE, (3, 10, 1): Op.LOAD, (3, 11, 1): Op.LOAD, (3, 12, 1): Op.LOAD,
              (3, 13, 1): Op.LOAD, (3, 14, 1): Op.LOAD, (3, 5, 1): Op.LOAD}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CacheOp:
    """DC/IC by VA: the permission it needs (DC IVAC: write) and its name."""

    needs: Op
    name: str


_CACHE_NAMES = {(0, 6, 1): "DC IVAC", (3, 10, 1): "DC CVAC", (3, 11, 1): "DC CVAU", (3, 12, 1): "DC CVAP",
                (3, 13, 1): "DC CVADP", (3, 14, 1): "DC CIVAC", (3, 5, 1): "IC IVAU"}  # fmt: skip


def cache_op(insn: int) -> CacheOp | None:
    """A data or instruction cache maintenance instruction by VA (SYS, CRn = 7), or None."""
    if insn & 0xFFF8F000 != 0xD5087000:
        return None
    key = ((insn >> 16) & 7, (insn >> 8) & 15, (insn >> 5) & 7)
    needs = _CACHE_OPS.get(key)
    return None if needs is None else CacheOp(needs, _CACHE_NAMES[key])


def _system(insn: int, zva_bytes: int) -> MemOp | None:
    rt = insn & 31
    if insn & 0xFFFFFFE0 == 0xD50B7420:  # DC ZVA
        return MemOp(Op.ZERO, zva_bytes, zva_bytes, rt, rt)
    op = cache_op(insn)
    if op is not None:
        return MemOp(Op.CACHE, 1, 1, rt, rt, needs_write=op.needs is Op.STORE)
    return None


def decode(insn: int, zva_bytes: int = 64) -> MemOp | None:
    """The memory access of an A64 instruction, or None when it is not a load/store armboot knows.

    ``zva_bytes`` is the DC ZVA block size (DCZID_EL0: 4 << BS bytes).  For DC
    and IC by VA the base register is Rt itself (the address operand).
    """
    insn &= 0xFFFFFFFF
    if insn & 0xFFF80000 == 0xD5080000:
        return _system(insn, zva_bytes)
    if insn & 0x0A000000 != 0x08000000:  # op0 x1x0: the Loads and Stores group
        return None
    if insn & 0x3F000000 == 0x08000000:
        return _exclusive_group(insn)
    if insn & 0x3B000000 == 0x18000000:
        return _literal(insn)
    if insn & 0x3A000000 == 0x28000000:
        return _pair(insn)
    if insn & 0x3B000000 == 0x38000000:
        return _register_group(insn)
    if insn & 0x3B000000 == 0x39000000:
        return _unsigned_offset(insn)
    if insn & 0x3F200C00 == 0x19000000:
        return _rcpc_unscaled(insn)
    if insn & 0xBE000000 == 0x0C000000:
        return _structures(insn)
    return None
