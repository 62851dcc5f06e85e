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


def render(d: Diagnostic, console: Console = stderr) -> None:
    """One diagnostic: a headline, then the source line with a caret when the input was text."""
    where = d.where()
    check = f" ({d.check})" if d.check and d.check != "cpp" else ""
    subject = ""
    if d.path:
        subject = f"{d.path}:{d.property}: " if d.property else f"{d.path}: "
    head = f"[bold]{escape(where)}:[/bold] " if where else ""
    console.print(f"{head}[{STYLE.get(d.level, 'bold')}]{d.level}{escape(check)}:[/] {escape(subject + d.message)}")
    if d.location is not None:
        _show_source(d, console)
    for text, loc in d.related:
        console.print(f"  [dim]{escape(text)} {escape(str(loc))}[/dim]")
    if d.hint:
        console.print(f"  [cyan]hint:[/cyan] {escape(d.hint)}")


def _show_source(d: Diagnostic, console: Console) -> None:
    assert d.location is not None
    line_no = d.location.line
    original = _original_line(d)
    expanded = d.source_line.expandtabs(1) if d.source_line else None
    gutter = f"{line_no:>5} | "
    pad = " " * (len(gutter) - 2) + "| "
    caret = " " * max(d.location.column - 1, 0) + "^"
    if original is not None and (expanded is None or original.expandtabs(1) == expanded):
        console.print(f"[dim]{gutter}[/dim]{escape(original.expandtabs(1))}")
        console.print(f"[dim]{pad}[/dim][bold green]{caret}[/bold green]")
    elif original is not None:
        console.print(f"[dim]{gutter}[/dim]{escape(original.expandtabs(1))}")
        console.print(f"[dim]{pad}after the preprocessor:[/dim]")
        console.print(f"[dim]{pad}[/dim]{escape(expanded or '')}")
        console.print(f"[dim]{pad}[/dim][bold green]{caret}[/bold green]")
    elif expanded is not None:
        console.print(f"[dim]{gutter}[/dim]{escape(expanded)}")
        console.print(f"[dim]{pad}[/dim][bold green]{caret}[/bold green]")


def render_all(diags: list[Diagnostic], quiet: int = 0, console: Console = stderr) -> None:
    for d in diags:
        if d.level == "warning" and quiet >= 1:
            continue
        if d.level == "error" and quiet >= 2:
            continue
        render(d, console)
stdout = Console(highlight=False, soft_wrap=True, emoji=False)
