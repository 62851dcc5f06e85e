"""``armboot abi``: device tree ABI stability between two trees, across kernel versions, in CI.

Exit status: 0 clean, 1 when a finding of a --fail-on class exists (breaking
by default), 2 on bad input or usage.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from .build import source_options
from .common import EXIT_USAGE
from .render import emit, markup, render_all, stderr

EXIT_FINDINGS = 1
EXIT_BAD = EXIT_USAGE  # bad input and bad usage alike: CI must not read them as "ABI broken"

app = typer.Typer(help="Device tree ABI: what a newer tree breaks for users of an older one.", no_args_is_help=True)

InFormat = Annotated[str | None, typer.Option("-I", "--in-format", help="input format: dts or dtb (default: from the file)")]
Include = Annotated[list[str], typer.Option("-i", "--include", help="add a folder to the include search path")]
Define = Annotated[list[str], typer.Option("-D", "--define", help="define a preprocessor macro NAME[=VALUE]")]
Cpp = Annotated[bool | None, typer.Option("--cpp/--no-cpp", help="force the C preprocessor on/off")]
AutoInclude = Annotated[bool, typer.Option("--auto-include", help="add the include folders of the kernel tree each .dts is in")]
Rule = Annotated[list[str], typer.Option("--rule", help="reclass a rule: ID=breaking|compatible|info|off (repeatable)")]
Format = Annotated[str, typer.Option("--format", help="text, json, junit, github or sarif")]
Output = Annotated[str | None, typer.Option("-o", "--out", help="write the report here (machine formats)")]
FailOn = Annotated[str, typer.Option("--fail-on", help="classes that fail (exit 1), comma-separated, or none")]
Quiet = Annotated[int, typer.Option("-q", "--quiet", count=True, help="text: breaking findings only (-q), the summary only (-qq)")]


def _reader(in_format: str | None, include: list[str], define: list[str], cpp: bool | None, auto: bool, locations: bool = True):
    from armboot.dtc.abi.inputs import Reader

    return Reader(source_options(include, define, cpp, in_format), auto, locations)


def _rules(specs: list[str]):
    from armboot.dtc.abi.rules import RuleSet

    try:
        return RuleSet.parse(specs)
    except ValueError as e:
        _fail(str(e))


def _fail_classes(spec: str) -> set[str]:
    from armboot.dtc.abi.rules import CLASSES

    classes = {c.strip() for c in spec.split(",") if c.strip()} - {"none"}
    unknown = classes - set(CLASSES)
    if unknown:
        _fail(f"--fail-on takes {', '.join(CLASSES)} or none, not {', '.join(sorted(unknown))}")
    return classes


def _fail(message: str) -> NoReturn:
    stderr.print(f"[bold red]error:[/bold red] {escape(message)}")
    raise typer.Exit(EXIT_BAD)


def _bad_input(diagnostics: list) -> NoReturn:
    render_all(diagnostics)
    raise typer.Exit(EXIT_BAD)


def _check_format(fmt: str, output: str | None) -> None:
    from armboot.dtc.abi.report import FORMATS

    if fmt not in FORMATS:
        _fail(f"unknown format '{fmt}' (use {', '.join(FORMATS)})")
    if fmt == "text" and output:
        _fail("-o is for machine formats; text goes to the terminal")


def _report(comparisons: list, fmt: str, output: str | None, quiet: int, fail_on: set[str], missing: list[str] | None = None) -> None:
    """Write the report, then exit 1 when a finding of a failing class exists."""
    from armboot.dtc.abi.report import render as render_report

    if fmt == "text":
        _text(comparisons, quiet)
    else:
        from importlib.metadata import version

        _write(render_report(comparisons, fmt, version("armboot"), missing), output)
    if any(f.cls in fail_on for c in comparisons for f in c.findings):
        raise typer.Exit(EXIT_FINDINGS)


def _write(text: str, output: str | None) -> None:
    if output:
        from armboot.dtc.outputs import write_atomic

        try:
            write_atomic(output, text.encode())
        except OSError as e:
            _fail(f"cannot write {output}: {e.strerror}")
    else:
        sys.stdout.write(text)


def _text(comparisons: list, quiet: int) -> None:
    from armboot.dtc.abi.report import counts, to_diagnostic

    lines: list[str] = []
    for c in comparisons:
        n = counts(c.findings)
        lines.append(f"[bold underline]{escape(f'{c.old} -> {c.new}')}[/]: {n['breaking']} breaking, {n['compatible']} compatible, {n['info']} info")
        for f in c.findings:
            if quiet >= 2 or (quiet and f.cls != "breaking"):
                continue
            d = to_diagnostic(f, c.new, tag=False)
            d.level = f.cls
            lines += markup(d)
    if len(comparisons) != 1:
        n = counts([f for c in comparisons for f in c.findings])
        lines.append(f"{len(comparisons)} comparisons: {n['breaking']} breaking, {n['compatible']} compatible, {n['info']} info")
    emit(lines, Console(highlight=False, soft_wrap=True, emoji=False))


@app.command("diff", no_args_is_help=True)
def diff_cmd(
    old: Annotated[str, typer.Argument(help="the older tree (.dts or .dtb)", show_default=False)],
    new: Annotated[str, typer.Argument(help="the newer tree (.dts or .dtb)", show_default=False)],
    in_format: InFormat = None, include: Include = [], define: Define = [], cpp: Cpp = None,  # noqa: B006
    auto_include: AutoInclude = False, rule: Rule = [], fmt: Format = "text", output: Output = None,  # noqa: B006
    fail_on: FailOn = "breaking", quiet: Quiet = 0,
) -> None:  # fmt: skip
    """Compare two trees: every change, classed breaking, compatible or info."""
    from armboot.dtc.abi.diff import Comparison, diff
    from armboot.dtc.abi.inputs import Board
    from armboot.dtc.errors import DtcError

    _check_format(fmt, output)
    rules, failing = _rules(rule), _fail_classes(fail_on)
    reader = _reader(in_format, include, define, cpp, auto_include)
    try:
        old_rec, new_rec = reader.record(Board.parse(old)), reader.record(Board.parse(new))
    except DtcError as e:
        _bad_input(e.diagnostics)
    _report([Comparison(old, new, diff(old_rec, new_rec, rules))], fmt, output, quiet, failing)


@app.command("rules")
def rules_cmd(fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text") -> None:
    """The rules: id, default class, what they match, why, an example."""
    import json

    from armboot.dtc.abi.rules import RULES
    from armboot.dtc.abi.schemas import SCHEMA_RULES

    if fmt == "json":
        tree_rules = [{"id": r.id, "class": r.cls, "changes": list(r.kinds), "properties": list(r.props), "summary": r.summary,
                       "why": r.why, "example": r.example} for r in RULES]  # fmt: skip
        schema_rules = [{"id": k, "class": c, "summary": why} for k, (c, why) in SCHEMA_RULES.items()]
        sys.stdout.write(json.dumps({"tree": tree_rules, "schemas": schema_rules}, indent=2) + "\n")
        return
    if fmt != "text":
        _fail("--format takes text or json")
    out = Console(highlight=False, soft_wrap=True)
    out.print("[bold]Tree rules[/] (armboot abi diff/check/history), the first that matches a change decides:")
    for r in RULES:
        where = f" of {', '.join(r.props)}" if r.props else ""
        out.print(f"  [bold]{r.id}[/] {escape(f'[{r.cls}]')} on {'/'.join(r.kinds)}{escape(where)}")
        out.print(f"      {escape(r.summary)}: {escape(r.why)}\n      e.g. {escape(r.example)}")
    out.print("[bold]Schema rules[/] (armboot abi schemas):")
    for rule_id, (cls, why) in SCHEMA_RULES.items():
        out.print(f"  [bold]{rule_id}[/] {escape(f'[{cls}]')}: {escape(why)}")
    out.print("Reclass a rule with --rule ID=breaking|compatible|info|off.")


@app.command("snapshot", no_args_is_help=True)
def snapshot_cmd(
    boards: Annotated[list[str], typer.Argument(help="boards (.dts/.dtb), each PATH or NAME=PATH", show_default=False)],
    kernel_version: Annotated[str, typer.Option("--kernel-version", help="the version label to record them under")] = "",
    output: Annotated[str, typer.Option("-o", "--out", help="the baseline file (added to when it exists)")] = "",
    in_format: InFormat = None, include: Include = [], define: Define = [], cpp: Cpp = None,  # noqa: B006
    auto_include: AutoInclude = False,
) -> None:  # fmt: skip
    """Record boards under a version label in a baseline file (several versions can share one)."""
    from armboot.dtc.abi import baseline as bl
    from armboot.dtc.abi.inputs import Board
    from armboot.dtc.errors import DtcError

    if not kernel_version or not output:
        _fail("snapshot needs --kernel-version V and -o BASELINE.json")
    try:
        base = bl.read_baseline(output) if os.path.exists(output) else bl.new_baseline()
    except DtcError as e:
        _bad_input(e.diagnostics)
    reader = _reader(in_format, include, define, cpp, auto_include, locations=False)
    errors = []
    for board, record in reader.records([Board.parse(b) for b in boards]):
        if isinstance(record, DtcError):
            errors.extend(record.diagnostics)
        else:
            bl.snapshot(base, board.name, kernel_version, record)
    if errors:
        _bad_input(errors)  # a partial baseline would pass boards it never saw
    _write_baseline(output, bl.dump_baseline(base))
    stderr.print(f"[dim]{len(boards)} board(s) recorded as {kernel_version} in {output}[/dim]")


def _write_baseline(path: str, data: bytes) -> None:
    from armboot.dtc.outputs import write_atomic

    try:
        write_atomic(path, data)
    except OSError as e:
        _fail(f"cannot write {path}: {e.strerror}")


@app.command("check", no_args_is_help=True)
def check_cmd(
    boards: Annotated[list[str], typer.Argument(help="boards (.dts/.dtb), each PATH or NAME=PATH", show_default=False)],
    baseline: Annotated[str, typer.Option("--baseline", help="the baseline file (armboot abi snapshot)")] = "",
    in_format: InFormat = None, include: Include = [], define: Define = [], cpp: Cpp = None,  # noqa: B006
    auto_include: AutoInclude = False, rule: Rule = [], fmt: Format = "text", output: Output = None,  # noqa: B006
    fail_on: FailOn = "breaking", quiet: Quiet = 0,
    require_baseline: Annotated[bool, typer.Option("--require-baseline", help="a board the baseline lacks is an error")] = False,
) -> None:  # fmt: skip
    """The CI gate: each board against every version recorded for it in the baseline."""
    from armboot.dtc.abi import baseline as bl
    from armboot.dtc.abi.inputs import Board
    from armboot.dtc.errors import DtcError

    if not baseline:
        _fail("check needs --baseline FILE (make one with 'armboot abi snapshot')")
    _check_format(fmt, output)
    rules, failing = _rules(rule), _fail_classes(fail_on)
    try:
        base = bl.read_baseline(baseline)
    except DtcError as e:
        _bad_input(e.diagnostics)
    comparisons, missing, errors = [], [], []
    for board, record in _reader(in_format, include, define, cpp, auto_include).records([Board.parse(b) for b in boards]):
        if isinstance(record, DtcError):
            errors.extend(record.diagnostics)
        elif not bl.versions(base, board.name):
            missing.append(board.name)
        else:
            comparisons.extend(bl.check(base, board.name, record, rules))
    if errors:
        _bad_input(errors)
    for name in missing:
        stderr.print(f"[bold yellow]warning:[/] {name}: not in {baseline} (record it with 'armboot abi snapshot')")
    if missing and require_baseline:
        raise typer.Exit(EXIT_BAD)
    _report(comparisons, fmt, output, quiet, failing, missing)


@app.command("history")
def history_cmd(
    boards: Annotated[list[str], typer.Argument(help="one board's versions, oldest first, each LABEL=PATH or PATH", show_default=False)] = [],  # noqa: B006
    baseline: Annotated[str, typer.Option("--baseline", help="take the versions from this baseline instead")] = "",
    board: Annotated[str, typer.Option("--board", help="the board's name in --baseline")] = "",
    in_format: InFormat = None, include: Include = [], define: Define = [], cpp: Cpp = None,  # noqa: B006
    auto_include: AutoInclude = False, rule: Rule = [], fmt: Format = "text", output: Output = None,  # noqa: B006
    fail_on: FailOn = "breaking", quiet: Quiet = 0,
) -> None:  # fmt: skip
    """The timeline of one board: each version against the one before."""
    from armboot.dtc.abi import baseline as bl
    from armboot.dtc.abi.inputs import Board
    from armboot.dtc.errors import DtcError

    _check_format(fmt, output)
    rules, failing = _rules(rule), _fail_classes(fail_on)
    if baseline:
        if boards or not board:
            _fail("with --baseline, name the board with --board and give no files")
        try:
            base = bl.read_baseline(baseline)
        except DtcError as e:
            _bad_input(e.diagnostics)
        records = [(v, base["boards"][board][v]) for v in bl.versions(base, board)]
        if not records:
            _fail(f"{baseline} has no board named {board}")
    else:
        if len(boards) < 2:
            _fail("history needs two versions or more (LABEL=PATH ...), or --baseline and --board")
        records = []
        for item, record in _reader(in_format, include, define, cpp, auto_include).records([Board.parse(b) for b in boards]):
            if isinstance(record, DtcError):
                _bad_input(record.diagnostics)
            records.append((item.name if item.named else item.path, record))
    _report(bl.history(records, rules), fmt, output, quiet, failing)


@app.command("schemas", no_args_is_help=True)
def schemas_cmd(
    old_dir: Annotated[str, typer.Argument(help="the older binding schemas (a folder of YAML)", show_default=False)],
    new_dir: Annotated[str, typer.Argument(help="the newer binding schemas", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    fail_on: FailOn = "breaking",
) -> None:
    """Compare two sets of binding schemas: new required properties, removed properties, raised minItems."""
    import json

    from armboot.dtc.abi.schemas import compare, load_schemas
    from armboot.dtc.errors import DtcError

    if fmt not in ("text", "json"):
        _fail("--format takes text or json")
    failing = _fail_classes(fail_on)
    try:
        found = compare(load_schemas(old_dir), load_schemas(new_dir))
    except DtcError as e:
        _bad_input(e.diagnostics)
    if fmt == "json":
        sys.stdout.write(json.dumps([f.as_dict() for f in found], indent=2) + "\n")
    else:
        out = Console(highlight=False, soft_wrap=True)
        for f in found:
            where = f"{f.location}: " if f.location else ""
            out.print(f"{escape(where)}[bold]{f.cls}[/] ({f.rule}): {escape(f'{f.schema}{f.pointer}: {f.message}')}")
        out.print(f"{sum(f.cls == 'breaking' for f in found)} breaking, {len(found)} finding(s)")
    if any(f.cls in failing for f in found):
        raise typer.Exit(EXIT_FINDINGS)
