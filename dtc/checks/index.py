"""Lookups the semantic checks share, built once per tree state, and node selectors.

dtc answers "which node has phandle N" and "which nodes have property P" by
walking the tree each time; with dozens of checks over thousands of nodes
that is quadratic.  One pass builds the tables, in dtc's walk order, so that
checks see the nodes, and report, in the order dtc does.  The selectors give
a check only the nodes it can have something to say about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..tree import Node, Property
from .core import phandle_is_valid
from .registry import CheckContext, Selector


class TreeIndex:
    """Live nodes in walk order, nodes by phandle, by base name, and by property name."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.position = {node: i for i, node in enumerate(nodes)}
        self.phandles: dict[int, Node] = {}
        self.by_basename: dict[str, list[Node]] = {}
        self.with_unit_address: list[Node] = []
        self._having: dict[str, list[tuple[Node, Property]]] = {}
        having = self._having
        for node in nodes:
            if phandle_is_valid(node.phandle) and node.phandle not in self.phandles:
                self.phandles[node.phandle] = node
            name = node.name
            at = name.find("@")
            self.by_basename.setdefault(name if at < 0 else name[:at], []).append(node)
            if at >= 0:
                self.with_unit_address.append(node)
            for prop in node.props:
                if prop.deleted:
                    continue
                pairs = having.get(prop.name)
                if pairs is None:
                    having[prop.name] = [(node, prop)]
                elif pairs[-1][0] is not node:  # dtc's get_property finds the first live one
                    pairs.append((node, prop))

    def having(self, name: str) -> list[tuple[Node, Property]]:
        """Every live node with property ``name``, with that property, in walk order."""
        return self._having.get(name, [])

    def property_names(self) -> Iterable[str]:
        return self._having.keys()

    def by_phandle(self, phandle: int) -> Node | None:
        """dtc's get_node_by_phandle: 0 and -1 never name a node."""
        return self.phandles.get(phandle)

    def in_walk_order(self, nodes: Iterable[Node]) -> list[Node]:
        """Live nodes, each once, in walk order."""
        position = self.position
        return sorted({node for node in nodes if node in position}, key=position.__getitem__)


def tree_index(ctx: CheckContext) -> TreeIndex:
    run = ctx.run
    return run.cached("tree_index", lambda: TreeIndex(run.live_nodes()))


def with_property(*names: str) -> Selector:
    """Nodes having any of the properties ``names``."""

    def select(ctx: CheckContext) -> list[Node]:
        index = tree_index(ctx)
        if len(names) == 1:
            return [node for node, _ in index.having(names[0])]
        return index.in_walk_order(node for name in names for node, _ in index.having(name))

    return select


def with_property_named(matches: Callable[[str], bool]) -> Selector:
    """Nodes having a property whose name ``matches``."""

    def select(ctx: CheckContext) -> list[Node]:
        index = tree_index(ctx)
        names = [name for name in index.property_names() if matches(name)]
        return index.in_walk_order(node for name in names for node, _ in index.having(name))

    return select


def named(*basenames: str) -> Selector:
    """Nodes whose name, before any '@', is one of ``basenames``."""

    def select(ctx: CheckContext) -> list[Node]:
        index = tree_index(ctx)
        return index.in_walk_order(node for name in basenames for node in index.by_basename.get(name, ()))

    return select


def with_unit_address(ctx: CheckContext) -> list[Node]:
    return tree_index(ctx).with_unit_address


def root_only(ctx: CheckContext) -> list[Node]:
    return [ctx.root]


def union(*selectors: Selector) -> Selector:
    def select(ctx: CheckContext) -> list[Node]:
        return tree_index(ctx).in_walk_order(node for sel in selectors for node in sel(ctx))

    return select


def parents_of(selector: Selector) -> Selector:
    """The parents of the selected nodes."""

    def select(ctx: CheckContext) -> list[Node]:
        return tree_index(ctx).in_walk_order(node.parent for node in selector(ctx) if node.parent is not None)

    return select
