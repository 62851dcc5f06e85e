"""Property values decoded for comparison: strings, cells grouped by the binding conventions,
phandles replaced by the paths they name.

A value is a small JSON-serialisable dict, so that a tree's record can be kept
in a baseline file and compared with a tree compiled years later:

- ``{"t": "empty"}``: a boolean property;
- ``{"t": "strings", "v": ["a", "b"]}``;
- ``{"t": "cells", "v": [[cell, ...], ...]}``: groups (one reg entry, one
  interrupt specifier, one ``<&provider args>``), each cell an int or a
  reference ``"&/path"`` (``"&?0x12"`` when no node has that phandle);
- ``{"t": "untyped", "v": [[cell, ...]]}``: cells of a DTB property no
  convention describes: any of them may be a phandle, nothing says which;
- ``{"t": "bytes", "v": "00ab..."}``;
- ``{"t": "path", "v": "/path", "s": ":115200n8"}``: a path string (aliases,
  stdout-path, __symbols__), compared as the node it names.

Where references are is known from the source's markers (a .dts) or from the
conventions dtc's own checks use (a .dtb): ``clocks`` by the provider's
``#clock-cells``, ``interrupts`` by the interrupt parent's
``#interrupt-cells``, ``reg`` by the parent's ``#address-cells`` and
``#size-cells``, and so on.  Grouping always follows the conventions, so a
.dts and the .dtb built from it give the same value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..checks.providers import PROVIDERS, is_gpio_property
from ..data import Kind
from ..tree import DeviceTree, Node, Property

Cell = int | str
Value = dict

SKIPPED = frozenset({"phandle", "linux,phandle"})  # renumbering them is not a change
SKIPPED_NODES = frozenset({"__fixups__", "__local_fixups__"})

# <&provider args...> lists: property -> (provider's cell-count property, whether it may lack it).
PHANDLE_ARRAYS: dict[str, tuple[str, bool]] = {p.prop_name: (p.cell_name, p.optional) for _, p in PROVIDERS}
PHANDLE_ARRAYS.update({
    "assigned-clocks": ("#clock-cells", False),
    "assigned-clock-parents": ("#clock-cells", False),
    "nvmem-cells": ("#nvmem-cell-cells", True),
    "interconnects": ("#interconnect-cells", False),
})
# Lists of bare phandles (kernel bindings), by name.
PHANDLE_LISTS = re.compile(
    r"(pinctrl-[0-9]+|.*-supply|memory-region|cpu-idle-states|operating-points-v2|next-level-cache"
    r"|remote-endpoint|phy-handle|cpu|interrupt-affinity|trip|ddc-i2c-bus|backlight|interrupt-parent)$"
)
# Properties whose value is a string list by their binding.
STRING_PROPS = re.compile(
    r"(compatible|status|model|device_type|label|bootargs|enable-method|method|clock-output-names"
    r"|.*-names|regulator-name|dr_mode|phy-mode|phy-connection-type)$"
)
NUMBER_PROPS = re.compile(
    r"(#.*|reg|ranges|dma-ranges|interrupts|interrupt-map-mask|.*-cells|.*-frequency|.*-hz|.*-(m|u|n|p)s"
    r"|.*-micro(volt|amp|watt)|.*-mhz|mode-.*|.*-rate|.*-rates)$"
)
PATH_PROP_NODES = frozenset({"/aliases", "/__symbols__"})
PATH_PROPS_CHOSEN = frozenset({"stdout-path", "linux,stdout-path"})
MAP_PROPS = frozenset({"iommu-map", "msi-map"})


def ref(path: str) -> str:
    return "&" + path


def is_ref(cell: Cell) -> bool:
    return isinstance(cell, str)


class Decoder:
    """What decoding needs from one tree: each node's path, nodes by phandle, interrupt parents."""

    def __init__(self, tree: DeviceTree) -> None:
        self.tree = tree
        self.paths: dict[Node, str] = {}
        self.phandles: dict[int, Node] = {}
        self.numbers: dict[Node, int] = {}
        stack: list[tuple[Node, str]] = [(tree.root, "/")]
        while stack:
            node, path = stack.pop()
            self.paths[node] = path
            ph = node.get("phandle") or node.get("linux,phandle")
            if ph is not None and len(ph.value) == 4:
                self.phandles.setdefault(ph.u32(), node)
                self.numbers[node] = ph.u32()
            prefix = path if path != "/" else ""
            for child in reversed(node.nodes):
                if child.name not in SKIPPED_NODES or node.parent is not None:
                    stack.append((child, f"{prefix}/{child.name}"))

    # Tree facts.

    def phandle_of(self, node: Node) -> int:
        return self.numbers.get(node, 0)

    def target(self, phandle: int) -> Cell:
        node = self.phandles.get(phandle)
        return ref(self.paths[node]) if node is not None else f"&?0x{phandle:x}"

    def irq_parent(self, node: Node) -> tuple[Node | None, Node | None]:
        """(interrupt parent, node whose interrupt-parent chose it), as Linux's of_irq_find_parent:
        follow interrupt-parent links or go up, until a node with #interrupt-cells."""
        via = None
        cur: Node | None = node
        for _ in range(len(self.paths) + 1):  # a loop of interrupt-parent links ends somewhere
            assert cur is not None
            link = cur.get("interrupt-parent")
            if link is not None and len(link.value) == 4:
                via = via or cur
                nxt = self.phandles.get(link.u32())
            else:
                nxt = cur.parent
            if nxt is None or nxt.get("#interrupt-cells") is not None:
                return nxt, via
            cur = nxt
        return None, via

    # Values.

    def decode(self, node: Node, prop: Property) -> Value:
        """The comparable form of one property."""
        raw = prop.value
        if not raw:
            return {"t": "empty"}
        name = prop.name
        path = self.paths[node]
        if path in PATH_PROP_NODES or (path == "/chosen" and name in PATH_PROPS_CHOSEN):
            value = self._path(raw)
            if value is not None:
                return value
        if STRING_PROPS.match(name) and raw.endswith(b"\0"):
            return {"t": "strings", "v": prop.data.strings()}
        if len(raw) % 4:
            return self._strings_or_bytes(prop)
        cells = prop.data.cells()
        refs = _marker_refs(prop)
        grouped = self._by_convention(node, prop, cells, refs)
        if grouped is not None:
            return {"t": "cells", "v": self._with_refs(grouped, refs) if refs else grouped}
        if refs is None:  # a DTB: nothing says which cells are phandles
            if not NUMBER_PROPS.match(name) and prop.data.is_string_list():
                return {"t": "strings", "v": prop.data.strings()}
            return {"t": "untyped" if not NUMBER_PROPS.match(name) else "cells", "v": [cells]}
        if not refs and not NUMBER_PROPS.match(name) and _source_strings(prop):
            return {"t": "strings", "v": prop.data.strings()}
        return {"t": "cells", "v": [self._resolve(cells, refs)]}

    def _path(self, raw: bytes) -> Value | None:
        if not raw.endswith(b"\0") or raw.count(b"\0") != 1 or not raw.startswith(b"/"):
            return None
        text = raw[:-1].decode("latin-1")
        path, colon, suffix = text.partition(":")
        return {"t": "path", "v": path, "s": colon + suffix} if colon else {"t": "path", "v": path}

    def _strings_or_bytes(self, prop: Property) -> Value:
        if prop.data.is_string_list():
            return {"t": "strings", "v": prop.data.strings()}
        return {"t": "bytes", "v": prop.value.hex()}

    def _resolve(self, cells: list[int], refs: set[int]) -> list[Cell]:
        return [self.target(c) if i in refs else c for i, c in enumerate(cells)]

    def _with_refs(self, groups: list[list[Cell]], refs: set[int]) -> list[list[Cell]]:
        """Grouped cells with every reference the source marked resolved (conventions may not know them)."""
        out = []
        at = 0
        for group in groups:
            out.append([self.target(c) if at + i in refs and isinstance(c, int) else c for i, c in enumerate(group)])
            at += len(group)
        return out

    def _by_convention(self, node: Node, prop: Property, cells: list[int], refs: set[int] | None) -> list | None:
        """Groups by the binding conventions, or None when none applies (or the value does not fit)."""
        name = prop.name
        decode = CONVENTIONS.get(name)
        if decode is not None:
            return decode(self, node, cells)
        if name in PHANDLE_ARRAYS:
            cell_name, optional = PHANDLE_ARRAYS[name]
            return self.phandle_array(cells, cell_name, optional)
        if is_gpio_property(name) and node.get("gpio-hog") is None:
            return self.phandle_array(cells, "#gpio-cells", False)
        every_cell_a_ref = refs is None or refs == set(range(len(cells)))
        if PHANDLE_LISTS.match(name) and every_cell_a_ref and all(c in self.phandles for c in cells):
            return [[self.target(c)] for c in cells]
        return None

    def phandle_array(self, cells: list[int], cell_name: str, optional: bool) -> list | None:
        """<&provider args...> groups sized by each provider's #<x>-cells (0 is an empty slot)."""
        groups: list[list[Cell]] = []
        at = 0
        while at < len(cells):
            phandle = cells[at]
            if phandle in (0, 0xFFFFFFFF):
                groups.append([phandle])
                at += 1
                continue
            provider = self.phandles.get(phandle)
            if provider is None:
                return None
            count = provider.get(cell_name)
            if (count is None and not optional) or (count is not None and len(count.value) != 4):
                return None
            n = count.u32() if count is not None else 0
            if at + 1 + n > len(cells):
                return None
            groups.append([self.target(phandle), *cells[at + 1 : at + 1 + n]])
            at += 1 + n
        return groups

    def cells_of(self, node: Node | None, name: str, default: int) -> int:
        prop = node.get(name) if node is not None else None
        return prop.u32() if prop is not None and len(prop.value) == 4 else default


