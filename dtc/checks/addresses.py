"""#address-cells/#size-cells and the properties they shape: reg, ranges, dma-ranges.

addr_size_cells is an annotation pass: it records each node's cell counts,
which the reg/ranges checks and the bus checks read for the node's children.
"""

from __future__ import annotations

from ..tree import Node
from .annotations import addr_cells, node_addr_cells, node_size_cells, size_cells
from .index import with_property
from .registry import CheckContext, add_check, check
from .values import c_string, cell, is_multiple_of, to_int32


@check(level="warning", prereqs=("address_cells_is_cell", "size_cells_is_cell"))
def check_addr_size_cells(ctx: CheckContext, node: Node) -> None:
    """Record #address-cells/#size-cells on the node (-1 when absent), as C ints."""
    prop = node.get("#address-cells")
    node.addr_cells = to_int32(cell(prop, 0)) if prop is not None else -1
    prop = node.get("#size-cells")
    node.size_cells = to_int32(cell(prop, 0)) if prop is not None else -1


@check(level="warning", prereqs=("addr_size_cells",), select=with_property("reg"))
def check_reg_format(ctx: CheckContext, node: Node) -> None:
    """reg is a whole number of (address, size) entries of the parent's cell sizes."""
    prop = node.get("reg")
    if prop is None:
        return
    if node.parent is None:
        ctx.fail(node, 'Root node has a "reg" property')
        return
    length = len(prop.value)
    if length == 0:
        ctx.fail(node, "property is empty", prop)
    ac = node_addr_cells(ctx, node.parent)
    sc = node_size_cells(ctx, node.parent)
    if not is_multiple_of(length, (ac + sc) * 4):
        ctx.fail(
            node,
            f"property has invalid length ({length} bytes) (#address-cells == {ac}, #size-cells == {sc})",
            prop,
        )


def check_ranges_format(ctx: CheckContext, node: Node) -> None:
    """ranges/dma-ranges: empty only between equal address spaces, else whole entries."""
    ranges = ctx.data
    prop = node.get(ranges)
    if prop is None:
        return
    parent = node.parent
    if parent is None:
        ctx.fail(node, f'Root node has a "{ranges}" property', prop)
        return
    p_ac, p_sc = node_addr_cells(ctx, parent), node_size_cells(ctx, parent)
    c_ac, c_sc = node_addr_cells(ctx, node), node_size_cells(ctx, node)
    length = len(prop.value)
    if length == 0:
        if p_ac != c_ac:
            ctx.fail(
                node,
                f'empty "{ranges}" property but its #address-cells ({c_ac}) differs from {parent.path} ({p_ac})',
                prop,
            )
        if p_sc != c_sc:
            ctx.fail(
                node,
                f'empty "{ranges}" property but its #size-cells ({c_sc}) differs from {parent.path} ({p_sc})',
                prop,
            )
    elif not is_multiple_of(length, (p_ac + c_ac + c_sc) * 4):
        ctx.fail(
            node,
            f'"{ranges}" property has invalid length ({length} bytes) (parent #address-cells == {p_ac}, '
            f"child #address-cells == {c_ac}, #size-cells == {c_sc})",
            prop,
        )


for _name, _ranges in (("ranges_format", "ranges"), ("dma_ranges_format", "dma-ranges")):
    add_check(
        _name,
        check_ranges_format,
        level="warning",
        prereqs=("addr_size_cells",),
        data=_ranges,
        select=with_property(_ranges),
    )


@check(level="warning", prereqs=("addr_size_cells",), select=with_property("reg", "ranges"))
def check_avoid_default_addr_size(ctx: CheckContext, node: Node) -> None:
    """A node with reg or ranges should not rely on its parent's default cell sizes."""
    parent = node.parent
    if parent is None or (node.get("reg") is None and node.get("ranges") is None):
        return
    if addr_cells(ctx, parent) == -1:
        ctx.fail(node, "Relying on default #address-cells value")
    if size_cells(ctx, parent) == -1:
        ctx.fail(node, "Relying on default #size-cells value")


# Both checks need #address-cells and #size-cells on the node itself.
@check(level="warning", prereqs=("avoid_default_addr_size",), select=with_property("#address-cells"))
def check_avoid_unnecessary_addr_size(ctx: CheckContext, node: Node) -> None:
    """Cell sizes are only needed when a child has reg or the node has ranges."""
    if node.parent is None or addr_cells(ctx, node) < 0 or size_cells(ctx, node) < 0:
        return
    if node.get("ranges") is not None or not node.children:
        return
    if not any(child.get("reg") is not None for child in node.nodes):
        ctx.fail(node, 'unnecessary #address-cells/#size-cells without "ranges" or child "reg" property')


def is_disabled(node: Node) -> bool:
    status = node.get("status")
    return status is not None and c_string(status.value) == "disabled"


def fail_duplicate_unit_addresses(ctx: CheckContext, node: Node, skip_disabled: bool) -> None:
    """Each child whose unit address an earlier child already uses is named with that earlier one."""
    if addr_cells(ctx, node) < 0 or size_cells(ctx, node) < 0 or not node.children:
        return
    earlier: dict[str, list[Node]] = {}
    for child in node.nodes:
        unit = child.unit_address
        if not unit or (skip_disabled and is_disabled(child)):
            continue
        same = earlier.setdefault(unit, [])
        for other in same:
            ctx.fail(other, f"duplicate unit-address (also used in node {child.path})")
        same.append(child)


@check(level="warning", prereqs=("avoid_default_addr_size",), select=with_property("#address-cells"))
def check_unique_unit_address(ctx: CheckContext, node: Node) -> None:
    """Siblings share no unit address."""
    fail_duplicate_unit_addresses(ctx, node, skip_disabled=False)


@check(level="off", prereqs=("avoid_default_addr_size",), select=with_property("#address-cells"))
def check_unique_unit_address_if_enabled(ctx: CheckContext, node: Node) -> None:
    """Siblings that are not status = "disabled" share no unit address."""
    fail_duplicate_unit_addresses(ctx, node, skip_disabled=True)
