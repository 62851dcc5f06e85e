"""Device tree semantics the hardware needs: addresses through ``ranges``, interrupts through
``interrupt-parent`` and ``interrupt-map`` (Devicetree Specification, chapters 2.3-2.4)."""

from __future__ import annotations

from dataclasses import dataclass

from armboot.dtc.tree import DeviceTree, Node


class TreeError(ValueError):
    """The tree does not describe hardware consistently (a bad reg, a dangling interrupt-parent...)."""


def cells(node: Node, name: str, default: int) -> int:
    prop = node.get(name)
    if prop is None or len(prop.value) != 4:
        return default
    return prop.u32()


def address_cells(node: Node | None) -> int:
    return 2 if node is None else cells(node, "#address-cells", 2)


def size_cells(node: Node | None) -> int:
    return 1 if node is None else cells(node, "#size-cells", 1)


def _number(words: list[int]) -> int:
    value = 0
    for w in words:
        value = (value << 32) | w
    return value


def reg_entries(node: Node) -> list[tuple[int, int]]:
    """(address, size) pairs of ``reg`` in the parent bus's address space."""
    prop = node.get("reg")
    if prop is None:
        return []
    ac, sc = address_cells(node.parent), size_cells(node.parent)
    words = prop.cells()
    step = ac + sc
    if step == 0 or len(prop.value) % (4 * step):
        raise TreeError(f"{node.path}: reg has {len(prop.value)} bytes, not a multiple of ({ac}+{sc}) cells")
    return [(_number(words[i : i + ac]), _number(words[i + ac : i + step])) for i in range(0, len(words), step)]


def translate(node: Node, address: int) -> int | None:
    """A bus address of ``node``'s parent bus, as a CPU physical address (None: not mapped)."""
    bus = node.parent
    while bus is not None and bus.parent is not None:
        ranges = bus.get("ranges")
        if ranges is None:
            return None
        if len(ranges.value) == 0:
            bus = bus.parent
            continue
        child_ac, parent_ac, sc = address_cells(bus), address_cells(bus.parent), size_cells(bus)
        words = ranges.cells()
        step = child_ac + parent_ac + sc
        for i in range(0, len(words) - step + 1, step):
            child = _number(words[i : i + child_ac])
            parent = _number(words[i + child_ac : i + child_ac + parent_ac])
            size = _number(words[i + child_ac + parent_ac : i + step])
            if child <= address < child + size:
                address = parent + (address - child)
                break
        else:
            return None
        bus = bus.parent
    return address


def mmio_regions(node: Node) -> list[tuple[int, int]]:
    """``reg`` as CPU physical (address, size), skipping entries no bus maps."""
    out = []
    for addr, size in reg_entries(node):
        phys = translate(node, addr)
        if phys is not None and size:
            out.append((phys, size))
    return out


def interrupt_parent(tree: DeviceTree, node: Node) -> Node | None:
    """The interrupt parent as Linux's of_irq_find_parent finds it: follow ``interrupt-parent``
    or the tree parent until a node with ``#interrupt-cells`` (a controller or a nexus)."""
    walk: Node | None = node
    for _ in range(1024):
        if walk is None:
            return None
        prop = walk.get("interrupt-parent")
        if prop is not None:
            target = tree.by_phandle(prop.u32())
            if target is None:
                raise TreeError(f"{walk.path}: interrupt-parent points at no node (phandle {prop.u32():#x})")
            walk = target
        else:
            walk = walk.parent
        if walk is not None and walk.get("#interrupt-cells") is not None:
            return walk
    raise TreeError(f"{node.path}: interrupt-parent chain does not end")


@dataclass(frozen=True)
class Interrupt:
    controller: Node
    specifier: tuple[int, ...]


