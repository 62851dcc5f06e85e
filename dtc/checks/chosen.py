"""The special nodes: /chosen (boot parameters) and /aliases (short names for paths)."""

from __future__ import annotations

from ..tree import Node, find_by_path
from .core import LOWER, is_one_string
from .index import named, root_only
from .registry import CheckContext, check
from .values import c_string

ALIAS_NAME_CHARS = frozenset(LOWER + "0123456789-")


@check(level="warning", select=root_only)
def check_obsolete_chosen_interrupt_controller(ctx: CheckContext, root: Node) -> None:
    """/chosen once carried an interrupt-controller property; nothing reads it now."""
    chosen = find_by_path(root, "/chosen")
    prop = chosen.get("interrupt-controller") if chosen is not None else None
    if prop is not None:
        ctx.fail(root, '/chosen has obsolete "interrupt-controller" property', prop)


@check(level="warning", select=named("chosen"))
def check_chosen_node_is_root(ctx: CheckContext, node: Node) -> None:
    """A chosen node anywhere but under / is never read."""
    if node.name == "chosen" and node.parent is not ctx.root:
        ctx.fail(node, "chosen node must be at root node")


def fail_unless_string(ctx: CheckContext, node: Node, name: str) -> None:
    prop = node.get(name)
    if prop is not None and not is_one_string(prop.value):
        ctx.fail(node, "property is not a string", prop)


@check(level="warning", select=named("chosen"))
def check_chosen_node_bootargs(ctx: CheckContext, node: Node) -> None:
    """The kernel command line is one string."""
    if node.name == "chosen" and node.get("bootargs") is not None:
        fail_unless_string(ctx, node, "bootargs")


@check(level="warning", select=named("chosen"))
def check_chosen_node_stdout_path(ctx: CheckContext, node: Node) -> None:
    """stdout-path is one string; linux,stdout-path is its obsolete spelling."""
    if node.name != "chosen":
        return
    prop = node.get("stdout-path")
    if prop is None:
        prop = node.get("linux,stdout-path")
        if prop is None:
            return
        ctx.fail(node, "Use 'stdout-path' instead", prop)
    fail_unless_string(ctx, node, prop.name)


@check(level="warning", select=named("aliases"))
def check_alias_paths(ctx: CheckContext, node: Node) -> None:
    """Each alias names an existing node by path, and alias names are lowercase."""
    if node.name != "aliases":
        return
    for prop in node.properties:
        if prop.name in ("phandle", "linux,phandle"):
            continue
        if not prop.value or find_by_path(ctx.root, c_string(prop.value)) is None:
            shown = c_string(prop.value) if prop.value else "(null)"
            ctx.fail(node, f"aliases property is not a valid node ({shown})", prop)
            continue
        if any(ch not in ALIAS_NAME_CHARS for ch in prop.name):
            ctx.fail(node, "aliases property name must include only lowercase and '-'")
