"""The machine with no hypervisor of armboot's in it: the payload owns the CPUs.

This is the scheduler's platform for ``armboot boot`` when no guests are
described: interrupts come straight from the GIC, the payload's EL2 (if it was
given one) holds interrupts while it runs, as EL2 with HCR_EL2.IMO clear does.
"""

from __future__ import annotations

from ..arch.cpu import Cpu
from .board import Machine


class BarePlatform:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.clock = machine.clock
        self.pending_starts: list[tuple[int, int, int]] = []

    @property
    def runnable(self) -> list[Cpu]:
        return [c for c in self.machine.cpus if c.on]

    def irq_pending(self, cpu: Cpu) -> bool:
        return self.machine.gic.irq_pending(cpu.index)

    def deliver_irq(self, cpu: Cpu) -> None:
        """Raise the CPU's IRQ line: taken where PSTATE.I allows (held while the payload is in its EL2)."""
        if cpu.irq_source is None:
            cpu.irq_source = self.irq_pending
        cpu.watch_irq_unmask()

    def update_timers(self) -> None:
        self.machine.update_timers()

    def poll_input(self) -> None:
        self.machine.poll_input()

    def wait_input(self) -> bool:
        return self.machine.wait_input()

    def next_deadline(self) -> int | None:
        return self.machine.next_deadline()

    def finished(self) -> str | None:
        state = self.machine.power_state
        if state == "off":
            return "system_off"
        if state == "reset":
            return "system_reset"
        for cpu in self.machine.cpus:
            if cpu.stop_reason is not None and cpu.stop_reason.startswith("fault"):
                return "fault"
        return None
