"""'Did you mean' suggestions for unknown labels and paths."""

from __future__ import annotations

import difflib

from .tree import Node


def suggest_ref(root: Node, ref: str) -> str:
    if ref.startswith("/"):
        paths = [n.path for n in root.walk()]
        close = difflib.get_close_matches(ref, paths, n=3, cutoff=0.6)
        return f"did you mean &{{{close[0]}}}?" if close else ""
    labels = sorted({lb.name for n in root.walk() for lb in n.labels if not lb.deleted})
    close = difflib.get_close_matches(ref, labels, n=3, cutoff=0.6)
    return f"did you mean &{close[0]}?" if close else ""
