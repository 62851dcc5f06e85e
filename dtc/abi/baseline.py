"""Baselines: normalised records of boards under kernel-version labels, in one JSON file.

``snapshot`` adds a version's records (replacing that version's earlier ones),
``check`` compares a board as it is now with every version recorded for it,
and ``history`` walks one board through its versions, oldest first.
Records are kept without source locations, so that a baseline made on one
machine checks the same on another.
"""

from __future__ import annotations

import json
import re
from itertools import pairwise

from ..errors import Diagnostic, DtcError
from ..source import Location
from .diff import Comparison, diff
from .normalise import RECORD_FORMAT, strip_locations
from .rules import RuleSet

BASELINE_FORMAT = "armboot-abi-baseline"
BASELINE_VERSION = 1


def new_baseline() -> dict:
    return {"format": BASELINE_FORMAT, "version": BASELINE_VERSION, "boards": {}}


def read_baseline(path: str) -> dict:
    """A baseline file, checked for shape (DtcError naming the file, and the line for bad JSON)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DtcError(Diagnostic("error", f"cannot read baseline {path}: {getattr(e, 'strerror', None) or e}", file=path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DtcError(Diagnostic("error", f"not JSON: {e.msg}", Location(path, e.lineno, e.colno), file=path)) from None
    problem = _shape_problem(data)
    if problem:
        raise DtcError(Diagnostic("error", f"not an armboot ABI baseline: {problem}", file=path))
    return data


def _shape_problem(data: object) -> str:
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        return f'no "format": "{BASELINE_FORMAT}"'
    if data.get("version") != BASELINE_VERSION:
        return f"version {data.get('version')!r}, this armboot reads version {BASELINE_VERSION}"
    boards = data.get("boards")
    if not isinstance(boards, dict):
        return '"boards" is not an object'
    for name, versions in boards.items():
        if not isinstance(versions, dict):
            return f"board {name!r} is not an object of versions"
        for version, record in versions.items():
            if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT or not isinstance(record.get("nodes"), dict):
                return f"board {name!r} version {version!r} is not a record"
    return ""


def dump_baseline(baseline: dict) -> bytes:
    """Stable text (sorted keys, one property per line) so that a committed baseline diffs well."""
    values: list[str] = []

    def one_line(value: object) -> str:
        values.append(json.dumps(value, sort_keys=True))
        return f"\0{len(values) - 1}"

    shaped = {**baseline, "boards": {
        name: {version: {**record, "nodes": {
            path: {key: ({p: one_line(v) for p, v in item.items()} if key == "props" else one_line(item))
                   for key, item in entry.items()}
            for path, entry in record["nodes"].items()}}
            for version, record in versions.items()}
        for name, versions in baseline["boards"].items()}}  # fmt: skip
    text = json.dumps(shaped, indent=1, sort_keys=True)
    return (re.sub(r'"\\u0000(\d+)"', lambda m: values[int(m.group(1))], text) + "\n").encode()


def snapshot(baseline: dict, name: str, version: str, record: dict) -> None:
    baseline["boards"].setdefault(name, {})[version] = strip_locations(record)


def version_key(label: str) -> list:
    """Natural order: v4.9 before v4.14."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]


def versions(baseline: dict, name: str) -> list[str]:
    return sorted(baseline["boards"].get(name, {}), key=version_key)


def check(baseline: dict, name: str, record: dict, rules: RuleSet | None = None) -> list[Comparison]:
    """The board as it is now against each recorded version of it."""
    out = []
    for version in versions(baseline, name):
        old = baseline["boards"][name][version]
        out.append(Comparison(f"{name}@{version}", record.get("source") or name, diff(old, record, rules), name, version))
    return out


def history(records: list[tuple[str, dict]], rules: RuleSet | None = None) -> list[Comparison]:
    """Each version against the one before it, in the order given."""
    return [
        Comparison(old_label, new_label, diff(old, new, rules), new.get("name", ""), new_label)
        for (old_label, old), (new_label, new) in pairwise(records)
    ]
