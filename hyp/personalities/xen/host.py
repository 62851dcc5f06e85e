"""The host as dom0: the /hypervisor node its device tree gets, as Xen writes dom0's.

Xen tells dom0 where it may map grant-table frames (``reg[0]``), which
address space is free for mapping other domains' pages (``reg[1]``, Xen's
"extended regions"), and on which PPI events arrive (chosen after all of the
host's own PPIs are known).  Both regions lie above everything the board has
(RAM and devices), where the host's stage 2 maps nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...arch.gicv2 import GicV2
from ..guest_board import cell_groups, string_data
from .abi import XEN_VERSION

if TYPE_CHECKING:
    from armboot.dtc.tree import DeviceTree

    from ...platform.board import Machine

SZ_1G = 1 << 30
GRANT_SIZE = 0x01000000  # as a guest's grant region (GUEST_GNTTAB_SIZE)
FOREIGN_SIZE = 0x0F000000  # room for mapping other domains' pages
PPI_FIRST = 16
LEVEL_HIGH = 4


@dataclass(frozen=True)
class HostHypervisor:
    """What the host's /hypervisor node says."""

    grant_base: int
    foreign_base: int
    event_intid: int


def _split(value: int, cells: int) -> tuple[int, ...]:
    return tuple(value >> (32 * i) for i in reversed(range(cells)))


def free_window(machine: Machine) -> int:
    """The first 1 GB boundary above the board's RAM and devices."""
    top = max(r.base + r.size for r in [*machine.ram, *machine.mmio_regions])
    return -(-top // SZ_1G) * SZ_1G


def add_hypervisor_node(tree: DeviceTree, machine: Machine, event_intid: int) -> HostHypervisor:
    """Give the host tree a /hypervisor node (any previous one is replaced)."""
    from armboot.dtc.tree import Node, Property, delete_node

    root = tree.root
    for node in root.nodes:
        if node.basename == "hypervisor":
            delete_node(node)
    base = free_window(machine)
    hv = HostHypervisor(base, base + GRANT_SIZE, event_intid)
    acells, scells = root.cell_property("#address-cells", 2), root.cell_property("#size-cells", 1)
    reg = [
        _split(b, acells) + _split(s, scells)
        for b, s in ((base, GRANT_SIZE), (hv.foreign_base, FOREIGN_SIZE))
    ]
    mask = ((1 << len(machine.cpu_specs)) - 1) << 8 if isinstance(machine.gic, GicV2) else 0  # GICv2 CPU mask
    node = Node(f"hypervisor@{base:x}")
    for prop in (
        Property("compatible", string_data(f"xen,xen-{XEN_VERSION[0]}.{XEN_VERSION[1]}", "xen,xen")),
        Property("reg", cell_groups(*reg)),
        Property("interrupts", cell_groups((1, event_intid - PPI_FIRST, mask | LEVEL_HIGH))),
    ):
        node.add_property(prop)
    root.add_child(node)
    return hv
