"""The GICv2 interrupt controller (Arm IHI 0048): distributor and memory-mapped CPU interfaces.

What a non-secure OS sees of a GIC-400: one group (IGROUPR reads as zero, every
interrupt is signalled as IRQ), 32 priority levels, SGIs always enabled and
pending per source CPU.  The interrupt state machine is ``gic.GicCore``; this
module is the register layout (GICD_*, GICC_*) and the GICv2 routing by CPU
target masks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .gic import MIN_BPR1, PRIORITY_MASK, SPURIOUS, AccessFn, CpuIface, GicConfigError, GicCore, Irq

GICD_SIZE = 0x1000
GICC_SIZE = 0x2000  # GICC_DIR lives at 0x1000
ICPIDR2 = 0x2B  # ArchRev 2
GICD_IIDR = 0x0200043B  # Arm, GIC-400 style
GICC_IIDR = 0x0202043B  # Arm, architecture version 2
CTLR_EOIMODE_NS = 1 << 9

if TYPE_CHECKING:
    from ..platform.devices import Window


class GicV2(GicCore):
    """Distributor + CPU interfaces for ``ncpus`` (at most 8) CPUs and ``nirqs`` INTIDs (a multiple of 32)."""

    name = "gicv2"
    sgi_sources = True
    sgi_enable_fixed = True
    groups_visible = False

    def __init__(self, ncpus: int, nirqs: int = 288) -> None:
        if ncpus > 8:
            raise GicConfigError(f"a GICv2 serves at most 8 CPUs, not {ncpus}")
        super().__init__(ncpus, nirqs)
        for irq in self._all():
            irq.group = 1
            if irq.intid < 16:
                irq.enabled = True
            elif irq.owner < 0 and ncpus == 1:
                irq.targets = 1  # uniprocessor: ITARGETSR is RAZ/WI and everything goes to CPU 0

    def _all(self) -> list[Irq]:
        return [irq for bank in self.banked for irq in bank] + self.shared

    @property
    def enabled(self) -> bool:
        return self.dist_groups[1]

    @property
    def cpus(self) -> list[CpuIface]:
        return self.ifaces

    def windows(self, regions: list[tuple[int, int]]) -> list[Window]:
        """The distributor and CPU-interface windows at the node's first two ``reg`` entries."""
        from ..platform.devices import Window

        if len(regions) < 2:
            raise GicConfigError("a GICv2 needs distributor and CPU interface regions")
        (dbase, dsize), (cbase, csize) = regions[0], regions[1]
        return [
            Window(dbase, max(dsize, GICD_SIZE), self, self.dist_read, self.dist_write),
            Window(cbase, max(csize, GICC_SIZE), self, self.cpu_read, self.cpu_write),
        ]

    # SGIs

    def send_sgi(self, source: int, intid: int, targets: int) -> None:
        for cpu in range(self.ncpus):
            if targets >> cpu & 1:
                irq = self.banked[cpu][intid]
                irq.sources |= 1 << source
                irq.latch = True
                self.update(irq)

    def end_of_interrupt(self, cpu: int, value: int) -> None:
        self.complete(cpu, 1, value & 0x3FF)
        self.on_change()

    # Distributor registers (GICD_*)

    def _at(self, cpu: int) -> AccessFn:
        """The distributor's view for one CPU: its own banked SGIs and PPIs, then the SPIs."""
        return lambda intid: self.lookup(intid, cpu)

    def dist_read(self, cpu: int, offset: int, size: int) -> int:
        if offset == 0x000:
            return int(self.dist_groups[1])
        if offset == 0x004:  # TYPER: ITLinesNumber, CPUNumber, SecurityExtn
            return self.it_lines | ((self.ncpus - 1) << 5) | (1 << 10)
        if offset == 0x008:
            return GICD_IIDR
        bank = self.read_bank(self._at(cpu), offset, size)
        if bank is not None:
            return bank
        if 0x800 <= offset < 0xC00:
            return self._read_targets(cpu, offset - 0x800, size)
        if 0xF10 <= offset < 0xF30:  # CPENDSGIR / SPENDSGIR: a byte per SGI, a bit per source
            first = (offset - 0xF10) % 0x10
            return int.from_bytes(
                bytes(self.banked[cpu][first + k].sources for k in range(size) if first + k < 16), "little"
            )
        if offset == 0xFE8:
            return ICPIDR2
        return 0

    def _read_targets(self, cpu: int, first: int, size: int) -> int:
        """ITARGETSR bytes: SGIs and PPIs read as the reading CPU; RAZ on a uniprocessor."""
        if self.ncpus == 1:
            return 0
        out = bytearray()
        for intid in range(first, first + size):
            if intid < 32:
                out.append(1 << cpu)
            else:
                out.append(self.shared[intid - 32].targets if intid < self.nirqs else 0)
        return int.from_bytes(out, "little")

    def dist_write(self, cpu: int, offset: int, size: int, value: int) -> None:
        if offset == 0x000:
            self.dist_groups[1] = bool(value & 1)
            self.invalidate()
        elif self.write_bank(cpu, self._at(cpu), offset, size, value):
            pass
        elif 0x800 <= offset < 0xC00:
            if self.ncpus > 1:
                for k, byte in enumerate(value.to_bytes(size, "little")):
                    intid = offset - 0x800 + k
                    if 32 <= intid < self.nirqs:
                        irq = self.shared[intid - 32]
                        irq.targets = byte & ((1 << self.ncpus) - 1)
                        self.update(irq)
        elif offset == 0xF00:
            self._sgir(cpu, value)
        elif 0xF10 <= offset < 0xF30:
            self._write_sgi_sources(cpu, offset, size, value)
        self.on_change()

    def _sgir(self, cpu: int, value: int) -> None:
        """GICD_SGIR: TargetListFilter 0 = the list, 1 = all but me, 2 = me."""
        mode = (value >> 24) & 3
        everyone = (1 << self.ncpus) - 1
        if mode == 0:
            targets = (value >> 16) & everyone
        elif mode == 1:
            targets = everyone & ~(1 << cpu)
        elif mode == 2:
            targets = 1 << cpu
        else:
            return
        self.send_sgi(cpu, value & 0xF, targets)

    def _write_sgi_sources(self, cpu: int, offset: int, size: int, value: int) -> None:
        setting = offset >= 0xF20
        first = (offset - 0xF10) % 0x10
        for k, byte in enumerate(value.to_bytes(size, "little")):
            if first + k < 16 and byte:
                irq = self.banked[cpu][first + k]
                irq.sources = (irq.sources | byte) if setting else (irq.sources & ~byte)
                irq.sources &= (1 << self.ncpus) - 1
                irq.latch = irq.sources != 0
                self.update(irq)
                if not setting:
                    self.settle(cpu, irq)

    # CPU interface registers (GICC_*)

    def cpu_read(self, cpu: int, offset: int, size: int) -> int:
        iface = self.ifaces[cpu]
        if offset == 0x00:
            return int(iface.grpen[1]) | (CTLR_EOIMODE_NS if iface.eoimode else 0)
        if offset == 0x04:
            return iface.pmr
        if offset == 0x08:
            return iface.bpr1
        if offset == 0x0C:
            value = self.acknowledge(cpu)
            self.on_change()
            return value
        if offset == 0x14:
            return iface.running_priority
        if offset == 0x18:
            irq = self.hppi(cpu)
            if irq is None:
                return SPURIOUS
            source = (irq.sources & -irq.sources).bit_length() - 1 if irq.intid < 16 and irq.sources else 0
            return irq.intid | source << 10
        if offset == 0xD0:  # GICC_APR0: the active priorities, in the GICv3 AP1R0 format
            return iface.apr[1]
        if offset == 0xFC:
            return GICC_IIDR
        return 0

    def cpu_write(self, cpu: int, offset: int, size: int, value: int) -> None:
        iface = self.ifaces[cpu]
        if offset == 0x00:
            iface.grpen[1] = bool(value & 1)
            iface.eoimode = bool(value & CTLR_EOIMODE_NS)
            self.invalidate(cpu)
        elif offset == 0x04:
            iface.pmr = value & PRIORITY_MASK
        elif offset == 0x08:
            iface.bpr1 = max(value & 7, MIN_BPR1)
        elif offset == 0x10:
            self.complete(cpu, 1, value & 0x3FF)
        elif offset == 0xD0:
            iface.apr[1] = value & 0xFFFFFFFF
        elif offset == 0x1000 and iface.eoimode:  # DIR with EOImode 0 is UNPREDICTABLE: ignored, as QEMU
            self.deactivate(cpu, value & 0x3FF)
        self.on_change()
