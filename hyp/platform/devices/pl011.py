"""Arm PrimeCell PL011 UART (DDI 0183): the console.

Transmit is immediate (TX FIFO always empty); received characters come from
the machine's input queue.  Interrupts: RX and TX, through the GIC line the
tree gives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..resolve import mmio_regions
from . import Window, model, windows

if TYPE_CHECKING:
    from armboot.dtc.tree import Node

    from ..board import Machine

DR, RSR, FR, ILPR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR, DMACR = (
    0x00, 0x04, 0x18, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40, 0x44, 0x48,
)  # fmt: skip
FR_RXFE, FR_TXFF, FR_RXFF, FR_TXFE = 1 << 4, 1 << 5, 1 << 6, 1 << 7
INT_RX, INT_TX, INT_RT = 1 << 4, 1 << 5, 1 << 6
PERIPH_ID = bytes([0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1])  # PL011 r1p5, PrimeCell


class Pl011:
    def __init__(self, name: str, output: Callable[[bytes], None], irq: Callable[[bool], None]) -> None:
        self.name = name
        self.output = output
        self.set_irq = irq
        self.rx: deque[int] = deque()
        self.regs = {IBRD: 0, FBRD: 0, LCR_H: 0, CR: 0x300, IFLS: 0x12, IMSC: 0, DMACR: 0, ILPR: 0}
        self.ris = INT_TX

    def feed(self, data: bytes) -> None:
        """Characters typed at the console."""
        self.rx.extend(data)
        self.ris |= INT_RX | INT_RT
        self._update()

    def _update(self) -> None:
        self.set_irq(bool(self.ris & self.regs[IMSC]))

    def read(self, cpu: int, offset: int, size: int) -> int:
        if offset == DR:
            value = self.rx.popleft() if self.rx else 0
            if not self.rx:
                self.ris &= ~(INT_RX | INT_RT)
                self._update()
            return value
        if offset == FR:
            return FR_TXFE | (0 if self.rx else FR_RXFE)
        if offset == RIS:
            return self.ris
        if offset == MIS:
            return self.ris & self.regs[IMSC]
        if 0xFE0 <= offset < 0x1000:
            return PERIPH_ID[(offset - 0xFE0) // 4]
        return self.regs.get(offset, 0)

    def write(self, cpu: int, offset: int, size: int, value: int) -> None:
        if offset == DR:
            self.output(bytes([value & 0xFF]))
            self.ris |= INT_TX
            self._update()
        elif offset == ICR:
            self.ris &= ~value
            if self.rx:
                self.ris |= INT_RX
            self.ris |= INT_TX  # the FIFO is always drained
            self._update()
        elif offset in self.regs:
            self.regs[offset] = value
            if offset == IMSC:
                self._update()


@model("arm,pl011")
def make(node: Node, machine: Machine) -> list[Window]:
    uart = Pl011(node.path, machine.console_sink(node), machine.irq_line(node, 0))
    machine.uarts.append(uart)
    return windows(uart, mmio_regions(node)[:1])
