"""spin-table secondary CPUs (enable-method = "spin-table"): parked until their
cpu-release-addr is written, then entered at the address written there."""

from __future__ import annotations

from collections.abc import Callable

from armboot.hyp.platform.board import Machine
from unicorn import UC_HOOK_MEM_WRITE


class SpinTable:
    def __init__(self, machine: Machine, start: Callable[[int, int], None]) -> None:
        self.machine = machine
        self.start = start
        self.released: set[int] = set()

    def watch(self, release_addrs: list[int | None]) -> None:
        """Watch each parked CPU's release address on every CPU (any CPU may write it)."""
        targets = {addr: i for i, addr in enumerate(release_addrs) if addr is not None and i > 0}
        if not targets:
            return
        for cpu in self.machine.cpus:
            for addr, index in targets.items():
                cpu.uc.hook_add(UC_HOOK_MEM_WRITE, self._on_write, index, addr, addr + 7)

    def _on_write(self, uc: object, access: int, address: int, size: int, value: int, index: int) -> None:
        if index in self.released or value == 0:
            return
        spec = self.machine.cpu_specs[index]
        if spec.release_addr is None or not (address <= spec.release_addr < address + size):
            return
        self.released.add(index)
        self.start(index, value)
