"""``armboot check``: dtc's checks and binding schemas, with findings people and CI can act on."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from .build import source_options
from .common import EXIT_BAD_INPUT, EXIT_USAGE, usage_error
from .render import render_all, stderr

FORMATS = ("text", "json", "github", "junit", "sarif")


def check(
    inputs: Annotated[list[str], typer.Argument(help="DTS or DTB files", show_default=False)],
    in_format: Annotated[str | None, typer.Option("-I", "--in-format", help="input format: dts or dtb")] = None,
    include: Annotated[list[str], typer.Option("-i", "--include", help="add a folder to the include search path")] = [],  # noqa: B006
    define: Annotated[list[str], typer.Option("-D", "--define", help="define a preprocessor macro NAME[=VALUE]")] = [],  # noqa: B006
    cpp: Annotated[bool | None, typer.Option("--cpp/--no-cpp", help="force the C preprocessor on/off")] = None,
    warning: Annotated[list[str], typer.Option("-W", "--warning", help="enable/disable a check as a warning")] = [],  # noqa: B006
    error: Annotated[list[str], typer.Option("-E", "--error", help="enable/disable a check as an error")] = [],  # noqa: B006
    no_schemas: Annotated[bool, typer.Option("--no-schemas", help="dtc's checks only, no binding schemas")] = False,
    schema_dir: Annotated[list[str], typer.Option("--schemas", help="a folder of more binding schemas (e.g. a kernel's Documentation/devicetree/bindings)")] = [],  # noqa: B006
    fmt: Annotated[str, typer.Option("--format", help="text, json, github, junit or sarif")] = "text",
    output: Annotated[str | None, typer.Option("-o", "--out", help="write the report here instead of stdout")] = None,
    quiet: Annotated[int, typer.Option("-q", "--quiet", count=True, help="text: only errors (-q), nothing (-qq)")] = 0,
    strict: Annotated[bool, typer.Option("--strict", help="any finding fails (exit status 1)")] = False,
    unknown_compatible: Annotated[str, typer.Option("--unknown-compatible", help="level for compatibles (and DTB properties) no schema knows: warning, error, off")] = "warning",
) -> None:
    """Check trees with dtc's checks and binding schemas (exit 1 on an error, 0 when clean)."""
    from armboot.dtc.checker import Checker, CheckOptions
    from armboot.dtc.errors import DtcError

    if fmt not in FORMATS:
        usage_error(f"unknown format '{fmt}' (use {', '.join(FORMATS)})")
    if unknown_compatible not in ("warning", "error", "off"):
        usage_error("--unknown-compatible takes warning, error or off")
    build = source_options(include, define, cpp, in_format)
    build.checks = [("W", w) for w in warning] + [("E", e) for e in error]
    try:
        build.validate()
    except DtcError as e:
        render_all(e.diagnostics)
        raise typer.Exit(EXIT_USAGE) from None
    for folder in schema_dir:
        if not os.path.isdir(folder):
            usage_error(f"--schemas {folder}: no such folder")
    checker = Checker(CheckOptions(build, not no_schemas, list(schema_dir), unknown_compatible))
    findings = []
    for _path, found in checker.check_many(list(inputs)):
        findings.extend(found)
    _emit(findings, fmt, output, quiet, inputs)
    failing = [d for d in findings if d.level == "error" or strict]
    if failing:
        raise typer.Exit(EXIT_BAD_INPUT)


def _emit(findings: list, fmt: str, output: str | None, quiet: int, inputs: list[str]) -> None:
    from armboot.dtc import findings as formats

    if fmt == "text":
        if output:
            usage_error("-o is for machine formats; text goes to the terminal")
        _text(findings, quiet)
        return
    from importlib.metadata import version

    text = {
        "json": lambda: formats.to_json(findings),
        "github": lambda: formats.to_github(findings),
        "junit": lambda: formats.to_junit(findings, "armboot check", inputs),
        "sarif": lambda: formats.to_sarif(findings, "armboot check", version("armboot")),
    }[fmt]()
    if output:
        from armboot.dtc.outputs import write_atomic

        write_atomic(output, text.encode())
    else:
        sys.stdout.write(text)


def _text(findings: list, quiet: int) -> None:
    """Grouped by the board checked, each finding with its file:line:col, source line and caret."""
    by_file: dict[str, list] = {}
    for d in findings:
        by_file.setdefault(d.file or (d.location.file if d.location else ""), []).append(d)
    for name, group in by_file.items():
        shown = [d for d in group if not (quiet >= 1 and d.level != "error") and quiet < 2]
        if not shown:
            continue
        stderr.print(f"[bold underline]{name}[/bold underline]")
        render_all(shown, 0)
    if quiet < 2:
        errors = sum(d.level == "error" for d in findings)
        warnings = sum(d.level == "warning" for d in findings)
        stderr.print(f"[dim]{errors} error(s), {warnings} warning(s)[/dim]" if findings else "[green]clean[/green]")


__all__ = ["EXIT_BAD_INPUT", "check"]
