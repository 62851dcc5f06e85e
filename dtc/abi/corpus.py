"""Two kernel versions' device trees side by side: the boards both have, each diffed.

A kernel dts folder laid out as the kernel's (``<root>/arm64/<vendor>/<board>.dts``,
``<root>/include/dt-bindings``) is read with the kernel's include folders.  A
board is the same board in both versions when its path below ``<root>/<arch>``
is the same, or, for boards that moved to another folder, its file name is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..compiler import BuildOptions
from ..errors import DtcError
from .diff import Comparison, diff
from .inputs import Board, Reader
from .rules import RuleSet


def kernel_options(root: str | Path) -> BuildOptions:
    """The include folders the kernel's build gives dtc for a dts tree (see the corpus README)."""
    root = Path(root)
    return BuildOptions(include_dirs=[str(root / "include"), str(root), str(root / "arm64"), str(root / "arm")])


def common_boards(old_root: str | Path, new_root: str | Path, arch: str = "arm64") -> list[tuple[str, str, str]]:
    """(name, old .dts, new .dts) for each board in both trees: same relative path, else same file name."""
    old = {str(p.relative_to(Path(old_root) / arch)): str(p) for p in sorted((Path(old_root) / arch).rglob("*.dts"))}
    new = {str(p.relative_to(Path(new_root) / arch)): str(p) for p in sorted((Path(new_root) / arch).rglob("*.dts"))}
    pairs = [(rel, old[rel], new[rel]) for rel in old if rel in new]
    left_new = {os.path.basename(rel): rel for rel in new if rel not in old}
    for rel in old:
        moved = left_new.get(os.path.basename(rel)) if rel not in new else None
        if moved is not None:
            pairs.append((moved, old[rel], new[moved]))
    return sorted(pairs)


def compare_versions(
    old_root: str | Path, new_root: str | Path, boards: list[tuple[str, str, str]], rules: RuleSet | None = None, jobs: int = 2
) -> Iterator[Comparison | tuple[str, DtcError]]:
    """Each board's old -> new comparison (or the error that kept a version from being read)."""
    old_reader, new_reader = Reader(kernel_options(old_root)), Reader(kernel_options(new_root))
    olds = {board.name: record for board, record in old_reader.records([Board(n, old) for n, old, _ in boards], jobs)}
    for board, new in new_reader.records([Board(n, new) for n, _, new in boards], jobs):
        old = olds[board.name]
        if isinstance(old, DtcError) or isinstance(new, DtcError):
            yield board.name, old if isinstance(old, DtcError) else new  # type: ignore[misc]
            continue
        yield Comparison(old["source"], new["source"], diff(old, new, rules), board.name)
