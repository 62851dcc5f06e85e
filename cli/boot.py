"""``armboot boot``: an emulated board from its tree, the bootloader, the payload."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.markup import escape

from .common import EXIT_BAD_INPUT, number
from .render import stderr, stdout

EXIT_TIMEOUT = 4
EXIT_FAULT = 5
EXIT_RESET = 6
EXIT_IDLE = 7
EXIT_KILLED = 8  # the debugger ended the run (GDB's ``kill``)
GDB_WAIT_PORT = 1234  # --gdb-wait alone listens where QEMU's -s does


def boot(
    board: Annotated[str, typer.Argument(help="board tree (.dts or .dtb), or the name of a bundled board")],
    kernel: Annotated[str | None, typer.Option("--kernel", help="payload: arm64 Image, ELF or raw binary")] = None,
    initrd: Annotated[str | None, typer.Option("--initrd", help="initial ramdisk")] = None,
    bootargs: Annotated[str | None, typer.Option("--bootargs", help="kernel command line (/chosen/bootargs)")] = None,
    hyp: Annotated[bool, typer.Option("--hyp/--no-hyp", help="enter the payload at EL2 (default) or at EL1 with EL2 disabled")] = True,
    cpus: Annotated[int | None, typer.Option("--cpus", help="use only the first N CPUs of the tree")] = None,
    report: Annotated[str | None, typer.Option("--report", help="write a JSON report")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="wall-clock limit in seconds")] = 60.0,
    max_insns: Annotated[str | None, typer.Option("--max-insns", help="deterministic limit in instructions")] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="counter from the wall clock (not reproducible)")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="a device without a model is an error")] = False,
    dtb_out: Annotated[str | None, typer.Option("--dtb-out", help="also write the DTB given to the payload")] = None,
    load_addr: Annotated[str | None, typer.Option("--load-addr", help="load address of a raw binary payload")] = None,
    include: Annotated[list[str], typer.Option("-i", "--include", help="include folder for a .dts board")] = [],  # noqa: B006
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="do not echo the console")] = False,
    gdb: Annotated[int | None, typer.Option("--gdb", metavar="PORT", help="serve GDB on localhost:PORT (0: any free port)")] = None,
    gdb_wait: Annotated[bool, typer.Option("--gdb-wait", help="wait for GDB before the payload's first instruction")] = False,
    linux: Annotated[bool, typer.Option("--linux", help="boot the kernel and initramfs of 'armboot linux fetch'")] = False,
    shell: Annotated[bool, typer.Option("--shell", help="with --linux: a shell on the console before power-off (type at the prompt)")] = False,
    hypervisor: Annotated[str, typer.Option("--hypervisor", help="personality of armboot's hypervisor for guests in the tree: kvm or xen")] = "kvm",
    module: Annotated[list[str], typer.Option("--module", metavar="DOMAIN[:KIND]=FILE", help="file for a guest's module (kind: kernel, ramdisk, device-tree)")] = [],  # noqa: B006
    trace: Annotated[bool, typer.Option("--trace", help="stream traps and hypervisor exits to stderr")] = False,
    stdin: Annotated[bool, typer.Option("--stdin/--no-stdin", help="type into the console UART from stdin (guests: one VM at a time, Ctrl-a three times switches)")] = True,
) -> None:
    """Boot a payload on an emulated board built from its device tree."""
    from armboot.bootloader.dom0less import Dom0lessError, parse_module_args
    from armboot.bootloader.errors import BootError
    from armboot.bootloader.report import build_report, write_report
    from armboot.bootloader.session import BootOptions, boot_and_run

    from .boards import bundled, resolve_board
    from .vmconsole import VmConsole, summary

    board = resolve_board(board)
    if not os.path.exists(board):
        stderr.print(f"[bold red]error:[/bold red] no such board: {escape(board)} (a .dts or .dtb file, or one of {', '.join(bundled())})")
        raise typer.Exit(EXIT_BAD_INPUT)
    if hypervisor not in ("kvm", "xen"):
        stderr.print(f"[bold red]error:[/bold red] --hypervisor {hypervisor}: choose kvm or xen")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        modules = parse_module_args(module)
    except Dom0lessError as e:
        stderr.print(f"[bold red]error:[/bold red] {e}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    vm_console = VmConsole(stdout)
    if shell and not linux:
        stderr.print("[bold red]error:[/bold red] --shell asks --linux's initramfs for a shell: give --linux too")
        raise typer.Exit(EXIT_BAD_INPUT)
    if linux:
        from armboot.bootloader.linux import LinuxFetchError, boot_options

        try:
            kernel, initrd, bootargs = boot_options(board, include, kernel, initrd, bootargs, shell)
        except (LinuxFetchError, BootError) as e:
            stderr.print(f"[bold red]error:[/bold red] {e}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
    opts = BootOptions(
        board=board,
        kernel=kernel,
        initrd=initrd,
        bootargs=bootargs,
        hyp=hyp,
        cpus=cpus,
        timeout=timeout,
        max_insns=number(max_insns, "--max-insns"),
        realtime=realtime,
        strict=strict,
        dtb_out=dtb_out,
        load_addr=number(load_addr, "--load-addr"),
        include_dirs=list(include),
        console=None if quiet else _echo,
        gdb_port=GDB_WAIT_PORT if gdb is None and gdb_wait else gdb,
        gdb_wait=gdb_wait,
        hypervisor=hypervisor,
        modules=modules,
        vm_console=None if quiet else vm_console,
        trace=_trace if trace else None,
        notice=None if quiet else _notice,
        gdb_listening=lambda port: stderr.print(
            f"[dim]armboot: GDB stub on localhost:{port}{' (waiting for GDB)' if gdb_wait else ''}[/dim]"
        ),
    )
    from .console_input import stdin_input

    try:
        with stdin_input(stdin) as typed:
            opts.console_input = typed
            result = boot_and_run(opts)
    except BootError as e:
        stderr.print(f"[bold red]error:[/bold red] {e}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    vm_console.flush()
    if report:
        try:
            write_report(result, report)
        except OSError as e:
            stderr.print(f"[bold red]error:[/bold red] cannot write --report {report}: {e.strerror}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
    info = build_report(result)
    for note in result.notes:
        stderr.print(f"[yellow]note:[/yellow] {note}")
    if "vms" in info and not quiet:
        stderr.print(summary(info["vms"]))
    reason = info["exit"]["reason"]
    for dev in result.machine.notes.unknown_devices:
        stderr.print(f"[yellow]note:[/yellow] no model for {dev}: it reads as zero")
    if not quiet:
        stderr.print(
            f"[dim]armboot: {reason} after {info['instructions']:,} instructions "
            f"({info['virtual_s']:.3f} s virtual, {info['wall_s']:.2f} s wall)[/dim]"
        )
    code = {"system_off": 0, "system_reset": EXIT_RESET, "timeout": EXIT_TIMEOUT, "fault": EXIT_FAULT, "killed": EXIT_KILLED}.get(
        reason, EXIT_IDLE
    )
    if code:
        if reason == "fault":
            detail = str(info["exit"].get("detail", "")).removeprefix("fault: ")
            stderr.print(f"[bold red]fault:[/bold red] {detail}")
        raise typer.Exit(code)


def _notice(message: str) -> None:
    stderr.print(f"[dim]armboot: {message}[/dim]", highlight=False)


def _trace(vm: str, vcpu: int, what: str) -> None:
    stderr.print(f"[dim]trace {vm}/{vcpu}: {what}[/dim]", highlight=False)


def _echo(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
