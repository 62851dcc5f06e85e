"""The xen personality over real VMs (virt board RAM, real stage 2, real vGIC), without the runtime.

Three domains share one machine: the host (dom0, identity-mapped, on the
board's GIC) and two guests (RAM at IPA 0x40000000, elsewhere in PA, each
with a VGic).  A tiny runtime stand-in gives the VM list and pool pages.
vCPUs are small fakes with the register interface hypercalls use; one test
goes through a real ``Cpu``.  Each hypercall is checked by its effect on
guest memory and its x0, including the error paths.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from armboot.bootloader.session import load_tree
from armboot.hyp.arch.cpu import Cpu
from armboot.hyp.arch.stage2 import Stage2Tables
from armboot.hyp.arch.vgic import VGic
from armboot.hyp.core.runtime import RuntimeError_
from armboot.hyp.core.vm import GuestMemoryError, Vm
from armboot.hyp.personalities.xen import Personality, domain_of
from armboot.hyp.personalities.xen import abi as X
from armboot.hyp.personalities.xen.console import CONSOLE_GFN, ConsoleRing
from armboot.hyp.personalities.xen.host import HostHypervisor
from armboot.hyp.platform.board import Machine

BOARD = os.path.join(os.path.dirname(__file__), "..", "boards", "virt.dts")
PAGE = 0x1000
HOST_RAM = (0x40000000, 0x08000000)  # identity-mapped
GUEST_PA = {1: 0x48000000, 2: 0x48200000}  # 2 MB each, at IPA 0x40000000
POOL = 0x4E000000
TABLES = 0x4F000000
SCRATCH = 0x40100000  # hypercall arguments, in every domain's RAM
HOST_EVENT_PPI, GUEST_EVENT_PPI = 25, 31


class FakeCpu:
    """The registers and flags a hypercall touches."""

    def __init__(self) -> None:
        self.regs = [0] * 31
        self.waiting = False
        self.exits = 0
        self.on = True
        self.stop_reason: str | None = None

    def x(self, n: int) -> int:
        return self.regs[n]

    def set_x(self, n: int, value: int) -> None:
        self.regs[n] = value & (2**64 - 1)

    def request_exit(self) -> None:
        self.exits += 1


@dataclass
class World:
    machine: Machine
    personality: Personality
    vms: list[Vm] = field(default_factory=list)
    next_page: int = POOL
    page_limit: int = 64
    injections: list[tuple[int, int, int]] = field(default_factory=list)  # (domid, vcpu, intid) via vm.inject

    def alloc_page(self) -> int:
        if self.page_limit == 0:
            raise RuntimeError_("the runtime's page pool is exhausted")
        self.page_limit -= 1
        pa, self.next_page = self.next_page, self.next_page + PAGE
        self.machine.write(pa, bytes(PAGE))
        return pa

    def vm(self, domid: int) -> Vm:
        return self.vms[domid]

    def kicks(self, domid: int) -> int:
        """How often the personality raised an event PPI in the domain's vGIC."""
        return sum(1 for d, _, _ in self.injections if d == domid)

    def count_injections(self, vm: Vm) -> None:
        inject = vm.inject

        def counted(vcpu: int, intid: int) -> None:
            self.injections.append((vm.vmid, vcpu, intid))
            inject(vcpu, intid)

        vm.inject = counted  # type: ignore[method-assign]

    def call(self, domid: int, nr: int, *args: int, cpu: object | None = None) -> int:
        """A hypercall from the domain's vCPU 0: x0 as a signed value."""
        vm = self.vms[domid]
        c = cpu if cpu is not None else vm.vcpus[0]
        c.set_x(16, nr)  # type: ignore[attr-defined]
        for n, a in enumerate(args):
            c.set_x(n, a)  # type: ignore[attr-defined]
        assert self.personality.hypercall(self, vm, c, X.HYPERCALL_TAG)  # type: ignore[arg-type]
        rc = c.x(0)  # type: ignore[attr-defined]
        return rc - 2**64 if rc >> 63 else rc

    def op(
        self, caller: int, nr: int, cmd: int, layout: X.Layout, /, **values: int
    ) -> tuple[int, dict[str, int]]:
        """A hypercall taking (cmd, &struct[, count = 1]) with the struct at SCRATCH: (x0, the struct afterwards)."""
        vm = self.vms[caller]
        vm.write(SCRATCH, layout.pack(**values))
        rc = self.call(caller, nr, cmd, SCRATCH, 1)
        return rc, layout.read(vm, SCRATCH)

    def ev(self, caller: int, cmd: int, layout: X.Layout, /, **values: int) -> tuple[int, dict[str, int]]:
        return self.op(caller, X.HYPERVISOR_event_channel_op, cmd, layout, **values)

    def gnt(self, caller: int, cmd: int, layout: X.Layout, /, **values: int) -> tuple[int, dict[str, int]]:
        return self.op(caller, X.HYPERVISOR_grant_table_op, cmd, layout, **values)

    def mem(self, caller: int, cmd: int, layout: X.Layout, /, **values: int) -> tuple[int, dict[str, int]]:
        return self.op(caller, X.HYPERVISOR_memory_op, cmd, layout, **values)

    def hvm(self, caller: int, cmd: int, layout: X.Layout, /, **values: int) -> tuple[int, dict[str, int]]:
        return self.op(caller, X.HYPERVISOR_hvm_op, cmd, layout, **values)

    def ver(self, caller: int, cmd: int, layout: X.Layout, /, **values: int) -> tuple[int, dict[str, int]]:
        return self.op(caller, X.HYPERVISOR_xen_version, cmd, layout, **values)

    def sched(self, caller: int, cmd: int, layout: X.Layout, /, **values: int) -> tuple[int, dict[str, int]]:
        return self.op(caller, X.HYPERVISOR_sched_op, cmd, layout, **values)


