"""always_fail: dtc's check for testing the check machinery itself (-W/-E always_fail)."""

from __future__ import annotations

from ..tree import Node
from .registry import CheckContext, check


@check(level="off")
def check_always_fail(ctx: CheckContext, node: Node) -> None:
    """Fails on every node, so that enabling it shows how levels and prerequisites behave."""
    ctx.fail(node, "always_fail check")
