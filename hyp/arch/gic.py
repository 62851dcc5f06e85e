"""What every GIC model shares (Arm IHI 0048, IHI 0069): interrupt state, arbitration, acknowledge, EOI.

GICv2, GICv3 and a VM's virtual GIC differ in register layout and routing; the
life of an interrupt (inactive, pending, active, active and pending), the
priority rules (mask, binary point, running priority from the active-priority
bits) and the acknowledge / priority drop / deactivate steps are the same, so
they live here once, with the "one bit, one byte, two bits per interrupt"
register families (IGROUPR ... ICFGR) that every distributor frame repeats.

Arbitration is incremental because the scheduler asks ``irq_pending`` for
every CPU at every slice: each CPU keeps the set of interrupts that are
enabled, pending, inactive and routed to it, and the highest-priority one is
cached until a change touches that CPU.
"""

from __future__ import annotations

from collections.abc import Callable

SPURIOUS = 1023
SPECIAL_FIRST = 1020  # INTIDs 1020-1023 are special: never acknowledged, EOIs of them are ignored
PRIORITY_BITS = 5  # 32 priority levels, as GIC-400, GIC-600 and QEMU
PRIORITY_MASK = (0xFF << (8 - PRIORITY_BITS)) & 0xFF
MIN_BPR0 = 7 - PRIORITY_BITS  # group 0 binary point: group priority [7:BPR0+1]
MIN_BPR1 = MIN_BPR0 + 1  # group 1 binary point: group priority [7:BPR1]
IDLE_PRIORITY = 0xFF  # running priority with nothing active
APR_SHIFT = 8 - PRIORITY_BITS  # active-priority bit n stands for group priority n << APR_SHIFT

AccessFn = Callable[[int], "Irq | None"]  # INTID -> the interrupt a register frame shows there (None: RAZ/WI)


class GicConfigError(ValueError):
    """The GIC cannot be built as described (too many CPUs, missing redistributor frames...)."""


class Irq:
    """One interrupt as seen by one CPU (SGIs and PPIs are banked per CPU, SPIs are shared)."""

    __slots__ = (
        "active",
        "edge",
        "enabled",
        "group",
        "hw",
        "intid",
        "latch",
        "level",
        "owner",
        "priority",
        "sources",
        "targets",
    )

    def __init__(self, intid: int, owner: int) -> None:
        self.intid = intid
        self.owner = owner  # CPU index of a banked interrupt, -1 for an SPI
        self.enabled = False
        self.latch = False  # pending by an edge, a write to ISPENDR, or an SGI
        self.level = False  # the input line, which alone keeps a level-sensitive interrupt pending
        self.active = False
        self.priority = 0
        self.edge = intid < 16  # SGIs are edge-triggered by definition
        self.group = 0
        self.targets = 1 << owner if owner >= 0 else 0  # CPU mask an SPI may be delivered to
        self.sources = 0  # GICv2 SGIs: mask of requesting CPUs (each source pends separately)
        self.hw: int | None = None  # virtual GIC: the physical INTID this one stands for

    @property
    def pending(self) -> bool:
        return self.latch or (self.level and not self.edge)

    def __repr__(self) -> str:
        state = "P" * self.pending + "A" * self.active or "-"
        return f"Irq({self.intid}, cpu={self.owner}, prio=0x{self.priority:02x}, g{self.group}, {state})"


class CpuIface:
    """A CPU interface's state: group enables, mask, binary points, EOI mode, active priorities."""

    __slots__ = ("apr", "bpr0", "bpr1", "cbpr", "eoimode", "grpen", "pmr")

    def __init__(self) -> None:
        self.grpen = [False, False]
        self.pmr = 0  # resets to "mask everything"
        self.bpr0 = MIN_BPR0
        self.bpr1 = MIN_BPR1
        self.cbpr = False  # group 1 uses BPR0 (+1, saturated) when set
        self.eoimode = False  # EOI only drops priority; deactivation by a write to DIR
        self.apr = [0, 0]  # ICC_AP0R0/AP1R0: one bit per active group priority

    def group_priority(self, priority: int, group: int) -> int:
        if group == 0:
            point = self.bpr0 + 1
        else:
            point = min(self.bpr0 + 1, 7) if self.cbpr else self.bpr1
        return priority & (0xFF << point) & 0xFF

    @property
    def running_priority(self) -> int:
        bits = self.apr[0] | self.apr[1]
        if not bits:
            return IDLE_PRIORITY
        return ((bits & -bits).bit_length() - 1) << APR_SHIFT

    def read_bpr1(self) -> int:
        return min(self.bpr0 + 1, 7) if self.cbpr else self.bpr1


def _nothing() -> None:
    pass


