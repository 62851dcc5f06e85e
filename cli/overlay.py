"""``armboot overlay apply``: compiled overlays onto a base DTB, as fdtoverlay does, byte for byte."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import EXIT_BAD_INPUT, usage_error
from .render import render_all

app = typer.Typer(help="Device tree overlays.", no_args_is_help=True)


@app.command("apply", no_args_is_help=True)
def apply(
    base: Annotated[str, typer.Argument(help="the base tree (.dtb, built with -@ when overlays use its labels)")],
    overlays: Annotated[list[str], typer.Argument(help="compiled overlays (.dtbo), applied in order")],
    output: Annotated[str, typer.Option("-o", "--out", help="output DTB ('-' for stdout)")] = "",
) -> None:
    """Apply overlays to a base DTB (the same bytes as fdtoverlay -i BASE -o OUT OVERLAY...)."""
    from armboot.dtc.errors import Diagnostic, DtcError
    from armboot.dtc.outputs import write_atomic
    from armboot.dtc.overlay import apply_overlays

    if not output:
        usage_error("name the output with -o")
    blobs = []
    for path in [base, *overlays]:
        try:
            with open(path, "rb") as f:
                blobs.append((path, f.read()))
        except OSError as e:
            render_all([Diagnostic("error", f"cannot read {path}: {e.strerror}", file=path)])
            raise typer.Exit(EXIT_BAD_INPUT) from None
    try:
        result = apply_overlays(blobs[0][1], blobs[1:], base_name=base)
    except DtcError as e:
        render_all(e.diagnostics)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    write_atomic(output, result)
