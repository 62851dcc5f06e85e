"""Structural checks and the reference fix-up passes (dtc's error-level checks).

phandle_references and path_references are where references get their
values: phandles are allocated in the order the walk meets references, which
is what makes armboot's DTBs byte-identical to dtc's.
"""

from __future__ import annotations

from ..data import Kind
from ..tree import Node, Property, delete_node
from .registry import CheckContext, check

LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = LOWER.upper()
DIGITS = "0123456789"
PROPNODECHARS = LOWER + UPPER + DIGITS + ",._+*#?-"


def _first_bad(name: str, allowed: str) -> int:
    for i, ch in enumerate(name):
        if ch not in allowed:
            return i
    return -1


def is_one_string(value: bytes) -> bool:
    """dtc's data_is_one_string: non-empty, one NUL, at the end."""
    return len(value) > 0 and value[-1] == 0 and value.find(b"\0") == len(value) - 1


@check(level="error")
def check_duplicate_node_names(ctx: CheckContext, node: Node) -> None:
    """Two children with the same name (deleted siblings count, as in dtc)."""
    children = node.children
    for i, child in enumerate(children):
        if child.deleted:
            continue
        for child2 in children[i + 1 :]:
            if child2.name == child.name:
                ctx.fail(child2, "Duplicate node name")


@check(level="error")
def check_duplicate_property_names(ctx: CheckContext, node: Node) -> None:
    props = node.props
    for i, prop in enumerate(props):
        if prop.deleted:
            continue
        for prop2 in props[i + 1 :]:
            if not prop2.deleted and prop2.name == prop.name:
                ctx.fail(node, "Duplicate property name", prop)


NODECHARS = LOWER + UPPER + DIGITS + ",._+-@"  # dtc's node names: no '*', '#' or '?'


@check(level="error", data=NODECHARS)
def check_node_name_chars(ctx: CheckContext, node: Node) -> None:
    bad = _first_bad(node.name, ctx.data)
    if bad >= 0:
        ctx.fail(node, f"Bad character '{node.name[bad]}' in node name")


@check(level="error", prereqs=("node_name_chars",))
def check_node_name_format(ctx: CheckContext, node: Node) -> None:
    if "@" in node.unit_address:
        ctx.fail(node, "multiple '@' characters in node name")


@check(level="error", data=PROPNODECHARS)
def check_property_name_chars(ctx: CheckContext, node: Node) -> None:
    for prop in node.properties:
        bad = _first_bad(prop.name, ctx.data)
        if bad >= 0:
            ctx.fail(node, f"Bad character '{prop.name[bad]}' in property name", prop)


def check_is_string(ctx: CheckContext, node: Node) -> None:
    """Shared by the <name>_is_string checks (dtc's CHECK_IS_STRING)."""
    prop = node.get(ctx.data)
    if prop is not None and not is_one_string(prop.value):
        ctx.fail(node, "property is not a string", prop)


check("name_is_string", level="error", data="name")(check_is_string)


@check(level="error", prereqs=("name_is_string",))
def check_name_properties(ctx: CheckContext, node: Node) -> None:
    """A correct "name" property is redundant and removed; a wrong one is an error."""
    index = next((i for i, p in enumerate(node.props) if p.name == "name"), -1)
    if index < 0:
        return
    prop = node.props[index]
    base = node.basename if node.parent is not None else ""
    value = prop.value
    if len(value) != len(base) + 1 or value[: len(base)] != base.encode("latin-1"):
        shown = value.split(b"\0", 1)[0].decode("latin-1")
        ctx.fail(node, f'"name" property is incorrect ("{shown}" instead of base node name)')
    else:
        del node.props[index]


def _label_occurrences(root: Node) -> dict[str, list[list[tuple]]]:
    """Per label: [node labels, property labels, value labels], each in dtc's search order."""
    occ: dict[str, list[list[tuple]]] = {}

    def slot(label: str, k: int) -> list[tuple]:
        return occ.setdefault(label, [[], [], []])[k]

    def walk(node: Node) -> None:
        for lb in node.labels:
            if not lb.deleted:
                slot(lb.name, 0).append((node, None, None))
        for prop in node.props:
            if prop.deleted:
                continue
            for lb in prop.labels:
                if not lb.deleted:
                    slot(lb.name, 1).append((node, prop, None))
            for m in prop.data.markers:
                if m.kind == Kind.LABEL:
                    slot(m.ref, 2).append((node, prop, m))  # type: ignore[arg-type]
        for child in node.children:
            if not child.deleted:
                walk(child)

    walk(root)
    return occ