def _tables(machine: Machine, n: int) -> Stage2Tables:
    region = machine.ram[0]
    pa = TABLES + n * 64 * PAGE
    off = pa - region.base
    return Stage2Tables(memoryview(region.buffer)[off : off + 64 * PAGE], pa, vmid=n)


@pytest.fixture
def w() -> World:
    machine = Machine(load_tree(BOARD, []))
    world = World(machine, Personality())
    host = Vm("host", 0, machine, _tables(machine, 0), is_host=True)
    host.add_ram(HOST_RAM[0], HOST_RAM[0], HOST_RAM[1])
    host.vcpus.append(FakeCpu())  # type: ignore[arg-type]
    world.vms.append(host)
    for domid in (1, 2):
        g = Vm(f"guest{domid}", domid, machine, _tables(machine, domid))
        g.add_ram(0x40000000, GUEST_PA[domid], 0x200000)
        g.vgic = VGic(2)
        g.vcpus += [FakeCpu(), FakeCpu()]  # type: ignore[list-item]
        world.count_injections(g)
        world.vms.append(g)
    world.personality.host = HostHypervisor(0x80000000, 0x81000000, HOST_EVENT_PPI)
    world.personality.attach(world, host, None)
    for domid in (1, 2):
        world.personality.attach(world, world.vms[domid], SimpleNamespace(event_intid=GUEST_EVENT_PPI))  # type: ignore[arg-type]
    return world


def xen(vm: Vm):
    d = domain_of(vm)
    assert d is not None
    return d


def bind_console(w: World, guest: int) -> int:
    """dom0 binds to the guest's console port: dom0's local port."""
    port = xen(w.vm(guest)).params[X.HVM_PARAM_CONSOLE_EVTCHN]
    rc, b = w.ev(
        0, X.EVTCHNOP_bind_interdomain, X.EVTCHN_BIND_INTERDOMAIN, remote_dom=guest, remote_port=port
    )
    assert rc == 0
    return b["local_port"]


def send(w: World, domid: int, port: int) -> int:
    return w.ev(domid, X.EVTCHNOP_send, X.EVTCHN_PORT, port=port)[0]


def shared_word(w: World, domid: int, field_: str, index: int = 0) -> int:
    pa = xen(w.vm(domid)).shared.pa + X.SHARED_INFO.offsets[field_] + 8 * index
    return struct.unpack("<Q", w.machine.read(pa, 8))[0]


def vcpu0(w: World, domid: int) -> dict[str, int]:
    return X.VCPU_INFO.unpack(w.machine.read(xen(w.vm(domid)).shared.info(0), X.VCPU_INFO.size))


# Dispatch


def test_not_our_immediate_and_unknown_hypercall(w: World) -> None:
    g = w.vm(1)
    assert not w.personality.hypercall(w, g, g.vcpus[0], 0)  # type: ignore[arg-type]
    assert w.call(1, 99) == -X.ENOSYS
    assert w.call(1, X.HYPERVISOR_physdev_op, 0, 0) == -X.ENOSYS


def test_real_cpu_gets_negative_errno_in_x0(w: World) -> None:
    cpu = Cpu(0, 0)
    assert w.call(1, X.HYPERVISOR_console_io, 7, 0, 0, cpu=cpu) == -X.ENOSYS
    assert cpu.x(0) == 2**64 - X.ENOSYS


# console_io


def test_console_io_write_and_read(w: World) -> None:
    g = w.vm(1)
    g.write(SCRATCH, b"hello from guest1\n")
    assert w.call(1, X.HYPERVISOR_console_io, X.CONSOLEIO_write, 18, SCRATCH) == 0
    assert bytes(g.console) == b"hello from guest1\n"
    assert w.call(1, X.HYPERVISOR_console_io, X.CONSOLEIO_read, 16, SCRATCH) == 0
    assert (
        w.call(1, X.HYPERVISOR_console_io, X.CONSOLEIO_write, 4, 0x10000000) == -X.EFAULT
    )  # not guest memory
    assert bytes(g.console) == b"hello from guest1\n"


def test_console_write_crossing_the_end_of_ram_is_efault(w: World) -> None:
    end = 0x40000000 + 0x200000
    assert w.call(1, X.HYPERVISOR_console_io, X.CONSOLEIO_write, 32, end - 16) == -X.EFAULT
    assert w.vm(1).console == b""


# xen_version


