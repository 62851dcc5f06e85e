"""One AArch64 processing element on unicorn, with the architecture unicorn leaves out.

unicorn runs code at EL1 only and hands every exception to a Python hook
instead of the vectors.  This class completes the architecture around it:
taking exceptions to the payload's EL1 vectors with the right syndrome
registers, emulating system registers unicorn lacks (generic timer state, GICv3
CPU interface, ID registers), handing HVC to whoever owns EL2 (the payload's own
code at a virtual EL2, or armboot's hypervisor) and SMC to the EL3 firmware,
and running in slices of a fixed instruction count so that time is virtual.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from unicorn import (
    UC_ARCH_ARM64,
    UC_HOOK_MEM_FETCH_UNMAPPED,
    UC_HOOK_MEM_READ_UNMAPPED,
    UC_HOOK_MEM_WRITE_UNMAPPED,
    UC_MODE_ARM,
    UC_PROT_ALL,
    Uc,
    UcError,
)
from unicorn import arm64_const as A

from . import pstate as P
from .exceptions import (
    CURRENT_SP0,
    CURRENT_SPX,
    EC,
    EXCP_BKPT,
    EXCP_DATA_ABORT,
    EXCP_HVC,
    EXCP_HYP_TRAP,
    EXCP_PREFETCH_ABORT,
    EXCP_SMC,
    EXCP_SWI,
    EXCP_UDEF,
    EXCP_UNALIGNED,
    LOWER_A64,
    Vector,
    esr,
)
from .sysregs import BY_NAME, Encoding, SysregAccess, cp_reg, decode_sysreg, is_el2, sysreg_iss
from .ucregs import accelerate, add_intr_hook, add_sys_hook, mmio_map, word_reader

if TYPE_CHECKING:
    from .el2 import VirtualEL2

FAULT_TRAMPOLINE = 0xFFFF_FFFF_FFFF_F000  # el2.FAULT_TRAMPOLINE (el2 imports this module)

WFI = 0xD503207F
# System registers unicorn names directly (much cheaper to reach than through CP_REG tuples).
DIRECT_REGS = {
    "ELR_EL1": A.UC_ARM64_REG_ELR_EL1, "ESR_EL1": A.UC_ARM64_REG_ESR_EL1, "FAR_EL1": A.UC_ARM64_REG_FAR_EL1,
    "MAIR_EL1": A.UC_ARM64_REG_MAIR_EL1, "TTBR0_EL1": A.UC_ARM64_REG_TTBR0_EL1,
    "TTBR1_EL1": A.UC_ARM64_REG_TTBR1_EL1, "VBAR_EL1": A.UC_ARM64_REG_VBAR_EL1,
}  # fmt: skip
# EL1 translation registers: while the payload is in its virtual EL2 these hold EL2's regime,
# so EL2's accesses to the EL1 registers go to a shadow copy restored on the ERET.
EL1_MMU = {BY_NAME[n] for n in ("SCTLR_EL1", "TTBR0_EL1", "TTBR1_EL1", "TCR_EL1", "MAIR_EL1", "ELR_EL1", "SPSR_EL1")}
ERET = 0xD69F03E0
CURRENT_EL = (3, 0, 4, 2, 2)
_CP_TUPLES: dict[str, tuple[int, ...]] = {}  # unicorn's CP_REG read tuple per register name
X_REGS = [getattr(A, f"UC_ARM64_REG_X{i}") for i in range(29)] + [A.UC_ARM64_REG_X29, A.UC_ARM64_REG_X30]

SCR_EL3_BASE = 0x431  # NS | RES1 bits 4,5 | RW (HCE added when EL2 is enabled)
SCR_HCE = 1 << 8
HCR_RW = 1 << 31
HCR_IMO, HCR_VI = 1 << 4, 1 << 7
# unicorn's own HCR_EL2 (the payload's virtual EL2 keeps its own copy): with IMO set, VI is the CPU's
# IRQ line, and QEMU takes the interrupt at EL1 exactly where PSTATE.I first allows it.
HCR_LINE = HCR_RW | HCR_IMO
HCR_ENC = cp_reg(BY_NAME["HCR_EL2"])
WATCH_CHUNK = 200  # instructions between checks for an unmask while the payload's EL2 holds an IRQ


class Firmware(Protocol):
    """EL3: answers SMCs (PSCI and friends) for one CPU."""

    def smc(self, cpu: Cpu) -> None: ...


class Hypervisor(Protocol):
    """armboot's own EL2 (the runtime): takes HVCs and stage-2 faults of the vCPU."""

    def hvc(self, cpu: Cpu) -> None: ...

    def stage2_fault(self, cpu: Cpu, address: int, size: int, write: bool, value: int) -> bool: ...


