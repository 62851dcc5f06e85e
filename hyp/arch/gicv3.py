"""The GICv3 interrupt controller (Arm IHI 0069): distributor, redistributors, affinity routing.

The model is a GIC with a single security state (GICD_CTLR.DS reads 1), as
QEMU's virt board gives a kernel that runs without EL3 firmware of its own: two
interrupt groups (group 1 is IRQ, group 0 would be FIQ), affinity routing
always on (no legacy mode, so ARE is RAO/WI and SGIs/PPIs are configured in
each CPU's redistributor), 32 priority levels, no LPIs or ITS.  The CPU
interface is system registers (``gicv3_cpuif``): unicorn's A72 has none, so
``install`` puts them on each CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .gic import AccessFn, GicConfigError, GicCore, merge, part

if TYPE_CHECKING:
    from ..platform.devices import Window
    from .cpu import Cpu

FRAME = 0x20000  # one redistributor: RD_base (64 KB) then SGI_base (64 KB)
SGI_BASE = 0x10000
GICD_SIZE = 0x10000
AFFINITY = 0xFF_00FF_FFFF  # Aff3 [39:32], Aff2..Aff0 [23:0], in MPIDR and GICD_IROUTER alike
IROUTER_IRM = 1 << 31
IROUTER_MASK = AFFINITY | IROUTER_IRM
CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, CTLR_ARE, CTLR_DS = 1 << 0, 1 << 1, 1 << 4, 1 << 6
WAKER_PROCESSOR_SLEEP, WAKER_CHILDREN_ASLEEP = 1 << 1, 1 << 2
TYPER_LAST = 1 << 4
PIDR2 = 0x3B  # ArchRev 3
IIDR = 0x0300043B  # Arm, architecture version 3

ReadFn = Callable[[int, int, int], int]
WriteFn = Callable[[int, int, int, int], None]


class GicV3(GicCore):
    """Distributor and one redistributor per CPU; ``mpidrs[i]`` is CPU ``i``'s affinity."""

    name = "gicv3"

    def __init__(self, ncpus: int, mpidrs: list[int], nirqs: int = 288) -> None:
        super().__init__(ncpus, nirqs)
        if len(mpidrs) != ncpus:
            raise GicConfigError(f"{ncpus} CPUs but {len(mpidrs)} MPIDRs")
        self.mpidrs = [m & AFFINITY for m in mpidrs]
        self.by_affinity = {m: i for i, m in enumerate(self.mpidrs)}
        if len(self.by_affinity) != ncpus:
            raise GicConfigError("two CPUs share an affinity (MPIDR)")
        self.routes = [0] * len(self.shared)  # GICD_IROUTER<n>, reset to affinity 0.0.0.0
        self.asleep = [True] * ncpus  # GICR_WAKER.ProcessorSleep (ChildrenAsleep follows at once)
        self.last: set[int] = set()  # CPUs whose redistributor is the last of its region (GICR_TYPER.Last)
        for n in range(len(self.shared)):
            self._route(n)

    # Routing

    def _route(self, n: int) -> None:
        """SPI ``n + 32`` goes to the CPU its IROUTER names, or to any CPU (1 of N) with IRM set."""
        route = self.routes[n]
        irq = self.shared[n]
        if route & IROUTER_IRM:
            irq.targets = (1 << self.ncpus) - 1
        else:
            cpu = self.by_affinity.get(route & AFFINITY)
            irq.targets = 0 if cpu is None else 1 << cpu
        self.update(irq)

    def forwarding(self, cpu: int) -> bool:
        return not self.asleep[cpu]

    def sgi(self, source: int, value: int, group: int) -> None:
        """ICC_SGI1R_EL1 / ICC_SGI0R_EL1: INTID [27:24], target list or IRM (everyone but me)."""
        intid = (value >> 24) & 0xF
        if value >> 40 & 1:
            targets = [c for c in range(self.ncpus) if c != source]
        else:
            cluster = (value >> 48 & 0xFF) << 32 | (value >> 32 & 0xFF) << 16 | (value >> 16 & 0xFF) << 8
            base = (value >> 44 & 0xF) * 16  # RS: which 16 Aff0 values the list covers
            targets = []
            for bit in range(16):
                if value >> bit & 1:
                    cpu = self.by_affinity.get(cluster | (base + bit))
                    if cpu is not None:
                        targets.append(cpu)
        for cpu in targets:
            irq = self.banked[cpu][intid]
            if irq.group == group:  # forwarded only to a PE that configured it in that group
                irq.latch = True
                self.update(irq)
        self.on_change()

    # Windows

    def windows(self, regions: list[tuple[int, int]]) -> list[Window]:
        """GICD at the first ``reg`` entry; redistributor frames filled from the next ones, CPU by CPU."""
        from ..platform.devices import Window

        if len(regions) < 2:
            raise GicConfigError("a GICv3 needs distributor and redistributor regions")
        dbase, dsize = regions[0]
        out = [Window(dbase, max(dsize, GICD_SIZE), self, self.dist_read, self.dist_write)]
        first = 0
        self.last.clear()
        for base, size in regions[1:]:
            count = min(size // FRAME, self.ncpus - first)
            if count <= 0:
                continue
            self.last.add(first + count - 1)
            out.append(Window(base, size, self, *self._redistributors(first, count)))
            first += count
            if first == self.ncpus:
                break
        if first < self.ncpus:
            raise GicConfigError(
                f"the redistributor regions hold {first} frames of 128 KB; there are {self.ncpus} CPUs"
            )
        return out

    def _redistributors(self, first: int, count: int) -> tuple[ReadFn, WriteFn]:
        """Accessors for a region holding the frames of CPUs ``first``..``first + count - 1``; RAZ/WI after them."""

        def read(cpu: int, offset: int, size: int) -> int:
            frame, off = divmod(offset, FRAME)
            if frame >= count:
                return 0
            return self.redist_read(first + frame, off, size)

        def write(cpu: int, offset: int, size: int, value: int) -> None:
            frame, off = divmod(offset, FRAME)
            if frame < count:
                self.redist_write(first + frame, off, size, value)

        return read, write

    # Distributor (GICD_*)

    def _at_spi(self) -> AccessFn:
        """The distributor's interrupts: SPIs only (INTIDs 0-31 are RAZ/WI there under affinity routing)."""
        shared, nirqs = self.shared, self.nirqs
        return lambda intid: shared[intid - 32] if 32 <= intid < nirqs else None

    def dist_read(self, cpu: int, offset: int, size: int) -> int:
        if offset == 0x0000:
            g = self.dist_groups
            return CTLR_DS | CTLR_ARE | (CTLR_ENABLE_GRP1 if g[1] else 0) | (CTLR_ENABLE_GRP0 if g[0] else 0)
        if offset == 0x0004:  # TYPER: ITLinesNumber, CPUNumber, IDbits = 16 bits, A3V
            return self.it_lines | (min(self.ncpus - 1, 7) << 5) | (15 << 19) | (1 << 24)
        if offset == 0x0008:
            return IIDR
        bank = self.read_bank(self._at_spi(), offset, size)
        if bank is not None:
            return bank
        if 0x6000 <= offset < 0x8000:
            n = (offset - 0x6000) // 8 - 32
            return part(self.routes[n], offset & 7, size) if 0 <= n < len(self.routes) else 0
        if offset == 0xFFE8:
            return PIDR2
        return 0  # STATUSR, TYPER2, ITARGETSR, IGRPMODR, NSACR (DS = 1), SGIR (ARE): RAZ

    def dist_write(self, cpu: int, offset: int, size: int, value: int) -> None:
        if offset == 0x0000:
            self.dist_groups[0] = bool(value & CTLR_ENABLE_GRP0)
            self.dist_groups[1] = bool(value & CTLR_ENABLE_GRP1)
            self.invalidate()
        elif self.write_bank(cpu, self._at_spi(), offset, size, value):
            pass
        elif 0x6000 <= offset < 0x8000:
            n = (offset - 0x6000) // 8 - 32
            if 0 <= n < len(self.routes):
                self.routes[n] = merge(self.routes[n], offset & 7, size, value) & IROUTER_MASK
                self._route(n)
        self.on_change()

    # Redistributors (GICR_*): ``rcpu`` is the redistributor's CPU, whoever accesses it

    def redist_read(self, rcpu: int, offset: int, size: int) -> int:
        if offset >= SGI_BASE:
            bank = self.read_bank(self._at_private(rcpu), offset - SGI_BASE, size)
            return bank if bank is not None else 0  # IGRPMODR0, NSACR: RAZ with DS = 1
        if offset == 0x0004:
            return IIDR
        if 0x0008 <= offset < 0x0010:  # TYPER: affinity [63:32], Processor_Number [23:8], Last
            mpidr = self.mpidrs[rcpu]
            affinity = (mpidr >> 32 & 0xFF) << 24 | (mpidr & 0xFFFFFF)  # Aff3.Aff2.Aff1.Aff0
            typer = affinity << 32 | rcpu << 8 | (TYPER_LAST if rcpu in self.last else 0)
            return part(typer, offset - 0x0008, size)
        if offset == 0x0014:
            return WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP if self.asleep[rcpu] else 0
        if offset == 0xFFE8:
            return PIDR2
        return 0  # CTLR (no LPIs, writes complete at once), STATUSR, LPI registers

    def redist_write(self, rcpu: int, offset: int, size: int, value: int) -> None:
        if offset >= SGI_BASE:
            self.write_bank(rcpu, self._at_private(rcpu), offset - SGI_BASE, size, value)
        elif offset == 0x0014:
            self.asleep[rcpu] = bool(value & WAKER_PROCESSOR_SLEEP)
        self.on_change()

    def _at_private(self, rcpu: int) -> AccessFn:
        bank = self.banked[rcpu]
        return lambda intid: bank[intid] if intid < 32 else None

    # The CPU interface

    def install(self, cpu: Cpu) -> None:
        """Give a CPU the ICC_* system registers and ID_AA64PFR0_EL1.GIC = 1."""
        from .gicv3_cpuif import install

        install(self, cpu)
