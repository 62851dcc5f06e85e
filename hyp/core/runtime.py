"""armboot's hypervisor runtime: the host and the guests of the tree, each in its own VM.

The bootloader hands EL2 to the runtime when the tree describes guests
(Xen's dom0less binding).  The runtime carves its own memory and each guest's
RAM from the top of the board's RAM, builds a stage-2 map per VM (the host's
covers everything else, as pKVM's does), starts the host payload at EL1 on
the board's CPUs and each guest at EL1 on its vCPUs, and is the scheduler's
platform: it says which vCPUs run, which have interrupts, when time may skip
ahead, and when the run is over (every VM stopped).  Exits (hvc, smc, MMIO,
WFI, stage-2 faults, preemption) are counted per VM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..arch import psci
from ..arch.cpu import Cpu, CpuStopped
from ..arch.stage2 import S2Walk, Stage2Tables
from ..arch.timer import GenericTimer
from ..arch.vgic import VGic
from ..platform.devices import Window
from ..platform.devices.pl011 import Pl011
from . import memmap, mmio
from .console_mux import ConsoleMux
from .scheduler import DEFAULT_SLICE
from .vcpu import make_vcpu
from .vm import Vm, VmExit

if TYPE_CHECKING:
    from armboot.bootloader.dom0less import GuestSpec
    from armboot.bootloader.layout import Planner
    from armboot.dtc.tree import DeviceTree
    from armboot.hyp.personalities.guest_board import GuestBoard

    from ..platform.board import Machine

SZ_2M = 2 << 20
PAGE = 0x1000
TABLE_BYTES = 64 * PAGE  # stage-2 table memory per VM
SHARED_PAGES = 64  # runtime pages personalities hand out (console rings, shared info, ...)
MAX_RESTARTS = 3  # SYSTEM_RESET restarts a guest this often before it counts as stopped
GICV2_MAX_CPUS = 8
WFE = 0xD503205F
SPIN_SHARE = 16  # a spinning vCPU runs 1/16 of a slice per round


class Personality(Protocol):
    """kvm or xen: the guest board and the hypercall interface (docs/hypervisor.md)."""

    name: str

    def guest_board(self, spec: GuestSpec) -> GuestBoard: ...

    def host_fixup(self, runtime: Runtime, tree: DeviceTree) -> None: ...

    def attach(self, runtime: Runtime, vm: Vm, board: GuestBoard | None) -> None: ...

    def hypercall(self, runtime: Runtime, vm: Vm, cpu: Cpu, imm: int) -> bool: ...


class RuntimeError_(Exception):
    """A guest the runtime cannot build (its kernel does not fit, too many vCPUs, ...)."""


@dataclass
class Carve:
    pa: int
    size: int
    what: str


@dataclass
class Placement:
    """Where a vCPU belongs: its VM, its index there, its timer and what updates the timer's lines."""

    vm: Vm
    index: int
    timer: GenericTimer
    refresh_timer: Callable[[], None]