def test_xen_version(w: World) -> None:
    assert w.call(1, X.HYPERVISOR_xen_version, X.XENVER_version, 0) == 4 << 16 | 17
    assert w.call(1, X.HYPERVISOR_xen_version, X.XENVER_pagesize, 0) == PAGE
    assert w.call(1, X.HYPERVISOR_xen_version, X.XENVER_extraversion, SCRATCH) == 0
    assert w.vm(1).read(SCRATCH, 16).rstrip(b"\0") == b".0-armboot"
    assert w.call(1, X.HYPERVISOR_xen_version, X.XENVER_capabilities, SCRATCH) == 0
    assert w.vm(1).read(SCRATCH, 16) == b"xen-3.0-aarch64 "
    assert w.call(1, X.HYPERVISOR_xen_version, 1000, SCRATCH) == -X.ENOSYS


def test_features_say_who_is_dom0(w: World) -> None:
    _, guest = w.ver(1, X.XENVER_get_features, X.XEN_FEATURE_INFO, submap_idx=0)
    _, host = w.ver(0, X.XENVER_get_features, X.XEN_FEATURE_INFO, submap_idx=0)
    for bit in (X.XENFEAT_auto_translated_physmap, X.XENFEAT_ARM_SMCCC_supported):
        assert guest["submap"] >> bit & 1 and host["submap"] >> bit & 1
    assert host["submap"] >> X.XENFEAT_dom0 & 1 and not guest["submap"] >> X.XENFEAT_dom0 & 1
    assert (
        guest["submap"] >> X.XENFEAT_not_direct_mapped & 1 and host["submap"] >> X.XENFEAT_direct_mapped & 1
    )
    assert w.ver(1, X.XENVER_get_features, X.XEN_FEATURE_INFO, submap_idx=1)[1]["submap"] == 0


# What attach sets up: the PV console, params


def test_guest_console_as_xen_sets_it_up(w: World) -> None:
    g = w.vm(1)
    d = xen(g)
    assert CONSOLE_GFN == 0x39000
    assert g.translate(0x39000000) >= POOL  # a pool page, mapped in the guest's magic region
    grant = d.grants.entry(X.GNTTAB_RESERVED_CONSOLE)
    assert grant is not None and (grant.flags, grant.domid, grant.frame) == (X.GTF_permit_access, 0, 0x39000)
    rc, p = w.hvm(1, X.HVMOP_get_param, X.XEN_HVM_PARAM, domid=X.DOMID_SELF, index=X.HVM_PARAM_CONSOLE_PFN)
    assert (rc, p["value"]) == (0, 0x39000)
    rc, p = w.hvm(1, X.HVMOP_get_param, X.XEN_HVM_PARAM, domid=1, index=X.HVM_PARAM_CONSOLE_EVTCHN)
    port = p["value"]
    assert rc == 0 and port >= 1
    rc, s = w.ev(1, X.EVTCHNOP_status, X.EVTCHN_STATUS, dom=X.DOMID_SELF, port=port)
    assert (rc, s["status"], s["u_dom"]) == (0, X.EVTCHNSTAT_unbound, 0)
    assert xen(w.vm(0)).params == {}  # dom0 has no PV console: it uses console_io


def test_hvm_params_and_their_errors(w: World) -> None:
    get = X.HVMOP_get_param
    rc, p = w.hvm(1, get, X.XEN_HVM_PARAM, domid=X.DOMID_SELF, index=X.HVM_PARAM_STORE_PFN)
    assert (rc, p["value"]) == (0, 0)  # no xenstore: unset reads as 0, as in Xen
    rc, p = w.hvm(0, get, X.XEN_HVM_PARAM, domid=2, index=X.HVM_PARAM_CONSOLE_PFN)
    assert (rc, p["value"]) == (0, 0x39000)  # dom0 may read a guest's params
    assert w.hvm(1, get, X.XEN_HVM_PARAM, domid=2, index=17)[0] == -X.EPERM
    assert w.hvm(0, get, X.XEN_HVM_PARAM, domid=7, index=17)[0] == -X.ESRCH
    assert w.hvm(1, get, X.XEN_HVM_PARAM, domid=X.DOMID_SELF, index=39)[0] == -X.EINVAL
    assert w.hvm(1, X.HVMOP_set_param, X.XEN_HVM_PARAM, domid=X.DOMID_SELF, index=1, value=5)[0] == -X.EPERM
    assert w.hvm(0, X.HVMOP_set_param, X.XEN_HVM_PARAM, domid=1, index=1, value=5)[0] == 0
    assert xen(w.vm(1)).params[1] == 5
    assert w.call(1, X.HYPERVISOR_hvm_op, get, 0x10000000) == -X.EFAULT
    assert w.call(1, X.HYPERVISOR_hvm_op, 9, SCRATCH) == -X.ENOSYS


# shared_info


