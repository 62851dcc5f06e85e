"""The compilation pipeline, as named passes: load -> checks (fill references) -> generated nodes -> sort -> emit.

This is dtc's main() order; every option keeps dtc's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .checks import CheckRun, CheckSettings
from .checks.core import PhandleAllocator
from .errors import Diagnostic, DtcError
from .fdt import VERSIONS, to_dtb
from .frontend import Frontend, ParseCache, SourceOptions
from .symbols import generate_fixups, generate_label_tree, generate_local_fixups, sort_tree
from .tree import DeviceTree

PHANDLE_FORMATS = ("legacy", "epapr", "both")


@dataclass
class BuildOptions(SourceOptions):
    """Options of ``armboot build`` that shape the tree and the blob (dtc's flags)."""

    input_format: str | None = None  # "dts" | "dtb" | None: from the file name
    out_version: int = 17  # -V
    boot_cpuid: int | None = None  # -b
    reserve_slots: int = 0  # -R
    min_size: int = 0  # -S
    pad: int = 0  # -p
    align: int = 0  # -a
    phandle_format: str = "epapr"  # -H
    symbols: bool = False  # -@
    aliases: bool = False  # -A
    sort: bool = False  # -s
    force: bool = False  # -f
    checks: list[tuple[str, str]] = field(default_factory=list)  # -W / -E
    quiet: int = 0  # -q (repeatable)

    def check_settings(self) -> CheckSettings:
        return CheckSettings(list(self.checks), self.quiet, self.symbols)

    def validate(self) -> None:
        if self.out_version not in VERSIONS:
            raise DtcError(f"Unknown device tree blob version {self.out_version}")
        if self.phandle_format not in PHANDLE_FORMATS:
            raise DtcError(f"Invalid argument \"{self.phandle_format}\" to -H option")
        if self.align and self.align & (self.align - 1):
            raise DtcError("Invalid argument to -a option: alignment must be a power of two")
        self.check_settings().levels()  # unknown check names in -W/-E


@dataclass
class Compiled:
    tree: DeviceTree
    diagnostics: list[Diagnostic]
    deps: list[str]
    errors: bool = False


def guess_input_format(path: str) -> str:
    if path.endswith((".dtb", ".dtbo")):
        return "dtb"
    if path == "-":
        return "dts"
    try:
        with open(path, "rb") as f:
            if f.read(4) == b"\xd0\x0d\xfe\xed":
                return "dtb"
    except OSError:
        pass
    return "dts"


def load(path: str, opts: BuildOptions, cache: ParseCache | None = None, text: str | None = None) -> tuple[DeviceTree, list[str], list[Diagnostic]]:
    """Read a .dts (preprocessing and parsing it) or a .dtb into a tree."""
    fmt = opts.input_format or guess_input_format(path)
    if fmt == "dtb":
        return load_dtb(path)
    if fmt != "dts":
        raise DtcError(f"Unknown input format \"{fmt}\"")
    fe = Frontend(opts, cache)
    tree = fe.load(path, text)
    return tree, fe.deps, fe.diagnostics


def load_dtb(path: str) -> tuple[DeviceTree, list[str], list[Diagnostic]]:
    """A .dtb, with the reader's warnings about odd but readable parts."""
    from .fdtread import parse_dtb

    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise DtcError(Diagnostic("error", f"cannot read {path}: {e.strerror}", file=path)) from None
    tree, warnings = parse_dtb(blob, path)
    return tree, [path], warnings


def process(tree: DeviceTree, opts: BuildOptions) -> tuple[list[Diagnostic], bool]:
    """Checks (which fill in references), then /aliases, /__symbols__, fixups and sorting."""
    if opts.boot_cpuid is not None:
        tree.boot_cpuid = opts.boot_cpuid
    run = CheckRun(tree, opts.check_settings())
    allocator = PhandleAllocator(tree.root, opts.phandle_format)
    run.scratch["phandles"] = allocator
    errors = run.run()
    diags = list(run.diagnostics)
    if errors and not opts.force:
        diags.append(Diagnostic("error", "Input tree has errors, aborting (use -f to force output)", file=tree.origin))
        raise DtcError(diags)
    if opts.aliases:
        generate_label_tree(tree, "aliases", None)
    if opts.symbols:
        generate_label_tree(tree, "__symbols__", allocator)
    if tree.plugin:
        generate_fixups(tree)
        generate_local_fixups(tree)
    if opts.sort:
        sort_tree(tree)
    return diags, errors


def compile_file(path: str, opts: BuildOptions, cache: ParseCache | None = None) -> Compiled:
    tree, deps, diags = load(path, opts, cache)
    more, errors = process(tree, opts)
    return Compiled(tree, diags + more, deps, errors)


def emit(tree: DeviceTree, fmt: str, opts: BuildOptions) -> tuple[bytes, list[str]]:
    """Render a processed tree as dtb, dts or yaml bytes."""
    if fmt == "dtb":
        return to_dtb(tree, opts.out_version, opts.reserve_slots, opts.min_size, opts.pad, opts.align)
    if fmt == "dts":
        from .dtsout import to_dts

        return to_dts(tree).encode("latin-1"), []
    if fmt == "yaml":
        from .yamlout import to_yaml

        return to_yaml(tree).encode("latin-1"), []
    raise DtcError(f"Unknown output format \"{fmt}\"")