def split(cells: list, size: int) -> list | None:
    if size <= 0 or len(cells) % size:
        return None
    return [cells[i : i + size] for i in range(0, len(cells), size)]


def _reg(d: Decoder, node: Node, cells: list[int]) -> list | None:
    parent = node.parent
    if parent is None:
        return None
    return split(cells, d.cells_of(parent, "#address-cells", 2) + d.cells_of(parent, "#size-cells", 1))


def _ranges(d: Decoder, node: Node, cells: list[int]) -> list | None:
    size = d.cells_of(node, "#address-cells", 2) + d.cells_of(node.parent, "#address-cells", 2)
    return split(cells, size + d.cells_of(node, "#size-cells", 1))


def _interrupts(d: Decoder, node: Node, cells: list[int]) -> list | None:
    parent, _via = d.irq_parent(node)
    if parent is None:
        return None
    groups = split(cells, d.cells_of(parent, "#interrupt-cells", 0))
    if groups and len(groups[0]) == 4 and _is_gic_v3(parent):  # arm,gic-v3: cell 4 is a PPI partition's phandle
        return [[*g[:3], d.target(g[3]) if g[3] in d.phandles else g[3]] for g in groups]
    return groups


def _is_gic_v3(node: Node) -> bool:
    compatible = node.get("compatible")
    return compatible is not None and "arm,gic-v3" in compatible.data.strings()


