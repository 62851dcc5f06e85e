"""ABI findings for machines: JSON with the decoded old and new values, and GitHub annotations,
JUnit and SARIF through the writers ``armboot check`` uses (dtc/findings.py)."""

from __future__ import annotations

import json

from .. import findings as writers
from ..errors import Diagnostic
from .diff import Comparison, Finding
from .rules import CLASSES, RULES

LEVEL = {"breaking": "error", "compatible": "note", "info": "note"}
FORMATS = ("text", "json", "junit", "github", "sarif")


def counts(findings: list[Finding]) -> dict[str, int]:
    return {cls: sum(1 for f in findings if f.cls == cls) for cls in CLASSES}


def to_diagnostic(f: Finding, file: str, tag: bool = True) -> Diagnostic:
    """A finding as a Diagnostic (rule id as the check, breaking as an error, the rest as notes,
    the class named first in the message unless ``tag`` is off)."""
    related = [("was at", f.old_location)] if f.old_location is not None and f.old_location != f.location else []
    moved = f.old_path and f.old_path != f.path and f.kind != "node-renamed"
    where = f" (was {f.old_path})" if moved else ""
    prefix = f"[{f.cls}] " if tag else ""
    return Diagnostic(LEVEL[f.cls], f"{prefix}{f.headline()}{where}", f.location, f.rule, f.path, f.property,
                      related=related, file=file)  # fmt: skip


def to_json(comparisons: list[Comparison], missing: list[str] | None = None) -> str:
    out: dict = {
        "tool": "armboot abi",
        "comparisons": [
            {
                "old": c.old,
                "new": c.new,
                **({"board": c.board} if c.board else {}),
                **({"version": c.version} if c.version else {}),
                "counts": counts(c.findings),
                "findings": [f.as_dict() for f in c.findings],
            }
            for c in comparisons
        ],
        "counts": counts([f for c in comparisons for f in c.findings]),
    }
    if missing is not None:
        out["missing"] = missing
    return json.dumps(out, indent=2) + "\n"


def render(comparisons: list[Comparison], fmt: str, version: str, missing: list[str] | None = None) -> str:
    """Every format but text (which the CLI draws, with source lines)."""
    if fmt == "json":
        return to_json(comparisons, missing)
    if fmt == "junit":  # one test case per comparison
        labels = [f"{c.old} -> {c.new}" for c in comparisons]
        diags = [to_diagnostic(f, label) for c, label in zip(comparisons, labels, strict=True) for f in c.findings]
        return writers.to_junit(diags, "armboot abi", labels)
    diags = [to_diagnostic(f, c.new) for c in comparisons for f in c.findings]
    if fmt == "github":
        return writers.to_github(diags)
    if fmt == "sarif":
        return writers.to_sarif(diags, "armboot abi", version, {r.id: r.summary for r in RULES})
    raise ValueError(f"unknown format {fmt!r}")
