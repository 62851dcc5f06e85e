"""The board's EL3 firmware: PSCI over SMC (what Arm Trusted Firmware provides on hardware).

CPU_ON starts a core in the highest non-secure exception level that is
enabled, as TF-A does (EL2 when SCR_EL3.HCE is set), so that every CPU
enters the payload at the same EL as the boot CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..arch import psci
from ..arch.cpu import Cpu

if TYPE_CHECKING:
    from .board import Machine

AFF_ON, AFF_OFF, AFF_ON_PENDING = 0, 1, 2


class Firmware:
    """EL3 for one machine; ``start_cpu(index, entry, context)`` is the bootloader's CPU entry."""

    def __init__(self, machine: Machine, start_cpu: Callable[[int, int, int], None]) -> None:
        self.machine = machine
        self.start_cpu = start_cpu
        self.calls = 0

    # Firmware protocol (Cpu.firmware)

    def smc(self, cpu: Cpu) -> None:
        self.calls += 1
        if not psci.handle(cpu, self):
            cpu.set_x(0, psci.NOT_SUPPORTED & 0xFFFFFFFFFFFFFFFF)

    # PowerController protocol

    def _index(self, mpidr: int) -> int | None:
        for i, spec in enumerate(self.machine.cpu_specs):
            if spec.mpidr == mpidr & 0xFF00FFFFFF:
                return i
        return None

    def cpu_on(self, mpidr: int, entry: int, context: int) -> int:
        index = self._index(mpidr)
        if index is None:
            return psci.INVALID_PARAMETERS
        if index < len(self.machine.cpus) and self.machine.cpus[index].on:
            return psci.ALREADY_ON
        if self.machine.region_at(entry, 4) is None:
            return psci.INVALID_ADDRESS
        self.start_cpu(index, entry, context)
        return psci.SUCCESS

    def cpu_off(self, cpu: Cpu) -> None:
        cpu.stop("cpu_off")

    def affinity_info(self, mpidr: int) -> int:
        index = self._index(mpidr)
        if index is None:
            return psci.INVALID_PARAMETERS
        return AFF_ON if index < len(self.machine.cpus) and self.machine.cpus[index].on else AFF_OFF

    def system_off(self, cpu: Cpu) -> None:
        self.machine.power_off(cpu.index, "PSCI SYSTEM_OFF")
        cpu.stop("system_off")

    def system_reset(self, cpu: Cpu) -> None:
        self.machine.reset(cpu.index, "PSCI SYSTEM_RESET")
        cpu.stop("system_reset")

    def suspend(self, cpu: Cpu) -> None:
        cpu.waiting = True  # a standby state: wake on the next interrupt
        cpu.request_exit()
