"""Which old node is which new node.

First by path, going down the tree: a child keeps its name, or it is paired
with a renamed sibling of the same identity (the same compatible and reg, or,
without a compatible, the same properties), when that identity is unique on
both sides.  Then by what refers to it: a node that left its place is the new
node every reference to it now names, when the two have the same compatible
(``&misc_clk`` moved from /amba to /, ``cache-controller@0`` became
``cache-controller-0``).  What is left is removed or added; only the top of a
removed or added subtree is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .values import flat

MAX_PASSES = 8  # moving a node can make its referrers' referrers comparable; trees settle in two or three


@dataclass
class Match:
    mapping: dict[str, str] = field(default_factory=dict)  # old path -> new path
    renamed: list[tuple[str, str]] = field(default_factory=list)  # the pairs not matched by path
    removed: list[str] = field(default_factory=list)  # tops of removed subtrees (old paths)
    added: list[str] = field(default_factory=list)  # tops of added subtrees (new paths)


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _leaf(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _children(nodes: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in nodes:
        if path != "/":
            out.setdefault(parent_of(path), []).append(path)
    return out


def _identity(entry: dict) -> str | None:
    props = entry["props"]
    if "compatible" in props:
        return json.dumps(["compatible", props["compatible"], props.get("reg")], sort_keys=True)
    return json.dumps(["content", props], sort_keys=True) if props else None


class Matcher:
    def __init__(self, old: dict, new: dict) -> None:
        self.old, self.new = old, new
        self.old_children, self.new_children = _children(old), _children(new)
        self.result = Match(mapping={"/": "/"})
        self.images: set[str] = {"/"}

    def run(self) -> Match:
        self._descend("/")
        for _ in range(MAX_PASSES):
            moves = self._moves()
            if not moves:
                break
            for old_path, new_path in moves:
                self._pair(old_path, new_path)
                self._descend(old_path)
        mapping, images = self.result.mapping, self.images
        self.result.removed = [p for p in self.old if p not in mapping and parent_of(p) in mapping]
        self.result.added = [p for p in self.new if p not in images and parent_of(p) in images]
        return self.result

    def _pair(self, old_path: str, new_path: str, renamed: bool = True) -> None:
        self.result.mapping[old_path] = new_path
        self.images.add(new_path)
        if renamed:
            self.result.renamed.append((old_path, new_path))

    def _descend(self, top: str) -> None:
        """Match the subtree below an already matched node: same names, then renamed siblings."""
        queue = [top]
        while queue:
            old_parent = queue.pop()
            new_kids = {
                _leaf(p): p for p in self.new_children.get(self.result.mapping[old_parent], []) if p not in self.images
            }
            left_old = []
            for child in self.old_children.get(old_parent, []):
                if child in self.result.mapping:
                    continue
                twin = new_kids.pop(_leaf(child), None)
                if twin is None:
                    left_old.append(child)
                else:
                    self._pair(child, twin, renamed=False)
                    queue.append(child)
            for old_child, new_child in self._sibling_renames(left_old, list(new_kids.values())):
                self._pair(old_child, new_child)
                queue.append(old_child)

    def _sibling_renames(self, left_old: list[str], left_new: list[str]) -> list[tuple[str, str]]:
        """Siblings that changed name but not identity, paired where the identity is unique on both sides."""
        if not left_old or not left_new:
            return []
        olds = _by_identity(self.old, left_old)
        news = _by_identity(self.new, left_new)
        return [(o[0], news[k][0]) for k, o in olds.items() if len(o) == 1 and len(news.get(k, ())) == 1]

    def _moves(self) -> list[tuple[str, str]]:
        """Unmatched old nodes that every matched reference now names as one unmatched new node."""
        votes: dict[str, set[str]] = {}
        back: dict[str, set[str]] = {}
        for old_path, new_path in self.result.mapping.items():
            old_props, new_props = self.old[old_path]["props"], self.new[new_path]["props"]
            for name, old_value in old_props.items():
                new_value = new_props.get(name)
                if new_value is None or old_value["t"] != "cells" or new_value["t"] != "cells":
                    continue
                a, b = flat(old_value), flat(new_value)
                if len(a) != len(b):
                    continue
                for x, y in zip(a, b, strict=True):
                    if isinstance(x, str) and isinstance(y, str) and x.startswith("&/") and y.startswith("&/"):
                        votes.setdefault(x[1:], set()).add(y[1:])
                        back.setdefault(y[1:], set()).add(x[1:])
        moves = []
        for old_path, targets in votes.items():
            if old_path in self.result.mapping or len(targets) != 1:
                continue
            new_path = next(iter(targets))
            if new_path in self.images or back[new_path] != {old_path}:
                continue
            compatible = self.old[old_path]["props"].get("compatible")
            if compatible is not None and compatible == self.new[new_path]["props"].get("compatible"):
                moves.append((old_path, new_path))
        return sorted(moves)


def _by_identity(nodes: dict, paths: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in paths:
        key = _identity(nodes[path])
        if key is not None:
            out.setdefault(key, []).append(path)
    return out


def match(old: dict, new: dict) -> Match:
    """Pair the nodes of two records' ``nodes`` tables."""
    return Matcher(old, new).run()
