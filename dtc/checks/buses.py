"""Bus bindings: PCI, simple-bus, I2C and SPI bridges and their children's addresses.

Each *_bridge check marks the bus nodes it recognises (annotations.set_bus);
the matching *_reg check then holds each child's unit address to the bus's
own format.
"""

from __future__ import annotations

from ..tree import Node
from .annotations import (
    I2C,
    PCI,
    SIMPLE_BUS,
    SPI,
    bus_of,
    children_of_bus,
    node_addr_cells,
    node_size_cells,
    set_bus,
)
from .index import named, union, with_property
from .registry import CheckContext, check
from .values import c_string, cell

I2C_OWN_SLAVE_ADDRESS = 1 << 30
I2C_TEN_BIT_ADDRESS = 1 << 31


def parent_bus(ctx: CheckContext, node: Node) -> str | None:
    return bus_of(ctx, node.parent)


@check(level="warning", prereqs=("device_type_is_string", "addr_size_cells"), select=with_property("device_type"))
def check_pci_bridge(ctx: CheckContext, node: Node) -> None:
    """A device_type = "pci" node is a PCI bridge: name, ranges, 3/2 cells, bus-range."""
    prop = node.get("device_type")
    if prop is None or c_string(prop.value) != "pci":
        return
    set_bus(ctx, node, PCI)
    if node.basename not in ("pci", "pcie"):
        ctx.fail(node, 'node name is not "pci" or "pcie"')
    if node.get("ranges") is None:
        ctx.fail(node, "missing ranges for PCI bridge (or not a bridge)")
    if node_addr_cells(ctx, node) != 3:
        ctx.fail(node, "incorrect #address-cells for PCI bridge")
    if node_size_cells(ctx, node) != 2:
        ctx.fail(node, "incorrect #size-cells for PCI bridge")
    prop = node.get("bus-range")
    if prop is None:
        return
    if len(prop.value) != 8:
        ctx.fail(node, "value must be 2 cells", prop)
        return
    first, last = cell(prop, 0), cell(prop, 1)
    if first > last:
        ctx.fail(node, "1st cell must be less than or equal to 2nd cell", prop)
    if last > 0xFF:
        ctx.fail(node, "maximum bus number must be less than 256", prop)


@check(level="warning", prereqs=("reg_format", "pci_bridge"), select=children_of_bus(PCI))
def check_pci_device_reg(ctx: CheckContext, node: Node) -> None:
    """A PCI device's reg is a config-space address and its unit address is "dev[,func]"."""
    if parent_bus(ctx, node) != PCI:
        return
    prop = node.get("reg")
    if prop is None:
        return
    if cell(prop, 1) or cell(prop, 2):
        ctx.fail(node, "PCI reg config space address cells 2 and 3 must be 0", prop)
    reg = cell(prop, 0)
    dev = (reg & 0xF800) >> 11
    func = (reg & 0x700) >> 8
    if reg & 0xFF000000:
        ctx.fail(node, "PCI reg address is not configuration space", prop)
    if reg & 0x000000FF:
        ctx.fail(node, "PCI reg config space address register number must be 0", prop)
    if func == 0 and node.unit_address == f"{dev:x}":
        return
    expected = f"{dev:x},{func:x}"
    if node.unit_address != expected:
        ctx.fail(node, f'PCI unit address format error, expected "{expected}"')


@check(level="warning", prereqs=("reg_format", "pci_bridge"), select=children_of_bus(PCI))
def check_pci_device_bus_num(ctx: CheckContext, node: Node) -> None:
    """A PCI device's bus number lies in its bridge's bus-range (0 without one).

    dtc 1.6.1 takes both ends of the range from the first cell of bus-range
    (a bug fixed in later versions): a device on any but the bridge's first
    bus is reported.
    """
    if parent_bus(ctx, node) != PCI:
        return
    prop = node.get("reg")
    if prop is None:
        return
    bus_num = (cell(prop, 0) & 0x00FF0000) >> 16
    assert node.parent is not None
    bus_range = node.parent.get("bus-range")
    low = high = cell(bus_range, 0) if bus_range is not None else 0
    if bus_num < low or bus_num > high:
        ctx.fail(node, f"PCI bus number {bus_num} out of range, expected ({low} - {high})", bus_range)


def is_compatible(node: Node, compat: str) -> bool:
    prop = node.get("compatible")
    return prop is not None and compat.encode("latin-1") in prop.value.split(b"\0")


@check(level="warning", prereqs=("addr_size_cells", "compatible_is_string_list"), select=with_property("compatible"))
def check_simple_bus_bridge(ctx: CheckContext, node: Node) -> None:
    """Mark simple-bus nodes."""
    if is_compatible(node, "simple-bus"):
        set_bus(ctx, node, SIMPLE_BUS)


