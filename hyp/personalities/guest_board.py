"""The board a personality gives its guests (addresses, devices, interrupts) and the guest's device tree.

kvm guests see the QEMU "virt" layout; xen guests see Xen's fixed guest layout
(public/arch-arm.h) with a /hypervisor node.  The guest tree is built with the
project's tree model, so the DTB is byte-for-byte what dtc makes of its DTS.
Where a xen guest's tree differs from the one Xen writes: /hypervisor has a
unit address (it has a reg: dtc warns without one); the vPL011 is described as
the PL011 armboot emulates ("arm,pl011" with a clock, not "arm,sbsa-uart"); PPI
flags are level-high with the vCPU mask, as QEMU writes them.

Passthrough fragment (the guest's "multiboot,device-tree" module), as Xen's
dom0less reads it (domain_handle_dtb_bootmodule), with one difference:

- ``/gic``: its phandle becomes the guest GIC's phandle, so fragment nodes can
  say ``interrupt-parent = <&gic>``; without one the GIC gets Xen's 65000;
- ``/aliases``: its properties join the guest's /aliases (a name armboot also
  generates, like serial0, is an error);
- ``/passthrough``: its child nodes go into the guest's root (Xen copies the
  ``passthrough`` bus node itself; armboot copies its contents, because the bus
  must map 1:1 anyway and a bus named "passthrough" fails dt-schema's
  simple-bus binding).  The bus may only have compatible "simple-bus", an empty
  ``ranges`` and #address-cells = #size-cells = 2 (the guest root's).
  ``xen,reg``, ``xen,path`` and ``xen,force-assign-without-iommu`` are dropped,
  as Xen drops them; mapping those host devices is the runtime's business;
- any other top-level node and the fragment root's properties are ignored (as Xen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from armboot.bootloader.dom0less import GuestSpec
from armboot.dtc.data import EMPTY, Data, Kind, Marker, cells_data
from armboot.dtc.errors import DtcError
from armboot.dtc.fdt import to_dtb
from armboot.dtc.fdtread import read_dtb
from armboot.dtc.tree import DeviceTree, Node, Property

GUEST_RAM_BASE = 0x40000000
UART_SIZE = 0x1000
TIMER_PPIS = (29, 30, 27, 26)  # secure physical, non-secure physical, virtual, hypervisor
GIC_PHANDLE = 65000  # Xen's GUEST_PHANDLE_GIC
XEN_VERSION = "4.17"
UART_CLOCK_HZ = 24_000_000
PPI_FIRST, PPI_LAST = 16, 31
LEVEL_HIGH, EDGE_RISING = 4, 1
XEN_ONLY_PROPS = ("xen,reg", "xen,path", "xen,force-assign-without-iommu")
PASSTHROUGH_BUS_PROPS = ("compatible", "ranges", "#address-cells", "#size-cells")

ROOTS = {
    "virt": ("linux,dummy-virt", ("linux,dummy-virt",)),
    "xen": (f"XENVM-{XEN_VERSION}", (f"xen,xenvm-{XEN_VERSION}", "xen,xenvm")),
}


class GuestBoardError(ValueError):
    """A guest board or passthrough fragment that cannot be built; the message says where."""


@dataclass(frozen=True)
class GuestBoard:
    """What a guest sees, in its IPA space: the runtime emulates these windows, the guest tree describes them."""

    name: str  # "virt" | "xen"
    gicd: tuple[int, int]  # (base, size)
    gicc: tuple[int, int]
    uart: tuple[int, int] | None = None  # PL011 (base, intid); UART_SIZE bytes
    virtio_console: tuple[int, int, int] | None = None  # (base, size, intid)
    hypervisor: tuple[int, int, int] | None = None  # (grant table base, size, event-channel intid)
    ram_base: int = GUEST_RAM_BASE
    timer_ppis: tuple[int, int, int, int] = TIMER_PPIS
    psci_method: str = "hvc"

    @property
    def event_intid(self) -> int | None:
        """The event-channel PPI (xen boards)."""
        return None if self.hypervisor is None else self.hypervisor[2]


def kvm_board(spec: GuestSpec) -> GuestBoard:
    """QEMU virt's layout (hw/arm/virt.c): GICv2, PL011 on SPI 1, a virtio-mmio console on SPI 16."""
    del spec  # every virt guest has the same board
    return GuestBoard(
        "virt", (0x08000000, 0x10000), (0x08010000, 0x10000), (0x09000000, 33), (0x0A000000, 0x200, 48)
    )


