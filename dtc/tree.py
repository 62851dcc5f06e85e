"""The tree model: the one currency shared by the compiler, checks, ABI differ and boot side.

Nodes and properties keep dtc's semantics exactly: deleted entries stay in
their lists (a later definition revives them in place), labels are prepended,
and merging follows livetree.c's merge_nodes, because property order and
phandle numbering in the DTB depend on these details.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .data import EMPTY, Data, Kind


class Label:
    __slots__ = ("deleted", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.deleted = False

    def __repr__(self) -> str:
        return f"Label({self.name!r}{', deleted' if self.deleted else ''})"


def add_label(labels: list[Label], name: str) -> None:
    """Prepend a label unless present (then revive it), as dtc's add_label."""
    for label in labels:
        if label.name == name:
            label.deleted = False
            return
    labels.insert(0, Label(name))


def live_labels(labels: list[Label]) -> list[str]:
    return [label.name for label in labels if not label.deleted]


class Property:
    __slots__ = ("data", "deleted", "labels", "name", "pos")

    def __init__(self, name: str, data: Data = EMPTY, pos: int = -1) -> None:
        self.name = name
        self.data = data
        self.labels: list[Label] = []
        self.deleted = False
        self.pos = pos

    def __repr__(self) -> str:
        return f"Property({self.name!r}, {self.data.value!r})"

    @property
    def value(self) -> bytes:
        return self.data.value

    @property
    def label_names(self) -> list[str]:
        return live_labels(self.labels)

    def cells(self) -> list[int]:
        return self.data.cells()

    def strings(self) -> list[str]:
        return self.data.strings()

    def string(self) -> str:
        return self.data.strings()[0] if self.data.value else ""

    def u32(self) -> int:
        return int.from_bytes(self.data.value[:4], "big")


