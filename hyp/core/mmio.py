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

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..arch.decode import decode

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from ..platform.devices import Window
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
    word = cpu.fetch(cpu.pc)
    insn_iss = 0
    if word is not None:
        iss = _iss.get(word)
        if iss is None:
            op = decode(word)
            iss = _iss[word] = op.iss() if op is not None else 0
        insn_iss = iss
    return MmioExit(vm.stage2_syndrome(ipa, write) | insn_iss, (ipa >> 12 << 4) & HPFAR_FIPA, ipa)


def access(vm: Vm, cpu: Cpu, vcpu: int, window: Window | None, ipa: int, size: int, write: bool, value: int) -> int:
    """Perform the trapped access the syndrome describes; the value a read returns."""
    vm.count("mmio")
    exit_ = syndrome(vm, cpu, ipa, write)
    if exit_.valid:
        size = exit_.length
        if write:
            value = cpu.x(exit_.register) if exit_.register != 31 else 0  # SRT 31 is XZR here
            value &= (1 << (8 * size)) - 1
    else:
        vm.count("mmio_isv0")
    if window is None:
        return 0  # a hole between windows in a trapped page: RAZ/WI
    offset = ipa - window.base
    if write:
        window.write(vcpu, offset, size, value)
        return 0
    return window.read(vcpu, offset, size)
