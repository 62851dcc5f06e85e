"""Showing diagnostics to people: file:line:col, the source line, a caret, a hint."""

from __future__ import annotations

import functools
import os

from armboot.dtc.errors import Diagnostic
from rich.console import Console
from rich.markup import escape

STYLE = {"error": "bold red", "warning": "bold yellow", "note": "bold cyan"}

stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


@functools.lru_cache(maxsize=64)
def _file_lines(path: str) -> list[str] | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None


def _original_line(d: Diagnostic) -> str | None:
    if d.location is None or not os.path.isfile(d.location.file):
        return None
    lines = _file_lines(d.location.file)
    if lines is None or not 0 < d.location.line <= len(lines):
        return None
    return lines[d.location.line - 1]


def markup(d: Diagnostic) -> list[str]:
    """One diagnostic as rich markup lines: a headline, then the source line with a caret."""
    where = d.where()
    check = f" ({d.check})" if d.check and d.check != "cpp" else ""
    subject = ""
    if d.path:
        subject = f"{d.path}:{d.property}: " if d.property else f"{d.path}: "
    head = f"[bold]{escape(where)}:[/bold] " if where else ""
    lines = [f"{head}[{STYLE.get(d.level, 'bold')}]{d.level}{escape(check)}:[/] {escape(subject + d.message)}"]
    if d.location is not None:
        lines += _source_lines(d)
    lines += [f"  [dim]{escape(text)} {escape(str(loc))}[/dim]" for text, loc in d.related]
    if d.hint:
        lines.append(f"  [cyan]hint:[/cyan] {escape(d.hint)}")
    return lines


def _as_utf8(text: str) -> str:
    """The compiler sees bytes (one char each, as dtc does); people read the file as UTF-8."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _source_lines(d: Diagnostic) -> list[str]:
    assert d.location is not None
    original = _original_line(d)
    expanded = _as_utf8(d.source_line).expandtabs(1) if d.source_line else None
    column = len(_as_utf8(d.source_line[: max(d.location.column - 1, 0)])) if d.source_line else d.location.column - 1
    gutter = f"[dim]{d.location.line:>5} | [/dim]"
    pad = " " * 6 + "| "
    caret = f"[dim]{pad}[/dim][bold green]{' ' * max(column, 0)}^[/bold green]"
    if original is not None and (expanded is None or original.expandtabs(1) == expanded):
        return [gutter + escape(original.expandtabs(1)), caret]
    if original is not None:
        after = [f"[dim]{pad}after the preprocessor:[/dim]", f"[dim]{pad}[/dim]{escape(expanded or '')}"]
        return [gutter + escape(original.expandtabs(1)), *after, caret]
    if expanded is not None:
        return [gutter + escape(expanded), caret]
    return []


def emit(lines: list[str], console: Console = stderr) -> None:
    """Print many markup lines in one call: rich's per-call cost dominates long reports."""
    if lines:
        console.print("\n".join(lines))


def render(d: Diagnostic, console: Console = stderr) -> None:
    emit(markup(d), console)


def render_all(diags: list[Diagnostic], quiet: int = 0, console: Console = stderr) -> None:
    lines: list[str] = []
    for d in diags:
        if d.level == "warning" and quiet >= 1:
            continue
        if d.level == "error" and quiet >= 2:
            continue
        lines += markup(d)
    emit(lines, console)


stdout = Console(highlight=False, soft_wrap=True, emoji=False)
