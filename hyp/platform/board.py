"""The machine: an ARM board built from its device tree.

RAM comes from /memory, CPUs from /cpus, the interrupt controller and the
devices from their ``compatible`` strings, addresses through the buses'
``ranges`` and interrupts through ``interrupt-parent``/``interrupt-map``, as on
hardware.  A device no model knows is reported once and reads as zero.
"""

from __future__ import annotations

import mmap
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from armboot.dtc.tree import DeviceTree, Node

from ..arch.cpu import Cpu
from ..arch.gic import GicConfigError
from ..arch.gicv2 import GicV2
from ..arch.gicv3 import GicV3
from ..arch.timer import Clock, GenericTimer, TimerChannel
from .devices import Window, find_model
from .devices.pl011 import Pl011
from .mmio import page_regions
from .resolve import TreeError, gic_intid, interrupts, mmio_regions, reg_entries

DEFAULT_CNTFRQ = 62_500_000
GICV2 = ("arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic", "arm,cortex-a7-gic")
GICV3 = ("arm,gic-v3",)
TIMER = ("arm,armv8-timer", "arm,armv7-timer")
PA_LIMIT = 1 << 48  # VMSAv8-64's largest physical address space without LPA (PARange 0b0101)
# Nodes that describe something without registers the CPU can reach.
PASSIVE = {"fixed-clock", "fixed-factor-clock", "simple-bus", "arm,psci", "arm,psci-0.2", "arm,psci-1.0"}


def _ram(node: str, base: int, size: int) -> RamRegion:
    """Host memory behind one /memory range: page-aligned, and no more than this machine can give."""
    if base & 0xFFF:
        raise TreeError(f"{node}: RAM at 0x{base:x} does not start on a 4 KiB page")
    page = (size + 0xFFF) & ~0xFFF
    if base + page > PA_LIMIT:
        raise TreeError(f"{node}: RAM at 0x{base:x}..0x{base + page - 1:x} lies beyond the 48-bit physical address space")
    try:
        return RamRegion(base, page, mmap.mmap(-1, page), node)
    except (OSError, OverflowError, ValueError) as e:
        raise TreeError(f"{node}: cannot give the machine {page:#x} bytes of RAM: {getattr(e, 'strerror', None) or e}") from None


@dataclass
class RamRegion:
    base: int
    size: int
    buffer: mmap.mmap
    node: str = "/memory"

    def contains(self, address: int, length: int = 1) -> bool:
        return self.base <= address and address + length <= self.base + self.size


@dataclass
class CpuSpec:
    """A /cpus/cpu@N node: MPIDR and how it is started."""

    node: Node
    mpidr: int
    enable_method: str
    release_addr: int | None = None


@dataclass
class Notes:
    """Things the machine met that a user should hear about once."""

    unknown_devices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class ConsoleInput(Protocol):
    """Bytes typed at the console: ``poll`` never blocks; ``wait`` blocks until there are some (False at EOF)."""

    def poll(self) -> bytes: ...

    def wait(self) -> bool: ...


