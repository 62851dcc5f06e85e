"""Realising a VM's stage 2 as a vCPU's unicorn address space.

unicorn translates guest physical addresses through its own flat memory map;
there is no stage 2.  So the map *is* the stage 2: walked from the VM's real
tables when it is built or changed (and when a fault makes the runtime look
again), never per access.  Normal-memory ranges map the physical RAM buffers
(the same bytes the host sees, so a page two VMs share is one page), device
ranges map the machine's device models (the host's passthrough devices), and
the windows the VM's personality emulates are trapped MMIO.  An IPA in none
of these is unmapped: touching it is a stage-2 fault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from unicorn import UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE

from ..arch.stage2 import Perm, S2Range
from ..arch.ucregs import mmio_map
from ..platform.mmio import Region, page_regions

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from .vm import Vm

MmioTrap = Callable[[Region, int, int, bool, int], int]  # (region, offset, size, write, value) -> read value


def unicorn_prot(perms: Perm) -> int:
    return (
        (UC_PROT_READ if perms & Perm.R else 0)
        | (UC_PROT_WRITE if perms & Perm.W else 0)
        | (UC_PROT_EXEC if perms & Perm.X else 0)
    )


def is_memory(r: S2Range) -> bool:
    """Normal memory (MemAttr[3:2] != 0b00) as opposed to a Device type."""
    return r.memattr >> 2 != 0


def clear(cpu: Cpu) -> None:
    for begin, end, _perms in list(cpu.uc.mem_regions()):
        cpu.uc.mem_unmap(begin, end - begin + 1)


def realise(vm: Vm, cpu: Cpu, vcpu_index: int, trap: MmioTrap) -> None:
    """(Re)build ``cpu``'s address space from ``vm``'s stage 2 and emulated windows."""
    clear(cpu)
    machine = vm.machine
    for r in vm.stage2.mappings():
        if is_memory(r):
            _map_ram(vm, cpu, r)
        else:
            for region in machine.mmio_regions:  # passthrough: the machine's own device models
                if r.pa <= region.base and region.base + region.size <= r.pa + r.size:
                    ipa = r.ipa + (region.base - r.pa)
                    cpu.map_mmio(ipa, region.size, region.reader(vcpu_index), region.writer(vcpu_index))
    for region in page_regions(vm.emulated):
        _map_trapped(cpu, region, trap)
    cpu.uc.ctl_flush_tb()


def _map_ram(vm: Vm, cpu: Cpu, r: S2Range) -> None:
    ipa, pa, size = r.ipa, r.pa, r.size
    while size:
        region = vm.machine.region_at(pa)
        if region is None:
            raise ValueError(f"{vm.name}: stage 2 maps IPA 0x{ipa:x} to 0x{pa:x}, which is not RAM")
        chunk = min(size, region.base + region.size - pa)
        cpu.map_ram(ipa, chunk, region.buffer, pa - region.base, unicorn_prot(r.perms))
        ipa, pa, size = ipa + chunk, pa + chunk, size - chunk


def _map_trapped(cpu: Cpu, region: Region, trap: MmioTrap) -> None:
    """Emulated windows: each access is an exit to the runtime (``trap``), which runs the device model."""

    def rd(offset: int, size: int) -> int:
        value = trap(region, offset, size, False, 0) & ((1 << (8 * size)) - 1)
        cpu.update_line()  # a vGIC acknowledge drops the vCPU's IRQ line before its next instruction
        return value

    def wr(offset: int, size: int, value: int) -> None:
        trap(region, offset, size, True, value)
        cpu.update_line()

    mmio_map(cpu.uc, region.base, region.size, rd, wr)