def test_shared_info_mapped_where_the_guest_asks(w: World) -> None:
    g = w.vm(1)
    g.write(0x40050000, b"\xaa" * PAGE)
    rc, _ = w.mem(
        1,
        X.XENMEM_add_to_physmap,
        X.XEN_ADD_TO_PHYSMAP,
        domid=X.DOMID_SELF,
        space=X.XENMAPSPACE_shared_info,
        idx=0,
        gpfn=0x40050,
    )
    assert rc == 0
    assert g.translate(0x40050000) == xen(g).shared.pa
    assert g.read(0x40050000, 8) == bytes(8)  # the guest now sees Xen's page, not its RAM
    rc, _ = w.mem(
        1,
        X.XENMEM_add_to_physmap,
        X.XEN_ADD_TO_PHYSMAP,
        domid=X.DOMID_SELF,
        space=X.XENMAPSPACE_shared_info,
        idx=1,
        gpfn=0x40051,
    )
    assert rc == -X.EINVAL
    rc, _ = w.mem(
        1,
        X.XENMEM_add_to_physmap,
        X.XEN_ADD_TO_PHYSMAP,
        domid=2,
        space=X.XENMAPSPACE_shared_info,
        idx=0,
        gpfn=0x40051,
    )
    assert rc == -X.EPERM
    rc, _ = w.mem(
        1,
        X.XENMEM_add_to_physmap,
        X.XEN_ADD_TO_PHYSMAP,
        domid=X.DOMID_SELF,
        space=X.XENMAPSPACE_shared_info,
        idx=0,
        gpfn=1 << 40,
    )
    assert rc == -X.EINVAL
    assert w.call(1, X.HYPERVISOR_memory_op, 1000, SCRATCH) == -X.ENOSYS


def test_remove_from_physmap_only_takes_xen_pages(w: World) -> None:
    g = w.vm(1)
    w.mem(
        1,
        X.XENMEM_add_to_physmap,
        X.XEN_ADD_TO_PHYSMAP,
        domid=X.DOMID_SELF,
        space=X.XENMAPSPACE_grant_table,
        idx=0,
        gpfn=0x38000,
    )
    rc, _ = w.mem(
        1, X.XENMEM_remove_from_physmap, X.XEN_REMOVE_FROM_PHYSMAP, domid=X.DOMID_SELF, gpfn=0x38000
    )
    assert rc == 0
    with pytest.raises(GuestMemoryError):
        g.translate(0x38000000)
    rc, _ = w.mem(
        1, X.XENMEM_remove_from_physmap, X.XEN_REMOVE_FROM_PHYSMAP, domid=X.DOMID_SELF, gpfn=0x40000
    )
    assert rc == -X.EINVAL
    g.translate(0x40000000)  # RAM stays


# Event channels


def test_bind_and_send_both_ways(w: World) -> None:
    g, d0 = w.vm(1), xen(w.vm(0))
    gport = xen(g).params[X.HVM_PARAM_CONSOLE_EVTCHN]
    hport = bind_console(w, 1)
    assert d0.shared.pending(hport)  # binding always sets the new port pending
    assert w.machine.gic.lookup(HOST_EVENT_PPI, 0).pending  # the host's event PPI on the board's GIC
    _, s = w.ev(0, X.EVTCHNOP_status, X.EVTCHN_STATUS, dom=1, port=gport)
    assert (s["status"], s["u_dom"], s["u_port"]) == (X.EVTCHNSTAT_interdomain, 0, hport)

    before = w.kicks(1)
    assert send(w, 0, hport) == 0
    assert shared_word(w, 1, "evtchn_pending") >> gport & 1
    v = vcpu0(w, 1)
    assert v["evtchn_upcall_pending"] == 1 and v["evtchn_pending_sel"] & 1
    assert w.kicks(1) == before + 1
    assert g.vgic is not None and g.vgic.lookup(GUEST_EVENT_PPI, 0).pending

    assert send(w, 0, hport) == 0  # already pending: no second upcall
    assert w.kicks(1) == before + 1

    d0.shared.clear_pending(hport)
    assert send(w, 1, gport) == 0
    assert d0.shared.pending(hport)


def test_guest_clears_upcall_and_gets_the_next_event(w: World) -> None:
    g = w.vm(1)
    gport = xen(g).params[X.HVM_PARAM_CONSOLE_EVTCHN]
    hport = bind_console(w, 1)
    send(w, 0, hport)
    # the guest's handler: clear upcall_pending, the selector and the port's bit (in Xen's page)
    info = xen(g).shared.info(0)
    w.machine.write(info, b"\0")
    w.machine.write(info + 8, bytes(8))
    xen(g).shared.clear_pending(gport)
    n = w.kicks(1)
    send(w, 0, hport)
    assert w.kicks(1) == n + 1 and vcpu0(w, 1)["evtchn_upcall_pending"] == 1


def test_masked_port_is_delivered_on_unmask(w: World) -> None:
    g = w.vm(1)
    gport = xen(g).params[X.HVM_PARAM_CONSOLE_EVTCHN]
    hport = bind_console(w, 1)
    xen(g).shared.set_mask(gport, True)
    n = w.kicks(1)
    send(w, 0, hport)
    assert shared_word(w, 1, "evtchn_pending") >> gport & 1
    assert vcpu0(w, 1)["evtchn_upcall_pending"] == 0 and w.kicks(1) == n
    rc, _ = w.ev(1, X.EVTCHNOP_unmask, X.EVTCHN_PORT, port=gport)
    assert rc == 0 and vcpu0(w, 1)["evtchn_upcall_pending"] == 1 and w.kicks(1) == n + 1


