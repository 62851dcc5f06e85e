"""A virtual EL2 for payloads that own EL2 (``armboot boot --hyp``), like Armv8.3's FEAT_NV.

The payload's EL2 code really runs at EL1 on unicorn.  EL2 system registers
trap (UNDEF) and are served from a register file here; exception entry to EL2
(HVC from EL1, a trapped SMC, an UNDEF at EL2) is done in Python; while the CPU
is in EL2 a code hook watches for ERET and performs the exception return in
Python (PC <- ELR_EL2, PSTATE <- SPSR_EL2).  EL1 and EL2 share the one hardware
EL1 context, so the stack pointer is swapped and, when needed, the EL1
translation registers are swapped for EL2's on entry and back on return.
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
        self.active = False
        self.unmodelled: set[str] = set()
        self._saved_mmu: dict[str, int] = {}
        self._hook: int | None = None

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
                cpu.set_x(a.rt, cpu.uc.reg_read(A.UC_ARM64_REG_SP_EL1))
            else:
                cpu.uc.reg_write(A.UC_ARM64_REG_SP_EL1, cpu.x(a.rt))
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
        return self._saved_mmu.get(name_of(enc), 0)

    def shadow_write(self, enc: Encoding, value: int) -> None:
        self._saved_mmu[name_of(enc)] = value

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
            self._enter()

    def _enter(self) -> None:
        cpu = self.cpu
        self.active = True
        cpu.uc.reg_write(A.UC_ARM64_REG_SP, self.sp_el2)
        self._saved_mmu = {n: cpu.sysreg(n) for n in _EL1_MMU}
        self._load_el2_regime()
        self._arm()

    def _load_el2_regime(self) -> None:
        """Give the hardware EL1 translation regime EL2's settings while in EL2."""
        cpu = self.cpu
        sctlr2 = self.get("SCTLR_EL2")
        if sctlr2 & SCTLR_M:
            cpu.set_sysreg("TTBR0_EL1", self.get("TTBR0_EL2"))
            cpu.set_sysreg("TCR_EL1", _tcr_el2_to_el1(self.get("TCR_EL2")))
            cpu.set_sysreg("MAIR_EL1", self.get("MAIR_EL2"))
            cpu.set_sysreg("SCTLR_EL1", (self._saved_mmu["SCTLR_EL1"] & ~0x1000005) | (sctlr2 & 0x1000005))
        else:
            cpu.set_sysreg("SCTLR_EL1", self._saved_mmu["SCTLR_EL1"] & ~SCTLR_M)
        flush_tlb(cpu.uc)

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
        for name, value in self._saved_mmu.items():
            cpu.set_sysreg(name, value)
        flush_tlb(cpu.uc)
        cpu.pstate = spsr
        cpu.refresh_el()
        cpu.load_sp(target)
        cpu.pc = elr
        self._disarm()

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
