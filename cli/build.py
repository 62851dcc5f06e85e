"""``armboot build``: dtc's command line, one run for many boards."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from armboot.dtc.errors import DtcError
from armboot.dtc.outputs import EXTENSIONS, default_output

if TYPE_CHECKING:  # the compiler loads when a command runs, not when the CLI starts
    from armboot.dtc.batch import Builder, Job, Outcome
    from armboot.dtc.compiler import BuildOptions

from .common import EXIT_BAD_INPUT, EXIT_USAGE, number, usage_error
from .render import render_all, stderr

InputFiles = Annotated[list[str], typer.Argument(help="DTS or DTB files ('-' reads DTS from stdin)", show_default=False)]


def source_options(
    include: list[str], define: list[str], cpp: bool | None, input_format: str | None
) -> BuildOptions:
    if input_format not in (None, "dts", "dtb"):
        usage_error(f"unknown input format '{input_format}' (use dts or dtb)")
    from armboot.dtc.compiler import BuildOptions

    return BuildOptions(include_dirs=list(include), defines=list(define), cpp=cpp, input_format=input_format)


def build(
    inputs: InputFiles,
    output: Annotated[str | None, typer.Option("-o", "--out", help="output file ('-' for stdout); default: next to the input")] = None,
    out_dir: Annotated[str | None, typer.Option("--out-dir", help="folder for outputs (<stem>.<ext>), needed for many inputs")] = None,
    in_format: Annotated[str | None, typer.Option("-I", "--in-format", help="input format: dts or dtb (default: from the file)")] = None,
    out_format: Annotated[str, typer.Option("-O", "--out-format", help="output format: dtb, dts or yaml")] = "dtb",
    include: Annotated[list[str], typer.Option("-i", "--include", help="add a folder to the include search path")] = [],  # noqa: B006
    define: Annotated[list[str], typer.Option("-D", "--define", help="define a preprocessor macro NAME[=VALUE]")] = [],  # noqa: B006
    boot_cpu: Annotated[str | None, typer.Option("-b", "--boot-cpu", help="boot_cpuid_phys in the header")] = None,
    pad: Annotated[str | None, typer.Option("-p", "--pad", help="add N bytes of padding after the blob")] = None,
    space: Annotated[str | None, typer.Option("-S", "--space", help="make the blob at least N bytes long")] = None,
    reserve: Annotated[str | None, typer.Option("-R", "--reserve", help="add N empty /memreserve/ slots")] = None,
    align: Annotated[str | None, typer.Option("-a", "--align", help="pad the blob to a multiple of N bytes")] = None,
    out_version: Annotated[str | None, typer.Option("-V", "--out-version", help="blob version (1, 2, 3, 16, 17)")] = None,
    phandle: Annotated[str, typer.Option("-H", "--phandle", help="phandle properties: legacy, epapr or both")] = "epapr",
    symbols: Annotated[bool, typer.Option("-@", "--symbols", help="emit /__symbols__ (for overlays)")] = False,
    auto_alias: Annotated[bool, typer.Option("-A", "--auto-alias", help="make /aliases from labels")] = False,
    sort: Annotated[bool, typer.Option("-s", "--sort", help="sort nodes and properties")] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="write output even when checks report errors")] = False,
    warning: Annotated[list[str], typer.Option("-W", "--warning", help="enable/disable a check as a warning: NAME or no-NAME")] = [],  # noqa: B006
    error: Annotated[list[str], typer.Option("-E", "--error", help="enable/disable a check as an error: NAME or no-NAME")] = [],  # noqa: B006
    quiet: Annotated[int, typer.Option("-q", "--quiet", count=True, help="less output (-q no warnings, -qq no errors)")] = 0,
    cpp: Annotated[bool | None, typer.Option("--cpp/--no-cpp", help="force the C preprocessor on/off (default: when the source has #include/#define)")] = None,
    depfile: Annotated[str | None, typer.Option("-d", "--out-dependency", help="write a make dependency file")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="parallel workers: processes for a large batch, cpp threads in each (default: cores)")] = 0,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not use the on-disk build cache")] = False,
) -> None:
    """Compile device trees, as dtc does (same flags), one run for many boards."""
    if out_format not in EXTENSIONS:
        usage_error(f"unknown output format '{out_format}' (use dtb, dts or yaml)")
    opts = source_options(include, define, cpp, in_format)
    opts.boot_cpuid = number(boot_cpu, "-b")
    opts.pad = number(pad, "-p") or 0
    opts.min_size = number(space, "-S") or 0
    opts.reserve_slots = number(reserve, "-R") or 0
    opts.align = number(align, "-a") or 0
    opts.out_version = number(out_version, "-V") or 17
    opts.phandle_format = phandle
    opts.symbols, opts.aliases, opts.sort, opts.force, opts.quiet = symbols, auto_alias, sort, force, quiet
    opts.checks = [("W", w) for w in warning] + [("E", e) for e in error]
    job_list = plan_jobs(inputs, output, out_dir, out_format, depfile)
    from armboot.dtc.batch import Builder

    try:
        builder = Builder(opts, use_cache=not no_cache, jobs=jobs)
        outcomes = run_with_progress(builder, job_list)
    except DtcError as e:  # bad options found by the library (e.g. an unknown check name)
        render_all(e.diagnostics)
        raise typer.Exit(EXIT_USAGE) from None
    failed = [o for o in outcomes if not o.ok]
    if len(job_list) > 1 and quiet == 0:
        cached = sum(o.cached for o in outcomes)
        stderr.print(
            f"[dim]{len(outcomes) - len(failed)}/{len(outcomes)} built ({cached} from cache)"
            + (f", {len(failed)} failed" if failed else "")
            + "[/dim]"
        )
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def plan_jobs(inputs: list[str], output: str | None, out_dir: str | None, fmt: str, depfile: str | None) -> list[Job]:
    """Decide where each output goes; refuse to overwrite an input."""
    from armboot.dtc.batch import Job

    if not inputs:
        usage_error("no input files")
    if len(inputs) > 1 and output is not None:
        usage_error("-o names one output; with several inputs use --out-dir")
    if len(inputs) > 1 and out_dir is None:
        usage_error("several inputs need --out-dir")
    if depfile and len(inputs) > 1:
        usage_error("-d works with one input")
    if out_dir is not None and not os.path.isdir(out_dir):
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as e:
            usage_error(f"cannot create --out-dir {out_dir}: {e.strerror}")
    stems = [os.path.splitext(os.path.basename(i))[0] for i in inputs]
    if out_dir is not None and len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})
        usage_error(f"two inputs would write the same output in --out-dir: {', '.join(dup)}")
    jobs = []
    for path, stem in zip(inputs, stems, strict=True):
        if output is not None:
            target = output
        elif out_dir is not None:
            target = os.path.join(out_dir, stem + EXTENSIONS[fmt])
        elif path == "-":
            target = "-"
        else:
            target = default_output(path, fmt)
        if target != "-" and path != "-" and os.path.exists(target) and os.path.samefile(target, path):
            usage_error(f"refusing to overwrite the input {path}; name another output with -o")
        jobs.append(Job(path, target, fmt, depfile))
    return jobs


def run_with_progress(builder: Builder, jobs: list[Job]) -> list[Outcome]:
    """Build, printing each input's diagnostics as it finishes; a progress bar on a terminal."""
    quiet = builder.opts.quiet

    def report(outcome: Outcome) -> None:
        render_all(outcome.diagnostics, quiet)

    if len(jobs) > 1 and sys.stderr.isatty() and quiet == 0:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]building"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=stderr, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("build", total=len(jobs))

            def tick(outcome: Outcome) -> None:
                report(outcome)
                progress.advance(task)

            return builder.run(jobs, tick)
    return builder.run(jobs, report)