class Node:
    __slots__ = (
        "addr_cells",
        "children",
        "deleted",
        "extra",
        "is_referenced",
        "labels",
        "name",
        "omit_if_unused",
        "parent",
        "phandle",
        "pos",
        "positions",
        "props",
        "size_cells",
    )

    def __init__(self, name: str = "", pos: int = -1) -> None:
        self.name = name
        self.props: list[Property] = []
        self.children: list[Node] = []
        self.labels: list[Label] = []
        self.deleted = False
        self.parent: Node | None = None
        self.phandle = 0
        self.pos = pos
        self.positions: list[int] = [pos] if pos >= 0 else []
        self.omit_if_unused = False
        self.is_referenced = False
        self.addr_cells = -1
        self.size_cells = -1
        self.extra: dict[str, object] = {}

    def __repr__(self) -> str:
        return f"Node({self.path!r})"

    # Live views (what dtc's for_each_property / for_each_child see).

    @property
    def properties(self) -> list[Property]:
        return [p for p in self.props if not p.deleted]

    @property
    def nodes(self) -> list[Node]:
        return [c for c in self.children if not c.deleted]

    @property
    def label_names(self) -> list[str]:
        return live_labels(self.labels)

    def get(self, name: str) -> Property | None:
        for p in self.props:
            if p.name == name and not p.deleted:
                return p
        return None

    def subnode(self, name: str) -> Node | None:
        for c in self.children:
            if c.name == name and not c.deleted:
                return c
        return None

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    @property
    def basename(self) -> str:
        return self.name.split("@", 1)[0]

    @property
    def unit_address(self) -> str:
        at = self.name.find("@")
        return "" if at < 0 else self.name[at + 1 :]

    @property
    def path(self) -> str:
        if self.parent is None:
            return "/"
        parts: list[str] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(parts))

    def walk(self) -> Iterator[Node]:
        """Pre-order walk of live nodes, as dtc's checks traverse (iterative: trees can be deep)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(c for c in reversed(node.children) if not c.deleted)

    def add_property(self, prop: Property) -> None:
        self.props.append(prop)

    def add_child(self, child: Node) -> None:
        child.parent = self
        self.children.append(child)

    def cell_property(self, name: str, default: int) -> int:
        prop = self.get(name)
        if prop is None or len(prop.value) != 4:
            return default
        return prop.u32()


def delete_property(prop: Property) -> None:
    prop.deleted = True
    for label in prop.labels:
        label.deleted = True


def delete_property_by_name(node: Node, name: str) -> None:
    for prop in node.props:
        if prop.name == name:
            delete_property(prop)
            return


def delete_node(node: Node) -> None:
    node.deleted = True
    for child in node.children:
        if not child.deleted:
            delete_node(child)
    for prop in node.props:
        if not prop.deleted:
            delete_property(prop)
    for label in node.labels:
        label.deleted = True


def delete_node_by_name(parent: Node, name: str) -> None:
    for child in parent.children:
        if child.name == name:
            delete_node(child)
            return


def merge_nodes(old: Node, new: Node) -> Node:
    """Merge a later definition into an earlier one (livetree.c merge_nodes)."""
    old.deleted = False
    for label in new.labels:
        add_label(old.labels, label.name)
    for new_prop in new.props:
        if new_prop.deleted:
            delete_property_by_name(old, new_prop.name)
            continue
        for old_prop in old.props:
            if old_prop.name == new_prop.name:
                for label in new_prop.labels:
                    add_label(old_prop.labels, label.name)
                old_prop.data = new_prop.data
                old_prop.deleted = False
                old_prop.pos = new_prop.pos
                break
        else:
            old.props.append(new_prop)
    for new_child in new.children:
        if new_child.deleted:
            delete_node_by_name(old, new_child.name)
            continue
        for old_child in old.children:
            if old_child.name == new_child.name:
                merge_nodes(old_child, new_child)
                break
        else:
            old.add_child(new_child)
    old.positions.extend(new.positions)
    if new.omit_if_unused:
        old.omit_if_unused = True
    return old


@dataclass
class ReserveEntry:
    address: int
    size: int
    labels: list[Label] = field(default_factory=list)


@dataclass
class DeviceTree:
    """A whole tree: root node, /memreserve/ entries, header facts and where it came from."""

    root: Node
    reserves: list[ReserveEntry] = field(default_factory=list)
    plugin: bool = False
    boot_cpuid: int = 0
    sources: object | None = None  # a SourceMap for trees compiled from DTS
    origin: str = ""

    def find(self, path: str) -> Node | None:
        return find_by_path(self.root, path)

    def by_label(self, label: str) -> Node | None:
        return find_by_label(self.root, label)

    def by_ref(self, ref: str) -> Node | None:
        return find_by_ref(self.root, ref)

    def by_phandle(self, phandle: int) -> Node | None:
        return find_by_phandle(self.root, phandle)

    def walk(self) -> Iterator[Node]:
        return self.root.walk()

    def where(self, pos: int) -> tuple[str, int, int] | None:
        """(file, line, column) of a source offset, when the tree came from DTS."""
        if self.sources is None or pos < 0:
            return None
        return self.sources.locate(pos)  # type: ignore[attr-defined]


def find_by_path(tree: Node, path: str) -> Node | None:
    """dtc's get_node_by_path: exact component names, live nodes only."""
    node = tree
    if not path:
        return None if node.deleted else node
    for part in path.split("/"):
        if not part:
            continue
        for child in node.children:
            if child.name == part and not child.deleted:
                node = child
                break
        else:
            return None
    return node


def find_by_label(tree: Node, label: str) -> Node | None:
    for lb in tree.labels:
        if lb.name == label and not lb.deleted:
            return tree
    for child in tree.children:
        if not child.deleted:
            found = find_by_label(child, label)
            if found is not None:
                return found
    return None


def find_by_ref(tree: Node, ref: str) -> Node | None:
    """Resolve ``&label`` (given as ``label``) or ``&{/path}`` (given as ``/path``)."""
    if ref == "/":
        return tree
    if ref.startswith("/"):
        return find_by_path(tree, ref)
    return find_by_label(tree, ref)


def find_by_phandle(tree: Node, phandle: int) -> Node | None:
    if phandle == 0 or phandle == 0xFFFFFFFF:
        return None
    if tree.phandle == phandle:
        return None if tree.deleted else tree
    for child in tree.children:
        if not child.deleted:
            found = find_by_phandle(child, phandle)
            if found is not None:
                return found
    return None


def renumber_phandles(tree: DeviceTree, delta: int) -> None:
    """Add ``delta`` to every phandle and to every phandle reference: the same tree to its users."""
    for node in tree.walk():
        for prop in node.properties:
            if prop.name in ("phandle", "linux,phandle"):
                prop.data = prop.data.patch_cell(0, prop.u32() + delta)
            for m in prop.data.markers:
                if m.kind == Kind.REF_PHANDLE:
                    cell = int.from_bytes(prop.value[m.offset : m.offset + 4], "big")
                    prop.data = prop.data.patch_cell(m.offset, cell + delta)