def test_alloc_unbound_and_loopback(w: World) -> None:
    rc, a = w.ev(
        1, X.EVTCHNOP_alloc_unbound, X.EVTCHN_ALLOC_UNBOUND, dom=X.DOMID_SELF, remote_dom=X.DOMID_SELF
    )
    assert rc == 0
    rc, b = w.ev(
        1,
        X.EVTCHNOP_bind_interdomain,
        X.EVTCHN_BIND_INTERDOMAIN,
        remote_dom=X.DOMID_SELF,
        remote_port=a["port"],
    )
    assert rc == 0 and b["local_port"] != a["port"]
    xen(w.vm(1)).shared.clear_pending(b["local_port"])
    assert send(w, 1, b["local_port"]) == 0
    assert xen(w.vm(1)).shared.pending(a["port"])


def test_dom0_allocates_for_a_guest_but_a_guest_may_not(w: World) -> None:
    rc, a = w.ev(0, X.EVTCHNOP_alloc_unbound, X.EVTCHN_ALLOC_UNBOUND, dom=2, remote_dom=0)
    assert rc == 0 and a["port"] in xen(w.vm(2)).ports.channels
    rc, _ = w.ev(1, X.EVTCHNOP_alloc_unbound, X.EVTCHN_ALLOC_UNBOUND, dom=2, remote_dom=1)
    assert rc == -X.EPERM


def test_close_puts_the_peer_back_to_unbound(w: World) -> None:
    gport = xen(w.vm(1)).params[X.HVM_PARAM_CONSOLE_EVTCHN]
    hport = bind_console(w, 1)
    rc, _ = w.ev(0, X.EVTCHNOP_close, X.EVTCHN_PORT, port=hport)
    assert rc == 0 and not xen(w.vm(0)).shared.pending(hport)
    _, s = w.ev(1, X.EVTCHNOP_status, X.EVTCHN_STATUS, dom=X.DOMID_SELF, port=gport)
    assert (s["status"], s["u_dom"]) == (X.EVTCHNSTAT_unbound, 0)
    assert send(w, 1, gport) == 0  # unbound: the event is dropped
    assert w.ev(0, X.EVTCHNOP_close, X.EVTCHN_PORT, port=hport)[0] == -X.EINVAL
    assert bind_console(w, 1) >= 1  # and dom0 can bind again


def test_event_channel_errors(w: World) -> None:
    gport = xen(w.vm(1)).params[X.HVM_PARAM_CONSOLE_EVTCHN]
    for port in (0, 999, 5000, 2**32 - 1):
        assert send(w, 1, port) == -X.EINVAL
    # guest1's console port is offered to dom0, not to guest2
    assert (
        w.ev(2, X.EVTCHNOP_bind_interdomain, X.EVTCHN_BIND_INTERDOMAIN, remote_dom=1, remote_port=gport)[0]
        == -X.EINVAL
    )
    assert (
        w.ev(0, X.EVTCHNOP_bind_interdomain, X.EVTCHN_BIND_INTERDOMAIN, remote_dom=9, remote_port=1)[0]
        == -X.ESRCH
    )
    assert (
        w.ev(0, X.EVTCHNOP_bind_interdomain, X.EVTCHN_BIND_INTERDOMAIN, remote_dom=1, remote_port=77)[0]
        == -X.EINVAL
    )
    assert w.ev(1, X.EVTCHNOP_status, X.EVTCHN_STATUS, dom=2, port=1)[0] == -X.EPERM
    assert w.ev(1, X.EVTCHNOP_status, X.EVTCHN_STATUS, dom=X.DOMID_SELF, port=5000)[0] == -X.EINVAL
    assert (
        w.ev(1, X.EVTCHNOP_status, X.EVTCHN_STATUS, dom=X.DOMID_SELF, port=9)[1]["status"]
        == X.EVTCHNSTAT_closed
    )
    assert w.ev(1, X.EVTCHNOP_unmask, X.EVTCHN_PORT, port=9)[0] == -X.EINVAL
    assert w.ev(1, X.EVTCHNOP_bind_vcpu, X.EVTCHN_BIND_VCPU, port=gport, vcpu=2)[0] == -X.ENOENT
    assert w.ev(1, X.EVTCHNOP_init_control, X.EVTCHN_PORT)[0] == -X.ENOSYS  # no FIFO ABI
    assert w.call(1, X.HYPERVISOR_event_channel_op, X.EVTCHNOP_send, 0x10000000) == -X.EFAULT


def test_bind_vcpu_routes_the_upcall(w: World) -> None:
    g = w.vm(1)
    gport = xen(g).params[X.HVM_PARAM_CONSOLE_EVTCHN]
    hport = bind_console(w, 1)
    assert w.ev(1, X.EVTCHNOP_bind_vcpu, X.EVTCHN_BIND_VCPU, port=gport, vcpu=1)[0] == 0
    # vCPU 1 registers its own vcpu_info first (Arm has only vCPU 0's in shared_info)
    g.write(SCRATCH + 0x100, X.VCPU_REGISTER_VCPU_INFO.pack(mfn=0x40060, offset=0x40))
    assert w.call(1, X.HYPERVISOR_vcpu_op, X.VCPUOP_register_vcpu_info, 1, SCRATCH + 0x100) == 0
    assert g.vgic is not None
    g.vgic.lookup(GUEST_EVENT_PPI, 1).latch = False
    g.write(0x40060040, bytes(X.VCPU_INFO.size))  # the guest takes the spurious event registration raised
    send(w, 0, hport)
    assert g.read(0x40060040, 1) == b"\x01" and g.vgic.lookup(GUEST_EVENT_PPI, 1).pending
    assert not g.vgic.lookup(GUEST_EVENT_PPI, 0).pending


