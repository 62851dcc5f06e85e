"""What the host's device tree must say about memory the runtime took.

The host runs under its own stage 2, so it cannot touch the runtime's pool or
a guest's RAM anyway; /reserved-memory with ``no-map`` tells it so up front
(as Xen describes dom0's memory), instead of letting it find out by faults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from armboot.dtc.data import Data, Kind, Marker
from armboot.dtc.tree import DeviceTree, Node, Property

if TYPE_CHECKING:
    from .runtime import Carve


def _cells(values: list[int], ncells: int) -> Data:
    raw = b"".join(v.to_bytes(4 * ncells, "big") for v in values)
    return Data(raw, (Marker(0, Kind.UINT32),))


def add_reserved(tree: DeviceTree, carves: list[Carve]) -> None:
    """One no-map child of /reserved-memory per carve-out (the node is created as the binding says)."""
    root = tree.root
    rm = root.subnode("reserved-memory")
    acells = root.cell_property("#address-cells", 2)
    scells = root.cell_property("#size-cells", 1)
    if rm is None:
        rm = Node("reserved-memory")
        rm.add_property(Property("#address-cells", _cells([acells], 1)))
        rm.add_property(Property("#size-cells", _cells([scells], 1)))
        rm.add_property(Property("ranges"))
        root.add_child(rm)
    else:
        acells = rm.cell_property("#address-cells", acells)
        scells = rm.cell_property("#size-cells", scells)
    for carve in carves:
        node = Node(f"{carve.what}@{carve.pa:x}")
        reg = carve.pa.to_bytes(4 * acells, "big") + carve.size.to_bytes(4 * scells, "big")
        node.add_property(Property("reg", Data(reg, (Marker(0, Kind.UINT32),))))
        node.add_property(Property("no-map"))
        rm.add_child(node)
