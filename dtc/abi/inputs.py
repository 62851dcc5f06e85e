"""Boards in, records out: a .dts compiled with build's input options (its checks fill in the
phandles), a .dtb read as it is, or a record kept in a baseline; many at once with the C
preprocessor running ahead and one parse cache, as ``armboot check`` reads them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..checks.registry import registry
from ..compiler import BuildOptions, process
from ..errors import DtcError
from ..frontend import ParseCache
from ..pipeline import load_with, preprocess_ahead
from .normalise import normalise

# dtc's warning-level checks: nothing abi reports, a quarter of the time to read a board.  The error-level
# ones stay (they fill in the references, and a tree dtc refuses is not compared).
QUIET_CHECKS = [("W", f"no-{name}") for name, c in registry().items() if c.warn and not c.error]


@dataclass(frozen=True)
class Board:
    """One input: a name (a baseline's key, a history's label) and a file."""

    name: str
    path: str
    named: bool = False  # the name was given (NAME=PATH), not taken from the file

    @classmethod
    def parse(cls, arg: str) -> Board:
        """``PATH`` (named by its stem) or ``NAME=PATH``."""
        name, eq, path = arg.partition("=")
        if eq and name and path and not os.path.exists(arg):
            return cls(name, path, True)
        return cls(os.path.splitext(os.path.basename(arg))[0], arg)


def kernel_include_dirs(path: str) -> list[str]:
    """Include folders of the kernel tree a .dts lives in, found by walking up from it:
    a dts folder with include/dt-bindings beside it (the kernel's dts mirrors: include, the root,
    arm64, arm), or a kernel source tree (scripts/dtc/include-prefixes, include)."""
    here = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.isdir(os.path.join(here, "include", "dt-bindings")):
            found = [os.path.join(here, "include"), here]
            prefixes = os.path.join(here, "scripts", "dtc", "include-prefixes")
            if os.path.isdir(prefixes):
                found.insert(0, prefixes)
            found += [os.path.join(here, arch) for arch in ("arm64", "arm") if os.path.isdir(os.path.join(here, arch))]
            return found
        up = os.path.dirname(here)
        if up == here:
            return []
        here = up


class Reader:
    """Reads boards into records, sharing the parse cache between them."""

    def __init__(self, build: BuildOptions, auto_include: bool = False, locations: bool = True) -> None:
        self.build = replace(build, checks=[*build.checks, *QUIET_CHECKS])
        self.auto_include = auto_include
        self.locations = locations
        self.cache = ParseCache()

    def options(self, path: str) -> BuildOptions:
        if not self.auto_include:
            return self.build
        return replace(self.build, include_dirs=[*self.build.include_dirs, *kernel_include_dirs(path)])

    def record(self, board: Board, pre: object = None) -> dict:
        """The normalised record of one board (DtcError, with file:line:col, when it cannot be read)."""
        opts = self.options(board.path)
        tree, _deps, _diags = load_with(board.path, opts, self.cache, pre)  # type: ignore[arg-type]
        if tree.sources is not None:
            process(tree, opts)
        return normalise(tree, board.name, board.path, self.locations)

    def records(self, boards: list[Board], jobs: int = 2) -> Iterator[tuple[Board, dict | DtcError]]:
        """Each board's record (or its error), in order, the preprocessor running ahead per option set."""
        groups: dict[tuple, list[Board]] = {}
        for board in boards:
            groups.setdefault(tuple(self.options(board.path).include_dirs), []).append(board)
        ahead = {key: preprocess_ahead([b.path for b in group], self.options(group[0].path), jobs) for key, group in groups.items()}
        try:
            for board in boards:
                pre = next(ahead[tuple(self.options(board.path).include_dirs)])
                try:
                    yield board, self.record(board, pre)
                except DtcError as e:
                    yield board, e
        finally:
            for gen in ahead.values():
                gen.close()
