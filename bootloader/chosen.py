"""/chosen fix-ups, as a bootloader makes them (booting.rst; chosen.yaml).

bootargs, stdout-path, linux,initrd-start/-end (end exclusive), kaslr-seed and
rng-seed.  The seeds come from a seed value so that a run is reproducible.
"""

from __future__ import annotations

import hashlib

from armboot.dtc.data import Data, Kind, Marker
from armboot.dtc.tree import DeviceTree, Node, Property


def _chosen(tree: DeviceTree) -> Node:
    node = tree.root.subnode("chosen")
    if node is None:
        node = Node("chosen")
        tree.root.add_child(node)
    return node


def _set(node: Node, name: str, data: Data) -> None:
    prop = node.get(name)
    if prop is None:
        node.add_property(Property(name, data))
    else:
        prop.data = data


def _string(value: str) -> Data:
    return Data(value.encode() + b"\0", (Marker(0, Kind.STRING),))


def _cells(value: int, ncells: int) -> Data:
    return Data(value.to_bytes(4 * ncells, "big"), (Marker(0, Kind.UINT32),))


def fixup_chosen(
    tree: DeviceTree,
    bootargs: str | None = None,
    initrd: tuple[int, int] | None = None,
    seed: int = 0,
) -> None:
    node = _chosen(tree)
    if bootargs is not None:
        _set(node, "bootargs", _string(bootargs))
    if initrd is not None:
        cells = 2 if tree.root.cell_property("#address-cells", 2) >= 2 else 1
        _set(node, "linux,initrd-start", _cells(initrd[0], cells))
        _set(node, "linux,initrd-end", _cells(initrd[1], cells))
    digest = hashlib.sha256(f"armboot-seed-{seed}".encode()).digest()
    _set(node, "kaslr-seed", Data(digest[:8], (Marker(0, Kind.UINT64),)))
    _set(node, "rng-seed", Data(hashlib.sha256(digest).digest() * 2, (Marker(0, Kind.UINT8),)))
