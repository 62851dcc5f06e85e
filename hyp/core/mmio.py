"""MMIO exits: a guest access to an emulated window, decoded from its syndrome as KVM does.

On hardware the access faults at stage 2 and EL2 reads ESR_EL2: ISV says the
instruction syndrome is valid, SAS the access size, SRT the register, WnR the
direction, SSE/SF the sign extension (KVM's ``io_mem_abort``, Xen's
``handle_mmio``).  armboot builds that same ESR_EL2 (and HPFAR_EL2) from the
instruction at the guest's PC and the VM's stage-2 walk, then performs the
access the syndrome describes on the device model.  An instruction without a
valid syndrome (pairs, writeback, SIMD, exclusives: ISV = 0) is what KVM
refuses to emulate; armboot counts it and completes it with the emulator's own
view of the access instead of killing the guest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unicorn.arm64_const import UC_ARM64_REG_PC as PC

from ..arch.decode import decode

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from ..platform.mmio import Region
    from .vm import Vm

ISV = 1 << 24
WNR = 1 << 6
_iss: dict[int, int] = {}  # instruction word -> ISS[24:14] of its access (the syndrome depends on nothing else)
HPFAR_FIPA = (1 << 44) - 1


@dataclass(frozen=True, slots=True)
class MmioExit:
    """What EL2 learns from a stage-2 data abort on an emulated window."""

    esr: int
    hpfar: int
    ipa: int

    @property
    def valid(self) -> bool:
        return bool(self.esr & ISV)

    @property
    def write(self) -> bool:
        return bool(self.esr & WNR)

    @property
    def length(self) -> int:
        return 1 << ((self.esr >> 22) & 3)

    @property
    def register(self) -> int:
        return (self.esr >> 16) & 31


def syndrome(vm: Vm, cpu: Cpu, ipa: int, write: bool) -> MmioExit:
    """ESR_EL2/HPFAR_EL2 for this access, as the hardware would report it."""
    insn_iss = instruction_iss(cpu.fetch(cpu.pc))
    return MmioExit(vm.stage2_syndrome(ipa, write) | insn_iss, (ipa >> 12 << 4) & HPFAR_FIPA, ipa)


def instruction_iss(word: int | None) -> int:
    """ISS[24:14] of the load/store ``word`` (0 when it has no valid syndrome)."""
    if word is None:
        return 0
    iss = _iss.get(word)
    if iss is None:
        op = decode(word)
        iss = _iss[word] = op.iss() if op is not None else 0
    return iss


def trap_for(vm: Vm, cpu: Cpu, vcpu: int) -> Callable[[Region, int, int, bool, int], int]:
    """The MMIO exit handler of one vCPU: builds the syndrome, then performs the access it describes.

    One closure per vCPU with everything it needs bound, since every trapped
    register access of the guest comes through it.
    """
    exits, stage2_syndrome, fetch, x = vm.exits, vm.stage2_syndrome, cpu.fetch, cpu.x
    uc_pc = cpu.uc.reg_read
    pc_reg = PC

    def trap(region: Region, offset: int, size: int, write: bool, value: int) -> int:
        exits["mmio"] += 1
        ipa = region.base + offset
        esr = stage2_syndrome(ipa, write) | instruction_iss(fetch(uc_pc(pc_reg)))
        if esr & ISV:  # as KVM's io_mem_abort: size from SAS, data from/to SRT
            size = 1 << ((esr >> 22) & 3)
            if write:
                rt = (esr >> 16) & 31
                value = x(rt) & ((1 << (8 * size)) - 1) if rt != 31 else 0  # SRT 31 is XZR here
        else:
            exits["mmio_isv0"] = exits.get("mmio_isv0", 0) + 1
        window = region.find(ipa)
        if window is None:
            return 0  # a hole between windows in a trapped page: RAZ/WI
        if write:
            window.write(vcpu, ipa - window.base, size, value)
            return 0
        return window.read(vcpu, ipa - window.base, size)

    return trap