def _describe(node: Node, prop: Property | None, mark: object) -> str:
    out = "value of " if mark is not None else ""
    if prop is not None:
        out += f"'{prop.name}' in "
    return out + node.path


@check(level="error")
def check_duplicate_label(ctx: CheckContext, node: Node) -> None:
    """A label used twice (on nodes, properties or inside values)."""
    occ = ctx.state("duplicate_label")
    if "" not in occ:  # built once per run ("" is never a label)
        occ.update(_label_occurrences(ctx.root))
        occ[""] = [[], [], []]

    def one(label: str, prop: Property | None, mark: object) -> None:
        kinds = occ[label]
        first = kinds[0][0] if kinds[0] else kinds[1][0] if kinds[1] else kinds[2][0]
        onode, oprop, omark = first
        if onode is not node or oprop is not prop or omark is not mark:
            ctx.fail(
                node,
                f"Duplicate label '{label}' on {_describe(node, prop, mark)} and {_describe(onode, oprop, omark)}",
            )

    for lb in node.labels:
        if not lb.deleted:
            one(lb.name, None, None)
    for prop in node.props:
        if prop.deleted:
            continue
        for lb in prop.labels:
            if not lb.deleted:
                one(lb.name, prop, None)
        for m in prop.data.markers:
            if m.kind == Kind.LABEL:
                one(m.ref, prop, m)  # type: ignore[arg-type]


def phandle_is_valid(value: int) -> bool:
    return value != 0 and value != 0xFFFFFFFF


def _phandle_prop(ctx: CheckContext, node: Node, name: str) -> int:
    prop = node.get(name)
    if prop is None:
        return 0
    if len(prop.value) != 4:
        ctx.fail(node, f"bad length ({len(prop.value)}) {name} property", prop)
        return 0
    for m in prop.data.markers:
        if m.kind == Kind.REF_PHANDLE:
            if ctx.tree.by_ref(m.ref) is not node:  # type: ignore[arg-type]
                ctx.fail(node, f"{name} is a reference to another node")
            return 0  # a reference to itself: allocate a phandle later
    value = prop.u32()
    if not phandle_is_valid(value):
        ctx.fail(node, f"bad value (0x{value:x}) in {name} property", prop)
        return 0
    return value


@check(level="error")
def check_explicit_phandles(ctx: CheckContext, node: Node) -> None:
    phandle = _phandle_prop(ctx, node, "phandle")
    linux_phandle = _phandle_prop(ctx, node, "linux,phandle")
    if not phandle and not linux_phandle:
        return
    if linux_phandle and phandle and phandle != linux_phandle:
        ctx.fail(node, "mismatching 'phandle' and 'linux,phandle' properties")
    if linux_phandle and not phandle:
        phandle = linux_phandle
    owners: PhandleOwners = ctx.run.cached("phandle_owners", lambda: PhandleOwners(ctx.run.live_nodes()))
    other = owners.first(phandle)
    if other is not None and other is not node:
        ctx.fail(node, f"duplicated phandle 0x{phandle:x} (seen before at {other.path})")
        return
    owners.assign(node, phandle)


class PhandleOwners:
    """The node dtc's get_node_by_phandle finds (the first in walk order holding a value), kept up to
    date while explicit_phandles assigns: one walk per pass instead of one per phandle."""

    def __init__(self, nodes: list[Node]) -> None:
        self.position = {node: i for i, node in enumerate(nodes)}
        self.owners: dict[int, list[Node]] = {}
        for node in nodes:
            if phandle_is_valid(node.phandle):
                self.owners.setdefault(node.phandle, []).append(node)

    def first(self, phandle: int) -> Node | None:
        holders = self.owners.get(phandle) if phandle_is_valid(phandle) else None
        return min(holders, key=self.position.__getitem__) if holders else None

    def assign(self, node: Node, phandle: int) -> None:
        if node.phandle == phandle:
            return
        old = self.owners.get(node.phandle)
        if old is not None and node in old:
            old.remove(node)
        node.phandle = phandle
        if phandle_is_valid(phandle) and node in self.position:
            self.owners.setdefault(phandle, []).append(node)


