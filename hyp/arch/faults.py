"""Abort syndromes that unicorn does not provide (ESR_ELx and FAR_ELx for instruction and data aborts).

unicorn reports a failed stage-1 translation as an exception number only.  The
syndrome is rebuilt the way the architecture defines it: decode the load/store
at PC (``decode``) for its address, size and direction, walk the payload's own
tables for every page it touches (``stage1``), and report the first fault in
the architecture's order: alignment the instruction requires, then the walk
(translation, address size, access flag), then Device-memory alignment, then
permissions.  When those rules find no fault, :class:`UnexplainedAbort` says
so instead of inventing one.

Stage-1 aborts taken to EL1 never carry an instruction syndrome (ISS.ISV = 0,
Arm ARM D17.2.37); only stage-2 aborts taken to EL2 do (``data_abort_iss``
with ``stage2=True``, and ``stage2.Stage2Fault``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from unicorn import UcError
from unicorn import arm64_const as A

from .decode import MemOp, Op, decode
from .exceptions import EC, EXCP_PREFETCH_ABORT, EXCP_UNALIGNED
from .stage1 import (
    PSTATE_PAN,
    SCTLR_A,
    AccessKind,
    Fault,
    FaultKind,
    Read64,
    Stage1Regs,
    cpu_reader,
    permission_fault,
    translate_access,
    walk,
)

if TYPE_CHECKING:
    from .cpu import Cpu

WNR, CM = 1 << 6, 1 << 8  # ISS.S1PTW, EA and FnV stay 0 for stage-1 faults with a valid FAR
DCZID_EL0 = (0, 0, 3, 3, 7)  # unicorn CP_REG tuple: CRn, CRm, op0, op1, op2
EXTERNAL = 0x10


@dataclass(frozen=True)
class Syndrome:
    ec: int
    iss: int
    far: int
    return_address: int


class UnexplainedAbort(Exception):
    """unicorn raised an abort that the architecture's rules, applied to the payload's tables, do not give.

    ``allowed`` is True when the current tables permit the access: unicorn may
    have used a stale TLB entry (the architecture lets a permission fault come
    from one), so flushing its TLB and re-running the instruction is a valid
    outcome too.
    """

    def __init__(self, message: str, allowed: bool = False) -> None:
        super().__init__(message)
        self.allowed = allowed


@dataclass(frozen=True, slots=True)
class DataFault:
    """The fault a data access takes: its status, FAR and direction (ISS.WnR)."""

    fault: Fault
    far: int
    write: bool


def _misaligned(address: int, align: int) -> bool:
    return align > 1 and address & (align - 1) != 0


def _pages(start: int, length: int, page: int = 4096) -> list[tuple[int, int]]:
    """(first byte, bytes) of each 4 KB page the access [start, start + length) touches."""
    chunks, addr, end = [], start, start + length
    while addr < end:
        nxt = min((addr // page + 1) * page, end)
        chunks.append((addr, nxt - addr))
        addr = nxt
    return chunks


def _phases(m: MemOp) -> list[bool]:
    """The directions an access is checked in: an RMW reads first (WnR 0 when the read faults)."""
    if m.op is Op.RMW:
        return [False, True]
    if m.op is Op.CACHE:
        return [m.needs_write]
    return [m.write]


def data_fault(
    regs: Stage1Regs, m: MemOp, va: int, read64: Read64, el0: bool, pan: bool = False
) -> DataFault | None:
    """The fault the architecture gives the access ``m`` at ``va``, or None when it completes."""
    if m.op is Op.PREFETCH:
        return None
    user = el0 or m.unprivileged
    if m.op not in (Op.CACHE, Op.ZERO):
        align = max(m.align, m.size if regs.sctlr & SCTLR_A else 1)
        if _misaligned(va, align):
            return DataFault(Fault(FaultKind.ALIGNMENT), va, m.write and m.op is not Op.RMW)
    start = va & ~(m.length - 1) if m.op is Op.ZERO else va
    for write in _phases(m):
        access = AccessKind(write=write, el0=user, pan=pan and m.op is not Op.CACHE)
        for first, _ in _pages(start, m.length):
            w = walk(regs, first, read64, el0=el0)
            report_write = write or m.op is Op.CACHE
            far = va if m.op in (Op.CACHE, Op.ZERO) else first
            if isinstance(w, Fault):
                return DataFault(w, far, report_write)
            if w.device and (m.op is Op.ZERO or _misaligned(va, m.size)):
                return DataFault(Fault(FaultKind.ALIGNMENT), far, report_write)
            fault = permission_fault(w, regs, access)
            if fault is not None:
                return DataFault(fault, far, report_write)
    return None


def instruction_fault(regs: Stage1Regs, pc: int, read64: Read64, el0: bool) -> Fault | None:
    """The fault an instruction fetch at ``pc`` takes (translation, access flag, execute permission)."""
    w = translate_access(regs, pc, AccessKind(fetch=True, el0=el0), read64)
    return w if isinstance(w, Fault) else None


def _at_lower_el(cpu: Cpu) -> bool:
    return cpu.el == 0


def _insn_at_pc(cpu: Cpu, regs: Stage1Regs, read64: Read64) -> int | None:
    w = walk(regs, cpu.pc, read64, fetch=True)
    if isinstance(w, Fault):
        return None
    try:
        return int.from_bytes(cpu.uc.mem_read(w.pa, 4), "little")
    except UcError:
        return None


def _access_at_pc(cpu: Cpu, regs: Stage1Regs, read64: Read64) -> tuple[int, MemOp, int]:
    """The instruction at PC, what it accesses and the first VA it accesses (or UnexplainedAbort)."""
    pc = cpu.pc
    insn = _insn_at_pc(cpu, regs, read64)
    if insn is None:
        raise UnexplainedAbort(f"data abort at pc {pc:#x}, whose instruction cannot be read")
    bs = cpu.uc.reg_read(A.UC_ARM64_REG_CP_REG, DCZID_EL0) & 0xF
    m = decode(insn, 4 << bs)
    if m is None:
        raise UnexplainedAbort(f"data abort at pc {pc:#x} by {insn:#010x}, which is not a load or store")
    va = m.address(cpu.x, cpu.uc.reg_read(A.UC_ARM64_REG_SP), pc)
    return insn, m, va


def describe_abort(cpu: Cpu, intno: int) -> Syndrome:
    """The syndrome of an abort unicorn raised (intno 3 prefetch, 4 data, 22 unaligned), from PSTATE at the time."""
    regs = Stage1Regs.of(cpu)
    read64 = cpu_reader(cpu)
    el0 = _at_lower_el(cpu)
    pc = cpu.pc
    if intno == EXCP_PREFETCH_ABORT:
        fault = instruction_fault(regs, pc, read64, el0)
        if fault is None:
            raise UnexplainedAbort(f"prefetch abort at {pc:#x}, which EL{cpu.el} may execute", allowed=True)
        return Syndrome(EC.IABT_LOWER if el0 else EC.IABT_SAME, fault.fsc, pc, pc)
    insn, m, va = _access_at_pc(cpu, regs, read64)
    result = data_fault(regs, m, va, read64, el0, bool(cpu.pstate & PSTATE_PAN))
    if intno == EXCP_UNALIGNED and (result is None or result.fault.kind is not FaultKind.ALIGNMENT):
        if not _misaligned(va, m.size):
            raise UnexplainedAbort(f"alignment fault at pc {pc:#x} ({insn:#010x}) on aligned address {va:#x}")
        result = DataFault(Fault(FaultKind.ALIGNMENT), va, m.write and m.op is not Op.RMW)
    if result is None:
        raise UnexplainedAbort(
            f"data abort at pc {pc:#x} ({insn:#010x}, {m.op.value} of {m.length} bytes at {va:#x}), "
            f"but the translation tables allow it",
            allowed=True,
        )
    iss = (WNR if result.write else 0) | (CM if m.op is Op.CACHE else 0) | result.fault.fsc
    return Syndrome(EC.DABT_LOWER if el0 else EC.DABT_SAME, iss, result.far, pc)


def decode_at_pc(cpu: Cpu) -> tuple[MemOp, int] | None:
    """The load/store at PC and the first VA it accesses, or None when there is none to decode."""
    regs = Stage1Regs.of(cpu)
    try:
        _, m, va = _access_at_pc(cpu, regs, cpu_reader(cpu))
    except UnexplainedAbort:
        return None
    return m, va


def data_abort_iss(cpu: Cpu, write: bool, dfsc: int, stage2: bool = False) -> int:
    """ISS of a data abort by the instruction at PC: WnR, CM and the status code.

    The instruction syndrome (ISV, SAS, SSE, SRT, SF, AR) is added only for a
    stage-2 abort reported in ESR_EL2 (``stage2``), and only when the
    instruction allows one; ESR_EL1 never has ISV = 1 (D17.2.37).
    """
    iss = (WNR if write else 0) | (dfsc & 0x3F)
    decoded = decode_at_pc(cpu)
    if decoded is None:
        return iss
    m, _ = decoded
    if m.op is Op.CACHE:
        iss |= CM | WNR
    if stage2:
        iss |= m.iss()
    return iss


def external_abort(cpu: Cpu, pa: int, write: bool, fetch: bool) -> Syndrome:
    """A synchronous external abort (DFSC/IFSC 0x10) on physical address ``pa`` with nothing there.

    unicorn's unmapped-memory hook gives the physical address; FAR must hold the
    virtual one, found from the decoded access and the walk of each page it touches.
    """
    el0 = _at_lower_el(cpu)
    pc = cpu.pc
    if fetch:
        return Syndrome(EC.IABT_LOWER if el0 else EC.IABT_SAME, EXTERNAL, pc, pc)
    regs = Stage1Regs.of(cpu)
    read64 = cpu_reader(cpu)
    decoded = decode_at_pc(cpu)
    far = pa
    if decoded is not None:
        m, va = decoded
        far = va
        for first, length in _pages(va, m.length):
            w = walk(regs, first, read64)
            if not isinstance(w, Fault) and w.pa <= pa < w.pa + length:
                far = first + (pa - w.pa)
                break
    iss = data_abort_iss(cpu, write, EXTERNAL)
    return Syndrome(EC.DABT_LOWER if el0 else EC.DABT_SAME, iss, far, pc)