class GicCore:
    """Interrupt state for ``ncpus`` CPUs and INTIDs 0..``nirqs``-1, and the CPU-interface logic."""

    name = "gic"
    sgi_sources = False  # GICv2: SGIs pend per source CPU, GICC_IAR reports the source in [12:10]
    sgi_enable_fixed = False  # GIC-400: SGIs are always enabled (ISENABLER0[15:0] RAO/WI)
    groups_visible = True  # GICv2's non-secure view reads IGROUPR as zero and cannot change it

    def __init__(self, ncpus: int, nirqs: int) -> None:
        if ncpus < 1:
            raise GicConfigError("a GIC needs at least one CPU")
        if nirqs % 32 or not 32 <= nirqs <= 1024:
            raise GicConfigError(f"{nirqs} interrupts: the count is a multiple of 32, at most 1024")
        self.ncpus = ncpus
        self.it_lines = nirqs // 32 - 1  # GICD_TYPER.ITLinesNumber
        self.nirqs = min(nirqs, SPECIAL_FIRST)
        self.banked = [[Irq(i, cpu) for i in range(32)] for cpu in range(ncpus)]
        self.shared = [Irq(i, -1) for i in range(32, self.nirqs)]
        self.ifaces = [CpuIface() for _ in range(ncpus)]
        self.dist_groups = [False, False]  # distributor group enables
        self.acknowledged = 0
        self.on_change: Callable[[], None] = _nothing  # set by the machine: CPU lines may have changed
        self._ready: list[set[Irq]] = [set() for _ in range(ncpus)]
        self._hppi: list[Irq | None] = [None] * ncpus
        self._stale = [False] * ncpus

    def irq(self, intid: int, cpu: int) -> Irq:
        return self.banked[cpu][intid] if intid < 32 else self.shared[intid - 32]

    def lookup(self, intid: int, cpu: int) -> Irq | None:
        return self.irq(intid, cpu) if 0 <= intid < self.nirqs else None

    # Keeping the ready sets current

    def update(self, irq: Irq) -> None:
        """Re-file one interrupt after any change of its state, priority, group or routing."""
        ready = irq.enabled and not irq.active and (irq.latch or (irq.level and not irq.edge))
        cpus = (irq.owner,) if irq.owner >= 0 else range(self.ncpus)
        for cpu in cpus:
            members = self._ready[cpu]
            if ready and irq.targets >> cpu & 1:
                members.add(irq)
                self._stale[cpu] = True
            elif irq in members:
                members.discard(irq)
                self._stale[cpu] = True

    def invalidate(self, cpu: int | None = None) -> None:
        """Group enables changed: the cached choice of one CPU (or all) is out of date."""
        for c in range(self.ncpus) if cpu is None else (cpu,):
            self._stale[c] = True

    def settle(self, cpu: int, irq: Irq) -> None:
        """Software moved an interrupt towards inactive (deactivate, clear-pending, clear-active)."""

    # Inputs

    def set_level(self, intid: int, level: bool, cpu: int = 0) -> None:
        """Drive an interrupt line (PPIs per CPU, SPIs globally); a rising edge latches an edge interrupt."""
        irq = self.lookup(intid, cpu)
        if irq is None or irq.level == level:
            return
        if level and irq.edge:
            irq.latch = True
        irq.level = level
        self.update(irq)

    # What a CPU interface sees

    def hppi(self, cpu: int) -> Irq | None:
        """The highest-priority pending interrupt for a CPU among enabled groups (lowest INTID breaks ties)."""
        if self._stale[cpu]:
            dist, local = self.dist_groups, self.ifaces[cpu].grpen
            best: Irq | None = None
            for irq in self._ready[cpu]:
                g = irq.group
                if (
                    dist[g]
                    and local[g]
                    and (
                        best is None
                        or irq.priority < best.priority
                        or (irq.priority == best.priority and irq.intid < best.intid)
                    )
                ):
                    best = irq
            self._hppi[cpu] = best
            self._stale[cpu] = False
        return self._hppi[cpu]

    def forwarding(self, cpu: int) -> bool:
        """Whether interrupts reach this CPU at all (a GICv3 redistributor asleep does not forward)."""
        return True

    def can_signal(self, cpu: int, irq: Irq) -> bool:
        """Above the priority mask and, by group priority, above the running priority: preemption."""
        iface = self.ifaces[cpu]
        return (
            irq.priority < iface.pmr
            and iface.group_priority(irq.priority, irq.group) < iface.running_priority
        )

    def irq_pending(self, cpu: int) -> bool:
        """Whether the CPU's IRQ line is asserted (group 1; group 0 would be FIQ)."""
        irq = self.hppi(cpu)
        return irq is not None and irq.group == 1 and self.can_signal(cpu, irq) and self.forwarding(cpu)

    def acknowledge(self, cpu: int, group: int = 1) -> int:
        """Read of IAR: the highest-priority pending interrupt becomes active, its priority the running one."""
        irq = self.hppi(cpu)
        if irq is None or irq.group != group or not self.can_signal(cpu, irq) or not self.forwarding(cpu):
            return SPURIOUS
        value = irq.intid
        if self.sgi_sources and irq.intid < 16:
            source = irq.sources & -irq.sources
            irq.sources &= ~source
            irq.latch = irq.sources != 0
            value |= (source.bit_length() - 1) << 10
        else:
            irq.latch = False
        irq.active = True
        iface = self.ifaces[cpu]
        iface.apr[group] |= 1 << (iface.group_priority(irq.priority, group) >> APR_SHIFT)
        self.acknowledged += 1
        self.update(irq)
        return value

    def priority_drop(self, cpu: int, group: int) -> bool:
        """Clear the highest active priority, if it belongs to ``group`` (else the EOI is ignored, as QEMU)."""
        apr = self.ifaces[cpu].apr
        bits = apr[0] | apr[1]
        lowest = bits & -bits
        if not apr[group] & lowest:
            return False
        apr[group] &= ~lowest
        return True

    def complete(self, cpu: int, group: int, intid: int) -> None:
        """Write of EOIR: priority drop, and deactivation too unless EOImode splits them."""
        if intid >= SPECIAL_FIRST or not self.priority_drop(cpu, group):
            return
        if not self.ifaces[cpu].eoimode:
            self.deactivate(cpu, intid)

    def deactivate(self, cpu: int, intid: int) -> None:
        irq = self.lookup(intid, cpu)
        if irq is None or not irq.active:
            return
        irq.active = False
        self.update(irq)
        self.settle(cpu, irq)

    # Register families shared by GICD (v2, v3) and GICR_SGI_base: offsets relative to the frame

    def read_bank(self, at: AccessFn, offset: int, size: int) -> int | None:
        """IGROUPR..ICACTIVER (a bit each), IPRIORITYR (a byte each), ICFGR (two bits each); None: not one."""
        if 0x080 <= offset < 0x400:
            family = offset & ~0x7F
            if family == 0x080 and not self.groups_visible:
                return 0
            get = _BIT_GETTERS[family]
            first = (offset - family) * 8
            value = 0
            for k in range(size * 8):
                irq = at(first + k)
                if irq is not None and get(irq):
                    value |= 1 << k
            return value
        if 0x400 <= offset < 0x800:
            out = bytearray()
            for k in range(size):
                irq = at(offset - 0x400 + k)
                out.append(irq.priority if irq is not None else 0)
            return int.from_bytes(out, "little")
        if 0xC00 <= offset < 0xD00:
            first = (offset - 0xC00) * 4
            value = 0
            for k in range(size * 4):
                irq = at(first + k)
                if irq is not None and irq.edge:
                    value |= 2 << (2 * k)
            return value
        return None

    def write_bank(self, cpu: int, at: AccessFn, offset: int, size: int, value: int) -> bool:
        """The write side of ``read_bank``; False when the offset is not in one of those families."""
        if 0x080 <= offset < 0x400:
            family = offset & ~0x7F
            first = (offset - family) * 8
            if family == 0x080:
                if self.groups_visible:
                    for k in range(size * 8):
                        irq = at(first + k)
                        if irq is not None and irq.group != (value >> k & 1):
                            irq.group = value >> k & 1
                            self.update(irq)
                return True
            while value:
                low = value & -value
                value ^= low
                irq = at(first + low.bit_length() - 1)
                if irq is not None:
                    self._write_bit(cpu, irq, family)
            return True
        if 0x400 <= offset < 0x800:
            for k, byte in enumerate(value.to_bytes(size, "little")):
                irq = at(offset - 0x400 + k)
                if irq is not None:
                    irq.priority = byte & PRIORITY_MASK
                    self.update(irq)
            return True
        if 0xC00 <= offset < 0xD00:
            first = (offset - 0xC00) * 4
            for k in range(size * 4):
                irq = at(first + k)
                if irq is not None and irq.intid >= 16:  # SGIs stay edge-triggered
                    irq.edge = bool(value >> (2 * k + 1) & 1)
                    self.update(irq)
            return True
        return False

    def _write_bit(self, cpu: int, irq: Irq, family: int) -> None:
        sgi = irq.intid < 16
        if family in (0x100, 0x180):
            if sgi and self.sgi_enable_fixed:
                return
            irq.enabled = family == 0x100
        elif family in (0x200, 0x280):
            if sgi and self.sgi_sources:  # GICv2: SGIs pend per source, through S/CPENDSGIR only
                return
            irq.latch = family == 0x200
        else:
            irq.active = family == 0x300
        self.update(irq)
        if family in (0x280, 0x380):
            self.settle(cpu, irq)


_BIT_GETTERS: dict[int, Callable[[Irq], bool]] = {
    0x080: lambda i: bool(i.group),
    0x100: lambda i: i.enabled,
    0x180: lambda i: i.enabled,
    0x200: lambda i: i.pending,
    0x280: lambda i: i.pending,
    0x300: lambda i: i.active,
    0x380: lambda i: i.active,
}


def part(value: int, offset: int, size: int) -> int:
    """The ``size`` bytes at byte ``offset`` of a wider register (32-bit halves of 64-bit GIC registers)."""
    return (value >> (8 * offset)) & ((1 << (8 * size)) - 1)


def merge(old: int, offset: int, size: int, value: int) -> int:
    """``old`` with ``size`` bytes at byte ``offset`` replaced by ``value``."""
    mask = ((1 << (8 * size)) - 1) << (8 * offset)
    return (old & ~mask) | ((value << (8 * offset)) & mask)