def _interrupt_map(d: Decoder, node: Node, cells: list[int]) -> list | None:
    """child unit address, child specifier, &parent, parent unit address, parent specifier (of_irq_parse_raw)."""
    scope: Node | None = node
    while scope is not None and scope.get("#address-cells") is None:  # Linux looks up the tree here
        scope = scope.parent
    head = d.cells_of(scope, "#address-cells", 2) + d.cells_of(node, "#interrupt-cells", 0)
    groups: list[list[Cell]] = []
    at = 0
    while at < len(cells):
        parent = d.phandles.get(cells[at + head]) if at + head < len(cells) else None
        if parent is None:
            return None
        tail = d.cells_of(parent, "#address-cells", 0) + d.cells_of(parent, "#interrupt-cells", 0)
        end = at + head + 1 + tail
        if end > len(cells):
            return None
        groups.append([*cells[at : at + head], d.target(cells[at + head]), *cells[at + head + 1 : end]])
        at = end
    return groups


def _id_map(d: Decoder, node: Node, cells: list[int]) -> list | None:
    """iommu-map / msi-map: <id-base &controller controller-base length> entries."""
    groups = split(cells, 4)
    if groups is None or any(g[1] not in d.phandles for g in groups):
        return None
    return [[g[0], d.target(g[1]), g[2], g[3]] for g in groups]


