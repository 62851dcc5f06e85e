"""The GICv3 CPU interface as system registers (ICC_*_EL1), put on a CPU that lacks them.

unicorn's A72 has no GIC system registers: every ICC_* access is an
unallocated encoding.  The CPU's MRS/MSR hook still sees them first and serves
them from ``cpu.sysreg_read``/``sysreg_write``, but skipping an unallocated
instruction from that hook leaves PC where it was (unicorn re-executes it), so
each handler here steps PC past the instruction itself.  On the UNDEF path
``Cpu`` sets PC to that same address afterwards, so either path works.
Write-only registers have no read handler and read-only ones no write handler:
such an access stays UNDEF, as the architecture says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .gic import MIN_BPR0, MIN_BPR1, PRIORITY_BITS, PRIORITY_MASK, SPECIAL_FIRST, SPURIOUS
from .sysregs import BY_NAME

if TYPE_CHECKING:
    from .cpu import Cpu
    from .gicv3 import GicV3

ID_AA64PFR0_EL1 = BY_NAME["ID_AA64PFR0_EL1"]
PFR0_GIC = 0xF << 24
PFR0_GIC_V3 = 1 << 24  # "System register interface to versions 3.0 and 4.0 of the GIC CPU interface"
SRE_EL1 = 0x7  # SRE, DFB, DIB: RAO/WI, there is no memory-mapped (legacy) interface
CTLR_CBPR, CTLR_EOIMODE = 1 << 0, 1 << 1
CTLR_RO = ((PRIORITY_BITS - 1) << 8) | (1 << 15)  # PRIbits, IDbits = 16 bits, A3V
INTID_MASK = 0xFFFFFF


def pfr0_with_gic(value: int) -> int:
    """ID_AA64PFR0_EL1 as a CPU with the GICv3 system-register interface reads it (GIC field = 1)."""
    return (value & ~PFR0_GIC) | PFR0_GIC_V3


class CpuInterface:
    """The ICC_* registers of one CPU, bound to the GIC's state for that CPU."""

    def __init__(self, gic: GicV3, index: int) -> None:
        self.gic = gic
        self.index = index
        self.iface = gic.ifaces[index]

    def reads(self) -> dict[str, Callable[[], int]]:
        f = self.iface
        return {
            "ICC_SRE_EL1": lambda: SRE_EL1,
            "ICC_PMR_EL1": lambda: f.pmr,
            "ICC_IAR1_EL1": lambda: self._ack(1),
            "ICC_IAR0_EL1": lambda: self._ack(0),
            "ICC_HPPIR1_EL1": lambda: self._hppir(1),
            "ICC_HPPIR0_EL1": lambda: self._hppir(0),
            "ICC_BPR1_EL1": f.read_bpr1,
            "ICC_BPR0_EL1": lambda: f.bpr0,
            "ICC_RPR_EL1": lambda: f.running_priority,
            "ICC_CTLR_EL1": lambda: (
                CTLR_RO | (CTLR_CBPR if f.cbpr else 0) | (CTLR_EOIMODE if f.eoimode else 0)
            ),
            "ICC_IGRPEN1_EL1": lambda: int(f.grpen[1]),
            "ICC_IGRPEN0_EL1": lambda: int(f.grpen[0]),
            "ICC_AP1R0_EL1": lambda: f.apr[1],
            "ICC_AP0R0_EL1": lambda: f.apr[0],
        }

    def writes(self) -> dict[str, Callable[[int], None]]:
        gic, i = self.gic, self.index
        return {
            "ICC_SRE_EL1": lambda v: None,
            "ICC_PMR_EL1": self._pmr,
            "ICC_EOIR1_EL1": lambda v: self._eoi(1, v),
            "ICC_EOIR0_EL1": lambda v: self._eoi(0, v),
            "ICC_DIR_EL1": self._dir,
            "ICC_BPR1_EL1": self._bpr1,
            "ICC_BPR0_EL1": self._bpr0,
            "ICC_CTLR_EL1": self._ctlr,
            "ICC_IGRPEN1_EL1": lambda v: self._grpen(1, v),
            "ICC_IGRPEN0_EL1": lambda v: self._grpen(0, v),
            "ICC_AP1R0_EL1": lambda v: self._apr(1, v),
            "ICC_AP0R0_EL1": lambda v: self._apr(0, v),
            "ICC_SGI1R_EL1": lambda v: gic.sgi(i, v, 1),
            "ICC_SGI0R_EL1": lambda v: gic.sgi(i, v, 0),
        }

    # Behaviour behind the registers

    def _ack(self, group: int) -> int:
        value = self.gic.acknowledge(self.index, group)
        self.gic.on_change()
        return value

    def _hppir(self, group: int) -> int:
        irq = self.gic.hppi(self.index)
        return irq.intid if irq is not None and irq.group == group else SPURIOUS

    def _eoi(self, group: int, value: int) -> None:
        self.gic.complete(self.index, group, value & INTID_MASK)
        self.gic.on_change()

    def _dir(self, value: int) -> None:
        intid = value & INTID_MASK
        # With EOImode 0 a write to DIR is UNPREDICTABLE: ignored, as QEMU does.
        if self.iface.eoimode and intid < SPECIAL_FIRST:
            self.gic.deactivate(self.index, intid)
            self.gic.on_change()

    def _pmr(self, value: int) -> None:
        self.iface.pmr = value & PRIORITY_MASK
        self.gic.on_change()

    def _bpr0(self, value: int) -> None:
        self.iface.bpr0 = max(value & 7, MIN_BPR0)

    def _bpr1(self, value: int) -> None:
        if not self.iface.cbpr:  # with CBPR set, non-secure writes to BPR1 are ignored
            self.iface.bpr1 = max(value & 7, MIN_BPR1)

    def _ctlr(self, value: int) -> None:
        self.iface.cbpr = bool(value & CTLR_CBPR)
        self.iface.eoimode = bool(value & CTLR_EOIMODE)

    def _grpen(self, group: int, value: int) -> None:
        self.iface.grpen[group] = bool(value & 1)
        self.gic.invalidate(self.index)
        self.gic.on_change()

    def _apr(self, group: int, value: int) -> None:
        self.iface.apr[group] = value & 0xFFFFFFFF
        self.gic.on_change()


def install(gic: GicV3, cpu: Cpu) -> None:
    """Register CPU ``cpu.index``'s interface in its system-register tables; make ID_AA64PFR0_EL1.GIC read 1."""
    regs = CpuInterface(gic, cpu.index)
    for name, read in regs.reads().items():
        cpu.sysreg_read[BY_NAME[name]] = _stepping_read(read)
    for name, write in regs.writes().items():
        cpu.sysreg_write[BY_NAME[name]] = _stepping_write(write)
    cpu.id_overrides[ID_AA64PFR0_EL1] = pfr0_with_gic


def _stepping_read(fn: Callable[[], int]) -> Callable[[Cpu], int]:
    def handler(cpu: Cpu) -> int:
        cpu.pc = cpu.pc + 4
        return fn()

    return handler


def _stepping_write(fn: Callable[[int], None]) -> Callable[[Cpu, int], None]:
    def handler(cpu: Cpu, value: int) -> None:
        cpu.pc = cpu.pc + 4
        fn(value)

    return handler