SysregRead = Callable[["Cpu"], "int | None"]  # None: declined (trap or native)
SysregWrite = Callable[["Cpu", int], "bool | None"]  # False: declined


class CpuStopped(Exception):
    pass


class _TakenToEl2(Exception):
    """An access became a trap to the virtual EL2 (already taken)."""


@dataclass
class TrapCounts:
    counts: dict[str, int] = field(default_factory=dict)
    listener: Callable[[str], None] | None = None  # ``--trace``: told of each trap as it happens

    def add(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.listener is not None:
            self.listener(kind)


class Cpu:
    """An AArch64 CPU (or vCPU): a unicorn instance plus armboot's architecture layer."""

    def __init__(self, index: int, mpidr: int, model: int | None = None) -> None:
        self.index = index
        self.mpidr = mpidr
        self.uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        from unicorn.arm64_const import UC_CPU_ARM64_A72

        self.uc.ctl_set_cpu_model(model if model is not None else UC_CPU_ARM64_A72)
        accelerate(self.uc)
        self._read_word = word_reader(self.uc)
        self.el2: VirtualEL2 | None = None  # the payload owns a virtual EL2
        self.hypervisor: Hypervisor | None = None  # armboot's runtime owns EL2
        self.firmware: Firmware | None = None
        self.sysreg_read: dict[Encoding, SysregRead] = {}
        self.sysreg_write: dict[Encoding, SysregWrite] = {}
        self.id_overrides: dict[Encoding, Callable[[int], int]] = {}
        self.on: bool = False  # powered and runnable
        self.waiting: bool = False  # in WFI
        self.stop_reason: str | None = None
        self.traps = TrapCounts()
        self.unmapped_handler: Callable[[Cpu, int, int, bool, int], bool] | None = None
        from .stage1 import translate

        self.translate: Callable[[Cpu, int], int | None] | None = translate  # VA -> PA for instruction reads
        self._stopped = False
        self._fault: tuple[int, bool, bool] | None = None
        self._retried_pc: int | None = None
        self.irq_source: Callable[[Cpu], bool] | None = None  # the platform's "is an IRQ pending for me"
        self._irq_watch_on = False  # an IRQ held while in the virtual EL2: check for it between short chunks
        self._line = False  # HCR_EL2.VI as last written: the IRQ line into unicorn
        self._hooks: list[int] = []
        self._install_hooks()

    # Registers

    def x(self, n: int) -> int:
        return self.uc.reg_read(X_REGS[n]) if n < 31 else 0

    def set_x(self, n: int, value: int) -> None:
        if n < 31:
            self.uc.reg_write(X_REGS[n], value & 0xFFFFFFFFFFFFFFFF)

    @property
    def pc(self) -> int:
        return self.uc.reg_read(A.UC_ARM64_REG_PC)

    @pc.setter
    def pc(self, value: int) -> None:
        self.uc.reg_write(A.UC_ARM64_REG_PC, value)

    @property
    def pstate(self) -> int:
        return self.uc.reg_read(A.UC_ARM64_REG_PSTATE)

    @pstate.setter
    def pstate(self, value: int) -> None:
        self.uc.reg_write(A.UC_ARM64_REG_PSTATE, value)

    def sysreg(self, name: str) -> int:
        reg = DIRECT_REGS.get(name)
        if reg is not None:
            return self.uc.reg_read(reg)
        cp = _CP_TUPLES.get(name)
        if cp is None:
            cp = _CP_TUPLES[name] = cp_reg(BY_NAME[name])
        return self.uc.reg_read(A.UC_ARM64_REG_CP_REG, cp)

    def set_sysreg(self, name: str, value: int) -> None:
        reg = DIRECT_REGS.get(name)
        if reg is not None:
            self.uc.reg_write(reg, value)
        else:
            self.uc.reg_write(A.UC_ARM64_REG_CP_REG, cp_reg(BY_NAME[name], value))

    @property
    def el(self) -> int:
        """The exception level the payload believes it is at (2 when in armboot's virtual EL2)."""
        if self.el2 is not None and self.el2.active:
            return 2
        return P.el_of(self.pstate & P.M_MASK)

    # Memory

    def map_ram(self, address: int, size: int, buffer: object, offset: int = 0, perms: int = UC_PROT_ALL) -> None:
        base = ctypes.addressof(ctypes.c_char.from_buffer(buffer)) + offset  # type: ignore[arg-type]
        self.uc.mem_map_ptr(address, size, perms, base)

    def map_mmio(self, address: int, size: int, read: Callable[[int, int], int], write: Callable[[int, int, int], None]) -> None:
        traps = self.traps

        def rd(offset: int, sz: int) -> int:
            traps.add("mmio")
            value = read(offset, sz) & ((1 << (8 * sz)) - 1)
            self.update_line()  # e.g. an acknowledge: the line drops before the next instruction
            return value

        def wr(offset: int, sz: int, value: int) -> None:
            traps.add("mmio")
            write(offset, sz, value)
            self.update_line()

        mmio_map(self.uc, address, size, rd, wr)

    def read_phys(self, address: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(address, size))

    def write_phys(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, data)

    def fetch_bytes(self, va: int, size: int) -> bytes | None:
        """Instruction bytes at a virtual address, within one page (None across a page end or unmapped)."""
        if (va & 0xFFF) + size > 0x1000:
            return None
        pa = va if self.translate is None else self.translate(self, va)
        if pa is None:
            return None
        try:
            return bytes(self.uc.mem_read(pa, size))
        except UcError:
            return None

    def fetch(self, va: int) -> int | None:
        """The instruction word at a virtual address (translating when the MMU is on)."""
        pa = va if self.translate is None else self.translate(self, va)
        if pa is None:
            return None
        return self._read_word(pa)

    # Hooks

    def _install_hooks(self) -> None:
        uc = self.uc
        self._hooks.append(add_intr_hook(uc, self._on_intr))
        self._hooks.append(add_sys_hook(uc, A.UC_ARM64_INS_MRS, self._wants_mrs, self._on_mrs))
        self._hooks.append(add_sys_hook(uc, A.UC_ARM64_INS_MSR, self._wants_msr, self._on_msr))
        self._hooks.append(
            uc.hook_add(
                UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED, self._on_unmapped
            )
        )

    def _wants_mrs(self, enc: Encoding) -> bool:
        """Whether an MRS needs armboot (the rest, most of them, run natively)."""
        return (
            enc in self.sysreg_read
            or enc in self.id_overrides
            or (self.el2 is not None and self.el2.active and (enc in EL1_MMU or enc == CURRENT_EL))
        )

    def _wants_msr(self, enc: Encoding) -> bool:
        return enc in self.sysreg_write or (self.el2 is not None and self.el2.active and enc in EL1_MMU)

    def _on_mrs(self, uc: Uc, reg: int, cp: object, _ud: object) -> int:
        enc = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)  # type: ignore[attr-defined]
        if self.el2 is not None and self.el2.active and enc in EL1_MMU:
            uc.reg_write(reg, self.el2.shadow_read(enc))
            return 1
        handler = self.sysreg_read.get(enc)
        if handler is not None:
            value = handler(self)
            if value is None:  # declined: the access traps (EXCP_HYP_TRAP) or runs natively
                return 0
            uc.reg_write(reg, value & 0xFFFFFFFFFFFFFFFF)
            if self._line:  # an acknowledge (ICC_IAR1_EL1) may have dropped the line
                self.update_line()
            return 1
        override = self.id_overrides.get(enc)
        if override is not None:
            # the hook's cp.val is the destination's old contents: read the register itself
            real = uc.reg_read(A.UC_ARM64_REG_CP_REG, cp_reg(enc))
            uc.reg_write(reg, override(real) & 0xFFFFFFFFFFFFFFFF)
            return 1
        if self.el2 is not None and self.el2.active and enc == CURRENT_EL:
            uc.reg_write(reg, P.current_el_value(2))
            return 1
        return 0

    def _on_msr(self, uc: Uc, reg: int, cp: object, _ud: object) -> int:
        enc = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)  # type: ignore[attr-defined]
        if self.el2 is not None and self.el2.active and enc in EL1_MMU:
            self.el2.shadow_write(enc, cp.val)  # type: ignore[attr-defined]
            return 1
        handler = self.sysreg_write.get(enc)
        if handler is not None:
            if handler(self, cp.val) is False:  # type: ignore[attr-defined,func-returns-value]
                return 0
            self.update_line()  # a timer or GIC CPU-interface write may raise or drop it
            return 1
        return 0

    def _on_unmapped(self, uc: Uc, access: int, address: int, size: int, value: int, _ud: object) -> bool:
        """An access to a physical address with nothing there: remembered, turned into an abort after unicorn stops."""
        from unicorn import UC_MEM_FETCH_UNMAPPED, UC_MEM_WRITE_UNMAPPED

        write = access == UC_MEM_WRITE_UNMAPPED
        if self.unmapped_handler is not None and self.unmapped_handler(self, address, size, write, value):
            return True
        self._fault = (address, write, access == UC_MEM_FETCH_UNMAPPED)
        return False

    def _on_intr(self, uc: Uc, intno: int, _ud: object) -> None:
        try:
            if intno == EXCP_HVC:
                self._hvc()
            elif intno == EXCP_SMC:
                self._smc()
            elif intno == EXCP_SWI:
                self.traps.add("svc")
                imm = (self.fetch(self.pc - 4) or 0) >> 5 & 0xFFFF
                self.take_sync(EC.SVC64, imm, self.pc)
            elif intno == EXCP_UDEF:
                self._undef()
            elif intno == EXCP_BKPT and self.el2 is not None and self.el2.active and self.pc == self.el2.trampoline:
                self.traps.add("eret_el2")  # the payload's ERET in EL2 came back through the trampoline
                self.el2.eret()
            elif intno == EXCP_BKPT:
                self.traps.add("brk")
                imm = (self.fetch(self.pc) or 0) >> 5 & 0xFFFF
                self.take_sync(EC.BRK64, imm, self.pc)
            elif intno == EXCP_PREFETCH_ABORT and self.el2 is not None and self.el2.active and self.pc == FAULT_TRAMPOLINE:
                self.traps.add("eret_el2")  # the payload's ERET with EL2's MMU on, caught at its return address
                self.el2.eret()
            elif intno in (EXCP_DATA_ABORT, EXCP_PREFETCH_ABORT, EXCP_UNALIGNED):
                self._abort(intno)
            elif intno == EXCP_HYP_TRAP:
                self._hyp_trap()
            else:
                self.traps.add(f"intr{intno}")
                self.take_sync(EC.UNKNOWN, 0, self.pc)
        except CpuStopped:
            uc.emu_stop()

    def hvc_imm(self) -> int:
        """The immediate of the HVC just taken (PC is past it): read only by those who need it."""
        return (self.fetch(self.pc - 4) or 0) >> 5 & 0xFFFF

    def _hvc(self) -> None:
        self.traps.add("hvc")
        if self.hypervisor is not None:
            self.hypervisor.hvc(self)
            return
        imm = self.hvc_imm()
        if self.el2 is not None:
            self.el2.take(EC.HVC64, imm, self.pc)
        else:  # SCR_EL3.HCE was set without an EL2 owner: behave as if EL2 were absent
            self.take_sync(EC.UNKNOWN, 0, self.pc - 4)

    def _smc(self) -> None:
        self.traps.add("smc")
        imm = (self.fetch(self.pc - 4) or 0) >> 5 & 0xFFFF
        if self.el2 is not None and self.el2.traps_smc() and not self.el2.active:
            self.el2.take(EC.SMC64, imm, self.pc - 4)
            return
        if self.firmware is not None:
            self.firmware.smc(self)
        else:
            self.set_x(0, 0xFFFFFFFF)  # SMCCC NOT_SUPPORTED

    def _hyp_trap(self) -> None:
        """A trap unicorn itself routed to EL2 (e.g. a timer access CNTHCTL_EL2 forbids)."""
        self.traps.add("sysreg_trap")
        pc = self.pc
        insn = self.fetch(pc)
        access = decode_sysreg(insn) if insn is not None else None
        if access is None or self.el2 is None:
            self.take_sync(EC.UNKNOWN, 0, pc)
            return
        self.el2.take(EC.SYSREG, sysreg_iss(access), pc)

    def _undef(self) -> None:
        pc = self.pc
        insn = self.fetch(pc)
        access = decode_sysreg(insn) if insn is not None else None
        try:
            if access is not None and self.emulate_sysreg(access):
                self.traps.add("sysreg")
                self.pc = pc + 4
                self.update_line()
                return
        except _TakenToEl2:
            self.traps.add("sysreg_trap")
            return
        if insn is not None and self.el2 is not None and self.el2.active and self.el2.system_instruction(insn):
            self.traps.add("el2_sys")
            self.pc = pc + 4
            return
        self.traps.add("undef")
        self.take_sync(EC.UNKNOWN, 0, pc)

    def emulate_sysreg(self, access: SysregAccess) -> bool:
        """An MRS/MSR the CPU model does not implement (UNDEF path); True when handled."""
        enc = access.enc
        declined = False
        if access.read and enc in self.sysreg_read:
            value = self.sysreg_read[enc](self)
            if value is not None:
                self.set_x(access.rt, value)
                return True
            declined = True
        if not access.read and enc in self.sysreg_write:
            if self.sysreg_write[enc](self, self.x(access.rt)) is not False:
                return True
            declined = True
        if declined and self.el2 is not None and not self.el2.active:
            # A handler declined because EL2 traps this access (e.g. CNTHCTL_EL2): QEMU raised it as an
            # UNDEF aimed at EL2; the payload's EL2 takes it as a trapped MSR/MRS.
            self.el2.take(EC.SYSREG, sysreg_iss(access), self.pc)
            raise _TakenToEl2
        if self.el2 is not None and is_el2(enc) and self.el2.active:
            return self.el2.access(access)
        return False

    def _abort(self, intno: int) -> None:
        from .el2 import flush_tlb
        from .faults import UnexplainedAbort, describe_abort

        self.traps.add("abort")
        try:
            syndrome = describe_abort(self, intno)
        except UnexplainedAbort as e:
            if e.allowed and self._retried_pc != self.pc:
                # unicorn used a stale translation the payload has since fixed: drop it and re-run.
                self._retried_pc = self.pc
                flush_tlb(self.uc)
                return
            self.stop(f"fault: {e}")
        self._retried_pc = None
        self.take_sync(syndrome.ec, syndrome.iss, syndrome.return_address, far=syndrome.far)

    # Exceptions into the payload

    def take_sync(self, ec: int, iss: int, return_address: int, far: int | None = None, il: bool = True) -> None:
        """A synchronous exception: to the virtual EL2's vectors when there, else to EL1's."""
        if self.el2 is not None and self.el2.active:
            self.el2.take(ec, iss, return_address, far=far, from_el2=True, il=il)
            return
        self.enter_el1(Vector.SYNC, return_address, esr(ec, iss, il), far)

    def take_data_abort(self, address: int, write: bool, external: bool = False) -> None:
        """A data abort for the instruction at PC (the access's syndrome is rebuilt from it)."""
        from .faults import data_abort_iss

        iss = data_abort_iss(self, write, 0x10 if external else 0x04)
        same = self.el == 1 or (self.el2 is not None and self.el2.active)
        ec = EC.DABT_SAME if same else EC.DABT_LOWER
        self.take_sync(ec, iss, self.pc, far=address)

    def take_instruction_abort(self, address: int, external: bool = False) -> None:
        if address == self._sync_vector():
            # The vector itself cannot be fetched: taking the abort would fault again, forever.
            self.stop(f"fault: instruction abort fetching the exception vector at 0x{address:x} (vector base not set?)")
        same = self.el == 1 or (self.el2 is not None and self.el2.active)
        ec = EC.IABT_SAME if same else EC.IABT_LOWER
        self.take_sync(ec, 0x10 if external else 0x04, address, far=address)

    def _sync_vector(self) -> int:
        """Where a synchronous exception taken now would go."""
        mode = self.pstate & P.M_MASK
        if self.el2 is not None and self.el2.active:
            return self.el2.get("VBAR_EL2") + (CURRENT_SP0 if P.uses_sp_el0(mode) else CURRENT_SPX)
        base = self.uc.reg_read(A.UC_ARM64_REG_VBAR_EL1)
        if P.el_of(mode) == 0:
            return base + LOWER_A64
        return base + (CURRENT_SP0 if P.uses_sp_el0(mode) else CURRENT_SPX)

    def enter_el1(self, vector: int, return_address: int, syndrome: int | None = None, far: int | None = None) -> None:
        """Exception entry to EL1 (Arm ARM D1.10.2): ELR, SPSR, ESR, FAR, PSTATE, SP bank, PC."""
        uc = self.uc
        old = self.pstate
        mode = old & P.M_MASK
        self.save_sp(mode)
        uc.reg_write(A.UC_ARM64_REG_ELR_EL1, return_address)
        uc.reg_write(A.UC_ARM64_REG_CP_REG, cp_reg(BY_NAME["SPSR_EL1"], old))
        if syndrome is not None:
            uc.reg_write(A.UC_ARM64_REG_ESR_EL1, syndrome)
        if far is not None:
            uc.reg_write(A.UC_ARM64_REG_FAR_EL1, far)
        self.pstate = (old & ~(P.M_MASK | P.DAIF | P.SS | P.IL)) | P.DAIF | P.EL1H
        self.refresh_el()
        self.load_sp(P.EL1H)
        base = uc.reg_read(A.UC_ARM64_REG_VBAR_EL1)
        if P.el_of(mode) == 0:
            offset = LOWER_A64
        else:
            offset = CURRENT_SP0 if P.uses_sp_el0(mode) else CURRENT_SPX
        self.pc = base + offset + vector

    def refresh_el(self) -> None:
        """Make unicorn notice a PSTATE.M change: writing PSTATE leaves its cached EL (hflags) stale,
        and any system-register write rebuilds it (TPIDR_EL1: no TLB flush, no side effect)."""
        tpidr = cp_reg(BY_NAME["TPIDR_EL1"])
        self.uc.reg_write(A.UC_ARM64_REG_CP_REG, (*tpidr, self.uc.reg_read(A.UC_ARM64_REG_CP_REG, tpidr)))

    def save_sp(self, mode: int) -> None:
        """Put the live SP into its bank (unicorn keeps only the live one current)."""
        sp = self.uc.reg_read(A.UC_ARM64_REG_SP)
        if P.uses_sp_el0(mode):
            self.uc.reg_write(A.UC_ARM64_REG_SP_EL0, sp)
        else:
            self.uc.reg_write(A.UC_ARM64_REG_SP_EL1, sp)

    def load_sp(self, mode: int) -> None:
        reg = A.UC_ARM64_REG_SP_EL0 if P.uses_sp_el0(mode) else A.UC_ARM64_REG_SP_EL1
        self.uc.reg_write(A.UC_ARM64_REG_SP, self.uc.reg_read(reg))

    def irq_masked(self) -> bool:
        return bool(self.pstate & P.I)

    def watch_irq_unmask(self) -> None:
        """An interrupt is pending but cannot be taken now: take it as soon as the payload allows.

        At EL1 this is the IRQ line (HCR_EL2.VI with IMO, in unicorn's own
        HCR_EL2): QEMU takes the interrupt by itself at the first instruction
        boundary where PSTATE.I is clear, right after an ``msr daifclr`` or an
        ERET, as the architecture requires.  While the payload is in its
        virtual EL2 (hardware EL1, where VI would wrongly fire), the slice runs
        in short chunks with a check between them.
        """
        if self.el2 is not None and self.el2.active:
            self._irq_watch_on = True
        else:
            self.update_line()

    def set_line(self, level: bool) -> None:
        """Drive the IRQ line into unicorn (never while in the virtual EL2)."""
        if level and self.el2 is not None and self.el2.active:
            level = False
            self._irq_watch_on = True
        if level != self._line:
            self._line = level
            if level:
                self.traps.add("irq")
                self.waiting = False
            self.uc.reg_write(A.UC_ARM64_REG_CP_REG, (*HCR_ENC, HCR_LINE | (HCR_VI if level else 0)))

    def update_line(self) -> None:
        """The line follows the platform's "IRQ pending for this CPU" (after anything that may change it)."""
        if self.irq_source is not None:
            self.set_line(self.irq_source(self))

    def take_irq(self) -> None:
        """An IRQ at the current PC, entered by armboot (after the virtual EL2 returned to EL1)."""
        self.traps.add("irq")
        self.waiting = False
        self.enter_el1(Vector.IRQ, self.pc)

    # Running

    def stop(self, reason: str) -> None:
        """Stop this CPU from inside a hook (PSCI CPU_OFF, SYSTEM_OFF, a fatal fault)."""
        self.stop_reason = reason
        self.on = False
        self._stopped = True
        raise CpuStopped(reason)

    def request_exit(self) -> None:
        """End the current slice early (e.g. to let the scheduler see new work)."""
        self._stopped = True
        self.uc.emu_stop()

    def run(self, budget: int) -> None:
        """Run at most ``budget`` instructions; afterwards ``waiting`` tells whether a WFI ended the slice."""
        self._stopped = False
        self.update_line()
        while budget > 0:
            chunk = min(budget, WATCH_CHUNK) if self._irq_watch_on else budget
            self._run(chunk)
            budget -= chunk
            if self._stopped or not self.on or self.waiting:
                return
            if self._irq_watch_on and not (self.el2 is not None and self.el2.active):
                self._irq_watch_on = False
                self.update_line()

    def _run(self, budget: int) -> None:
        try:
            self.uc.emu_start(self.pc, 0xFFFFFFFFFFFFFFFF, count=budget)
        except UcError as e:
            if self._fault is None:
                self.stop_reason = f"fault: emulator error: {e} at pc 0x{self.pc:x}"
                self.on = False
                return
            address, write, fetch = self._fault
            self._fault = None
            self.traps.add("external_abort")
            try:
                if fetch and self.pc == self._sync_vector():
                    self.stop(f"fault: instruction abort fetching the exception vector at 0x{self.pc:x} (vector base not set?)")
                from .faults import external_abort

                s = external_abort(self, address, write, fetch)
                self.take_sync(s.ec, s.iss, s.return_address, far=s.far)
            except CpuStopped:
                pass
            return
        if not self._stopped and self.on and self.fetch(self.pc - 4) == WFI:
            self.waiting = True

    def reset_el3_state(self, hyp: bool) -> None:
        """What EL3 firmware leaves behind for a non-secure payload: SCR_EL3.HCE gates HVC."""
        scr = SCR_EL3_BASE | (SCR_HCE if hyp else 0)
        self.uc.reg_write(A.UC_ARM64_REG_CP_REG, cp_reg(BY_NAME["SCR_EL3"], scr))
        self.uc.reg_write(A.UC_ARM64_REG_CP_REG, (*HCR_ENC, HCR_LINE))
        self._line = False
        self.uc.reg_write(A.UC_ARM64_REG_CP_REG, cp_reg(BY_NAME["CNTHCTL_EL2"], 3))