def _xen_layout(spec: GuestSpec, event_intid: int | None) -> GuestBoard:
    """Xen's guest layout (public/arch-arm.h); the vPL011 only when the guest asks (``vpl011``)."""
    hypervisor = None if event_intid is None else (0x38000000, 0x1000000, event_intid)
    uart = (0x22000000, 32) if spec.vpl011 else None
    return GuestBoard("xen", (0x03001000, 0x1000), (0x03002000, 0x2000), uart, None, hypervisor)


def xen_board(spec: GuestSpec, event_intid: int | None = None, fragment: bytes | None = None) -> GuestBoard:
    """Xen's guest board, its /hypervisor interrupt on ``event_intid``.

    None: the lowest PPI the guest's own tree leaves free (timer, passthrough
    devices; ``fragment`` as for ``guest_tree``), where Xen hard-wires 31.
    """
    if event_intid is None:
        event_intid = choose_event_ppi(guest_tree(spec, _xen_layout(spec, None), None, fragment))
    if not PPI_FIRST <= event_intid <= PPI_LAST or event_intid in TIMER_PPIS:
        raise GuestBoardError(f"{spec.name}: event-channel INTID {event_intid} is not a free PPI")
    return _xen_layout(spec, event_intid)


# The event-channel PPI


def _phandle(node: Node) -> int:
    for name in ("phandle", "linux,phandle"):
        prop = node.get(name)
        if prop is not None and len(prop.value) == 4:
            return prop.u32()
    return node.phandle


def _nodes(source: DeviceTree | Node | Iterable[Node]) -> list[Node]:
    if isinstance(source, DeviceTree):
        return list(source.walk())
    if isinstance(source, Node):
        return list(source.walk())
    seen: dict[int, Node] = {}
    for top in source:
        for node in top.walk():
            seen.setdefault(id(node), node)
    return list(seen.values())


def _interrupt_cells(controller: Node | None) -> int:
    return 3 if controller is None else controller.cell_property("#interrupt-cells", 3)


def _interrupt_parent(node: Node, by_phandle: dict[int, Node]) -> Node | None:
    """As Linux finds it; None when it lies outside the nodes given (then taken to be the guest's GIC)."""
    walk: Node | None = node
    for _ in range(1024):
        prop = walk.get("interrupt-parent") if walk is not None else None
        walk = by_phandle.get(prop.u32()) if prop is not None else (walk.parent if walk is not None else None)
        if walk is None or walk.get("#interrupt-cells") is not None:
            return walk
    return None


def _specifiers(node: Node, by_phandle: dict[int, Node]) -> Iterable[tuple[Node | None, tuple[int, ...]]]:
    ext = node.get("interrupts-extended")
    if ext is not None:
        words, i = ext.cells(), 0
        while i < len(words):
            controller = by_phandle.get(words[i])
            n = _interrupt_cells(controller)
            yield controller, tuple(words[i + 1 : i + 1 + n])
            i += 1 + n
        return
    prop = node.get("interrupts")
    if prop is None:
        return
    controller = _interrupt_parent(node, by_phandle)
    words, n = prop.cells(), max(_interrupt_cells(controller), 1)
    for i in range(0, len(words) - n + 1, n):
        yield controller, tuple(words[i : i + n])


def used_ppis(source: DeviceTree | Node | Iterable[Node]) -> set[int]:
    """INTIDs of the PPIs that nodes use: 3-cell GIC specifiers <1 n flags> are INTID n + 16."""
    nodes = _nodes(source)
    by_phandle = {ph: n for n in nodes if (ph := _phandle(n))}
    used: set[int] = set()
    for node in nodes:
        for controller, spec in _specifiers(node, by_phandle):
            gic = controller is None or (
                controller.get("interrupt-controller") is not None and _interrupt_cells(controller) == 3
            )
            if gic and len(spec) == 3 and spec[0] == 1 and spec[1] < 16:
                used.add(spec[1] + PPI_FIRST)
    return used


