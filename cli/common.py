"""Conventions shared by the commands: exit codes and argument parsing helpers."""

from __future__ import annotations

from typing import NoReturn

import typer

from .render import stderr

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def usage_error(message: str) -> NoReturn:
    stderr.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(EXIT_USAGE)


def number(text: str | None, flag: str) -> int | None:
    """Parse a number the way dtc does (strtol base 0: 0x.., 0.., decimal)."""
    if text is None:
        return None
    try:
        t = text.strip()
        if len(t) > 1 and t[0] == "0" and t[1] not in "xX":
            return int(t, 8)
        return int(t, 0)
    except ValueError:
        usage_error(f"{flag} needs a number, not '{text}'")
