"""A virtual machine of armboot's hypervisor runtime: its memory, vCPUs, devices and fate.

A VM's memory is what its stage-2 tables say (``hyp.arch.stage2``): real
VMSAv8-64 tables in runtime-owned RAM, tagged with the VM's VMID.  unicorn has
no stage 2, so every vCPU's unicorn address space is *realised* from those
tables (:mod:`.memmap`): RAM ranges become pointer mappings into the physical
RAM buffers, device ranges (the host's passthrough devices) map the machine's
device models, and IPA windows the VM's personality emulates are trapped
MMIO.  Anything else is a stage-2 fault.

The host is a VM too (VMID 0), as under pKVM: its stage 2 maps all RAM except
what the runtime took for itself and its guests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..arch.stage1 import FaultKind
from ..arch.stage2 import NORMAL_WB, DEVICE_nGnRE, Perm, S2Walk, Stage2Fault, Stage2Tables
from ..platform.devices import Window

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from ..arch.vgic import VGic
    from ..platform.board import Machine

EXIT_KINDS = ("hvc", "smc", "mmio", "wfi", "wfe", "sysreg", "stage2_fault", "irq")


class GuestMemoryError(Exception):
    """An IPA the VM's stage 2 does not map (or not with the access asked for)."""


@dataclass
class VmExit:
    """How a VM ended: ``reason`` is system_off | shutdown | reset | fault | timeout."""

    reason: str
    detail: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"reason": self.reason, **self.detail}


@dataclass
class RamSlice:
    """A piece of the VM's RAM: ``size`` bytes at IPA ``ipa``, physically at ``pa``."""

    ipa: int
    pa: int
    size: int