CONVENTIONS: dict[str, Callable[[Decoder, Node, list[int]], list | None]] = {
    "reg": _reg,
    "ranges": _ranges,
    "dma-ranges": _ranges,
    "interrupts": _interrupts,
    "interrupt-map": _interrupt_map,
    "iommu-map": _id_map,
    "msi-map": _id_map,
}


def _marker_refs(prop: Property) -> set[int] | None:
    """Cell indexes of phandle references in a value from source; None for a DTB value (no markers)."""
    markers = prop.data.markers
    if not markers:
        return None
    return {m.offset // 4 for m in markers if m.kind == Kind.REF_PHANDLE and m.offset % 4 == 0}


def _source_strings(prop: Property) -> bool:
    """A value written as strings in the source (its markers say so)."""
    kinds = {m.kind for m in prop.data.markers if m.kind not in (Kind.LABEL, Kind.REF_PATH)}
    return kinds == {Kind.STRING} and prop.data.is_string_list()


# Reading values back (records are plain JSON).


def flat(value: Value) -> list:
    """The cells of a cells/untyped value, in order; strings, bytes and paths as one item."""
    t = value["t"]
    if t in ("cells", "untyped"):
        return [c for group in value["v"] for c in group]
    if t == "empty":
        return []
    return [value.get("v"), value.get("s", "")] if t == "path" else [value["v"]]


def raw(value: Value) -> bytes | None:
    """The bytes of a value without references (to compare a string with cells that read the same)."""
    t = value["t"]
    if t == "strings":
        return b"".join(s.encode("latin-1") + b"\0" for s in value["v"])
    if t in ("cells", "untyped") and not any(isinstance(c, str) for c in flat(value)):
        return b"".join(c.to_bytes(4, "big") for c in flat(value))
    if t == "bytes":
        return bytes.fromhex(value["v"])
    return None


def references(value: Value) -> list[str]:
    """The node paths a value names (phandle references and path strings)."""
    t = value["t"]
    if t == "path":
        return [value["v"]]
    if t == "cells":
        return [c[1:] for group in value["v"] for c in group if isinstance(c, str) and c.startswith("&/")]
    return []


def show(value: Value | None, limit: int = 160) -> str:
    """A value as DTS-like text, shortened for one line."""
    if value is None:
        return "(none)"
    t = value["t"]
    if t == "empty":
        return "(empty)"
    if t == "strings":
        text = ", ".join(f'"{s}"' for s in value["v"])
    elif t == "path":
        text = f'"{value["v"]}{value.get("s", "")}"'
    elif t == "bytes":
        text = "[" + " ".join(value["v"][i : i + 2] for i in range(0, len(value["v"]), 2)) + "]"
    else:
        text = ", ".join("<" + " ".join(c if isinstance(c, str) else hex(c) for c in g) + ">" for g in value["v"])
        if t == "untyped":
            text += " (untyped: a DTB does not say which cells are phandles)"
    return text if len(text) <= limit else text[: limit - 3] + "..."