def interrupts(tree: DeviceTree, node: Node) -> list[Interrupt]:
    """Every interrupt of a device, resolved to its controller through interrupt-maps."""
    ext = node.get("interrupts-extended")
    out: list[Interrupt] = []
    if ext is not None:
        words = ext.cells()
        i = 0
        while i < len(words):
            parent = tree.by_phandle(words[i])
            if parent is None:
                raise TreeError(f"{node.path}: interrupts-extended names no node (phandle {words[i]:#x})")
            n = cells(parent, "#interrupt-cells", 1)
            out.append(_route(tree, node, parent, tuple(words[i + 1 : i + 1 + n])))
            i += 1 + n
        return out
    prop = node.get("interrupts")
    if prop is None:
        return out
    parent = interrupt_parent(tree, node)
    if parent is None:
        raise TreeError(f"{node.path}: interrupts but no interrupt-parent")
    n = cells(parent, "#interrupt-cells", 1)
    if n == 0:
        raise TreeError(f"{node.path}: interrupts, but {parent.path} has #interrupt-cells = <0>")
    words = prop.cells()
    for i in range(0, len(words) - n + 1, n):
        out.append(_route(tree, node, parent, tuple(words[i : i + n])))
    return out


def _route(tree: DeviceTree, device: Node, parent: Node, spec: tuple[int, ...]) -> Interrupt:
    """Follow interrupt-map nexus nodes until an interrupt-controller."""
    child = device
    for _ in range(64):
        if parent.get("interrupt-controller") is not None or parent.get("interrupt-map") is None:
            return Interrupt(parent, spec)
        new_parent, new_spec = _map(tree, parent, _unit_address(child, parent), spec)
        child, parent, spec = parent, new_parent, new_spec
    raise TreeError(f"{device.path}: interrupt-map chain too long")


def _unit_address(child: Node, nexus: Node) -> tuple[int, ...]:
    ac = cells(nexus, "#address-cells", 0)
    regs = child.get("reg")
    if ac == 0 or regs is None:
        return (0,) * ac
    return tuple(regs.cells()[:ac])


def _map(tree: DeviceTree, nexus: Node, unit: tuple[int, ...], spec: tuple[int, ...]) -> tuple[Node, tuple[int, ...]]:
    ac = cells(nexus, "#address-cells", 0)
    ic = cells(nexus, "#interrupt-cells", 1)
    key = list(unit) + list(spec)
    mask_prop = nexus.get("interrupt-map-mask")
    mask = mask_prop.cells() if mask_prop is not None else [0xFFFFFFFF] * (ac + ic)
    masked = [k & m for k, m in zip(key, mask, strict=False)]
    words = nexus.get("interrupt-map").cells()  # type: ignore[union-attr]
    i = 0
    while i < len(words):
        entry = words[i : i + ac + ic]
        i += ac + ic
        if i >= len(words):
            break
        parent = tree.by_phandle(words[i])
        if parent is None:
            raise TreeError(f"{nexus.path}: interrupt-map names no node (phandle {words[i]:#x})")
        pac = cells(parent, "#address-cells", 0)
        pic = cells(parent, "#interrupt-cells", 1)
        i += 1
        pspec = tuple(words[i + pac : i + pac + pic])
        i += pac + pic
        if [e & m for e, m in zip(entry, mask, strict=False)] == masked:
            return parent, pspec
    raise TreeError(f"{nexus.path}: no interrupt-map entry for {key}")


def gic_intid(spec: tuple[int, ...]) -> int:
    """A GIC specifier <type number flags> as an INTID (type 0 SPI, 1 PPI)."""
    if len(spec) < 2:
        raise TreeError(f"GIC interrupt specifier {spec} has fewer than 2 cells")
    kind, number = spec[0], spec[1]
    return number + (16 if kind == 1 else 32)


def stdout_node(tree: DeviceTree) -> Node | None:
    """The node /chosen/stdout-path names (a path or an alias; ":options" dropped), if it exists."""
    chosen = tree.find("/chosen")
    prop = chosen.get("stdout-path") if chosen is not None else None
    if prop is None:
        return None
    path = prop.string().split(":")[0]
    if not path.startswith("/"):
        aliases = tree.find("/aliases")
        alias = aliases.get(path) if aliases is not None else None
        path = alias.string() if alias is not None else ""
    return tree.find(path) if path else None
