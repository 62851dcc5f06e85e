"""``armboot boot``: build the board from its tree, load the payload, enter it, run, report.

The bootloader's decisions are the boot protocol's (Documentation/arm64/
booting.rst): where the kernel, initrd and DTB go, /chosen fix-ups, x0 = DTB,
the CPU state at entry, EL2 (``--hyp``, the default) or EL1 with EL2 disabled
(``--no-hyp``), and how secondary CPUs wait (PSCI or spin-table).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from armboot.dtc.compiler import BuildOptions, compile_file
from armboot.dtc.errors import DtcError
from armboot.dtc.fdt import to_dtb
from armboot.dtc.tree import DeviceTree, delete_node
from armboot.hyp.arch import pstate as P
from armboot.hyp.arch.cpu import Cpu
from armboot.hyp.arch.el2 import VirtualEL2
from armboot.hyp.arch.gicv3 import GicV3
from armboot.hyp.core.scheduler import Limits, RunResult, run
from armboot.hyp.platform.bare import BarePlatform
from armboot.hyp.platform.board import Machine
from armboot.hyp.platform.firmware import Firmware
from armboot.hyp.platform.resolve import TreeError

from .chosen import fixup_chosen
from .errors import BootError
from .layout import Planner
from .payload import Payload, load_payload
from .spin_table import SpinTable

GIC_FIELD = 0xF << 24


@dataclass
class BootOptions:
    board: str
    kernel: str | None = None
    initrd: str | None = None
    bootargs: str | None = None
    hyp: bool = True
    cpus: int | None = None
    timeout: float | None = None
    max_insns: int | None = None
    realtime: bool = False
    strict: bool = False
    dtb_out: str | None = None
    load_addr: int | None = None
    seed: int = 0
    slice_insns: int = 20_000
    include_dirs: list[str] = field(default_factory=list)
    console: Callable[[bytes], None] | None = None
    gdb_port: int | None = None  # serve GDB's remote protocol on localhost (0: any free port)
    gdb_wait: bool = False  # hold the payload's first instruction until GDB attaches and continues
    gdb_listening: Callable[[int], None] | None = None  # told the port once the stub listens


@dataclass
class Boot:
    """Everything the bootloader decided, and the machine it built."""

    opts: BootOptions
    tree: DeviceTree
    machine: Machine
    payload: Payload
    dtb_address: int
    dtb: bytes
    initrd: tuple[int, int] | None
    platform: BarePlatform
    result: RunResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def entry_el(self) -> int:
        return 2 if self.opts.hyp else 1


def load_tree(board: str, include_dirs: list[str]) -> DeviceTree:
    """A .dts (compiled on the fly, with dtc's checks) or a .dtb."""
    opts = BuildOptions(include_dirs=list(include_dirs), quiet=1)
    try:
        return compile_file(board, opts).tree
    except DtcError as e:
        raise BootError("\n".join(str(d) for d in e.diagnostics)) from None


def default_kernel(tree: DeviceTree, board: str) -> str | None:
    chosen = tree.find("/chosen")
    prop = chosen.get("armboot,kernel") if chosen is not None else None
    if prop is None:
        return None
    return os.path.join(os.path.dirname(os.path.abspath(board)), prop.string())


def prepare(opts: BootOptions) -> Boot:
    if not os.path.exists(opts.board):
        raise BootError(f"no such board: {opts.board}")
    tree = load_tree(opts.board, opts.include_dirs)
    kernel = opts.kernel or default_kernel(tree, opts.board)
    if kernel is None:
        raise BootError(f"{opts.board}: no payload: give --kernel, or name one in /chosen with armboot,kernel")
    try:
        machine = Machine(tree, opts.cpus, opts.realtime, opts.strict)
    except TreeError as e:
        raise BootError(f"{opts.board}: {e}") from None
    if opts.console is not None:
        machine.console_writer = opts.console
    payload = load_payload(kernel, opts.load_addr)
    planner = Planner(machine)
    planner.place_payload(payload)
    initrd_span = None
    if opts.initrd is not None:
        try:
            with open(opts.initrd, "rb") as f:
                initrd_blob = f.read()
        except OSError as e:
            raise BootError(f"cannot read initrd {opts.initrd}: {e.strerror}") from None
        start = planner.place(len(initrd_blob), 4096, f"initrd {opts.initrd}")
        machine.write(start, initrd_blob)
        initrd_span = (start, start + len(initrd_blob))
    fixup_chosen(tree, opts.bootargs, initrd_span, opts.seed)
    trim_cpus(tree, [spec.node for spec in machine.cpu_specs])
    dtb, _ = to_dtb(tree)
    dtb_address = planner.place_dtb(len(dtb))
    machine.write(dtb_address, dtb)
    for address, data in payload.segments:
        machine.write(address, data)
    if opts.dtb_out:
        from armboot.dtc.outputs import write_atomic

        write_atomic(opts.dtb_out, dtb)
    platform = BarePlatform(machine)
    boot = Boot(opts, tree, machine, payload, dtb_address, dtb, initrd_span, platform)
    _power_up(boot)
    return boot


def trim_cpus(tree: DeviceTree, kept: list) -> None:
    """With --cpus N, the payload's tree lists only the CPUs the machine has (and cpu-map entries of those)."""
    cpus = tree.find("/cpus")
    if cpus is None:
        return
    dropped = [c for c in cpus.nodes if c.get("device_type") is not None and c.get("device_type").string() == "cpu" and c not in kept]
    if not dropped:
        return
    gone = {c.phandle for c in dropped if c.phandle}
    for c in dropped:
        delete_node(c)
    cpu_map = cpus.subnode("cpu-map")
    if cpu_map is not None:
        for node in list(cpu_map.walk()):
            ref = node.get("cpu")
            if ref is not None and len(ref.value) == 4 and ref.u32() in gone:
                delete_node(node)


def _power_up(boot: Boot) -> None:
    """Create every CPU; enter the boot CPU; park the others as the tree says."""
    machine, opts = boot.machine, boot.opts
    firmware = Firmware(machine, lambda index, entry, ctx: enter(boot, machine.cpus[index], entry, ctx))
    spin = SpinTable(machine, lambda index, entry: enter(boot, machine.cpus[index], entry, 0))
    gic_v3 = isinstance(machine.gic, GicV3)
    for index, spec in enumerate(machine.cpu_specs):
        cpu = machine.make_cpu(index)
        cpu.firmware = firmware
        mpidr = spec.mpidr
        cpu.id_overrides[(3, 0, 0, 0, 5)] = lambda _v, m=mpidr: (1 << 31) | m
        if not gic_v3:  # the GICv3 model presents its own CPU interface in ID_AA64PFR0_EL1.GIC
            cpu.id_overrides[(3, 0, 0, 4, 0)] = lambda v: v & ~GIC_FIELD
        cpu.reset_el3_state(opts.hyp)
        if opts.hyp:
            cpu.el2 = VirtualEL2(cpu)
            cpu.el2.set("VMPIDR_EL2", (1 << 31) | mpidr)
    spin.watch([s.release_addr for s in machine.cpu_specs])
    enter(boot, machine.cpus[0], boot.payload.entry, boot.dtb_address)


def enter(boot: Boot, cpu: Cpu, entry: int, x0: int) -> None:
    """The boot protocol's CPU state: x0 (DTB for the boot CPU), x1-x3 = 0, MMU off, DAIF masked, EL2 or EL1."""
    for n in range(31):
        cpu.set_x(n, 0)
    cpu.set_x(0, x0)
    cpu.pstate = P.DAIF | P.EL1H
    cpu.pc = entry
    if cpu.el2 is not None:
        cpu.el2.start()
    cpu.on = True
    cpu.waiting = False
    cpu.stop_reason = None


def boot_and_run(opts: BootOptions) -> Boot:
    boot = prepare(opts)
    limits = Limits(slice_insns=opts.slice_insns, max_insns=opts.max_insns, timeout_s=opts.timeout)
    if opts.gdb_port is None and not opts.gdb_wait:
        boot.result = run(boot.platform, limits)
        return boot
    from armboot.hyp.core.gdb_server import GdbServer

    try:
        stub = GdbServer(boot.machine, boot.platform, opts.gdb_port or 0, wait=opts.gdb_wait)
    except OSError as e:
        raise BootError(f"cannot listen for GDB on port {opts.gdb_port}: {e.strerror}") from None
    try:
        if opts.gdb_listening is not None:
            opts.gdb_listening(stub.port)
        boot.result = run(boot.platform, limits, debugger=stub)
        stub.finish(boot.result.reason)
    finally:
        stub.close()
    return boot
