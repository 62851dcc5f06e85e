"""Findings as data for machines: JSON, GitHub annotations, JUnit XML, SARIF.

One place turns Diagnostics into each format, for ``armboot check`` and
``armboot abi``; the human rendering lives in the CLI.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

from .errors import Diagnostic

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def as_record(d: Diagnostic) -> dict:
    """The JSON object of one finding."""
    loc = d.location
    record = {
        "check": d.check,
        "level": d.level,
        "path": d.path,
        "property": d.property,
        "message": d.message,
        "file": loc.file if loc is not None else d.file,
        "line": loc.line if loc is not None else None,
        "column": loc.column if loc is not None else None,
    }
    if d.file and d.file != record["file"]:
        record["input"] = d.file  # the board checked, when the finding lives in a file it includes
    if d.schema or d.check == "schema":
        record["schema"] = d.schema
    if d.dtb_offset is not None:
        record["offset"] = d.dtb_offset
    return record


def to_json(diags: list[Diagnostic]) -> str:
    return json.dumps([as_record(d) for d in diags], indent=2) + "\n"


def _gh_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_escape(text).replace(":", "%3A").replace(",", "%2C")


def to_github(diags: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands (::error file=...,line=...::message)."""
    lines = []
    for d in diags:
        kind = {"error": "error", "warning": "warning"}.get(d.level, "notice")
        params = []
        r = as_record(d)
        if r["file"]:
            params.append(f"file={_gh_prop(r['file'])}")
        if r["line"]:
            params.append(f"line={r['line']}")
        if r["column"]:
            params.append(f"col={r['column']}")
        if d.check:
            params.append(f"title={_gh_prop(d.check)}")
        subject = f"{d.path}:{d.property}: " if d.property else (f"{d.path}: " if d.path else "")
        lines.append(f"::{kind} {','.join(params)}::{_gh_escape(subject + d.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def to_junit(diags: list[Diagnostic], suite: str, inputs: list[str]) -> str:
    """One test case per input file; a failure per error-level finding, warnings as system-out."""
    by_file: dict[str, list[Diagnostic]] = {f: [] for f in inputs}
    for d in diags:
        key = d.file or (d.location.file if d.location else "")
        by_file.setdefault(key if key in by_file else (inputs[0] if inputs else key), []).append(d)
    failures = sum(1 for d in diags if d.level == "error")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<testsuites><testsuite name={quoteattr(suite)} tests=\"{len(by_file)}\" failures=\"{failures}\">",
    ]
    for name, found in by_file.items():
        out.append(f"<testcase classname={quoteattr(suite)} name={quoteattr(name)}>")
        for d in found:
            r = as_record(d)
            where = f"{r['file']}:{r['line']}:{r['column']}" if r["line"] else str(r["file"])
            text = escape(f"{where}: {d.path} {d.property} {d.message}".strip())
            if d.level == "error":
                out.append(f"<failure type={quoteattr(d.check or 'error')} message={quoteattr(d.message)}>{text}</failure>")
            else:
                out.append(f"<system-out>{escape(d.level)}: {text}</system-out>")
        out.append("</testcase>")
    out.append("</testsuite></testsuites>")
    return "\n".join(out) + "\n"


def to_sarif(diags: list[Diagnostic], tool: str, version: str, rules_help: dict[str, str] | None = None) -> str:
    """SARIF 2.1.0, for code-scanning dashboards."""
    rules: dict[str, dict] = {}
    results = []
    for d in diags:
        rule = d.check or "armboot"
        if rule not in rules:
            rules[rule] = {"id": rule, "shortDescription": {"text": (rules_help or {}).get(rule, rule)}}
        r = as_record(d)
        result: dict = {
            "ruleId": rule,
            "level": {"error": "error", "warning": "warning"}.get(d.level, "note"),
            "message": {"text": (f"{d.path}: " if d.path else "") + d.message},
        }
        if r["file"]:
            region = {"startLine": r["line"], "startColumn": r["column"]} if r["line"] else {}
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": r["file"]}, **({"region": region} if region else {})}}]
        if d.path:
            result["properties"] = {"nodePath": d.path, "property": d.property}
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": tool, "version": version, "rules": list(rules.values())}}, "results": results}],
    }
    return json.dumps(doc, indent=2) + "\n"