class Vm:
    """One VM: stage-2 map, vCPUs, emulated MMIO windows (in IPA space), console, counters."""

    def __init__(self, name: str, vmid: int, machine: Machine, stage2: Stage2Tables, is_host: bool = False) -> None:
        self.name = name
        self.vmid = vmid
        self.machine = machine
        self.stage2 = stage2
        self.is_host = is_host
        self.ram: list[RamSlice] = []
        self.vcpus: list[Cpu] = []
        self.mpidrs: list[int] = []
        self.emulated: list[Window] = []  # trapped MMIO in IPA space (the personality's device models)
        self.vgic: VGic | None = None
        self.console = bytearray()
        self.console_writer: Callable[[Vm, bytes], None] | None = None
        self.exits: dict[str, int] = dict.fromkeys(EXIT_KINDS, 0)
        self.injected_irqs = 0
        self.instructions = 0
        self.exit: VmExit | None = None
        self.faults: list[dict[str, object]] = []  # the first stage-2 faults, for the report
        self.realise: Callable[[Vm], None] = lambda vm: None  # set by the runtime: re-derive unicorn maps
        self.on_stop: Callable[[Vm], None] = lambda vm: None
        self.personality_state: dict[str, object] = {}  # what a personality keeps per VM
        self.console_feed: Callable[[bytes], None] | None = None  # where typed input for this VM goes
        self._faults: dict[int, Stage2Fault] = {}
        self._syndromes: dict[int, int] = {}

    # Identity

    @property
    def domid(self) -> int:
        """Xen's name for the VM: the host is domain 0."""
        return self.vmid

    @property
    def running(self) -> bool:
        return self.exit is None

    # Memory

    def add_ram(self, ipa: int, pa: int, size: int) -> None:
        self.stage2.map(ipa, pa, size, Perm.RWX, NORMAL_WB)
        self.ram.append(RamSlice(ipa, pa, size))

    def map_device(self, ipa: int, pa: int, size: int) -> None:
        """Pass a physical device window through (the host's own devices)."""
        self.stage2.map(ipa, pa, size, Perm.RW, DEVICE_nGnRE)

    def map(self, ipa: int, pa: int, size: int, perms: Perm = Perm.RW) -> None:
        """Map more memory (e.g. a page another VM granted) and update the vCPUs' address spaces."""
        self.stage2.map(ipa, pa, size, perms, NORMAL_WB)
        self._faults.clear()
        self._syndromes.clear()
        self.realise(self)

    def unmap(self, ipa: int, size: int) -> None:
        self.stage2.unmap(ipa, size)
        self._faults.clear()
        self._syndromes.clear()
        self.realise(self)

    def stage2_fault(self, ipa: int) -> Stage2Fault:
        """How the stage-2 walk fails for an IPA the VM has no memory at (cached per page until the map changes)."""
        page = ipa >> 12
        cached = self._faults.get(page)
        if cached is None:
            w = self.stage2.translate(ipa)
            kind, level = (w.kind, w.level) if isinstance(w, Stage2Fault) else (FaultKind.TRANSLATION, 3)
            cached = self._faults[page] = Stage2Fault(kind, level, page << 12)
        return Stage2Fault(cached.kind, cached.level, ipa)

    def stage2_syndrome(self, ipa: int, write: bool) -> int:
        """ESR_EL2 of a stage-2 data abort here, without the instruction's syndrome.

        Cached per page and direction until the map changes: a device window's
        registers fault the same way every time.
        """
        key = (ipa >> 12) << 1 | write
        esr = self._syndromes.get(key)
        if esr is None:
            esr = self._syndromes[key] = self.stage2_fault(ipa).esr(write=write)
        return esr

    def translate(self, ipa: int, write: bool = False) -> int:
        """IPA -> PA through the VM's stage 2, as the hardware walk would; GuestMemoryError when it faults."""
        w = self.stage2.translate(ipa, write=write)
        if not isinstance(w, S2Walk):
            raise GuestMemoryError(f"{self.name}: IPA 0x{ipa:x} is not mapped for {'writing' if write else 'reading'}")
        if w.memattr != NORMAL_WB:
            raise GuestMemoryError(f"{self.name}: IPA 0x{ipa:x} is a device, not memory")
        return w.pa

    def read(self, ipa: int, size: int) -> bytes:
        """Read guest memory (page by page through stage 2)."""
        out = bytearray()
        while size > 0:
            chunk = min(size, 0x1000 - (ipa & 0xFFF))
            out += self.machine.read(self.translate(ipa), chunk)
            ipa, size = ipa + chunk, size - chunk
        return bytes(out)

    def write(self, ipa: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            chunk = min(len(data) - pos, 0x1000 - ((ipa + pos) & 0xFFF))
            self.machine.write(self.translate(ipa + pos, write=True), data[pos : pos + chunk])
            pos += chunk

    def read_u64(self, ipa: int) -> int:
        return int.from_bytes(self.read(ipa, 8), "little")

    def write_u64(self, ipa: int, value: int) -> None:
        self.write(ipa, (value & (2**64 - 1)).to_bytes(8, "little"))

    # Devices and interrupts

    def add_mmio(self, window: Window) -> None:
        """A device window the runtime emulates: accesses trap (an ``mmio`` exit) to ``window``."""
        self.emulated.append(window)

    def inject(self, vcpu: int, intid: int) -> None:
        """A virtual interrupt for one vCPU (SGI/PPI) or wherever the guest routes an SPI."""
        if self.vgic is None:
            raise ValueError(f"{self.name} has no virtual GIC")
        self.vgic.inject(vcpu, intid)

    def console_out(self, data: bytes) -> None:
        self.console += data
        if self.console_writer is not None:
            self.console_writer(self, data)

    def count(self, kind: str) -> None:
        self.exits[kind] = self.exits.get(kind, 0) + 1

    # Power

    def vcpu_index(self, mpidr: int) -> int | None:
        mpidr &= 0xFF00FFFFFF
        for i, m in enumerate(self.mpidrs):
            if m == mpidr:
                return i
        return None

    def stop(self, reason: str, **detail: object) -> None:
        """This VM (only) ends: its vCPUs stop; the others carry on."""
        if self.exit is None:
            self.exit = VmExit(reason, dict(detail))
        for cpu in self.vcpus:
            cpu.on = False
            if cpu.stop_reason is None:
                cpu.stop_reason = reason
        self.on_stop(self)