class Machine:
    """RAM, devices, interrupt controller, timers and CPUs of one board."""

    def __init__(self, tree: DeviceTree, ncpus: int | None = None, realtime: bool = False, strict: bool = False) -> None:
        self.tree = tree
        self.strict = strict
        self.notes = Notes()
        self.console = bytearray()
        self.console_writer: Callable[[bytes], None] | None = None
        self.input: ConsoleInput | None = None  # typed input for the console UART (``armboot boot`` reads stdin)
        self.uarts: list[Pl011] = []
        self.power_state = "on"  # "on" | "off" | "reset" | "fault"
        self.power_reason = ""
        self.ram = self._memory()
        self.cpu_specs = self._cpu_specs(ncpus)
        if not self.cpu_specs:
            raise TreeError("the tree has no /cpus/cpu node")
        self.clock = Clock(self._cntfrq(), realtime)
        self.gic = self._interrupt_controller()
        self.timer_intids = self._timer_intids()
        self.windows: list[Window] = []
        self.window_nodes: dict[int, str] = {}  # id(window) -> the node it came from, for messages
        self._devices()
        self._check_layout()
        self.mmio_regions = page_regions(self.windows)
        self.cpus: list[Cpu] = []
        self.timers: list[GenericTimer] = []

    # Building from the tree

    def _memory(self) -> list[RamRegion]:
        regions = []
        for node in self.tree.root.nodes:
            dt = node.get("device_type")
            if dt is not None and dt.string() == "memory" and self.enabled(node):
                for base, size in reg_entries(node):
                    if size:
                        regions.append(_ram(node.path, base, size))
        if not regions:
            raise TreeError("the tree has no /memory node (device_type = \"memory\")")
        return sorted(regions, key=lambda r: r.base)

    def _check_layout(self) -> None:
        """RAM and device windows must fit the physical address space and not overlap, as on a real board."""
        spans = [(r.base, r.base + r.size, f"{r.node} (RAM)") for r in self.ram]
        spans += [(w.base, w.base + w.size, self.window_nodes.get(id(w), "a device")) for w in self.windows]
        spans.sort()
        reach = (0, 0, "")  # the span reaching furthest so far
        for base, end, what in spans:
            if base < reach[1] and "(RAM)" in what + reach[2]:  # devices may share a page; nothing shares RAM
                raise TreeError(f"{what} at 0x{base:x} overlaps {reach[2]} (0x{reach[0]:x}..0x{reach[1] - 1:x})")
            if end > reach[1]:
                reach = (base, end, what)
        for base, end, what in spans:
            if end > PA_LIMIT:
                raise TreeError(f"{what} at 0x{base:x}..0x{end - 1:x} lies beyond the 48-bit physical address space")

    def _cpu_specs(self, limit: int | None) -> list[CpuSpec]:
        cpus = self.tree.find("/cpus")
        if cpus is None:
            return []
        specs = []
        for node in cpus.nodes:
            dt = node.get("device_type")
            if dt is None or dt.string() != "cpu":
                continue
            status = node.get("status")
            if status is not None and status.string() not in ("okay", "ok"):
                continue
            regs = node.get("reg")
            mpidr = 0
            for word in regs.cells() if regs is not None else []:
                mpidr = (mpidr << 32) | word
            method = node.get("enable-method")
            release = node.get("cpu-release-addr")
            rel = None
            if release is not None:
                rel = int.from_bytes(release.value, "big")
            specs.append(CpuSpec(node, mpidr & 0xFF00FFFFFF, method.string() if method else "", rel))
        return specs[:limit] if limit else specs

    def _cntfrq(self) -> int:
        for node in self.tree.walk():
            compat = node.get("compatible")
            if compat is not None and any(c in TIMER for c in compat.strings()):
                freq = node.get("clock-frequency")
                if freq is not None and len(freq.value) == 4:
                    return freq.u32()
        return DEFAULT_CNTFRQ

    def compatible_nodes(self, names: tuple[str, ...]) -> list[Node]:
        out = []
        for node in self.tree.walk():
            compat = node.get("compatible")
            if compat is not None and any(c in names for c in compat.strings()) and self.enabled(node):
                out.append(node)
        return out

    @staticmethod
    def enabled(node: Node) -> bool:
        status = node.get("status")
        return status is None or status.string() in ("okay", "ok")

    def _interrupt_controller(self) -> GicV2 | GicV3:
        v2 = self.compatible_nodes(GICV2)
        v3 = self.compatible_nodes(GICV3)
        if not v2 and not v3:
            raise TreeError("the tree has no interrupt controller armboot models (GICv2 or GICv3)")
        self.gic_node = (v2 or v3)[0]
        try:
            if v2:
                gic: GicV2 | GicV3 = GicV2(len(self.cpu_specs))
            else:
                gic = GicV3(len(self.cpu_specs), [s.mpidr for s in self.cpu_specs])
        except GicConfigError as e:
            raise TreeError(f"{self.gic_node.path}: {e}") from None
        gic.on_change = self._gic_changed
        return gic

    def _timer_intids(self) -> dict[str, int]:
        """The generic timer's PPIs from the tree: secure, non-secure physical, virtual, hypervisor."""
        defaults = {"sec": 29, "phys": 30, "virt": 27, "hyp": 26}
        nodes = self.compatible_nodes(TIMER)
        if not nodes:
            return defaults
        irqs = interrupts(self.tree, nodes[0])
        out = dict(defaults)
        for key, irq in zip(("sec", "phys", "virt", "hyp"), irqs, strict=False):
            out[key] = gic_intid(irq.specifier)
        return out

    def _devices(self) -> None:
        try:
            self._add_windows(self.gic_node, self.gic.windows(mmio_regions(self.gic_node)))
        except GicConfigError as e:
            raise TreeError(f"{self.gic_node.path}: {e}") from None
        for node in self.tree.walk():
            if node is self.gic_node or not self.enabled(node) or node.get("reg") is None:
                continue
            compat = node.get("compatible")
            if compat is None:
                continue
            names = compat.strings()
            factory = find_model(names)
            if factory is not None:
                self._add_windows(node, factory(node, self))
                continue
            if any(n in PASSIVE or n in TIMER for n in names) or node.get("device_type") is not None:
                continue
            try:
                regions = mmio_regions(node)
            except TreeError:
                continue
            if regions and not any(r.contains(b) for r in self.ram for b, _ in regions):
                self._unknown(node, names, regions)

    def _unknown(self, node: Node, names: list[str], regions: list[tuple[int, int]]) -> None:
        label = f"{node.path} ({next((n for n in names if n.isprintable() and n), 'no compatible string')})"
        self.notes.unknown_devices.append(label)
        if self.strict:
            raise TreeError(f"no model for {label} (--strict)")

        class Unknown:
            name = node.path

            def read(self, cpu: int, offset: int, size: int) -> int:
                return 0

            def write(self, cpu: int, offset: int, size: int, value: int) -> None:
                pass

        dev = Unknown()
        self._add_windows(node, [Window(base, size, dev, dev.read, dev.write) for base, size in regions])

    def _add_windows(self, node: Node, windows: list[Window]) -> None:
        self.windows.extend(windows)
        self.window_nodes.update((id(w), node.path) for w in windows)

    # Wiring devices

    def console_uart(self) -> Pl011 | None:
        """The UART /chosen/stdout-path names (else the first): where typed input goes."""
        from .resolve import stdout_node

        node = stdout_node(self.tree)
        for uart in self.uarts:
            if node is not None and uart.name == node.path:
                return uart
        return self.uarts[0] if self.uarts else None

    def poll_input(self) -> None:
        """Move what was typed since the last call into the console UART's receive FIFO."""
        if self.input is None:
            return
        data = self.input.poll()
        uart = self.console_uart() if data else None
        if uart is not None:
            uart.feed(data)

    def wait_input(self) -> bool:
        """Every CPU waits and no timer will wake one: block until input comes (False: there will be none)."""
        if self.input is None or not self.input.wait():
            return False
        self.poll_input()
        return True

    def console_sink(self, node: Node) -> Callable[[bytes], None]:
        def out(data: bytes) -> None:
            self.console += data
            if self.console_writer is not None:
                self.console_writer(data)

        return out

    def irq_line(self, node: Node, index: int) -> Callable[[bool], None]:
        """A device's interrupt output ``index``, wired to the GIC as the tree says."""
        try:
            irqs = interrupts(self.tree, node)
        except TreeError as e:
            self.notes.warnings.append(str(e))
            irqs = []
        if index >= len(irqs) or irqs[index].controller is not self.gic_node:
            return lambda level: None
        intid = gic_intid(irqs[index].specifier)
        return lambda level: self.gic.set_level(intid, level)

    def _gic_changed(self) -> None:
        pass

    # CPUs

    def make_cpu(self, index: int) -> Cpu:
        spec = self.cpu_specs[index]
        cpu = Cpu(index, spec.mpidr)
        for region in self.ram:
            cpu.map_ram(region.base, region.size, region.buffer)
        for region in self.mmio_regions:
            cpu.map_mmio(region.base, region.size, region.reader(index), region.writer(index))
        install = getattr(self.gic, "install", None)
        if install is not None:  # a GICv3 brings its CPU interface as system registers
            install(cpu)
        timer = self._timer_for(cpu)
        self.timers.append(timer)
        self.cpus.append(cpu)
        return cpu

    def _timer_for(self, cpu: Cpu) -> GenericTimer:
        from ..arch.timer_regs import install_timer

        ids = self.timer_intids
        timer = GenericTimer(
            TimerChannel("phys", ids["phys"]),
            TimerChannel("virt", ids["virt"], offset_fn=lambda: cpu.el2.counter_offset() if cpu.el2 else 0),
            TimerChannel("hyp", ids["hyp"]),
        )
        install_timer(cpu, timer, self.clock, lambda: self.update_timer(cpu.index))
        return timer

    def update_timer(self, index: int) -> None:
        timer = self.timers[index]
        for ch in timer.channels:
            self.gic.set_level(ch.intid, ch.asserted(self.clock), index)

    def update_timers(self) -> None:
        for i in range(len(self.timers)):
            self.update_timer(i)

    def next_deadline(self) -> int | None:
        deadlines = [d for i, t in enumerate(self.timers) if self.cpus[i].on and (d := t.next_deadline(self.clock)) is not None]
        return min(deadlines) if deadlines else None

    # Memory access for the loader

    def region_at(self, address: int, length: int = 1) -> RamRegion | None:
        for r in self.ram:
            if r.contains(address, length):
                return r
        return None

    def write(self, address: int, data: bytes) -> None:
        region = self.region_at(address, len(data))
        if region is None:
            raise TreeError(f"0x{address:x}..0x{address + len(data):x} is not RAM")
        off = address - region.base
        region.buffer[off : off + len(data)] = data

    def read(self, address: int, length: int) -> bytes:
        region = self.region_at(address, length)
        if region is None:
            raise TreeError(f"0x{address:x}..0x{address + length:x} is not RAM")
        off = address - region.base
        return bytes(region.buffer[off : off + length])

    # Power

    def power_off(self, cpu: int, reason: str) -> None:
        self.power_state, self.power_reason = "off", reason
        self._halt(cpu)

    def reset(self, cpu: int, reason: str) -> None:
        self.power_state, self.power_reason = "reset", reason
        self._halt(cpu)

    def _halt(self, cpu: int) -> None:
        """Stop the CPU that asked, at once (it is inside unicorn when a device or PSCI acts)."""
        if 0 <= cpu < len(self.cpus):
            self.cpus[cpu].request_exit()


def write_console(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
