"""The armboot command line: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import os
import sys

import typer

from . import abi as abi_cmd
from . import boot as boot_cmd
from . import build as build_cmd
from . import check as check_cmd
from . import linux as linux_cmd
from . import overlay as overlay_cmd
from .common import EXIT_INTERNAL

app = typer.Typer(
    help="armboot: device tree and boot toolchain for ARM",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("build", no_args_is_help=True)(build_cmd.build)
app.command("check", no_args_is_help=True)(check_cmd.check)
app.command("boot", no_args_is_help=True)(boot_cmd.boot)
app.add_typer(overlay_cmd.app, name="overlay")
app.add_typer(abi_cmd.app, name="abi")
app.add_typer(linux_cmd.app, name="linux")


@app.command()
def version() -> None:
    """Print armboot's version."""
    from importlib.metadata import version as dist_version

    print(f"armboot {dist_version('armboot')}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # an armboot bug: say so in one line; ARMBOOT_DEBUG=1 shows the traceback
        if os.environ.get("ARMBOOT_DEBUG"):
            raise
        print(f"armboot: internal error: {type(e).__name__}: {e} (set ARMBOOT_DEBUG=1 for details)", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