def test_register_vcpu_info_moves_it_and_marks_everything_pending(w: World) -> None:
    g = w.vm(1)
    g.write(SCRATCH, X.VCPU_REGISTER_VCPU_INFO.pack(mfn=0x40070, offset=0x80))
    assert w.call(1, X.HYPERVISOR_vcpu_op, X.VCPUOP_register_vcpu_info, 0, SCRATCH) == 0
    info = X.VCPU_INFO.unpack(g.read(0x40070080, X.VCPU_INFO.size))
    assert info["evtchn_upcall_pending"] == 1 and info["evtchn_pending_sel"] == 2**64 - 1
    assert xen(g).shared.info(0) == g.translate(0x40070080)
    assert w.call(1, X.HYPERVISOR_vcpu_op, X.VCPUOP_register_vcpu_info, 0, SCRATCH) == -X.EINVAL  # once
    g.write(SCRATCH, X.VCPU_REGISTER_VCPU_INFO.pack(mfn=0x40070, offset=0xFF0))
    assert (
        w.call(1, X.HYPERVISOR_vcpu_op, X.VCPUOP_register_vcpu_info, 1, SCRATCH) == -X.EINVAL
    )  # crosses the page
    g.write(SCRATCH, X.VCPU_REGISTER_VCPU_INFO.pack(mfn=0x10000, offset=0))
    assert w.call(1, X.HYPERVISOR_vcpu_op, X.VCPUOP_register_vcpu_info, 1, SCRATCH) == -X.EINVAL  # not RAM
    assert w.call(1, X.HYPERVISOR_vcpu_op, X.VCPUOP_register_vcpu_info, 2, SCRATCH) == -X.ENOENT
    assert w.call(1, X.HYPERVISOR_vcpu_op, X.VCPUOP_register_runstate_memory_area, 0, SCRATCH) == 0
    assert w.call(1, X.HYPERVISOR_vcpu_op, 77, 0, SCRATCH) == -X.ENOSYS


# Grant tables


def map_op(w: World, domid: int, **values: int) -> dict[str, int]:
    rc, m = w.gnt(domid, X.GNTTABOP_map_grant_ref, X.GNTTAB_MAP_GRANT_REF, **values)
    assert rc == 0
    return m


def unmap_op(w: World, domid: int, **values: int) -> int:
    vm = w.vm(domid)
    vm.write(SCRATCH, X.GNTTAB_UNMAP_GRANT_REF.pack(**values))
    assert w.call(domid, X.HYPERVISOR_grant_table_op, X.GNTTABOP_unmap_grant_ref, SCRATCH, 1) == 0
    return X.GNTTAB_UNMAP_GRANT_REF.read(vm, SCRATCH)["status"]


def test_dom0_maps_a_guest_console_ring_by_grant_ref_0(w: World) -> None:
    g, host = w.vm(1), w.vm(0)
    ConsoleRing(w.machine, g.translate(0x39000000)).write_out(b"guest1: up\n")
    m = map_op(w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map, ref=0, dom=1)
    assert m["status"] == X.GNTST_okay
    ring = ConsoleRing(w.machine, host.translate(0x60000000, write=True))
    assert ring.drain_out() == b"guest1: up\n"  # dom0 reads the guest's page through its own stage 2
    assert ConsoleRing(w.machine, g.translate(0x39000000)).drain_out() == b""  # and consumed it there
    entry = xen(g).grants.entry(0)
    assert entry is not None and entry.flags == X.GTF_permit_access | X.GTF_reading | X.GTF_writing
    assert unmap_op(w, 0, host_addr=0x60000000, handle=m["handle"]) == X.GNTST_okay
    with pytest.raises(GuestMemoryError):
        host.translate(0x60000000)
    entry = xen(g).grants.entry(0)
    assert entry is not None and entry.flags == X.GTF_permit_access
    assert unmap_op(w, 0, host_addr=0x60000000, handle=m["handle"]) == X.GNTST_bad_handle


def test_guest_grants_a_page_to_another_guest(w: World) -> None:
    g1, g2 = w.vm(1), w.vm(2)
    rc, _ = w.mem(
        1,
        X.XENMEM_add_to_physmap,
        X.XEN_ADD_TO_PHYSMAP,
        domid=X.DOMID_SELF,
        space=X.XENMAPSPACE_grant_table,
        idx=0,
        gpfn=0x38000,
    )
    assert rc == 0
    assert X.GRANT_ENTRY_V1.unpack(g1.read(0x38000000, 8))["frame"] == 0x39000  # the seeded console entry
    g1.write(0x40080000, b"shared by guest1")
    g1.write(0x38000000 + 8 * 9, X.GRANT_ENTRY_V1.pack(flags=X.GTF_permit_access, domid=2, frame=0x40080))
    m = map_op(w, 2, host_addr=0x50000000, flags=X.GNTMAP_host_map, ref=9, dom=1)
    assert m["status"] == X.GNTST_okay
    assert g2.read(0x50000000, 16) == b"shared by guest1"
    g2.write(0x50000000, b"SHARED")
    assert g1.read(0x40080000, 6) == b"SHARED"
    assert X.GRANT_ENTRY_V1.unpack(g1.read(0x38000000 + 8 * 9, 8))["flags"] & X.GTF_writing
    # dom0 is not the grantee of ref 9
    assert (
        map_op(w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map, ref=9, dom=1)["status"]
        == X.GNTST_general_error
    )


