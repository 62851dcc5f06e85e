"""Phandle-plus-arguments properties (clocks, gpios, interrupts, ...) against their providers.

A consumer property is a list of <&provider arg...> groups, each as long as
the provider's #<x>-cells says.  dtc 1.6.1 walks such lists with C ints and
loops forever when a huge #<x>-cells brings the walk back to where it was
(its phandle-args-overflow test hangs); here a walk that would not move
forward stops with the warning dtc 1.8.1 gives for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Kind
from ..tree import Node, Property
from .core import phandle_is_valid
from .index import tree_index, with_property, with_property_named
from .registry import CheckContext, add_check, check
from .types import add_type_check, check_is_cell
from .values import cell, is_multiple_of, to_int32


@dataclass(frozen=True)
class Provider:
    """A consumer property and the provider property that sizes its entries (dtc's struct provider)."""

    prop_name: str
    cell_name: str
    optional: bool = False  # a provider without cell_name takes no arguments


# (check name stem, provider) in dtc's table order.
PROVIDERS = (
    ("clocks", Provider("clocks", "#clock-cells")),
    ("cooling_device", Provider("cooling-device", "#cooling-cells")),
    ("dmas", Provider("dmas", "#dma-cells")),
    ("hwlocks", Provider("hwlocks", "#hwlock-cells")),
    ("interrupts_extended", Provider("interrupts-extended", "#interrupt-cells")),
    ("io_channels", Provider("io-channels", "#io-channel-cells")),
    ("iommus", Provider("iommus", "#iommu-cells")),
    ("mboxes", Provider("mboxes", "#mbox-cells")),
    ("msi_parent", Provider("msi-parent", "#msi-cells", optional=True)),
    ("mux_controls", Provider("mux-controls", "#mux-control-cells")),
    ("phys", Provider("phys", "#phy-cells")),
    ("power_domains", Provider("power-domains", "#power-domain-cells")),
    ("pwms", Provider("pwms", "#pwm-cells")),
    ("resets", Provider("resets", "#reset-cells")),
    ("sound_dai", Provider("sound-dai", "#sound-dai-cells")),
    ("thermal_sensors", Provider("thermal-sensors", "#thermal-sensor-cells")),
)


def reference_offsets(prop: Property) -> set[int]:
    """Where a value from source had phandle references (dtc checks cells against its markers)."""
    return {m.offset for m in prop.data.markers if m.kind == Kind.REF_PHANDLE}


def provider_cells(ctx: CheckContext, node: Node, prop: Property, provider: Provider, target: Node, at: int) -> int | None:
    """The target's #<x>-cells (0 for an optional one it lacks); None, reported, when unusable."""
    cellprop = target.get(provider.cell_name)
    if cellprop is None:
        if provider.optional:
            return 0
        ctx.fail(
            node,
            f"Missing property '{provider.cell_name}' in node {target.path} or bad phandle "
            f"(referred from {prop.name}[{at}])",
        )
        return None
    if len(cellprop.value) != 4:  # dtc 1.6.1 aborts on an assertion here (#gpio-cells has no _is_cell check)
        ctx.fail(
            node,
            f"Property '{provider.cell_name}' in node {target.path} is not a single cell "
            f"(referred from {prop.name}[{at}])",
        )
        return None
    return cell(cellprop, 0)


def fail_bad_phandle_args(ctx: CheckContext, node: Node, prop: Property, provider: Provider) -> None:
    """Walk <&phandle args...> groups, sizing each by its provider's cell count."""
    length = len(prop.value)
    if length % 4:
        ctx.fail(node, f"property size ({length}) is invalid, expected multiple of 4", prop)
        return
    index = tree_index(ctx)
    references = reference_offsets(prop) if prop.data.markers else None
    at = 0  # dtc's "int cell"
    while 0 <= at < length // 4:
        phandle = cell(prop, at)
        if not phandle_is_valid(phandle):  # 0 or -1 skip an optional entry
            if ctx.plugin:
                break  # an overlay's unresolved references
            at += 1
            continue
        if references is not None and at * 4 not in references:
            ctx.fail(node, f"cell {at} is not a phandle reference", prop)
        target = index.by_phandle(phandle)
        if target is None:
            ctx.fail(node, f"Could not get phandle node for (cell {at})", prop)
            break
        raw_size = provider_cells(ctx, node, prop, provider, target, at)
        if raw_size is None:
            break
        cellsize = to_int32(raw_size)  # as dtc 1.6.1 holds it
        following = to_int32(at + cellsize + 1)
        if following < 0 or length < following * 4:
            ctx.fail(node, f"property size ({length}) too small for cell size {cellsize}", prop)
            break
        if following <= at:  # a huge count wrapped the walk back: dtc 1.6.1 loops forever here
            ctx.fail(node, f"property size ({length}) too small for cell size {raw_size}", prop)
            break
        at = following


def check_provider_cells_property(ctx: CheckContext, node: Node) -> None:
    """Every <&provider args> group of the property fits the provider's #<x>-cells."""
    provider: Provider = ctx.data
    prop = node.get(provider.prop_name)
    if prop is not None:
        fail_bad_phandle_args(ctx, node, prop, provider)


for _stem, _provider in PROVIDERS:
    add_check(
        f"{_stem}_property",
        check_provider_cells_property,
        level="warning",
        prereqs=(f"{_stem}_is_cell", "phandle_references"),
        data=_provider,
        select=with_property(_provider.prop_name),
    )
    add_type_check(f"{_stem}_is_cell", check_is_cell, _provider.cell_name)


def is_gpio_property(name: str) -> bool:
    """*-gpios, gpios, *-gpio, gpio (but not the ,nr-gpios count property)."""
    if name.endswith(",nr-gpios"):
        return False
    return name.endswith("-gpios") or name == "gpios" or name.endswith("-gpio") or name == "gpio"


@check(level="warning", prereqs=("phandle_references",), select=with_property_named(is_gpio_property))
def check_gpios_property(ctx: CheckContext, node: Node) -> None:
    """GPIO specifiers fit their controllers' #gpio-cells (GPIO hogs excepted)."""
    if node.get("gpio-hog") is not None:
        return
    for prop in node.properties:
        if is_gpio_property(prop.name):
            fail_bad_phandle_args(ctx, node, prop, Provider(prop.name, "#gpio-cells"))


@check(level="off", select=with_property_named(is_gpio_property))
def check_deprecated_gpio_property(ctx: CheckContext, node: Node) -> None:
    """The singular [*-]gpio spelling is deprecated."""
    for prop in node.properties:
        if is_gpio_property(prop.name) and prop.name.endswith("gpio"):
            ctx.fail(node, "'[*-]gpio' is deprecated, use '[*-]gpios' instead", prop)


def is_interrupt_provider(node: Node) -> bool:
    return node.get("interrupt-controller") is not None or node.get("interrupt-map") is not None


@check(level="warning", select=with_property("interrupt-controller", "interrupt-map"))
def check_interrupt_provider(ctx: CheckContext, node: Node) -> None:
    """Interrupt controllers and nexus nodes say how many cells a specifier (and a unit) takes."""
    if not is_interrupt_provider(node):
        return
    if node.get("#interrupt-cells") is None:
        ctx.fail(node, "Missing #interrupt-cells in interrupt provider")
    if node.get("#address-cells") is None:
        ctx.fail(node, "Missing #address-cells in interrupt provider")


def search_stop(ctx: CheckContext, start: Node | None) -> Node | None:
    """The first node from ``start`` up that ends an interrupt-parent search (a provider or an
    interrupt-parent holder); remembered for the run, so that deep trees are not walked again."""
    stops: dict[Node, Node | None] = ctx.state("interrupt_search_stops")
    passed = []
    node = start
    while node is not None and node not in stops:
        if is_interrupt_provider(node) or node.get("interrupt-parent") is not None:
            stops[node] = node
            break
        passed.append(node)
        node = node.parent
    stop = stops[node] if node is not None else None
    stops.update(dict.fromkeys(passed, stop))
    return stop


def interrupt_parent(ctx: CheckContext, node: Node) -> Node | None:
    """The node's interrupt parent (dtc's search up the tree), reporting what stops the search."""
    holder: Node | None = node  # the node itself counts only by its interrupt-parent
    if node.get("interrupt-parent") is None:
        holder = search_stop(ctx, node.parent)
        if holder is None or is_interrupt_provider(holder):
            return holder
    assert holder is not None
    prop = holder.get("interrupt-parent")
    assert prop is not None
    phandle = cell(prop, 0)
    if len(prop.value) != 4 or not phandle_is_valid(phandle):
        if ctx.plugin and len(prop.value) == 4:
            raise _GiveUp
        ctx.fail(holder, "Invalid phandle", prop)
        return None
    target = tree_index(ctx).by_phandle(phandle)
    if target is None:
        ctx.fail(holder, "Bad phandle", prop)
        raise _GiveUp
    if not is_interrupt_provider(target):
        ctx.fail(target, "Missing interrupt-controller or interrupt-map property")
    return target


class _GiveUp(Exception):
    """The search ended in a way that ends the check of this node without more warnings."""


@check(level="warning", select=with_property("interrupts"))
def check_interrupts_property(ctx: CheckContext, node: Node) -> None:
    """interrupts has an interrupt parent and is a whole number of its specifiers."""
    irq_prop = node.get("interrupts")
    if irq_prop is None:
        return
    length = len(irq_prop.value)
    if length % 4:
        ctx.fail(node, f"size ({length}) is invalid, expected multiple of 4", irq_prop)
    try:
        irq_node = interrupt_parent(ctx, node)
    except _GiveUp:
        return
    if irq_node is None:
        ctx.fail(node, "Missing interrupt-parent")
        return
    prop = irq_node.get("#interrupt-cells")
    if prop is None or len(prop.value) != 4:
        return  # interrupt_provider / interrupts_extended_is_cell report it (dtc 1.6.1 aborts)
    irq_cells = cell(prop, 0)
    if not is_multiple_of(length, irq_cells * 4):
        ctx.fail(node, f"size is ({length}), expected multiple of {to_int32(irq_cells * 4)}", prop)
