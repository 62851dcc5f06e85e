"""Checks on node and property names and on unit addresses (the part after '@')."""

from __future__ import annotations

from ..tree import Node
from .annotations import bus_of
from .core import DIGITS, LOWER, UPPER
from .index import tree_index, with_unit_address
from .registry import CheckContext, check

# What the device tree specification recommends, stricter than what dtc accepts.
STRICT_CHARS = LOWER + UPPER + DIGITS + ",-"
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def span(name: str, allowed: str) -> int:
    """C's strspn: how many leading characters of ``name`` are in ``allowed``."""
    for i, ch in enumerate(name):
        if ch not in allowed:
            return i
    return len(name)


@check(level="off", data=STRICT_CHARS)
def check_property_name_chars_strict(ctx: CheckContext, node: Node) -> None:
    """Property names beyond [a-zA-Z0-9,-]; a leading '#' (after a vendor prefix) is fine."""
    for prop in node.properties:
        name = prop.name
        n = span(name, ctx.data)
        if n == len(name) or name == "device_type":
            continue
        if name[n] == "#" and (n == 0 or name[n - 1] == ","):
            name = name[n + 1 :]
            n = span(name, ctx.data)
        if n < len(name):
            ctx.fail(node, f"Character '{name[n]}' not recommended in property name", prop)


@check(level="off", data=STRICT_CHARS)
def check_node_name_chars_strict(ctx: CheckContext, node: Node) -> None:
    """Node base names beyond [a-zA-Z0-9,-] (the unit address is not looked at)."""
    n = span(node.name, ctx.data)
    if n < len(node.basename):
        ctx.fail(node, f"Character '{node.name[n]}' not recommended in node name")


@check(level="warning", prereqs=("node_name_chars",))
def check_node_name_vs_property_name(ctx: CheckContext, node: Node) -> None:
    """A child named like a property of its parent is ambiguous in /proc/device-tree."""
    if node.parent is not None and node.parent.get(node.name) is not None:
        ctx.fail(node, "node name and property name conflict")


def unit_address_disagreements(ctx: CheckContext) -> list[Node]:
    """Nodes with a unit address but no reg/ranges, or the reverse (the only ones that can fail)."""
    index = tree_index(ctx)
    addressed = {node for node, _ in index.having("reg")}
    addressed.update(node for node, prop in index.having("ranges") if prop.value)
    return index.in_walk_order(addressed.symmetric_difference(n for n in index.with_unit_address if n.unit_address))


@check(level="warning", select=unit_address_disagreements)
def check_unit_address_vs_reg(ctx: CheckContext, node: Node) -> None:
    """A unit address goes with a reg (or non-empty ranges) property, and the reverse."""
    prop = node.get("reg")
    if prop is None:
        prop = node.get("ranges")
        if prop is not None and not prop.value:
            prop = None
    has_unit = bool(node.unit_address)
    if (prop is not None) == has_unit or node.subnode("__overlay__") is not None:
        return  # overlay fragments are named fragment@N without reg
    if has_unit:
        ctx.fail(node, "node has a unit name, but no reg or ranges property")
    else:
        ctx.fail(node, "node has a reg or ranges property, but no unit name")


@check(level="warning", prereqs=("node_name_format", "pci_bridge", "simple_bus_bridge"), select=with_unit_address)
def check_unit_address_format(ctx: CheckContext, node: Node) -> None:
    """Unit addresses are bare lowercase hex: no "0x", no leading zeros (buses have own rules)."""
    if bus_of(ctx, node.parent) is not None:
        return
    unit = node.unit_address
    if not unit:
        return
    if unit.startswith("0x"):
        ctx.fail(node, 'unit name should not have leading "0x"')
        unit = unit[2:]
    if len(unit) > 1 and unit[0] == "0" and unit[1] in HEX_DIGITS:
        ctx.fail(node, "unit name should not have leading 0s")