def test_readonly_grants(w: World) -> None:
    g1, g2 = w.vm(1), w.vm(2)
    d1 = xen(g1)
    d1.grants.seed(10, 2, 0x40081, X.GTF_permit_access | X.GTF_readonly)
    g1.write(0x40081000, b"read me")
    bad = map_op(w, 2, host_addr=0x50000000, flags=X.GNTMAP_host_map, ref=10, dom=1)
    assert bad["status"] == X.GNTST_general_error
    m = map_op(w, 2, host_addr=0x50000000, flags=X.GNTMAP_host_map | X.GNTMAP_readonly, ref=10, dom=1)
    assert m["status"] == X.GNTST_okay
    assert g2.read(0x50000000, 7) == b"read me"
    with pytest.raises(GuestMemoryError):
        g2.write(0x50000000, b"x")
    entry = d1.grants.entry(10)
    assert entry is not None and entry.flags & X.GTF_reading and not entry.flags & X.GTF_writing


def test_grant_map_errors(w: World) -> None:
    d1 = xen(w.vm(1))
    assert (
        map_op(w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map, ref=0, dom=7)["status"]
        == X.GNTST_bad_domain
    )
    assert (
        map_op(w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map, ref=512, dom=1)["status"]
        == X.GNTST_bad_gntref
    )
    assert map_op(w, 0, host_addr=0x60000000, flags=0, ref=0, dom=1)["status"] == X.GNTST_bad_gntref
    assert (
        map_op(w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map, ref=3, dom=1)["status"]
        == X.GNTST_general_error
    )
    status = map_op(w, 0, host_addr=0x60000800, flags=X.GNTMAP_host_map, ref=0, dom=1)["status"]
    assert status == X.GNTST_bad_virt_addr
    status = map_op(w, 0, host_addr=1 << 41, flags=X.GNTMAP_host_map, ref=0, dom=1)["status"]
    assert status == X.GNTST_bad_virt_addr
    status = map_op(
        w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map | X.GNTMAP_contains_pte, ref=0, dom=1
    )["status"]
    assert status == X.GNTST_general_error
    d1.grants.seed(11, 0, 0x10000)  # a frame the guest does not have
    assert (
        map_op(w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map, ref=11, dom=1)["status"]
        == X.GNTST_bad_page
    )
    assert w.call(0, X.HYPERVISOR_grant_table_op, X.GNTTABOP_map_grant_ref, 0x10000000, 1) == -X.EFAULT
    assert w.call(0, X.HYPERVISOR_grant_table_op, 99, SCRATCH, 1) == -X.ENOSYS
    assert unmap_op(w, 0, handle=1234) == X.GNTST_bad_handle


def test_two_mappings_of_one_grant(w: World) -> None:
    g = w.vm(1)
    a = map_op(w, 0, host_addr=0x60000000, flags=X.GNTMAP_host_map, ref=0, dom=1)
    b = map_op(w, 0, host_addr=0x60001000, flags=X.GNTMAP_host_map | X.GNTMAP_readonly, ref=0, dom=1)
    assert a["handle"] != b["handle"]
    assert (
        unmap_op(w, 0, host_addr=0x60001000, handle=a["handle"]) == X.GNTST_general_error
    )  # not where it is
    assert unmap_op(w, 0, host_addr=0x60000000, handle=a["handle"]) == X.GNTST_okay
    entry = xen(g).grants.entry(0)
    assert entry is not None and entry.flags == X.GTF_permit_access | X.GTF_reading
    assert unmap_op(w, 0, handle=b["handle"]) == X.GNTST_okay  # host_addr 0: not checked
    entry = xen(g).grants.entry(0)
    assert entry is not None and entry.flags == X.GTF_permit_access


