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
from armboot.hyp import personalities
from armboot.hyp.arch import pstate as P
from armboot.hyp.arch.cpu import Cpu
from armboot.hyp.arch.el2 import VirtualEL2
from armboot.hyp.arch.gicv3 import GicV3
from armboot.hyp.core.runtime import Runtime, RuntimeError_
from armboot.hyp.core.scheduler import Limits, RunResult, run
from armboot.hyp.platform.bare import BarePlatform
from armboot.hyp.platform.board import ConsoleInput, Machine
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
    console_input: ConsoleInput | None = None  # typed input for the console UART (stdin for the CLI)
    gdb_port: int | None = None  # serve GDB's remote protocol on localhost (0: any free port)
    gdb_wait: bool = False  # hold the payload's first instruction until GDB attaches and continues
    gdb_listening: Callable[[int], None] | None = None  # told the port once the stub listens
    hypervisor: str = "kvm"  # the runtime's personality when the tree describes guests: kvm | xen
    modules: dict[str, str] = field(default_factory=dict)  # --module NAME=FILE for the guests' modules
    vm_console: Callable[[str, bytes], None] | None = None  # each VM's console output, with its name
    trace: Callable[[str, int, str], None] | None = None  # the runtime's exits as they happen (vm, vcpu, what)
    notice: Callable[[str], None] | None = None  # what the user should know as it happens (where typed input goes)


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
    platform: BarePlatform | Runtime
    result: RunResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime | None:
        return self.platform if isinstance(self.platform, Runtime) else None

    @property
    def entry_el(self) -> int:
        """The host payload's entry EL: EL1 when armboot's runtime keeps EL2 for itself."""
        return 2 if self.hyp_available else 1

    @property
    def hyp_available(self) -> bool:
        return self.opts.hyp and self.runtime is None


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
    machine.input = opts.console_input
    payload = load_payload(kernel, opts.load_addr)
    planner = Planner(machine)
    planner.place_payload(payload)
    notes: list[str] = []
    runtime = _runtime(opts, tree, machine, planner, notes)
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
    if runtime is not None:
        runtime.fixup_host_tree(tree)
    dtb, _ = to_dtb(tree)
    dtb_address = planner.place_dtb(len(dtb))
    machine.write(dtb_address, dtb)
    for address, data in payload.segments:
        machine.write(address, data)
    if opts.dtb_out:
        from armboot.dtc.outputs import write_atomic

        try:
            write_atomic(opts.dtb_out, dtb)
        except OSError as e:
            raise BootError(f"cannot write --dtb-out {opts.dtb_out}: {e.strerror}") from None
    if runtime is not None:
        try:
            runtime.start(payload.entry, dtb_address)
        except RuntimeError_ as e:
            raise BootError(str(e)) from None
        boot = Boot(opts, tree, machine, payload, dtb_address, dtb, initrd_span, runtime, notes=notes)
        _watch_spin_table(boot)
        return boot
    boot = Boot(opts, tree, machine, payload, dtb_address, dtb, initrd_span, BarePlatform(machine), notes=notes)
    _power_up(boot)
    return boot


def _runtime(opts: BootOptions, tree: DeviceTree, machine: Machine, planner: Planner, notes: list[str]) -> Runtime | None:
    """The hypervisor runtime, when the tree describes guests (and EL2 is there to run it)."""
    from .dom0less import Dom0lessError, guest_specs, load_modules, resolve_files

    try:
        specs = guest_specs(tree)
    except Dom0lessError as e:
        raise BootError(f"{opts.board}: {e}") from None
    if not specs:
        if opts.modules:
            raise BootError(f"{opts.board}: --module given, but the tree describes no guest (/chosen xen,domain nodes)")
        return None
    names = ", ".join(s.name for s in specs)
    if not opts.hyp:
        notes.append(f"the tree describes guests ({names}); guests need EL2 (--hyp): booting the host alone")
        return None
    try:
        personality = personalities.make(opts.hypervisor)
        resolve_files(specs, opts.board, opts.modules)
        load_modules(specs, planner, machine)
        runtime = Runtime(machine, personality, specs, planner)
        runtime.slice_insns = opts.slice_insns
    except (Dom0lessError, RuntimeError_, ValueError) as e:
        raise BootError(f"{opts.board}: {e}") from None
    if opts.vm_console is not None:
        vm_console = opts.vm_console
        runtime.vm_console = lambda vm, data: vm_console(vm.name, data)
        machine.console_writer = lambda data: vm_console("host", data)  # the host owns the board's UART
    if opts.trace is not None:
        trace = opts.trace
        runtime.trace = lambda vm, vcpu, what: trace(vm.name, vcpu, what)
    runtime.console_input.notice = opts.notice
    return runtime


def _watch_spin_table(boot: Boot) -> None:
    """The host's secondary CPUs may wait on a spin table (their release writes start them at EL1)."""
    machine, runtime = boot.machine, boot.runtime
    assert runtime is not None
    spin = SpinTable(machine, lambda index, entry: runtime._enter(machine.cpus[index], entry, 0))
    spin.watch([s.release_addr for s in machine.cpu_specs])


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


def _trace_traps(boot: Boot, trace: Callable[[str, int, str], None]) -> None:
    """``--trace``: every CPU's traps as they happen, named by VM (``board`` without a hypervisor)."""
    runtime = boot.runtime
    cpus = list(runtime.placement.items()) if runtime is not None else [(c, None) for c in boot.machine.cpus]
    for cpu, placement in cpus:
        name = placement.vm.name if placement is not None else "board"
        index = placement.index if placement is not None else cpu.index
        cpu.traps.listener = lambda kind, c=cpu, n=name, i=index: trace(n, i, f"{kind} pc=0x{c.pc:x}")


def boot_and_run(opts: BootOptions) -> Boot:
    boot = prepare(opts)
    if opts.trace is not None:
        _trace_traps(boot, opts.trace)
    limits = Limits(slice_insns=opts.slice_insns, max_insns=opts.max_insns, timeout_s=opts.timeout)
    if opts.gdb_port is None and not opts.gdb_wait:
        boot.result = run(boot.platform, limits)
        _settle(boot)
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
        _settle(boot)
        stub.finish(boot.result.reason)
    finally:
        stub.close()
    return boot


def _settle(boot: Boot) -> None:
    """VMs still running when the run was cut short ended by the timeout."""
    if boot.runtime is not None and boot.result is not None and boot.result.reason != "system_off":
        boot.runtime.timeout()
