"""Two normalised records compared: nodes paired (match.py), values compared as the nodes they name.

Values are equal when their cells are, with references compared through the
pairing of nodes, so renumbered phandles and reordered nodes are no change.
Untyped DTB cells (values.py) are equal when every cell that differs is a
phandle of the same node on both sides.  Properties whose absence has a
meaning are compared by their effect: status by whether the node is
available, interrupt-parent by where the interrupts go.  Each change is then
classed by the rules (rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..source import Location
from .match import match, parent_of
from .rules import RULES, SEVERITY, RuleSet
from .values import Cell, Value, flat, raw, references, show

GONE = "\0gone"  # what an old path maps to when its node is not in the new tree
CELL_TYPES = ("cells", "untyped")
REMOVALS = ("node-removed", "property-removed", "property-removed-no-effect")


@dataclass
class Finding:
    """One classified change between an old and a new tree."""

    rule: str
    cls: str
    path: str
    property: str
    message: str
    old: Value | None = None
    new: Value | None = None
    old_path: str = ""
    new_location: Location | None = None  # of the node or property in the new tree (from source)
    old_location: Location | None = None  # in the old tree
    kind: str = field(default="", repr=False)

    @property
    def location(self) -> Location | None:
        """Where to look first: the new tree's line, the old tree's for what was removed."""
        if self.kind in REMOVALS or self.new_location is None:
            return self.old_location or self.new_location
        return self.new_location

    def as_dict(self) -> dict:
        out: dict = {
            "rule": self.rule,
            "class": self.cls,
            "path": self.path,
            "property": self.property,
            "message": self.message,
            "old": self.old,
            "new": self.new,
        }
        if self.old_path:
            out["old_path"] = self.old_path
        for key, loc in (("location", self.location), ("new_location", self.new_location), ("old_location", self.old_location)):
            out[key] = {"file": loc.file, "line": loc.line, "column": loc.column} if loc else None
        return out

    def headline(self) -> str:
        """The message with the values, for one-line formats."""
        if self.kind in ("node-removed", "node-added", "node-renamed"):
            return self.message
        return f"{self.message}: {show(self.old)} -> {show(self.new)}"


@dataclass
class Change:
    kind: str
    path: str  # in the new tree, or the old one for removed things
    prop: str
    message: str
    old: Value | None = None
    new: Value | None = None
    old_path: str = ""


class Differ:
    """Compares an old record with a new one (normalise.py) and classes the changes."""

    def __init__(self, old: dict, new: dict, rules: RuleSet | None = None) -> None:
        self.old, self.new = old["nodes"], new["nodes"]
        self.rules = rules or RuleSet()
        self.old_ph = {e["phandle"]: p for p, e in self.old.items() if "phandle" in e}
        self.new_ph = {e["phandle"]: p for p, e in self.new.items() if "phandle" in e}
        self.mapping: dict[str, str] = {}
        self.reverse: dict[str, str] = {}
        self.changes: list[Change] = []

    def run(self) -> list[Finding]:
        matched = match(self.old, self.new)
        self.mapping = matched.mapping
        self.reverse = {new: old for old, new in self.mapping.items()}
        for path in matched.removed:
            self._node_change("node-removed", path, self.old, "removed", old_path=path)
        for path in matched.added:
            self._node_change("node-added", path, self.new, "added")
        for old_path, new_path in matched.renamed:
            verb = "renamed" if self.mapping.get(parent_of(old_path)) == parent_of(new_path) else "moved"
            self._add("node-renamed", new_path, "", f"node {verb} from {old_path}", old_path=old_path)
        irq_reported: set[str] = set()
        for old_path, new_path in sorted(self.mapping.items(), key=lambda kv: kv[1]):
            self._compare_node(old_path, new_path, irq_reported)
        return self._classify()

    # Paths.

    def map_old(self, path: str | None) -> str:
        """An old node's path in the new tree's terms (GONE when it is not there); a path that names
        no old node (a stale alias) stays as it is."""
        if path is None:
            return GONE
        return self.mapping.get(path, GONE) if path in self.old else path

    # Values.

    def same(self, a: Value, b: Value) -> bool:
        ta, tb = a["t"], b["t"]
        if ta in CELL_TYPES and tb in CELL_TYPES:
            fa, fb = flat(a), flat(b)
            if len(fa) != len(fb):
                return False
            ua, ub = ta == "untyped", tb == "untyped"
            return all(self._same_cell(x, y, ua, ub) for x, y in zip(fa, fb, strict=True))
        if ta == tb == "path":
            return self.map_old(a["v"]) == b["v"] and a.get("s", "") == b.get("s", "")
        if ta != tb and a != b:  # a DTB's strings and a source's cells can be the same bytes
            old_bytes = raw(a)
            return old_bytes is not None and old_bytes == raw(b)
        return a == b

    def _appended(self, a: Value, b: Value) -> bool:
        """The new value is the old one with more entries (groups, or strings) after it."""
        if a["t"] != b["t"] or a["t"] not in ("cells", "strings") or len(b["v"]) <= len(a["v"]) or not a["v"]:
            return False
        head = {"t": a["t"], "v": b["v"][: len(a["v"])]}
        return self.same(a, head)

    def _same_cell(self, x: Cell, y: Cell, old_untyped: bool, new_untyped: bool) -> bool:
        """Equal numbers, or references to the same node: a number facing a reference, or an untyped
        number, may be a phandle the conventions did not recognise there."""
        if x == y and isinstance(x, int):
            return True
        old_target = _target(x, self.old_ph, old_untyped or isinstance(y, str))
        new_target = _target(y, self.new_ph, new_untyped or isinstance(x, str))
        if old_target is None or new_target is None:
            return x == y  # the same dangling reference
        return self.map_old(old_target) == new_target

    # Changes.

    def _add(self, kind: str, path: str, prop: str, message: str, old: Value | None = None,
             new: Value | None = None, old_path: str = "") -> None:  # fmt: skip
        self.changes.append(Change(kind, path, prop, message, old, new, old_path))

    def _node_change(self, kind: str, path: str, nodes: dict, verb: str, old_path: str = "") -> None:
        below = sum(1 for p in nodes if p.startswith(path + "/"))
        message = f"node {verb}" + (f" (with {below} node{'s' if below > 1 else ''} below it)" if below else "")
        self._add(kind, path, "", message, old_path=old_path)

    def _compare_node(self, old_path: str, new_path: str, irq_reported: set[str]) -> None:
        old_entry, new_entry = self.old[old_path], self.new[new_path]
        old_props, new_props = old_entry["props"], new_entry["props"]
        for name in [*old_props, *(n for n in new_props if n not in old_props)]:
            a, b = old_props.get(name), new_props.get(name)
            if name == "compatible":
                self._compatible(new_path, a, b)
            elif name == "status":
                self._status(new_path, a, b)
            elif name == "interrupt-parent":
                continue  # judged by where interrupts go, below
            elif a is None:
                self._add("property-added", new_path, name, "property added", None, b)
            elif b is None:
                self._add("property-removed", new_path, name, "property removed", a, None)
            else:
                if self._appended(a, b):
                    self._add("property-extended", new_path, name, f"{name}: entries appended", a, b)
                elif not self.same(a, b):
                    self._add("property-changed", new_path, name, f"{name} changed", a, b)
                self._gone_targets(new_path, name, a, b)
        self._interrupt_parent(old_entry, new_entry, new_path, irq_reported)

    def _compatible(self, path: str, a: Value | None, b: Value | None) -> None:
        old = a["v"] if a is not None and a["t"] == "strings" else None
        new = b["v"] if b is not None and b["t"] == "strings" else None
        if (a is not None and old is None) or (b is not None and new is None):  # not a string list: compare as values
            if a is None or b is None or not self.same(a, b):
                self._add("property-changed", path, "compatible", "compatible changed", a, b)
            return
        old, new = old or [], new or []
        gone = [s for s in old if s not in new]
        fresh = [s for s in new if s not in old]
        quoted = lambda entries: ", ".join(f'"{s}"' for s in entries)  # noqa: E731
        if gone:
            self._add("compatible-entry-removed", path, "compatible", f"compatible entries removed: {quoted(gone)}", a, b)
        if [s for s in old if s in new] != [s for s in new if s in old]:
            self._add("compatible-reordered", path, "compatible", "compatible entries reordered", a, b)
        if fresh:
            self._add("compatible-entry-added", path, "compatible", f"compatible entries added: {quoted(fresh)}", a, b)

    def _status(self, path: str, a: Value | None, b: Value | None) -> None:
        was, now = _available(a), _available(b)
        if was and not now:
            self._add("status-disabled", path, "status", "node disabled", a, b)
        elif now and not was:
            self._add("status-enabled", path, "status", "node enabled", a, b)
        elif a is None and b is not None:
            self._add("property-added", path, "status", "property added (no effect)", a, b)
        elif b is None and a is not None:
            self._add("property-removed-no-effect", path, "status", "property removed (no effect)", a, b)
        elif a is not None and b is not None and not was and not self.same(a, b):
            self._add("property-changed", path, "status", "status changed", a, b)

    def _interrupt_parent(self, old_entry: dict, new_entry: dict, path: str, reported: set[str]) -> None:
        """interrupt-parent by its effect: the controller the node's interrupts go to (Linux's search)."""
        old_irq, new_irq = old_entry.get("irq"), new_entry.get("irq")
        a, b = old_entry["props"].get("interrupt-parent"), new_entry["props"].get("interrupt-parent")
        old_parent = old_irq["parent"] if old_irq else None
        new_parent = new_irq["parent"] if new_irq else None
        was = self.map_old(old_parent) if old_parent is not None else None
        changed = old_irq is not None and new_irq is not None and was != new_parent
        old_shown, new_shown = a or _ref_value(old_parent), b or _ref_value(new_parent)
        if a is not None or b is not None:
            if changed:
                reported.add(path)
                self._add("interrupt-parent-changed", path, "interrupt-parent", "interrupt parent changed", old_shown, new_shown)
            elif a is None:
                self._add("property-added", path, "interrupt-parent", "property added (same interrupt parent)", a, b)
            elif b is None:
                self._add("property-removed-no-effect", path, "interrupt-parent", "property removed (same interrupt parent)", a, b)
            return
        if changed and "interrupts" in old_entry["props"] and "interrupts" in new_entry["props"]:
            via_new, via_old = new_irq.get("via"), self.map_old(old_irq.get("via"))  # type: ignore[union-attr]
            if via_new not in reported and via_old not in reported:
                via = f" (inherited from {via_new})" if via_new else " (inherited)"
                self._add("interrupt-parent-changed", path, "interrupt-parent", "interrupt parent changed" + via, old_shown, new_shown)

    def _gone_targets(self, path: str, name: str, a: Value, b: Value) -> None:
        gone = [p for p in references(a) if self.map_old(p) == GONE]
        before = flat(a)
        dangling = [c for c in flat(b) if isinstance(c, str) and c.startswith("&?") and c not in before]
        if gone or dangling:
            what = ", ".join([*gone, *(f"phandle {c[2:]}" for c in dangling)])
            self._add("reference-target-gone", path, name, f"refers to {what}, which the new tree does not have", a, b)

    # Classes.

    def _classify(self) -> list[Finding]:
        findings: list[Finding] = []
        for change in self.changes:
            claimed = self.rules.classify(change.kind, change.prop)
            if claimed is None:
                continue
            rule, cls = claimed
            findings.append(Finding(rule.id, cls, change.path, change.prop, change.message, change.old, change.new,
                                    change.old_path, *self._locations(change), kind=change.kind))  # fmt: skip
        gone = {(f.path, f.property) for f in findings if f.kind == "reference-target-gone"}
        findings = [f for f in findings if not (f.kind == "property-changed" and (f.path, f.property) in gone)]
        order = {rule_id: i for i, rule_id in enumerate(r.id for r in RULES)}
        findings.sort(key=lambda f: (f.path, f.property, SEVERITY[f.cls], order[f.rule]))
        return findings

    def _locations(self, change: Change) -> tuple[Location | None, Location | None]:
        """(new, old) source locations of the changed node or property, where the trees came from source."""
        old_path = change.old_path or self.reverse.get(change.path, "")
        new = _loc(self.new, change.path, change.prop) if change.path in self.new else None
        old = _loc(self.old, old_path, change.prop) if old_path else None
        if new is None and old is None:  # a removed node of a baseline: point at where its parent is now
            parent = self.mapping.get(parent_of(old_path or change.path))
            new = _loc(self.new, parent, "") if parent else None
        return new, old


def _target(cell: Cell, phandles: dict[int, str], untyped: bool) -> str | None:
    """The path a cell names: a reference, or in an untyped value any number that is a phandle."""
    if isinstance(cell, str):
        return cell[1:] if cell.startswith("&/") else None
    return phandles.get(cell) if untyped else None


def _available(value: Value | None) -> bool:
    """Linux's of_device_is_available: no status, "okay" or "ok"."""
    if value is None:
        return True
    return value["t"] == "strings" and bool(value["v"]) and value["v"][0] in ("okay", "ok")


def _ref_value(path: str | None) -> Value | None:
    return {"t": "cells", "v": [["&" + path]]} if path else None


def _loc(nodes: dict, path: str, prop: str) -> Location | None:
    locs = nodes.get(path, {}).get("locs")
    if not locs:
        return None
    found = locs.get(prop) or locs.get("")
    return Location(*found) if found else None


def diff(old: dict, new: dict, rules: RuleSet | None = None) -> list[Finding]:
    """The classified changes from an old record to a new one."""
    return Differ(old, new, rules).run()


@dataclass
class Comparison:
    """The findings of one old -> new comparison, with what was compared (for reports)."""

    old: str
    new: str
    findings: list[Finding]
    board: str = ""
    version: str = ""

    def count(self, cls: str) -> int:
        return sum(1 for f in self.findings if f.cls == cls)
