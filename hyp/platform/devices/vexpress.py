"""Versatile Express system registers (arm,vexpress-sysreg): the board's power controller.

The kernel's vexpress-poweroff driver writes SYS_CFGCTRL with START, WRITE,
function SHUTDOWN (8) or REBOOT (9); the model turns that into the machine's
power-off or reset, which is what makes the Foundation model's tree power off
without PSCI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..resolve import mmio_regions
from . import Window, model, windows

if TYPE_CHECKING:
    from armboot.dtc.tree import Node

    from ..board import Machine

SYS_ID, SYS_PROCID0, SYS_CFGDATA, SYS_CFGCTRL, SYS_CFGSTAT = 0x00, 0x84, 0xA0, 0xA4, 0xA8
CFG_START, CFG_WRITE = 1 << 31, 1 << 30
FUNC_SHUTDOWN, FUNC_REBOOT = 8, 9


class VexpressSysreg:
    def __init__(self, name: str, machine: Machine) -> None:
        self.name = name
        self.machine = machine
        self.regs: dict[int, int] = {SYS_ID: 0x1190F500, SYS_PROCID0: 0x14000237}

    def read(self, cpu: int, offset: int, size: int) -> int:
        return self.regs.get(offset, 0)

    def write(self, cpu: int, offset: int, size: int, value: int) -> None:
        if offset == SYS_CFGCTRL and value & CFG_START:
            function = (value >> 20) & 0x3F
            self.regs[SYS_CFGSTAT] = 1  # complete
            if value & CFG_WRITE and function == FUNC_SHUTDOWN:
                self.machine.power_off(cpu, "vexpress SYS_CFGCTRL shutdown")
            elif value & CFG_WRITE and function == FUNC_REBOOT:
                self.machine.reset(cpu, "vexpress SYS_CFGCTRL reboot")
            return
        self.regs[offset] = value


@model("arm,vexpress-sysreg")
def make(node: Node, machine: Machine) -> list[Window]:
    return windows(VexpressSysreg(node.path, machine), mmio_regions(node)[:1])
