"""PSCI (Power State Coordination Interface) as firmware answers it (DEN0022).

The conduit (SMC to EL3 firmware, or HVC to a hypervisor) is the caller's
business; this module decodes the function id in x0, calls the power
controller, and puts the result in x0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .cpu import Cpu

VERSION = 0x84000000
CPU_SUSPEND_32, CPU_SUSPEND_64 = 0x84000001, 0xC4000001
CPU_OFF = 0x84000002
CPU_ON_32, CPU_ON_64 = 0x84000003, 0xC4000003
AFFINITY_INFO_32, AFFINITY_INFO_64 = 0x84000004, 0xC4000004
MIGRATE_INFO_TYPE = 0x84000006
SYSTEM_OFF = 0x84000008
SYSTEM_RESET = 0x84000009
FEATURES = 0x8400000A
SMCCC_VERSION = 0x80000000

SUCCESS, NOT_SUPPORTED, INVALID_PARAMETERS, DENIED, ALREADY_ON, ON_PENDING = 0, -1, -2, -3, -4, -5
INTERNAL_FAILURE, NOT_PRESENT, DISABLED, INVALID_ADDRESS = -6, -7, -8, -9

PSCI_1_1 = (1 << 16) | 1
TOS_NOT_PRESENT_MP = 2

KNOWN = {
    VERSION, CPU_SUSPEND_32, CPU_SUSPEND_64, CPU_OFF, CPU_ON_32, CPU_ON_64, AFFINITY_INFO_32,
    AFFINITY_INFO_64, MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET, FEATURES,
}  # fmt: skip


class PowerController(Protocol):
    """What PSCI needs from the machine (or from a VM, for a hypervisor's PSCI)."""

    def cpu_on(self, mpidr: int, entry: int, context: int) -> int: ...

    def cpu_off(self, cpu: Cpu) -> None: ...

    def affinity_info(self, mpidr: int) -> int: ...

    def system_off(self, cpu: Cpu) -> None: ...

    def system_reset(self, cpu: Cpu) -> None: ...

    def suspend(self, cpu: Cpu) -> None: ...


def handle(cpu: Cpu, power: PowerController) -> bool:
    """Serve the PSCI call in x0..x3; False when x0 is not a PSCI function (the caller answers)."""
    fid = cpu.x(0) & 0xFFFFFFFF
    if fid == SMCCC_VERSION:
        cpu.set_x(0, 0x10001)  # SMCCC 1.1
        return True
    if fid not in KNOWN:
        return False
    is64 = fid & 0x40000000
    arg = (lambda n: cpu.x(n)) if is64 else (lambda n: cpu.x(n) & 0xFFFFFFFF)
    result = SUCCESS
    if fid == VERSION:
        result = PSCI_1_1
    elif fid in (CPU_ON_32, CPU_ON_64):
        result = power.cpu_on(arg(1), arg(2), arg(3))
    elif fid == CPU_OFF:
        power.cpu_off(cpu)  # does not return to the caller
    elif fid in (AFFINITY_INFO_32, AFFINITY_INFO_64):
        result = power.affinity_info(arg(1)) if arg(2) == 0 else INVALID_PARAMETERS
    elif fid == MIGRATE_INFO_TYPE:
        result = TOS_NOT_PRESENT_MP
    elif fid == SYSTEM_OFF:
        power.system_off(cpu)
    elif fid == SYSTEM_RESET:
        power.system_reset(cpu)
    elif fid in (CPU_SUSPEND_32, CPU_SUSPEND_64):
        power.suspend(cpu)
    elif fid == FEATURES:
        result = SUCCESS if (cpu.x(1) & 0xFFFFFFFF) in KNOWN | {SMCCC_VERSION} else NOT_SUPPORTED
    cpu.set_x(0, result & 0xFFFFFFFFFFFFFFFF)
    return True
