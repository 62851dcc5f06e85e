"""The GICv2 interrupt controller (Arm IHI 0048): distributor and memory-mapped CPU interfaces.

One security state (what a non-secure OS sees), one group.  Interrupt state
is kept per interrupt (and per CPU for SGIs and PPIs): enable, pending latch,
line level, active, priority, targets, edge/level.  CPUs ask ``irq_pending``
at slice boundaries; reading GICC_IAR acknowledges, writing GICC_EOIR
completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SPURIOUS = 1023


@dataclass
class Irq:
    enabled: bool = False
    latch: bool = False  # software or edge pending
    level: bool = False  # the input line (level-sensitive interrupts)
    active: bool = False
    priority: int = 0
    edge: bool = False
    targets: int = 0  # SPIs: CPU mask
    sources: int = 0  # SGIs: mask of requesting CPUs

    @property
    def pending(self) -> bool:
        return self.latch or (self.level and not self.edge)


@dataclass
class CpuIface:
    enabled: bool = False
    pmr: int = 0
    bpr: int = 2
    running: list[tuple[int, int]] = field(default_factory=list)  # (priority, intid) of active interrupts

    @property
    def running_priority(self) -> int:
        return self.running[-1][0] if self.running else 0x100


class GicV2:
    """Distributor + CPU interfaces for ``ncpus`` CPUs and ``nirqs`` interrupt ids (multiple of 32)."""

    def __init__(self, ncpus: int, nirqs: int = 288) -> None:
        self.ncpus = ncpus
        self.nirqs = nirqs
        self.enabled = False
        self.banked = [[Irq(edge=i < 16, enabled=i < 16) for i in range(32)] for _ in range(ncpus)]
        self.shared = [Irq() for _ in range(nirqs - 32)]
        self.cpus = [CpuIface() for _ in range(ncpus)]
        self.acknowledged = 0
        self.on_change = lambda: None  # set by the machine: re-evaluate CPU interrupt lines

    def irq(self, intid: int, cpu: int) -> Irq:
        return self.banked[cpu][intid] if intid < 32 else self.shared[intid - 32]

    # Inputs

    def set_level(self, intid: int, level: bool, cpu: int = 0) -> None:
        """Drive an interrupt line (PPIs per CPU, SPIs globally)."""
        if intid >= self.nirqs:
            return
        irq = self.irq(intid, cpu)
        if irq.edge and level and not irq.level:
            irq.latch = True
        irq.level = level

    def send_sgi(self, source: int, intid: int, targets: int) -> None:
        for cpu in range(self.ncpus):
            if targets & (1 << cpu):
                irq = self.banked[cpu][intid]
                irq.latch = True
                irq.sources |= 1 << source

    # What a CPU sees

    def _best(self, cpu: int) -> tuple[int, int] | None:
        """(priority, intid) of the highest-priority pending, enabled, inactive interrupt for a CPU."""
        best: tuple[int, int] | None = None
        for intid, irq in enumerate(self.banked[cpu]):
            if irq.enabled and irq.pending and not irq.active and (best is None or irq.priority < best[0]):
                best = (irq.priority, intid)
        bit = 1 << cpu
        for n, irq in enumerate(self.shared):
            if (
                irq.enabled and irq.pending and not irq.active and irq.targets & bit
                and (best is None or irq.priority < best[0])
            ):
                best = (irq.priority, n + 32)
        return best

    def irq_pending(self, cpu: int) -> bool:
        if not self.enabled or not self.cpus[cpu].enabled:
            return False
        best = self._best(cpu)
        iface = self.cpus[cpu]
        return best is not None and best[0] < iface.pmr and best[0] < iface.running_priority

    def acknowledge(self, cpu: int) -> int:
        iface = self.cpus[cpu]
        best = self._best(cpu) if self.enabled and iface.enabled else None
        if best is None or best[0] >= iface.pmr or best[0] >= iface.running_priority:
            return SPURIOUS
        prio, intid = best
        irq = self.irq(intid, cpu)
        value = intid
        if intid < 16:
            source = (irq.sources & -irq.sources).bit_length() - 1
            irq.sources &= ~(1 << source)
            irq.latch = irq.sources != 0
            value |= source << 10
        else:
            irq.latch = False
        irq.active = True
        iface.running.append((prio, intid))
        self.acknowledged += 1
        return value

    def end_of_interrupt(self, cpu: int, value: int) -> None:
        intid = value & 0x3FF
        if intid >= self.nirqs:
            return
        iface = self.cpus[cpu]
        for i in range(len(iface.running) - 1, -1, -1):
            if iface.running[i][1] == intid:
                del iface.running[i]
                break
        self.irq(intid, cpu).active = False
        self.on_change()

    # Distributor registers (GICD_*)

    def dist_read(self, cpu: int, offset: int, size: int) -> int:
        if offset == 0x000:
            return int(self.enabled)
        if offset == 0x004:  # TYPER
            return ((self.nirqs // 32) - 1) | ((self.ncpus - 1) << 5)
        if offset == 0x008:
            return 0x0200043B  # IIDR: Arm, GIC-400 style
        if 0x080 <= offset < 0x100:
            return 0  # IGROUPR: one group in the non-secure view
        if 0x100 <= offset < 0x200:
            return self._bits(cpu, offset & 0x7F, lambda i: i.enabled)
        if 0x200 <= offset < 0x300:
            return self._bits(cpu, offset & 0x7F, lambda i: i.pending)
        if 0x300 <= offset < 0x400:
            return self._bits(cpu, offset & 0x7F, lambda i: i.active)
        if 0x400 <= offset < 0x800:
            return self._bytes(cpu, offset - 0x400, size, lambda i: i.priority)
        if 0x800 <= offset < 0xC00:
            base = offset - 0x800
            if base < 32:
                return int.from_bytes(bytes([1 << cpu] * size), "little")
            return self._bytes(cpu, base, size, lambda i: i.targets)
        if 0xC00 <= offset < 0xD00:
            first = (offset - 0xC00) * 4
            value = 0
            for k in range(16):
                intid = first + k
                if intid < self.nirqs and self.irq(intid, cpu).edge:
                    value |= 2 << (2 * k)
            return value
        if offset == 0xFE8:
            return 0x20  # PIDR2: architecture version 2
        return 0

    def dist_write(self, cpu: int, offset: int, size: int, value: int) -> None:
        if offset == 0x000:
            self.enabled = bool(value & 1)
        elif 0x100 <= offset < 0x180:
            self._set_bits(cpu, offset - 0x100, value, "enabled", True)
        elif 0x180 <= offset < 0x200:
            self._set_bits(cpu, offset - 0x180, value, "enabled", False)
        elif 0x200 <= offset < 0x280:
            self._set_bits(cpu, offset - 0x200, value, "latch", True)
        elif 0x280 <= offset < 0x300:
            self._set_bits(cpu, offset - 0x280, value, "latch", False)
        elif 0x300 <= offset < 0x380:
            self._set_bits(cpu, offset - 0x300, value, "active", True)
        elif 0x380 <= offset < 0x400:
            self._set_bits(cpu, offset - 0x380, value, "active", False)
        elif 0x400 <= offset < 0x800:
            for k, byte in enumerate(value.to_bytes(size, "little")):
                intid = offset - 0x400 + k
                if intid < self.nirqs:
                    self.irq(intid, cpu).priority = byte & 0xF8
        elif 0x800 <= offset < 0xC00:
            for k, byte in enumerate(value.to_bytes(size, "little")):
                intid = offset - 0x800 + k
                if 32 <= intid < self.nirqs:
                    self.irq(intid, cpu).targets = byte
        elif 0xC00 <= offset < 0xD00:
            first = (offset - 0xC00) * 4
            for k in range(16):
                intid = first + k
                if 16 <= intid < self.nirqs:
                    self.irq(intid, cpu).edge = bool((value >> (2 * k)) & 2)
        elif offset == 0xF00:  # SGIR
            sgi = value & 0xF
            mode = (value >> 24) & 3
            if mode == 0:
                targets = (value >> 16) & 0xFF
            elif mode == 1:
                targets = ((1 << self.ncpus) - 1) & ~(1 << cpu)
            elif mode == 2:
                targets = 1 << cpu
            else:
                return
            self.send_sgi(cpu, sgi, targets)
        self.on_change()

    def _bits(self, cpu: int, byte_off: int, get) -> int:
        first = byte_off * 8
        value = 0
        for k in range(32):
            intid = first + k
            if intid < self.nirqs and get(self.irq(intid, cpu)):
                value |= 1 << k
        return value

    def _set_bits(self, cpu: int, byte_off: int, value: int, attr: str, on: bool) -> None:
        first = byte_off * 8
        for k in range(32):
            if value & (1 << k):
                intid = first + k
                if intid < self.nirqs and not (attr == "enabled" and not on and intid < 16):
                    setattr(self.irq(intid, cpu), attr, on)

    def _bytes(self, cpu: int, first: int, size: int, get) -> int:
        out = bytearray()
        for k in range(size):
            intid = first + k
            out.append(get(self.irq(intid, cpu)) & 0xFF if intid < self.nirqs else 0)
        return int.from_bytes(out, "little")

    # CPU interface registers (GICC_*)

    def cpu_read(self, cpu: int, offset: int, size: int) -> int:
        iface = self.cpus[cpu]
        if offset == 0x00:
            return int(iface.enabled)
        if offset == 0x04:
            return iface.pmr
        if offset == 0x08:
            return iface.bpr
        if offset == 0x0C:
            value = self.acknowledge(cpu)
            self.on_change()
            return value
        if offset == 0x14:
            return iface.running_priority if iface.running else 0xFF
        if offset == 0x18:
            best = self._best(cpu)
            return best[1] if best is not None else SPURIOUS
        if offset == 0xFC:
            return 0x0202043B  # GICC_IIDR: GICv2
        return 0

    def cpu_write(self, cpu: int, offset: int, size: int, value: int) -> None:
        iface = self.cpus[cpu]
        if offset == 0x00:
            iface.enabled = bool(value & 1)
        elif offset == 0x04:
            iface.pmr = value & 0xF8
        elif offset == 0x08:
            iface.bpr = value & 7
        elif offset == 0x10:
            self.end_of_interrupt(cpu, value)
        elif offset == 0x1000:  # DIR
            intid = value & 0x3FF
            if intid < self.nirqs:
                self.irq(intid, cpu).active = False
        self.on_change()
