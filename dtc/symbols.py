"""Generated nodes: /__symbols__ (-@), /aliases (-A), /__fixups__ and /__local_fixups__ (overlays).

Layouts follow dtc 1.6.1's livetree.c: property order is tree-walk order,
fixup entries are "path:property:offset" strings, local fixups mirror the
tree and list cell offsets.
"""

from __future__ import annotations

from .checks.core import PhandleAllocator
from .data import Data, Kind, Marker
from .errors import fail
from .tree import DeviceTree, Node, Property


def _root_child(root: Node, name: str) -> Node:
    node = root.subnode(name)
    if node is None:
        node = Node(name)
        root.add_child(node)
    return node


def _any_labels(node: Node) -> bool:
    if node.labels:
        return True
    return any(_any_labels(c) for c in node.children if not c.deleted)


def generate_label_tree(tree: DeviceTree, name: str, allocate: PhandleAllocator | None) -> None:
    """One string property per label naming its node's path; -@ also gives each labelled node a phandle."""
    if not _any_labels(tree.root):
        return
    holder = _root_child(tree.root, name)

    def walk(node: Node) -> None:
        if node.labels:
            path = node.path
            for label in node.labels:
                if label.deleted:
                    continue
                if holder.get(label.name) is not None:
                    continue
                holder.props.append(Property(label.name, Data(path.encode("latin-1") + b"\0", (Marker(0, Kind.STRING),))))
            if allocate is not None:
                allocate.get(node)
        for child in node.children:
            if not child.deleted:
                walk(child)

    walk(tree.root)


def _append(node: Node, name: str, blob: bytes, kind: Kind) -> None:
    """dtc's append_to_property: extend or create, with a type marker per piece."""
    prop = node.get(name)
    if prop is None:
        node.props.append(Property(name, Data(blob, (Marker(0, kind, name),))))
    else:
        prop.data = prop.data.with_marker(kind, name).merge(Data(blob))


def _phandle_refs(tree: DeviceTree):
    """(node, property, marker, target or None) for every <&ref>, in walk order."""
    for node in tree.walk():
        for prop in node.properties:
            for m in prop.data.markers:
                if m.kind == Kind.REF_PHANDLE:
                    yield node, prop, m, tree.by_ref(m.ref)  # type: ignore[arg-type]


def generate_fixups(tree: DeviceTree) -> None:
    """/__fixups__: for each unresolved label, where its phandle must be written."""
    if not any(target is None for *_, target in _phandle_refs(tree)):
        return
    holder = _root_child(tree.root, "__fixups__")
    for node, prop, m, target in list(_phandle_refs(tree)):
        if target is not None:
            continue
        path = node.path
        if ":" in path or ":" in prop.name:
            fail("arguments should not contain ':'", file=tree.origin)
        entry = f"{path}:{prop.name}:{m.offset}".encode("latin-1") + b"\0"
        _append(holder, m.ref, entry, Kind.STRING)  # type: ignore[arg-type]


def generate_local_fixups(tree: DeviceTree) -> None:
    """/__local_fixups__: a mirror of the tree listing offsets of resolved phandle cells."""
    if not any(target is not None for *_, target in _phandle_refs(tree)):
        return
    holder = _root_child(tree.root, "__local_fixups__")
    for node, prop, m, target in list(_phandle_refs(tree)):
        if target is None:
            continue
        chain: list[str] = []
        walk: Node | None = node
        while walk is not None and walk.parent is not None:
            chain.append(walk.name)
            walk = walk.parent
        where = holder
        for part in reversed(chain):
            where = _root_child(where, part)
        _append(where, prop.name, m.offset.to_bytes(4, "big"), Kind.UINT32)


def sort_tree(tree: DeviceTree) -> None:
    """-s: reserve entries by (address, size); properties and nodes by name."""
    tree.reserves.sort(key=lambda r: (r.address, r.size))

    def sort_node(node: Node) -> None:
        node.props.sort(key=lambda p: p.name.encode("latin-1"))
        node.children.sort(key=lambda c: c.name.encode("latin-1"))
        for child in node.children:
            sort_node(child)

    sort_node(tree.root)