@check(level="warning", prereqs=("reg_format", "simple_bus_bridge"), select=children_of_bus(SIMPLE_BUS))
def check_simple_bus_reg(ctx: CheckContext, node: Node) -> None:
    """A simple-bus child's unit address is its (first) bus address in hex."""
    parent = node.parent
    if parent is None or bus_of(ctx, parent) != SIMPLE_BUS:
        return
    prop = node.get("reg")
    first = 0  # index of the bus address's first cell
    if prop is None:
        prop = node.get("ranges")
        first = node_addr_cells(ctx, node)  # skip the child address of the first range
    if prop is None or not prop.value:
        if parent.parent is not None and bus_of(ctx, node) != SIMPLE_BUS:
            ctx.fail(node, "missing or empty reg/ranges property")
        return
    # dtc shifts #address-cells cells through a 64-bit integer: only the last two remain.
    count = node_addr_cells(ctx, parent)
    reg = 0
    for i in range(max(0, count - 2), count):
        reg = ((reg << 32) | cell(prop, first + i)) & 0xFFFFFFFFFFFFFFFF
    expected = f"{reg:x}"
    if node.unit_address != expected:
        ctx.fail(node, f'simple-bus unit address format error, expected "{expected}"')


@check(level="warning", prereqs=("addr_size_cells",), select=named("i2c", "i2c-bus", "i2c-arb"))
def check_i2c_bus_bridge(ctx: CheckContext, node: Node) -> None:
    """Nodes named i2c, i2c-bus or i2c-arb are I2C buses: 1 address cell, 0 size cells."""
    if node.basename not in ("i2c", "i2c-bus", "i2c-arb"):
        return
    set_bus(ctx, node, I2C)
    if not node.children:
        return
    if node_addr_cells(ctx, node) != 1:
        ctx.fail(node, "incorrect #address-cells for I2C bus")
    if node_size_cells(ctx, node) != 0:
        ctx.fail(node, "incorrect #size-cells for I2C bus")


@check(level="warning", prereqs=("reg_format", "i2c_bus_bridge"), select=children_of_bus(I2C))
def check_i2c_bus_reg(ctx: CheckContext, node: Node) -> None:
    """An I2C device's unit address is its address; addresses fit 7 bits (10 when flagged)."""
    if parent_bus(ctx, node) != I2C:
        return
    prop = node.get("reg")
    if prop is None or not prop.value:
        ctx.fail(node, "missing or empty reg property")
        return
    expected = f"{cell(prop, 0) & ~I2C_OWN_SLAVE_ADDRESS:x}"
    if node.unit_address != expected:
        ctx.fail(node, f'I2C bus unit address format error, expected "{expected}"')
    for i in range((len(prop.value) + 3) // 4):
        reg = cell(prop, i) & ~I2C_OWN_SLAVE_ADDRESS
        if reg & I2C_TEN_BIT_ADDRESS and (reg & ~I2C_TEN_BIT_ADDRESS) > 0x3FF:
            ctx.fail(node, f'I2C address must be less than 10-bits, got "0x{reg:x}"', prop)
        elif reg > 0x7F:
            ctx.fail(
                node,
                f'I2C address must be less than 7-bits, got "0x{reg:x}". '
                "Set I2C_TEN_BIT_ADDRESS for 10 bit addresses or fix the property",
                prop,
            )


def has_spi_child(node: Node) -> bool:
    """Some child has an spi-* property: a bus whose name does not say SPI."""
    return any(prop.name.startswith("spi-") for child in node.nodes for prop in child.properties)


# Not named spi, a bus needs #size-cells = <0> to be taken for SPI.
@check(level="warning", prereqs=("addr_size_cells",), select=union(named("spi"), with_property("#size-cells")))
def check_spi_bus_bridge(ctx: CheckContext, node: Node) -> None:
    """SPI buses (named spi, or with spi-* children): 1 address cell (0 as a slave), 0 size cells."""
    if node.basename == "spi":
        set_bus(ctx, node, SPI)
    else:
        if node_addr_cells(ctx, node) != 1 or node_size_cells(ctx, node) != 0:
            return
        if has_spi_child(node):
            set_bus(ctx, node, SPI)
        if bus_of(ctx, node) == SPI and node.get("reg") is not None:
            ctx.fail(node, "node name for SPI buses should be 'spi'")
    if bus_of(ctx, node) != SPI or not node.children:
        return
    spi_addr_cells = 0 if node.get("spi-slave") is not None else 1
    if node_addr_cells(ctx, node) != spi_addr_cells:
        ctx.fail(node, "incorrect #address-cells for SPI bus")
    if node_size_cells(ctx, node) != 0:
        ctx.fail(node, "incorrect #size-cells for SPI bus")


@check(level="warning", prereqs=("reg_format", "spi_bus_bridge"), select=children_of_bus(SPI))
def check_spi_bus_reg(ctx: CheckContext, node: Node) -> None:
    """An SPI device's unit address is its chip select (not checked under an SPI slave)."""
    parent = node.parent
    if parent is None or bus_of(ctx, parent) != SPI or parent.get("spi-slave") is not None:
        return
    prop = node.get("reg")
    if prop is None or not prop.value:
        ctx.fail(node, "missing or empty reg property")
        return
    expected = f"{cell(prop, 0):x}"
    if node.unit_address != expected:
        ctx.fail(node, f'SPI bus unit address format error, expected "{expected}"')
