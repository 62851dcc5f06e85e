"""A tree as a normalised record: what the ABI is made of, independent of phandle numbers and order.

The record is plain JSON (a baseline file holds many of them).  Nodes are
keyed by path; each keeps its decoded properties (values.py), its phandle
number (only to read untyped DTB values, never compared) and, for nodes that
take interrupts or say where they go, the interrupt parent the kernel would
find.  Source locations (file, line, column) are kept for trees compiled from
source, so that findings can point at the line to look at.
"""

from __future__ import annotations

from ..source import Location
from ..tree import DeviceTree, Node
from .values import SKIPPED, Decoder

RECORD_FORMAT = "armboot-abi-record"
RECORD_VERSION = 1


def normalise(tree: DeviceTree, name: str = "", source: str = "", locations: bool = True) -> dict:
    """The record of a processed tree (a .dts after ``process``, or a .dtb as read)."""
    decoder = Decoder(tree)
    nodes: dict[str, dict] = {}
    where = tree.where if locations and tree.sources is not None else None
    for node, path in decoder.paths.items():
        entry: dict = {"props": {}}
        locs: dict[str, list] = {}
        for prop in node.properties:
            if prop.name in SKIPPED:
                continue
            entry["props"][prop.name] = decoder.decode(node, prop)
            if where is not None and prop.pos >= 0:
                locs[prop.name] = _loc(where(prop.pos))
        phandle = decoder.phandle_of(node)
        if phandle:
            entry["phandle"] = phandle
        irq = _irq(decoder, node)
        if irq is not None:
            entry["irq"] = irq
        if where is not None and node.pos >= 0:
            locs[""] = _loc(where(node.pos))
        if locs:
            entry["locs"] = locs
        nodes[path] = entry
    return {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "name": name,
        "source": source,
        "input": "dts" if tree.sources is not None else "dtb",
        "nodes": dict(sorted(nodes.items())),
    }


def _loc(location: Location) -> list:
    return [location.file, location.line, location.column]


def _irq(decoder: Decoder, node: Node) -> dict | None:
    """Where the node's interrupts go, for nodes that have interrupts or an interrupt-parent."""
    if node.get("interrupts") is None and node.get("interrupt-parent") is None:
        return None
    parent, via = decoder.irq_parent(node)
    out: dict = {"parent": decoder.paths[parent] if parent is not None else None}
    if via is not None:
        out["via"] = decoder.paths[via]
    return out


def strip_locations(record: dict) -> dict:
    """The record without source locations (a baseline must not depend on where it was made)."""
    nodes = {path: {k: v for k, v in entry.items() if k != "locs"} for path, entry in record["nodes"].items()}
    return {**record, "nodes": nodes}
