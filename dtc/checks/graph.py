"""OF graph bindings: ports, endpoints and their remote-endpoint links.

graph_nodes marks nodes holding endpoints as ports (and their "ports"
parents); the other checks read those marks.  dtc 1.6.1 dereferences the
root's missing parent when the root itself holds an endpoint (its
bad-graph-root tests crash); as dtc 1.8.1 does, that is reported instead.
"""

from __future__ import annotations

from ..tree import Node
from .annotations import (
    GRAPH_PORT,
    GRAPH_PORTS,
    addr_cells,
    bus_nodes,
    bus_of,
    children_of_bus,
    set_bus,
    size_cells,
)
from .core import phandle_is_valid
from .index import named, parents_of, tree_index, union, with_property
from .registry import CheckContext, check
from .values import cell


def is_endpoint(node: Node) -> bool:
    return node.basename == "endpoint" or node.get("remote-endpoint") is not None


@check(level="warning", select=parents_of(union(named("endpoint"), with_property("remote-endpoint"))))
def check_graph_nodes(ctx: CheckContext, node: Node) -> None:
    """Mark a node with endpoint children as a port, and a "ports" (or reg'd port's) parent."""
    for child in node.nodes:
        if not is_endpoint(child):
            continue
        parent = node.parent
        if parent is None:
            ctx.fail(
                node,
                f"root node contains endpoint node '{child.name}', potentially misplaced remote-endpoint property",
            )
            continue
        set_bus(ctx, node, GRAPH_PORT)
        if bus_of(ctx, parent) is None and (parent.name == "ports" or node.get("reg") is not None):
            set_bus(ctx, parent, GRAPH_PORTS)
        break


def fail_bad_graph_reg(ctx: CheckContext, node: Node) -> None:
    """A port's or endpoint's reg is one cell matching its unit address, under 1/0 cell sizes."""
    prop = node.get("reg")
    if prop is None:
        return
    if len(prop.value) != 4:
        ctx.fail(node, "graph node malformed 'reg' property")
        return
    expected = f"{cell(prop, 0):x}"
    if node.unit_address != expected:
        ctx.fail(node, f'graph node unit address error, expected "{expected}"')
    assert node.parent is not None
    parent_ac, parent_sc = addr_cells(ctx, node.parent), size_cells(ctx, node.parent)
    if parent_ac != 1:
        ctx.fail(node, f"graph node '#address-cells' is {parent_ac}, must be 1", node.get("#address-cells"))
    if parent_sc != 0:
        ctx.fail(node, f"graph node '#size-cells' is {parent_sc}, must be 0", node.get("#size-cells"))


@check(level="warning", prereqs=("graph_nodes",), select=bus_nodes(GRAPH_PORT))
def check_graph_port(ctx: CheckContext, node: Node) -> None:
    """Ports are named port[@N]."""
    if bus_of(ctx, node) != GRAPH_PORT:
        return
    if node.basename != "port":
        ctx.fail(node, "graph port node name should be 'port'")
    fail_bad_graph_reg(ctx, node)


def remote_endpoint(ctx: CheckContext, endpoint: Node) -> Node | None:
    """The node remote-endpoint points at (None when absent or unresolved, as in an overlay)."""
    prop = endpoint.get("remote-endpoint")
    if prop is None or len(prop.value) != 4:
        return None  # a malformed value makes dtc 1.6.1 abort on an assertion
    phandle = cell(prop, 0)
    if not phandle_is_valid(phandle):
        return None
    target = tree_index(ctx).by_phandle(phandle)
    if target is None:
        ctx.fail(endpoint, "graph phandle is not valid", prop)
    return target


@check(level="warning", prereqs=("graph_nodes",), select=children_of_bus(GRAPH_PORT))
def check_graph_endpoint(ctx: CheckContext, node: Node) -> None:
    """Endpoints are named endpoint[@N] and their remote-endpoint links go both ways."""
    if node.parent is None or bus_of(ctx, node.parent) != GRAPH_PORT:
        return
    if node.basename != "endpoint":
        ctx.fail(node, "graph endpoint node name should be 'endpoint'")
    fail_bad_graph_reg(ctx, node)
    remote = remote_endpoint(ctx, node)
    if remote is not None and remote_endpoint(ctx, remote) is not node:
        ctx.fail(node, f"graph connection to node '{remote.path}' is not bidirectional")


@check(level="warning", prereqs=("graph_nodes",), select=bus_nodes(GRAPH_PORTS, GRAPH_PORT))
def check_graph_child_address(ctx: CheckContext, node: Node) -> None:
    """A port(s) node with a single child at address 0 needs no #address-cells/#size-cells."""
    if bus_of(ctx, node) not in (GRAPH_PORTS, GRAPH_PORT):
        return
    count = 0
    for child in node.nodes:
        prop = child.get("reg")
        if prop is not None and (len(prop.value) != 4 or cell(prop, 0) != 0):
            # A non-zero address needs the cells; a malformed reg (on which dtc 1.6.1
            # aborts) is graph_port's or graph_endpoint's to report.
            return
        count += 1
    if count == 1 and addr_cells(ctx, node) != -1:
        ctx.fail(
            node,
            f"graph node has single child node '{node.children[0].name}', "
            "#address-cells/#size-cells are not necessary",
        )
