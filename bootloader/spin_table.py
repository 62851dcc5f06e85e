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
        targets: dict[int, list[int]] = {}
        for i, addr in enumerate(release_addrs):
            if addr is not None and i > 0:
                targets.setdefault(addr, []).append(i)  # CPUs may share one release address
        for cpu in self.machine.cpus:
            for addr, indexes in targets.items():
                cpu.uc.hook_add(UC_HOOK_MEM_WRITE, self._on_write, (addr, indexes), addr, addr + 7)

    def _on_write(self, uc: object, access: int, address: int, size: int, value: int, target: tuple) -> None:
        addr, indexes = target
        if value == 0 or not (address <= addr < address + size):
            return
        for index in indexes:
            if index not in self.released:
                self.released.add(index)
                self.start(index, value)
