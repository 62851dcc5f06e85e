"""dtc's semantic checks, table-driven as in dtc's checks.c.

Each check is one small function looking at one node, registered with its
name, default level and prerequisites by the ``@check`` decorator; the run
order and the meaning of levels, prerequisites and -W/-E options follow
dtc 1.6.1 exactly, because some checks are passes that change the tree
(phandle and path references are filled in by checks).
"""

from __future__ import annotations

from .registry import TABLE_ORDER, Check, CheckContext, CheckRun, CheckSettings, check, registry

# Importing the modules registers their checks.
from . import core  # noqa: F401  isort: skip
from . import addresses, always_fail, buses, chosen, graph, names, providers, types  # noqa: F401  isort: skip

__all__ = ["TABLE_ORDER", "Check", "CheckContext", "CheckRun", "CheckSettings", "check", "registry"]