def choose_event_ppi(source: DeviceTree | Node | Iterable[Node]) -> int:
    """The lowest PPI no node of the guest's tree uses (Xen hard-wires 31 for domUs; armboot reads the tree)."""
    used = used_ppis(source)
    for intid in range(PPI_FIRST, PPI_LAST + 1):
        if intid not in used:
            return intid
    raise GuestBoardError(
        "every PPI (INTID 16..31) is used by the guest's tree: none is left for the event channel"
    )


# The passthrough fragment


@dataclass
class Fragment:
    """What a passthrough fragment adds to a guest tree."""

    gic_phandle: int | None = None
    aliases: list[Property] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)


def _copy(node: Node) -> Node:
    out = Node(node.name)
    for prop in node.properties:
        if prop.name not in XEN_ONLY_PROPS:
            out.add_property(Property(prop.name, prop.data))
    for child in node.nodes:
        out.add_child(_copy(child))
    out.phandle = _phandle(out)
    return out


def _bus_cells(bus: Node, where: str) -> None:
    for name in bus.properties:
        if name.name not in PASSTHROUGH_BUS_PROPS:
            raise GuestBoardError(
                f"{where}: /passthrough: property {name.name} is not supported (only {', '.join(PASSTHROUGH_BUS_PROPS)})"
            )
    compat = bus.get("compatible")
    if compat is not None and compat.strings() != ["simple-bus"]:
        raise GuestBoardError(f'{where}: /passthrough: compatible must be "simple-bus"')
    ranges = bus.get("ranges")
    if ranges is not None and ranges.value:
        raise GuestBoardError(
            f"{where}: /passthrough: ranges must be empty (the devices sit at the same addresses in the guest)"
        )
    cells = (bus.cell_property("#address-cells", 2), bus.cell_property("#size-cells", 1))
    if cells != (2, 2):
        raise GuestBoardError(
            f"{where}: /passthrough: #address-cells and #size-cells must be 2 (the guest root's), not {cells[0]} and {cells[1]}"
        )


def read_fragment(blob: bytes, where: str) -> Fragment:
    """A passthrough fragment (a DTB) as the nodes and aliases it gives the guest; ``where`` names it in errors."""
    try:
        tree = read_dtb(blob, where)
    except DtcError as e:
        raise GuestBoardError(f"{where}: not a device tree blob: {e}") from None
    out = Fragment()
    gic = tree.root.subnode("gic")
    if gic is not None:
        out.gic_phandle = _phandle(gic) or None
    aliases = tree.root.subnode("aliases")
    if aliases is not None:
        out.aliases = [
            Property(p.name, p.data) for p in aliases.properties if p.name not in ("phandle", "linux,phandle")
        ]
    bus = tree.root.subnode("passthrough")
    if bus is not None:
        _bus_cells(bus, where)
        out.nodes = [_copy(child) for child in bus.nodes]
    return out


def _where(spec: GuestSpec) -> str:
    """How errors name the fragment: its module node, else the guest's name."""
    return spec.device_tree.node.path if spec.device_tree is not None else f"{spec.name}'s fragment"


def _fragment(spec: GuestSpec, blob: bytes | None) -> Fragment:
    module, where = spec.device_tree, _where(spec)
    if blob is None and module is not None:
        blob = module.data
        if blob is None and module.path is None:
            raise GuestBoardError(
                f"{where}: the fragment is not loaded: load_modules first, or pass its bytes"
            )
        if blob is None and module.path is not None:
            try:
                with open(module.path, "rb") as f:
                    blob = f.read()
            except OSError as e:
                raise GuestBoardError(f"{where}: cannot read {module.path}: {e.strerror}") from None
    if blob is None:
        return Fragment()
    return read_fragment(blob, where)


# The guest tree


def string_data(*strings: str) -> Data:
    """A string list marked string by string, so that its DTS reads "a", "b" as written by hand."""
    value, markers = b"", []
    for text in strings:
        markers.append(Marker(len(value), Kind.STRING))
        value += text.encode() + b"\0"
    return Data(value, tuple(markers))


def cell_groups(*groups: tuple[int, ...]) -> Data:
    """Cells in <...> groups (one per reg entry or interrupt specifier), as a DTS writes them."""
    value, markers = b"", []
    for group in groups:
        markers.append(Marker(len(value), Kind.UINT32))
        value += b"".join((w & 0xFFFFFFFF).to_bytes(4, "big") for w in group)
    return Data(value, tuple(markers))


