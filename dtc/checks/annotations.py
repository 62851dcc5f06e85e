"""What annotation checks record for later ones: dtc's node->addr_cells and node->bus.

In dtc, addr_size_cells stores each node's #address-cells/#size-cells (as C
ints, -1 when absent) and the *_bridge checks mark bus nodes; later checks
read those marks through their prerequisites.  A node nobody annotated reads
as dtc's zero-filled struct: 0 cells and no bus.
"""

from __future__ import annotations

from ..tree import Node
from .index import tree_index
from .registry import CheckContext, Selector

PCI = "PCI"
SIMPLE_BUS = "simple-bus"
I2C = "i2c-bus"
SPI = "spi-bus"
GRAPH_PORT = "graph-port"
GRAPH_PORTS = "graph-ports"

DEFAULT_ADDR_CELLS = 2
DEFAULT_SIZE_CELLS = 1


def addr_cells(ctx: CheckContext, node: Node) -> int:
    """node->addr_cells: the stored #address-cells, -1 when absent, 0 before addr_size_cells ran."""
    return node.addr_cells if ctx.ran("addr_size_cells") else 0


def size_cells(ctx: CheckContext, node: Node) -> int:
    return node.size_cells if ctx.ran("addr_size_cells") else 0


def node_addr_cells(ctx: CheckContext, node: Node) -> int:
    """#address-cells with the default of 2 for an absent property."""
    cells = addr_cells(ctx, node)
    return DEFAULT_ADDR_CELLS if cells == -1 else cells


def node_size_cells(ctx: CheckContext, node: Node) -> int:
    cells = size_cells(ctx, node)
    return DEFAULT_SIZE_CELLS if cells == -1 else cells


def bus_of(ctx: CheckContext, node: Node | None) -> str | None:
    """The bus type a bridge check gave ``node`` (the last one wins, as in dtc)."""
    if node is None:
        return None
    return ctx.state("bus").get(node)


def set_bus(ctx: CheckContext, node: Node, bus: str) -> None:
    ctx.state("bus")[node] = bus


def bus_nodes(*buses: str) -> Selector:
    """The nodes a bridge check marked as one of ``buses`` (at the time the check runs)."""

    def select(ctx: CheckContext) -> list[Node]:
        marks = ctx.state("bus")
        return tree_index(ctx).in_walk_order(node for node, bus in marks.items() if bus in buses)

    return select


def children_of_bus(*buses: str) -> Selector:
    """The live children of nodes marked as one of ``buses``."""
    bridges = bus_nodes(*buses)

    def select(ctx: CheckContext) -> list[Node]:
        return tree_index(ctx).in_walk_order(child for node in bridges(ctx) for child in node.nodes)

    return select