class PhandleAllocator:
    """dtc's get_node_phandle: the lowest unused value from a counter that only grows."""

    def __init__(self, root: Node, fmt: str) -> None:
        self.root = root
        self.used: set[int] | None = None  # explicit phandles are known only after explicit_phandles ran
        self.next = 1
        self.fmt = fmt

    def get(self, node: Node) -> int:
        if phandle_is_valid(node.phandle):
            return node.phandle
        if self.used is None:
            self.used = {n.phandle for n in self.root.walk() if phandle_is_valid(n.phandle)}
        while self.next in self.used:
            self.next += 1
        value = self.next
        node.phandle = value
        self.used.add(value)
        from ..data import cells_data

        data = cells_data(value)
        if self.fmt in ("legacy", "both") and node.get("linux,phandle") is None:
            node.props.append(Property("linux,phandle", data))
        if self.fmt in ("epapr", "both") and node.get("phandle") is None:
            node.props.append(Property("phandle", data))
        return value


def allocator(ctx: CheckContext) -> PhandleAllocator:
    state = ctx.run.scratch
    alloc = state.get("phandles")
    if alloc is None:
        alloc = state["phandles"] = PhandleAllocator(ctx.root, state.get("phandle_format", "epapr"))
    return alloc


class RefIndex:
    """Label and path lookups for a tree that is not changing (dtc's get_node_by_ref)."""

    def __init__(self, root: Node) -> None:
        self.root = root
        self.labels: dict[str, Node] = {}
        for node in root.walk():
            for lb in node.labels:
                if not lb.deleted and lb.name not in self.labels:
                    self.labels[lb.name] = node

    def get(self, ref: str) -> Node | None:
        if ref == "/":
            return self.root
        if ref.startswith("/"):
            from ..tree import find_by_path

            return find_by_path(self.root, ref)
        return self.labels.get(ref)


def ref_index(ctx: CheckContext) -> RefIndex:
    state = ctx.run.scratch
    idx = state.get("refs")
    if idx is None:
        idx = state["refs"] = RefIndex(ctx.root)
    return idx


@check(level="error", prereqs=("duplicate_node_names", "explicit_phandles"))
def check_phandle_references(ctx: CheckContext, node: Node) -> None:
    """Fill in <&label> cells, allocating phandles as references are met."""
    refs = ref_index(ctx)
    for prop in node.properties:
        markers = prop.data.markers
        if not markers:
            continue
        for m in markers:
            if m.kind != Kind.REF_PHANDLE:
                continue
            target = refs.get(m.ref)  # type: ignore[arg-type]
            if target is None:
                if not ctx.plugin:
                    ctx.fail(node, f'Reference to non-existent node or label "{m.ref}"\n', prop)
                else:
                    prop.data = prop.data.patch_cell(m.offset, 0xFFFFFFFF)
                continue
            phandle = allocator(ctx).get(target)
            prop.data = prop.data.patch_cell(m.offset, phandle)
            target.is_referenced = True


@check(level="error", prereqs=("duplicate_node_names",))
def check_path_references(ctx: CheckContext, node: Node) -> None:
    """Fill in &label outside <> with the target's full path."""
    refs = ref_index(ctx)
    for prop in node.properties:
        index = 0
        while True:
            path_refs = [m for m in prop.data.markers if m.kind == Kind.REF_PATH]
            if index >= len(path_refs):
                break
            m = path_refs[index]
            index += 1
            target = refs.get(m.ref)  # type: ignore[arg-type]
            if target is None:
                ctx.fail(node, f'Reference to non-existent node or label "{m.ref}"\n', prop)
                continue
            prop.data = prop.data.insert_at(m, target.path.encode("latin-1") + b"\0")
            target.is_referenced = True


@check(level="error", prereqs=("phandle_references", "path_references"))
def check_omit_unused_nodes(ctx: CheckContext, node: Node) -> None:
    if ctx.run.settings.generate_symbols and node.labels:
        return
    if node.omit_if_unused and not node.is_referenced:
        delete_node(node)