def _add(node: Node, name: str, data: Data = EMPTY) -> None:
    node.add_property(Property(name, data))


def _child(parent: Node, name: str) -> Node:
    node = Node(name)
    parent.add_child(node)
    return node


def _reg(*pairs: tuple[int, int]) -> Data:
    """reg in the guest root's 2 + 2 cells."""
    return cell_groups(*[(base >> 32, base, size >> 32, size) for base, size in pairs])


def _spi(intid: int, flags: int) -> Data:
    return cells_data(0, intid - 32, flags)


def _ppi_flags(cpus: int, trigger: int) -> int:
    """GICv2 PPI flags: the CPUs the PPI is wired to in bits 8-15, as QEMU and Xen write them."""
    return (((1 << cpus) - 1) << 8) | trigger


def _set_phandle(node: Node, phandle: int) -> None:
    node.phandle = phandle
    _add(node, "phandle", cells_data(phandle))


def _phandles(frag: Fragment, where: str) -> tuple[int, int]:
    """The GIC's (the fragment's /gic, else Xen's 65000) and the UART clock's (the next free)."""
    used = {n.phandle for top in frag.nodes for n in top.walk() if n.phandle}
    gic = frag.gic_phandle or GIC_PHANDLE
    if gic in used:
        raise GuestBoardError(f"{where}: phandle {gic} is the GIC's; a /passthrough node uses it too")
    clock = GIC_PHANDLE + 1
    while clock in used or clock == gic:
        clock += 1
    return gic, clock


def _cpus(root: Node, cpus: int) -> None:
    node = _child(root, "cpus")
    _add(node, "#address-cells", cells_data(1))
    _add(node, "#size-cells", cells_data(0))
    for n in range(cpus):
        cpu = _child(node, f"cpu@{n:x}")
        _add(cpu, "device_type", string_data("cpu"))
        _add(cpu, "compatible", string_data("arm,armv8"))
        _add(cpu, "enable-method", string_data("psci"))
        _add(cpu, "reg", cells_data(n))


