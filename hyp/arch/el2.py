"""A virtual EL2 for payloads that own EL2 (``armboot boot --hyp``), like Armv8.3's FEAT_NV.

The payload's EL2 code really runs at EL1 on unicorn.  EL2 system registers
trap (UNDEF) and are served from a register file here; exception entry to EL2
(HVC from EL1, a trapped SMC, an UNDEF at EL2) is done in Python; while the CPU
is in EL2 the hardware ELR_EL1/SPSR_EL1 point at a trampoline page holding a
BRK, so the payload's own ERET lands there and armboot performs the exception
return in Python (PC <- ELR_EL2, PSTATE <- SPSR_EL2) — no per-instruction hook,
so EL2 code runs at full speed.  (When EL2 runs with its MMU on, the trampoline
is not in its tables: the return address is then a VA outside EL2's range, and
the ERET's instruction abort there is the signal.)
EL1 and EL2 share the one hardware EL1 context, so the stack pointer is swapped,
the EL1 registers EL2 may touch (translation, ELR_EL1, SPSR_EL1) are shadowed, and
the EL1 translation registers are swapped for EL2's while in EL2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UC_HOOK_CODE, Uc
from unicorn import arm64_const as A
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

from . import pstate as P
from .exceptions import CURRENT_SP0, CURRENT_SPX, LOWER_A64, Vector, esr
from .sysregs import BY_NAME, Encoding, SysregAccess, name_of

if TYPE_CHECKING:
    from .cpu import Cpu

ERET = 0xD69F03E0
HCR_TSC = 1 << 19
HCR_VM = 1 << 0
HCR_E2H = 1 << 34
SCTLR_M = 1

_EL1_MMU = ("SCTLR_EL1", "TTBR0_EL1", "TTBR1_EL1", "TCR_EL1", "MAIR_EL1")
_EL1_RETURN = ("ELR_EL1", "SPSR_EL1")
TRAMPOLINE = 0xFFF_FFFF_F000  # a physical page no board uses (top of a 44-bit space)
# With EL2's MMU on, the return address is a VA its single (TTBR0) range cannot hold: the ERET's
# fetch there takes a translation fault (TTBR1 walks are disabled), and armboot finishes the ERET.
FAULT_TRAMPOLINE = 0xFFFF_FFFF_FFFF_F000
BRK_TRAMPOLINE = 0xD4200000 | (0xE2E7 << 5)  # brk #0xe2e7
EL1H_MASKED = 0x3C5
_RESET = {"SCTLR_EL2": 0x30C50830, "HCR_EL2": 1 << 31, "CNTHCTL_EL2": 3, "VTCR_EL2": 1 << 31, "ICC_SRE_EL2": 0x7}
_ONES = {"ICC_SRE_EL2": 0x7}  # SRE, DFB, DIB read as one (the system-register interface only)
_READ_ONLY = {"ICH_VTR_EL2"}


def flush_tlb(uc: Uc) -> None:
    """Drop unicorn's cached translations (after the translation regime changed under it)."""
    uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)


def _tcr_el2_to_el1(tcr: int) -> int:
    """EL2's single-range TCR as EL1's TCR with TTBR1 walks disabled."""
    low = tcr & 0xFFFF  # T0SZ, IRGN0, ORGN0, SH0, TG0
    ps = (tcr >> 16) & 7
    tbi = (tcr >> 20) & 1
    return low | (1 << 23) | (ps << 32) | (tbi << 37)