def test_setup_table_and_query_size(w: World) -> None:
    g = w.vm(1)
    g.write(SCRATCH, X.GNTTAB_SETUP_TABLE.pack(dom=X.DOMID_SELF, nr_frames=2, frame_list=SCRATCH + 0x100))
    assert w.call(1, X.HYPERVISOR_grant_table_op, X.GNTTABOP_setup_table, SCRATCH, 1) == 0
    assert X.GNTTAB_SETUP_TABLE.read(g, SCRATCH)["status"] == X.GNTST_okay
    assert [g.read_u64(SCRATCH + 0x100), g.read_u64(SCRATCH + 0x108)] == [0x38000, 0x38001]
    assert X.GRANT_ENTRY_V1.unpack(g.read(0x38000000, 8))["domid"] == 0  # frame 0 holds the console grant
    g.write(SCRATCH, X.GNTTAB_QUERY_SIZE.pack(dom=X.DOMID_SELF))
    assert w.call(1, X.HYPERVISOR_grant_table_op, X.GNTTABOP_query_size, SCRATCH, 1) == 0
    q = X.GNTTAB_QUERY_SIZE.read(g, SCRATCH)
    assert (q["nr_frames"], q["max_nr_frames"], q["status"]) == (2, 4, 0)
    g.write(SCRATCH, X.GNTTAB_SETUP_TABLE.pack(dom=X.DOMID_SELF, nr_frames=5, frame_list=SCRATCH + 0x100))
    assert w.call(1, X.HYPERVISOR_grant_table_op, X.GNTTABOP_setup_table, SCRATCH, 1) == 0
    assert X.GNTTAB_SETUP_TABLE.read(g, SCRATCH)["status"] == X.GNTST_general_error
    g.write(SCRATCH, X.GNTTAB_SETUP_TABLE.pack(dom=2, nr_frames=1, frame_list=SCRATCH + 0x100))
    assert w.call(1, X.HYPERVISOR_grant_table_op, X.GNTTABOP_setup_table, SCRATCH, 1) == 0
    assert X.GNTTAB_SETUP_TABLE.read(g, SCRATCH)["status"] == X.GNTST_permission_denied


def test_grant_frames_grow_until_the_pool_or_the_limit(w: World) -> None:
    def add(idx: int) -> int:
        return w.mem(
            1,
            X.XENMEM_add_to_physmap,
            X.XEN_ADD_TO_PHYSMAP,
            domid=X.DOMID_SELF,
            space=X.XENMAPSPACE_grant_table,
            idx=idx,
            gpfn=0x38000 + idx,
        )[0]

    assert add(1) == 0 and len(xen(w.vm(1)).grants.frames) == 2
    assert add(4) == -X.EINVAL
    assert add(X.XENMAPIDX_grant_table_status) == -X.EINVAL  # v1 has no status frames
    w.page_limit = 0
    assert add(2) == -X.EINVAL  # the runtime's pool is empty: refused, not raised


def test_grant_versions(w: World) -> None:
    assert w.gnt(1, X.GNTTABOP_set_version, X.GNTTAB_SET_VERSION, version=1)[0] == 0
    assert w.gnt(1, X.GNTTABOP_set_version, X.GNTTAB_SET_VERSION, version=2)[0] == -X.EOPNOTSUPP
    rc, v = w.gnt(1, X.GNTTABOP_get_version, X.GNTTAB_GET_VERSION, dom=X.DOMID_SELF)
    assert (rc, v["version"]) == (0, 1)


# sched_op


def test_yield_ends_the_slice(w: World) -> None:
    cpu = w.vm(1).vcpus[0]
    assert w.call(1, X.HYPERVISOR_sched_op, X.SCHEDOP_yield, 0) == 0
    assert cpu.exits == 1 and not cpu.waiting  # type: ignore[attr-defined]


def test_block_waits_unless_an_event_is_there(w: World) -> None:
    g = w.vm(1)
    cpu = g.vcpus[0]
    info = xen(g).shared.info(0)
    w.machine.write(info + 1, b"\x01")  # upcall mask set: block clears it
    assert w.call(1, X.HYPERVISOR_sched_op, X.SCHEDOP_block, 0) == 0
    assert cpu.waiting and w.machine.read(info + 1, 1) == b"\x00"
    cpu.waiting = False
    send(w, 0, bind_console(w, 1))
    assert w.call(1, X.HYPERVISOR_sched_op, X.SCHEDOP_block, 0) == 0
    assert not cpu.waiting


@pytest.mark.parametrize(("code", "name"), [(0, "poweroff"), (1, "reboot"), (3, "crash"), (9, "code 9")])
def test_shutdown(w: World, code: int, name: str) -> None:
    g = w.vm(2)
    rc, _ = w.sched(2, X.SCHEDOP_shutdown, X.SCHED_SHUTDOWN, reason=code)
    assert rc == 0
    assert g.exit is not None and g.exit.as_dict() == {"reason": "shutdown", "shutdown": name}
    assert w.vm(1).exit is None and w.vm(0).exit is None


def test_remote_shutdown_is_dom0s(w: World) -> None:
    ss = X.SCHED_REMOTE_SHUTDOWN
    assert w.sched(1, X.SCHEDOP_remote_shutdown, ss, domain_id=2, reason=0)[0] == -X.EPERM
    assert w.sched(0, X.SCHEDOP_remote_shutdown, ss, domain_id=2, reason=0)[0] == 0
    assert w.vm(2).exit is not None and w.vm(2).exit.as_dict()["by"] == 0
    assert w.call(1, X.HYPERVISOR_sched_op, 42, 0) == -X.ENOSYS
    assert w.call(1, X.HYPERVISOR_sched_op, X.SCHEDOP_shutdown, 0x10000000) == -X.EFAULT


# The personality


def test_unattached_vm_gets_enosys(w: World) -> None:
    vm = Vm("stray", 3, w.machine, _tables(w.machine, 3))
    cpu = FakeCpu()
    cpu.set_x(16, X.HYPERVISOR_xen_version)
    assert w.personality.hypercall(w, vm, cpu, X.HYPERCALL_TAG)  # type: ignore[arg-type]
    assert cpu.x(0) == 2**64 - X.ENOSYS