def _psci_timer_gic(root: Node, board: GuestBoard, cpus: int, gic_phandle: int) -> None:
    psci = _child(root, "psci")
    _add(psci, "compatible", string_data("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))
    _add(psci, "method", string_data(board.psci_method))
    for name, fid in (
        ("cpu_suspend", 0xC4000001),
        ("cpu_off", 0x84000002),
        ("cpu_on", 0xC4000003),
        ("migrate", 0xC4000005),
    ):
        _add(psci, name, cells_data(fid))
    timer = _child(root, "timer")
    _add(timer, "compatible", string_data("arm,armv8-timer"))
    flags = _ppi_flags(cpus, LEVEL_HIGH)
    _add(timer, "interrupts", cell_groups(*[(1, intid - PPI_FIRST, flags) for intid in board.timer_ppis]))
    gic = _child(root, f"interrupt-controller@{board.gicd[0]:x}")
    _add(gic, "compatible", string_data("arm,cortex-a15-gic"))
    _add(gic, "#interrupt-cells", cells_data(3))
    _add(gic, "#address-cells", cells_data(0))
    _add(gic, "interrupt-controller")
    _add(gic, "reg", _reg(board.gicd, board.gicc))
    _set_phandle(gic, gic_phandle)


def _uart_name(board: GuestBoard) -> str | None:
    return None if board.uart is None else f"serial@{board.uart[0]:x}"


def _devices(root: Node, board: GuestBoard, cpus: int, clock_phandle: int) -> None:
    """The UART (with its clock), the virtio console and /hypervisor."""
    if board.uart is not None:
        clk = _child(root, "apb-pclk")
        _add(clk, "compatible", string_data("fixed-clock"))
        _add(clk, "#clock-cells", cells_data(0))
        _add(clk, "clock-frequency", cells_data(UART_CLOCK_HZ))
        _add(clk, "clock-output-names", string_data("clk24mhz"))
        _set_phandle(clk, clock_phandle)
        base, intid = board.uart
        uart = _child(root, f"serial@{base:x}")
        _add(uart, "compatible", string_data("arm,pl011", "arm,primecell"))
        _add(uart, "reg", _reg((base, UART_SIZE)))
        _add(uart, "interrupts", _spi(intid, LEVEL_HIGH))
        _add(uart, "clocks", cell_groups((clock_phandle,), (clock_phandle,)))
        _add(uart, "clock-names", string_data("uartclk", "apb_pclk"))
    if board.virtio_console is not None:
        base, size, intid = board.virtio_console
        virtio = _child(root, f"virtio_mmio@{base:x}")
        _add(virtio, "compatible", string_data("virtio,mmio"))
        _add(virtio, "reg", _reg((base, size)))
        _add(virtio, "interrupts", _spi(intid, EDGE_RISING))
        _add(virtio, "dma-coherent")
    if board.hypervisor is not None:
        base, size, intid = board.hypervisor
        hyp = _child(root, f"hypervisor@{base:x}")
        _add(hyp, "compatible", string_data(f"xen,xen-{XEN_VERSION}", "xen,xen"))
        _add(hyp, "reg", _reg((base, size)))
        _add(hyp, "interrupts", cells_data(1, intid - PPI_FIRST, _ppi_flags(cpus, LEVEL_HIGH)))


def _chosen(root: Node, spec: GuestSpec, uart: str | None, initrd: tuple[int, int] | None) -> None:
    chosen = _child(root, "chosen")
    if spec.bootargs is not None:
        _add(chosen, "bootargs", string_data(spec.bootargs))
    if uart is not None:
        _add(chosen, "stdout-path", string_data("serial0:115200n8"))
    if initrd is not None:
        _add(chosen, "linux,initrd-start", cells_data(initrd[0] >> 32, initrd[0]))
        _add(chosen, "linux,initrd-end", cells_data(initrd[1] >> 32, initrd[1]))


def _aliases(root: Node, uart: str | None, frag: Fragment, where: str) -> None:
    props = [Property("serial0", string_data(f"/{uart}"))] if uart is not None else []
    for prop in frag.aliases:
        if any(p.name == prop.name for p in props):
            raise GuestBoardError(f"{where}: alias {prop.name} is one armboot gives the guest")
        props.append(prop)
    if props:
        aliases = _child(root, "aliases")
        for prop in props:
            aliases.add_property(prop)


def guest_tree(
    spec: GuestSpec, board: GuestBoard, initrd: tuple[int, int] | None = None, fragment: bytes | None = None
) -> DeviceTree:
    """The guest's device tree: board devices, RAM, vCPUs, /chosen (``initrd`` = (start, end) IPAs, end exclusive).

    ``fragment``: the passthrough DTB's bytes; by default those ``load_modules``
    kept for the guest's device-tree module, else its file.
    """
    frag = _fragment(spec, fragment)
    where = _where(spec)
    gic_phandle, clock_phandle = _phandles(frag, where)
    model, compatible = ROOTS[board.name]
    root = Node("")
    _add(root, "model", string_data(model))
    _add(root, "compatible", string_data(*compatible))
    _add(root, "#address-cells", cells_data(2))
    _add(root, "#size-cells", cells_data(2))
    _add(root, "interrupt-parent", cells_data(gic_phandle))
    uart = _uart_name(board)
    _chosen(root, spec, uart, initrd)
    _aliases(root, uart, frag, where)
    memory = _child(root, f"memory@{board.ram_base:x}")
    _add(memory, "device_type", string_data("memory"))
    _add(memory, "reg", _reg((board.ram_base, spec.memory)))
    _cpus(root, spec.cpus)
    _psci_timer_gic(root, board, spec.cpus, gic_phandle)
    _devices(root, board, spec.cpus, clock_phandle)
    for node in frag.nodes:
        if root.subnode(node.name) is not None:
            raise GuestBoardError(
                f"{where}: /passthrough/{node.name} has the name of a node armboot gives the guest"
            )
        root.add_child(node)
    return DeviceTree(root, origin=f"<guest {spec.name}>")


def guest_dtb(
    spec: GuestSpec, board: GuestBoard, initrd: tuple[int, int] | None = None, fragment: bytes | None = None
) -> bytes:
    """The guest tree as a DTB (version 17, no padding)."""
    return to_dtb(guest_tree(spec, board, initrd, fragment))[0]