class VirtualEL2:
    """The EL2 state of one CPU and the transitions between EL1 and the virtual EL2."""

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu
        self.regs: dict[Encoding, int] = {BY_NAME[n]: v for n, v in _RESET.items()}
        self.sp_el2 = 0
        self._sp_el1 = 0
        self._restore: set[str] = set()
        self.active = False
        self.unmodelled: set[str] = set()
        self._saved_mmu: dict[str, int] = {}  # EL1's context while EL2 runs: translation, ELR, SPSR
        self._hook: int | None = None
        self.trampoline: int | None = self._map_trampoline()

    def _map_trampoline(self) -> int | None:
        from unicorn import UC_PROT_EXEC, UC_PROT_READ, UcError

        try:
            self.cpu.uc.mem_map(TRAMPOLINE, 0x1000, UC_PROT_READ | UC_PROT_EXEC)
            self.cpu.uc.mem_write(TRAMPOLINE, BRK_TRAMPOLINE.to_bytes(4, "little"))
        except UcError:
            return None  # the board uses that page: fall back to watching for ERET with a hook
        return TRAMPOLINE

    # Register file

    def get(self, name: str) -> int:
        return self.regs.get(BY_NAME[name], 0)

    def set(self, name: str, value: int) -> None:
        self.regs[BY_NAME[name]] = value & 0xFFFFFFFFFFFFFFFF

    def traps_smc(self) -> bool:
        return bool(self.get("HCR_EL2") & HCR_TSC)

    def counter_offset(self) -> int:
        return self.get("CNTVOFF_EL2")

    def access(self, a: SysregAccess) -> bool:
        """An MRS/MSR of an EL2 register executed in the virtual EL2."""
        cpu = self.cpu
        name = name_of(a.enc)
        if name == "SP_EL1":
            if a.read:
                cpu.set_x(a.rt, self._sp_el1)
            else:
                self._sp_el1 = cpu.x(a.rt)
            return True
        if a.enc[1] in (5, 6):  # EL12/EL02 aliases need VHE; EL3 registers are not ours
            return False
        if a.read:
            cpu.set_x(a.rt, self.regs.get(a.enc, 0))
            return True
        if name in _READ_ONLY:
            return True
        value = cpu.x(a.rt) | _ONES.get(name, 0)
        self.regs[a.enc] = value
        self._written(name, value)
        return True

    def shadow_read(self, enc: Encoding) -> int:
        name = name_of(enc)
        if name not in self._saved_mmu:  # not touched since entry: the hardware still holds EL1's value
            self._saved_mmu[name] = self.cpu.sysreg(name)
        return self._saved_mmu[name]

    def shadow_write(self, enc: Encoding, value: int) -> None:
        name = name_of(enc)
        self._saved_mmu[name] = value
        self._restore.add(name)

    def el1_timer_trapped(self, physical_counter: bool) -> bool:
        """CNTHCTL_EL2.EL1PCTEN (counter) / EL1PCEN (timer) clear: EL1 accesses trap to EL2."""
        if self.active:
            return False
        bit = 1 if physical_counter else 2
        return not (self.get("CNTHCTL_EL2") & bit)

    def _written(self, name: str, value: int) -> None:
        if name == "CNTHCTL_EL2":  # mirrored so that unicorn's own access checks trap EL1 timer use
            self.cpu.uc.reg_write(A.UC_ARM64_REG_CP_REG, (14, 1, 3, 4, 0, value & 0x3))
        if name == "HCR_EL2":
            if value & HCR_VM:
                self.unmodelled.add("HCR_EL2.VM (stage 2 of a payload-owned hypervisor)")
            if value & HCR_E2H:
                self.unmodelled.add("HCR_EL2.E2H (VHE)")
        elif name in ("SCTLR_EL2", "TTBR0_EL2", "TCR_EL2", "MAIR_EL2") and self.active:
            self._load_el2_regime()

    # EL2's system instructions (SYS): at hardware EL1 they are UNDEFINED, so they land here

    def system_instruction(self, insn: int) -> bool:
        """Carry out an EL2-only SYS instruction of the payload's EL2; False if it is not one.

        TLB maintenance by EL2 (op1 = 4: TLBI ALLE2, VAE2, ALLE1, VMALLS12E1,
        IPAS2E1, ... and their IS/OS forms) invalidates unicorn's TLB, which
        holds the translations of whichever regime runs: the hardware has
        nothing finer to offer.  Address translation (AT S1E2R/W, S12E1*) is
        not modelled and stays UNDEFINED.
        """
        if insn & 0xFFF80000 != 0xD5080000:  # SYS (L = 0, op0 = 1)
            return False
        op1, crn = (insn >> 16) & 7, (insn >> 12) & 0xF
        if op1 != 4 or crn != 8:
            return False
        flush_tlb(self.cpu.uc)
        return True

    # Transitions

    def take(
        self,
        ec: int,
        iss: int,
        return_address: int,
        far: int | None = None,
        from_el2: bool = False,
        il: bool = True,
        vector: int = Vector.SYNC,
    ) -> None:
        """Exception entry to the virtual EL2 (Arm ARM D1.10.2, with EL2 as the target)."""
        cpu = self.cpu
        hw = cpu.pstate
        mode = hw & P.M_MASK
        if from_el2 or self.active:
            spsr = (hw & ~P.M_MASK) | (P.EL2T if P.uses_sp_el0(mode) else P.EL2H)
            offset = CURRENT_SP0 if P.uses_sp_el0(mode) else CURRENT_SPX
        else:
            spsr = hw
            offset = LOWER_A64
            cpu.save_sp(mode)
            # EL1's stack pointer, kept here: the payload's ERET runs natively at hardware EL1,
            # and unicorn's exception return stores the live (EL2) SP into the SP_EL1 bank.
            self._sp_el1 = cpu.uc.reg_read(A.UC_ARM64_REG_SP_EL1)
        if vector == Vector.SYNC:
            self.set("ESR_EL2", esr(ec, iss, il))
        if far is not None:
            self.set("FAR_EL2", far)
        self.set("ELR_EL2", return_address)
        self.set("SPSR_EL2", spsr)
        if not self.active:
            self._enter()
        elif P.uses_sp_el0(mode):  # from EL2t: the live SP was SP_EL0
            cpu.save_sp(mode)
            cpu.uc.reg_write(A.UC_ARM64_REG_SP, self.sp_el2)
        cpu.pstate = (hw & ~(P.M_MASK | P.DAIF | P.SS | P.IL)) | P.DAIF | P.EL1H
        cpu.pc = self.get("VBAR_EL2") + offset + vector

    def start(self) -> None:
        """Begin execution in EL2 (the boot CPU entered at EL2 by the bootloader)."""
        if not self.active:
            self._sp_el1 = self.cpu.uc.reg_read(A.UC_ARM64_REG_SP_EL1)
            self._enter()

    def _enter(self) -> None:
        """Save EL1's context that EL2 overwrites (lazily: the rest is read when EL2 touches it)."""
        cpu = self.cpu
        self.active = True
        if cpu._line:  # hardware EL1 now runs EL2's code: hold the IRQ until EL1 is back
            cpu.set_line(False)
            cpu._irq_watch_on = True
        cpu.uc.reg_write(A.UC_ARM64_REG_SP, self.sp_el2)
        self._saved_mmu = {n: cpu.sysreg(n) for n in ("SCTLR_EL1", *_EL1_RETURN)}
        self._restore: set[str] = set()  # what must be written back on the way out
        if self.trampoline is not None:
            cpu.set_sysreg("ELR_EL1", self.trampoline)  # the payload's ERET comes back to armboot
            cpu.set_sysreg("SPSR_EL1", EL1H_MASKED)
            self._restore.update(_EL1_RETURN)
        self._load_el2_regime()

    def _load_el2_regime(self) -> None:
        """Give the hardware EL1 translation regime EL2's settings while in EL2."""
        cpu = self.cpu
        sctlr2 = self.get("SCTLR_EL2")
        if sctlr2 & SCTLR_M:
            for name in _EL1_MMU:  # about to be overwritten with EL2's regime
                if name not in self._saved_mmu:
                    self._saved_mmu[name] = cpu.sysreg(name)
            self._restore.update(_EL1_MMU)
            cpu.set_sysreg("TTBR0_EL1", self.get("TTBR0_EL2"))
            cpu.set_sysreg("TCR_EL1", _tcr_el2_to_el1(self.get("TCR_EL2")))
            cpu.set_sysreg("MAIR_EL1", self.get("MAIR_EL2"))
            cpu.set_sysreg("SCTLR_EL1", (self._saved_mmu["SCTLR_EL1"] & ~0x1000005) | (sctlr2 & 0x1000005))
            flush_tlb(cpu.uc)
            if self.trampoline is None:
                self._arm()
                return
            # the trampoline page is not in EL2's own tables: return through a fault instead
            for name in _EL1_RETURN:
                self._saved_mmu.setdefault(name, cpu.sysreg(name))
            cpu.set_sysreg("ELR_EL1", FAULT_TRAMPOLINE)
            cpu.set_sysreg("SPSR_EL1", EL1H_MASKED)
            self._restore.update(_EL1_RETURN)
            self._disarm()
            return
        if self._saved_mmu["SCTLR_EL1"] & SCTLR_M:
            cpu.set_sysreg("SCTLR_EL1", self._saved_mmu["SCTLR_EL1"] & ~SCTLR_M)
            self._restore.add("SCTLR_EL1")
            flush_tlb(cpu.uc)
        if self.trampoline is None:
            self._arm()
        else:
            self._disarm()

    def eret(self) -> None:
        """ERET executed in the virtual EL2."""
        cpu = self.cpu
        spsr = self.get("SPSR_EL2")
        target = spsr & P.M_MASK
        elr = self.get("ELR_EL2")
        if P.el_of(target) == 2:
            hw_mode = P.EL1T if P.uses_sp_el0(target) else P.EL1H
            cpu.pstate = (spsr & ~P.M_MASK) | hw_mode
            cpu.pc = elr
            return
        self.sp_el2 = cpu.uc.reg_read(A.UC_ARM64_REG_SP)
        self.active = False
        for name in self._restore:
            cpu.set_sysreg(name, self._saved_mmu[name])
        if self._restore & set(_EL1_MMU):
            flush_tlb(cpu.uc)
        cpu.pstate = spsr
        cpu.refresh_el()
        cpu.uc.reg_write(A.UC_ARM64_REG_SP_EL1, self._sp_el1)
        cpu.load_sp(target)
        cpu.pc = elr
        self._disarm()
        cpu.update_line()  # an IRQ held while in EL2 is taken at EL1 as soon as PSTATE.I allows

    # The ERET watch: a code hook present only while in EL2, so EL1 runs at full speed.

    def _arm(self) -> None:
        if self._hook is None:
            self._hook = self.cpu.uc.hook_add(UC_HOOK_CODE, self._on_code)
            self.cpu.uc.ctl_flush_tb()

    def _disarm(self) -> None:
        if self._hook is not None:
            self.cpu.uc.hook_del(self._hook)
            self._hook = None
            self.cpu.uc.ctl_flush_tb()

    def _on_code(self, uc: object, address: int, size: int, _ud: object) -> None:
        if not self.active:
            return
        try:
            word = int.from_bytes(self.cpu.uc.mem_read(address, 4), "little")
        except Exception:  # an unreadable PC faults on fetch anyway
            return
        if word == ERET:
            self.cpu.traps.add("eret_el2")
            self.eret()