class Runtime:
    """The runtime's EL2 for one machine: VMs, their memory and vCPUs, and the scheduler's platform."""

    def __init__(self, machine: Machine, personality: Personality, specs: list[GuestSpec], planner: Planner) -> None:
        self.machine = machine
        self.clock = machine.clock
        self.personality = personality
        self.specs = specs
        self.vms: list[Vm] = []
        self.placement: dict[Cpu, Placement] = {}
        self.boards: dict[str, GuestBoard] = {}
        self.restarts: dict[str, int] = {}
        self.trace: Callable[[Vm, int, str], None] | None = None
        self.slice_insns = DEFAULT_SLICE
        self.power: dict[int, VmPower] = {}
        self.hvc_immediate: bool = getattr(personality, "hvc_immediate", True)
        self.spinning: set[Cpu] = set()
        self.vm_console: Callable[[Vm, bytes], None] | None = None
        self.console_input = ConsoleMux()  # typed input: one VM at a time, Ctrl-a x3 moves on (as Xen)
        for spec in specs:
            if spec.cpus > GICV2_MAX_CPUS:
                raise RuntimeError_(f"guest {spec.name}: {spec.cpus} vCPUs; a GICv2 guest board has at most 8")
        pool_size = (len(specs) + 1) * TABLE_BYTES + SHARED_PAGES * PAGE
        pool_size = -(-pool_size // SZ_2M) * SZ_2M
        self.pool = Carve(planner.place(pool_size, SZ_2M, "the hypervisor runtime's memory", top_down=True), pool_size, "armboot-hyp")
        self.carves: dict[str, Carve] = {}
        for spec in specs:
            size = -(-spec.memory // SZ_2M) * SZ_2M
            pa = planner.place(size, SZ_2M, f"the RAM of guest {spec.name}", top_down=True)
            self.carves[spec.name] = Carve(pa, size, spec.name)
        self._next_table = self.pool.pa
        self._next_page = self.pool.pa + (len(specs) + 1) * TABLE_BYTES
        self._page_end = self.pool.pa + self.pool.size
        self._next_index = 0

    # Memory the runtime owns

    def _tables(self, vmid: int) -> Stage2Tables:
        pa = self._next_table
        self._next_table += TABLE_BYTES
        region = self.machine.region_at(pa, TABLE_BYTES)
        assert region is not None
        off = pa - region.base
        return Stage2Tables(memoryview(region.buffer)[off : off + TABLE_BYTES], pa, ipa_bits=40, pa_bits=40, vmid=vmid)

    def alloc_page(self) -> int:
        """A zeroed page of runtime memory (for a personality: console rings, shared-info pages)."""
        if self._next_page >= self._page_end:
            raise RuntimeError_("the runtime's page pool is exhausted")
        pa = self._next_page
        self._next_page += PAGE
        self.machine.write(pa, bytes(PAGE))
        return pa

    def reserved(self) -> list[Carve]:
        return [self.pool, *self.carves.values()]

    # The host's device tree

    def fixup_host_tree(self, tree: DeviceTree) -> None:
        """Tell the host what it must not use (no-map reserved memory), then let the personality add its nodes."""
        from .host_tree import add_reserved

        add_reserved(tree, self.reserved())
        self.personality.host_fixup(self, tree)

    # Building the VMs

    def start(self, host_entry: int, host_dtb: int) -> None:
        self._build_host()
        for spec in self.specs:
            self._build_guest(spec)
        host = self.vms[0]
        self._enter(host.vcpus[0], host_entry, host_dtb)
        if getattr(self.machine.input, "interactive", False):
            self.console_input.announce()  # someone at a terminal should know where keys go

    def _build_host(self) -> None:
        machine = self.machine
        vm = Vm("host", 0, machine, self._tables(0), is_host=True)
        holes = sorted((c.pa, c.pa + c.size) for c in self.reserved())
        for region in machine.ram:
            start, end = region.base, region.base + region.size
            for lo, hi in holes:
                if lo >= end or hi <= start:
                    continue
                if lo > start:
                    vm.add_ram(start, start, lo - start)
                start = max(start, hi)
            if start < end:
                vm.add_ram(start, start, end - start)
        for region in machine.mmio_regions:
            vm.map_device(region.base, region.base, region.size)
        gic = machine.gic
        install = getattr(gic, "install", None)
        for i, spec in enumerate(machine.cpu_specs):
            cpu, timer, refresh = make_vcpu(vm, self._index(), i, spec.mpidr, self.clock, gic.set_level, machine.timer_intids)
            if install is not None:  # a GICv3 brings its CPU interface as system registers
                cpu.id_overrides.pop((3, 0, 0, 4, 0), None)
                install(cpu)
            self._adopt(vm, cpu, i, timer, refresh)
            machine.cpus.append(cpu)
        vm.console_writer = None
        self._add_vm(vm)
        uart = machine.console_uart()
        if uart is not None:  # the host owns the board's console UART
            self.console_input.add(vm.name, uart.feed, lambda: vm.exit is None)
        self.personality.attach(self, vm, None)
        self._realise(vm)

    def _build_guest(self, spec: GuestSpec) -> None:
        from .guest_loader import load_guest

        vmid = len(self.vms)
        board = self.personality.guest_board(spec)
        self.boards[spec.name] = board
        vm = Vm(spec.name, vmid, self.machine, self._tables(vmid))
        carve = self.carves[spec.name]
        vm.add_ram(board.ram_base, carve.pa, carve.size)
        vgic = VGic(spec.cpus)
        vm.vgic = vgic
        acknowledge = vgic.acknowledge

        def counted(cpu: int, group: int = 1) -> int:
            intid = acknowledge(cpu, group)
            if intid < 1020:  # a virtual interrupt delivered to (taken by) the guest
                vm.injected_irqs += 1
            return intid

        vgic.acknowledge = counted  # type: ignore[method-assign]
        for w in vgic.windows([board.gicd, board.gicc]):
            vm.add_mmio(w)
        if board.uart is not None:
            base, intid = board.uart
            uart = Pl011(f"{spec.name}:uart", vm.console_out, lambda level, i=intid: vgic.set_level(i, level, 0))
            vm.add_mmio(Window(base, 0x1000, uart, uart.read, uart.write))
            vm.console_feed = uart.feed
        self._add_vm(vm)
        for i in range(spec.cpus):
            cpu, timer, refresh = make_vcpu(vm, self._index(), i, i, self.clock, vgic.set_level)
            self._adopt(vm, cpu, i, timer, refresh)
        self.personality.attach(self, vm, board)  # may give the VM a console feed (kvm: its virtio console)
        if vm.console_feed is not None:
            self.console_input.add(vm.name, vm.console_feed, lambda: vm.exit is None)
        self._realise(vm)
        entry, dtb = load_guest(self, vm, spec, board)
        self._enter(vm.vcpus[0], entry, dtb)

    def _index(self) -> int:
        self._next_index += 1
        return self._next_index - 1

    def _add_vm(self, vm: Vm) -> None:
        vm.realise = self._realise
        self.power[vm.vmid] = VmPower(self, vm)
        if self.vm_console is not None:
            vm.console_writer = self.vm_console
        self.vms.append(vm)

    def _adopt(self, vm: Vm, cpu: Cpu, index: int, timer: GenericTimer, refresh: Callable[[], None]) -> None:
        cpu.hypervisor = self
        cpu.firmware = self
        cpu.unmapped_handler = self._stage2_fault
        self.placement[cpu] = Placement(vm, index, timer, refresh)

    def _realise(self, vm: Vm) -> None:
        for i, cpu in enumerate(vm.vcpus):
            memmap.realise(vm, cpu, i, mmio.trap_for(vm, cpu, i))

    def _enter(self, cpu: Cpu, entry: int, x0: int) -> None:
        """The boot protocol's state at EL1: x0, MMU off, DAIF masked."""
        from ..arch import pstate as P

        for n in range(31):
            cpu.set_x(n, 0)
        cpu.set_x(0, x0)
        cpu.pstate = P.DAIF | P.EL1H
        cpu.refresh_el()
        cpu.pc = entry
        cpu.on = True
        cpu.waiting = False
        cpu.stop_reason = None

    def vm_of(self, cpu: Cpu) -> Vm:
        return self.placement[cpu].vm

    def vm_by_domid(self, domid: int) -> Vm | None:
        return self.vms[domid] if 0 <= domid < len(self.vms) else None

    # Exits

    def _stage2_fault(self, cpu: Cpu, address: int, size: int, write: bool, value: int) -> bool:
        """unicorn found nothing at an IPA: re-walk stage 2 (the map may have changed), else a fault for the guest."""
        vm = self.placement[cpu].vm
        if isinstance(vm.stage2.translate(address, write=write), S2Walk):
            self._realise(vm)
            return True
        vm.count("stage2_fault")
        if len(vm.faults) < 16:
            seen = mmio.syndrome(vm, cpu, address, write)  # ESR_EL2/HPFAR_EL2 as EL2 would read them
            vm.faults.append(
                {"ipa": f"0x{address:x}", "pc": f"0x{cpu.pc:x}", "write": write,
                 "esr_el2": f"0x{seen.esr:x}", "hpfar_el2": f"0x{seen.hpfar:x}"}
            )  # fmt: skip
        self._trace(vm, cpu, f"stage2_fault ipa=0x{address:x} {'write' if write else 'read'}")
        return False  # the vCPU takes a synchronous external abort at EL1, as KVM injects

    def hvc(self, cpu: Cpu) -> None:
        """An HVC from a VM: SMCCC (PSCI for that VM), else the personality's hypercalls.

        KVM ignores the immediate (it is 0 by SMCCC); Xen tells its hypercalls by
        it (0xEA1), so the instruction is read only for a personality that asks.
        """
        vm = self.placement[cpu].vm
        vm.count("hvc")
        imm = cpu.hvc_imm() if self.hvc_immediate else 0
        if self.trace is not None:
            self._trace(vm, cpu, f"hvc #0x{imm:x} x0=0x{cpu.x(0):x}")
        if imm == 0 and psci.handle(cpu, self.power[vm.vmid]):
            return
        if self.personality.hypercall(self, vm, cpu, imm):
            return
        cpu.set_x(0, (1 << 64) - 1)  # SMCCC NOT_SUPPORTED

    def stage2_fault(self, cpu: Cpu, address: int, size: int, write: bool, value: int) -> bool:
        return self._stage2_fault(cpu, address, size, write, value)

    def smc(self, cpu: Cpu) -> None:
        """A trapped SMC (HCR_EL2.TSC): PSCI for the caller's own VM."""
        vm = self.placement[cpu].vm
        vm.count("smc")
        if self.trace is not None:
            self._trace(vm, cpu, f"smc x0=0x{cpu.x(0):x}")
        if not psci.handle(cpu, self.power[vm.vmid]):
            cpu.set_x(0, (1 << 64) - 1)

    def _trace(self, vm: Vm, cpu: Cpu, what: str) -> None:
        if self.trace is not None:
            self.trace(vm, self.placement[cpu].index, what)

    # Power (PSCI per VM)

    def restart(self, vm: Vm, cpu: Cpu) -> None:
        """SYSTEM_RESET of a guest: reload it and start again (a few times), stopping only that VM's vCPUs."""
        n = self.restarts.get(vm.name, 0) + 1
        self.restarts[vm.name] = n
        if vm.is_host or n > MAX_RESTARTS:
            vm.stop("reset", restarts=n - 1)
            cpu.stop("reset")
        from .guest_loader import load_guest

        spec = next(s for s in self.specs if s.name == vm.name)
        for c in vm.vcpus:
            c.on = False
        reset = getattr(self.personality, "reset", None)
        if reset is not None:
            reset(self, vm, self.boards[vm.name])
        entry, dtb = load_guest(self, vm, spec, self.boards[vm.name])
        self._enter(vm.vcpus[0], entry, dtb)
        cpu.request_exit()
        if cpu is not vm.vcpus[0]:
            raise CpuStopped("reset")

    # The scheduler's platform

    @property
    def runnable(self) -> list[Cpu]:
        return [c for vm in self.vms if vm.exit is None for c in vm.vcpus if c.on]

    def irq_pending(self, cpu: Cpu) -> bool:
        p = self.placement[cpu]
        if p.vm.is_host:
            return self.machine.gic.irq_pending(p.index)
        assert p.vm.vgic is not None
        return p.vm.vgic.pending_for(p.index)

    def deliver_irq(self, cpu: Cpu) -> None:
        if cpu.irq_source is None:
            cpu.irq_source = self.irq_pending
        cpu.watch_irq_unmask()

    def slice_for(self, cpu: Cpu) -> int | None:
        """A vCPU caught spinning in a WFE loop gets a short slice: it yields to the others."""
        return self.slice_insns // SPIN_SHARE if cpu in self.spinning else self.slice_insns

    def after_slice(self, cpu: Cpu, preempted: bool) -> None:
        """Count how a slice ended: WFI (the vCPU yields) or the runtime's tick preempting it.

        WFE is a no-op on unicorn, so a vCPU waiting for a lock with WFE would
        burn whole slices; one preempted inside a loop around a WFE counts as
        spinning (a ``wfe`` exit, as KVM traps WFE) until it gets out of it.
        """
        vm = self.placement[cpu].vm
        self.spinning.discard(cpu)
        if cpu.waiting:
            vm.count("wfi")
        elif preempted:
            vm.count("irq")
            if _near_wfe(cpu):
                vm.count("wfe")
                self.spinning.add(cpu)
        if cpu.stop_reason is not None and cpu.stop_reason.startswith("fault") and vm.exit is None:
            vm.stop("fault", detail=cpu.stop_reason, pc=f"0x{cpu.pc:x}")

    def update_timers(self) -> None:
        for p in self.placement.values():
            p.refresh_timer()

    def poll_input(self) -> None:
        typed = self.machine.input
        data = typed.poll() if typed is not None else b""
        if data:
            self.console_input.route(data)

    def wait_input(self) -> bool:
        """Every vCPU waits and no timer will wake one: block until input comes (False: there will be none)."""
        typed = self.machine.input
        if typed is None or not typed.wait():
            return False
        self.poll_input()
        return True

    def next_deadline(self) -> int | None:
        deadlines = [d for cpu, p in self.placement.items() if cpu.on and (d := p.timer.next_deadline(self.clock)) is not None]
        return min(deadlines) if deadlines else None

    def finished(self) -> str | None:
        for vm in self.vms:
            if vm.exit is None:
                for cpu in vm.vcpus:
                    if cpu.stop_reason is not None and cpu.stop_reason.startswith("fault"):
                        vm.stop("fault", detail=cpu.stop_reason)
                        break
                else:
                    if vm.vcpus and not any(c.on for c in vm.vcpus):
                        vm.stop("shutdown", by="every vCPU is off")
        if any(vm.exit is None for vm in self.vms):
            return None
        reasons = [vm.exit.reason for vm in self.vms if vm.exit is not None]
        for bad in ("fault", "reset"):
            if bad in reasons:
                return "fault" if bad == "fault" else "system_reset"
        return "system_off"

    def timeout(self) -> None:
        """The run was cut short: VMs still running end with ``timeout``."""
        for vm in self.vms:
            if vm.exit is None:
                vm.exit = VmExit("timeout")

    # Reporting

    def report(self, per_cpu: dict[int, int]) -> list[dict[str, object]]:
        out = []
        for vm in self.vms:
            console = self.machine.console if vm.is_host else vm.console
            out.append(
                {
                    "name": vm.name,
                    "vmid": vm.vmid,
                    "cpus": len(vm.vcpus),
                    "memory": [{"ipa": f"0x{r.ipa:x}", "pa": f"0x{r.pa:x}", "size": f"0x{r.size:x}"} for r in vm.ram],
                    "console": console.decode("utf-8", "replace"),
                    "exits": dict(vm.exits),
                    "injected_irqs": vm.injected_irqs,
                    "instructions": sum(per_cpu.get(c.index, 0) for c in vm.vcpus),
                    "exit": vm.exit.as_dict() if vm.exit is not None else {"reason": "running"},
                    **({"stage2_faults": vm.faults} if vm.faults else {}),
                }
            )
        return out


class VmPower:
    """PSCI for one VM: CPU_ON/OFF among its own vCPUs; SYSTEM_OFF/RESET end or restart that VM only."""

    def __init__(self, runtime: Runtime, vm: Vm) -> None:
        self.runtime = runtime
        self.vm = vm

    def cpu_on(self, mpidr: int, entry: int, context: int) -> int:
        index = self.vm.vcpu_index(mpidr)
        if index is None:
            return psci.INVALID_PARAMETERS
        cpu = self.vm.vcpus[index]
        if cpu.on:
            return psci.ALREADY_ON
        try:
            self.vm.translate(entry)
        except Exception:
            return psci.INVALID_ADDRESS
        self.runtime._enter(cpu, entry, context)
        return psci.SUCCESS

    def cpu_off(self, cpu: Cpu) -> None:
        cpu.stop("cpu_off")

    def affinity_info(self, mpidr: int) -> int:
        index = self.vm.vcpu_index(mpidr)
        if index is None:
            return psci.INVALID_PARAMETERS
        return 0 if self.vm.vcpus[index].on else 1

    def system_off(self, cpu: Cpu) -> None:
        self.vm.stop("system_off", by="PSCI SYSTEM_OFF")
        cpu.stop("system_off")

    def system_reset(self, cpu: Cpu) -> None:
        self.runtime.restart(self.vm, cpu)

    def suspend(self, cpu: Cpu) -> None:
        cpu.waiting = True


def _near_wfe(cpu: Cpu) -> bool:
    """Whether the instructions around PC (two either side) include a WFE: a wait loop."""
    window = cpu.fetch_bytes(cpu.pc - 8, 20)
    return window is not None and any(int.from_bytes(window[i : i + 4], "little") == WFE for i in range(0, 20, 4))
