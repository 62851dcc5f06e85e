"""A vCPU: an arch ``Cpu`` (its own unicorn engine) wired to its VM and to the runtime.

The vCPU runs at EL1 with EL2 present but owned by the runtime: SCR_EL3.HCE
is set so that ``hvc`` exits to the runtime (``cpu.hypervisor``), ``smc`` is
trapped to it as well (``cpu.firmware``, HCR_EL2.TSC in KVM's terms), and
the guest's own accesses to EL2 registers are UNDEFINED, as they are for
EL1 on hardware.  Its timers drive interrupts of the VM's interrupt controller
(the vGIC for a guest, the physical GIC for the host's vCPUs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..arch.cpu import Cpu
from ..arch.timer import Clock, GenericTimer, TimerChannel
from ..arch.timer_regs import install_timer

if TYPE_CHECKING:
    from .vm import Vm

GIC_FIELD = 0xF << 24  # ID_AA64PFR0_EL1.GIC: no system-register CPU interface (GICv2)
MPIDR = (3, 0, 0, 0, 5)
ID_AA64PFR0 = (3, 0, 0, 4, 0)
TIMER_INTIDS = {"phys": 30, "virt": 27, "hyp": 26}

SetLevel = Callable[[int, bool, int], None]  # (intid, level, vcpu index)


def make_vcpu(
    vm: Vm, index: int, vcpu_index: int, mpidr: int, clock: Clock, set_level: SetLevel, intids: dict[str, int] | None = None
) -> tuple[Cpu, GenericTimer, Callable[[], None]]:
    """A powered-off vCPU ``vcpu_index`` of ``vm`` (``index`` is its machine-wide number), its timer and
    the function that brings the timer's interrupt lines up to date."""
    cpu = Cpu(index, mpidr)
    cpu.reset_el3_state(hyp=True)
    cpu.id_overrides[MPIDR] = lambda _v: (1 << 31) | mpidr  # VMPIDR_EL2, as the runtime set it
    cpu.id_overrides[ID_AA64PFR0] = lambda v: v & ~GIC_FIELD
    ids = intids or TIMER_INTIDS
    timer = GenericTimer(TimerChannel("phys", ids["phys"]), TimerChannel("virt", ids["virt"]), TimerChannel("hyp", ids["hyp"]))

    levels = [False] * len(timer.channels)

    def refresh() -> None:
        """Drive the timers' interrupt lines (only the ones whose level changed)."""
        for i, ch in enumerate(timer.channels):
            level = ch.asserted(clock)
            if level != levels[i]:
                levels[i] = level
                set_level(ch.intid, level, vcpu_index)

    install_timer(cpu, timer, clock, refresh)
    vm.vcpus.append(cpu)
    vm.mpidrs.append(mpidr & 0xFF00FFFFFF)
    return cpu, timer, refresh
