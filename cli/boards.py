"""Bundled boards: ``armboot boot virt`` finds boards/virt.dts inside the installed package."""

from __future__ import annotations

import os
from importlib import resources


def boards_dir() -> str:
    return str(resources.files("armboot.boards"))


def resolve_board(name: str) -> str:
    """A path as given, or a bundled board by name (boards/<name>.dts or boards/<name>/<name>.dts)."""
    if os.path.exists(name):
        return name
    base = boards_dir()
    for candidate in (os.path.join(base, f"{name}.dts"), os.path.join(base, name, f"{name}.dts")):
        if os.path.exists(candidate):
            return candidate
    return name


def bundled() -> list[str]:
    base = boards_dir()
    out = []
    for entry in sorted(os.listdir(base)):
        if entry.endswith(".dts"):
            out.append(entry[:-4])
        elif os.path.isfile(os.path.join(base, entry, f"{entry}.dts")):
            out.append(entry)
    return out
