"""The armboot command line: thin wrappers that parse arguments and call the library."""

import typer

app = typer.Typer(help="armboot: device tree and boot toolchain for ARM")


@app.command()
def version() -> None:
    """Print the version."""
    print("armboot 0.1.0")


def main() -> None:
    app()
