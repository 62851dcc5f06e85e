"""Xen hypercalls on Arm: ``hvc #0xEA1``, number in x16, arguments x0-x4, result in x0.

One handler per hypercall, each a switch on its sub-op returning 0 or a
value, or raising ``XenError`` (-errno).  Guest memory that is not mapped
becomes -EFAULT; nothing a guest passes ends in a Python exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ...core.vm import GuestMemoryError
from . import abi, evtchn
from .abi import Layout, XenError, fail
from .domain import XenDomain, XenRuntime, find, peer, target
from .grant import GrantTable, map_grant, unmap_grant

if TYPE_CHECKING:
    from ...core.vm import Vm

MAX_BATCH = 0x10000  # grant ops per call: more is a runaway guest, not a workload
MEMOP_CMD_MASK = 0x3F  # the rest of memory_op's cmd is a continuation's start extent


class VCpu(Protocol):
    """What a hypercall needs of the calling vCPU (``hyp.arch.cpu.Cpu`` has it)."""

    waiting: bool

    def x(self, n: int) -> int: ...

    def set_x(self, n: int, value: int) -> None: ...

    def request_exit(self) -> None: ...


@dataclass
class Call:
    """One hypercall in flight: who made it, on which vCPU, with which arguments."""

    runtime: XenRuntime
    dom: XenDomain
    cpu: VCpu
    vcpu: int

    def arg(self, n: int) -> int:
        return self.cpu.x(n)

    @property
    def vm(self) -> Vm:
        return self.dom.vm

    def ports(self, domid: int) -> evtchn.EventChannels | None:
        d = find(self.runtime, domid)
        return d.ports if d is not None else None

    def grants(self, domid: int) -> GrantTable | None:
        d = find(self.runtime, domid)
        return d.grants if d is not None else None


def dispatch(runtime: XenRuntime, dom: XenDomain, cpu: VCpu, vcpu: int) -> int:
    """Run the hypercall x16 names; x0 gets (and we return) its result."""
    handler = HANDLERS.get(cpu.x(16))
    try:
        rc = handler(Call(runtime, dom, cpu, vcpu)) if handler is not None else -abi.ENOSYS
    except XenError as e:
        rc = e.errno
    except GuestMemoryError:
        rc = -abi.EFAULT
    cpu.set_x(0, rc)
    return rc


# console_io(cmd, count, buffer)


def console_io(c: Call) -> int:
    cmd, count, buf = c.arg(0), c.arg(1), c.arg(2)
    if cmd == abi.CONSOLEIO_write:
        if count:
            c.vm.console_out(c.vm.read(buf, count))
        return 0
    if cmd == abi.CONSOLEIO_read:
        return 0  # no input for guests yet
    return -abi.ENOSYS


# event_channel_op(cmd, arg)


def event_channel_op(c: Call) -> int:
    cmd, arg = c.arg(0), c.arg(1)
    own = c.dom.ports
    if cmd == abi.EVTCHNOP_alloc_unbound:
        a = abi.EVTCHN_ALLOC_UNBOUND.read(c.vm, arg)
        d = target(c.runtime, c.dom, a["dom"])
        port = evtchn.alloc_unbound(d.ports, evtchn.resolve(a["remote_dom"], c.dom.domid))
        abi.EVTCHN_ALLOC_UNBOUND.write(c.vm, arg, port=port)
    elif cmd == abi.EVTCHNOP_bind_interdomain:
        b = abi.EVTCHN_BIND_INTERDOMAIN.read(c.vm, arg)
        remote = peer(c.runtime, c.dom, b["remote_dom"])
        port = evtchn.bind_interdomain(own, remote.ports, b["remote_port"])
        abi.EVTCHN_BIND_INTERDOMAIN.write(c.vm, arg, local_port=port)
    elif cmd == abi.EVTCHNOP_send:
        evtchn.send(own, abi.EVTCHN_PORT.read(c.vm, arg)["port"], c.ports)
    elif cmd == abi.EVTCHNOP_close:
        evtchn.close(own, abi.EVTCHN_PORT.read(c.vm, arg)["port"], c.ports)
    elif cmd == abi.EVTCHNOP_unmask:
        own.unmask(abi.EVTCHN_PORT.read(c.vm, arg)["port"])
    elif cmd == abi.EVTCHNOP_bind_vcpu:
        b = abi.EVTCHN_BIND_VCPU.read(c.vm, arg)
        if b["vcpu"] >= c.dom.nvcpus:
            fail(abi.ENOENT, f"no vCPU {b['vcpu']}")
        own.get(b["port"]).vcpu = b["vcpu"]
    elif cmd == abi.EVTCHNOP_status:
        _status(c, arg)
    else:  # bind_virq/ipi/pirq, and the FIFO ABI (init_control): guests fall back to 2-level
        return -abi.ENOSYS
    return 0


def _status(c: Call, arg: int) -> None:
    s = abi.EVTCHN_STATUS.read(c.vm, arg)
    d = target(c.runtime, c.dom, s["dom"])
    if not 0 <= s["port"] < abi.EVTCHN_2L_NR_CHANNELS:
        fail(abi.EINVAL, f"port {s['port']}")
    ch = d.ports.channels.get(s["port"])
    if ch is None:
        abi.EVTCHN_STATUS.write(c.vm, arg, status=abi.EVTCHNSTAT_closed, vcpu=0)
        return
    port = ch.remote_port if ch.state == abi.EVTCHNSTAT_interdomain else 0
    abi.EVTCHN_STATUS.write(c.vm, arg, status=ch.state, vcpu=ch.vcpu, u_dom=ch.remote_dom, u_port=port)


# grant_table_op(cmd, uop, count)


def grant_table_op(c: Call) -> int:
    cmd, uop, count = c.arg(0), c.arg(1), c.arg(2)
    if cmd == abi.GNTTABOP_set_version:
        if abi.GNTTAB_SET_VERSION.read(c.vm, uop)["version"] != 1:
            return -abi.EOPNOTSUPP  # version 2 is not offered
        return 0
    if cmd == abi.GNTTABOP_get_version:
        v = abi.GNTTAB_GET_VERSION.read(c.vm, uop)
        target(c.runtime, c.dom, v["dom"])
        abi.GNTTAB_GET_VERSION.write(c.vm, uop, version=1)
        return 0
    if cmd not in GRANT_OPS:
        return -abi.ENOSYS
    if count > MAX_BATCH:
        return -abi.EINVAL
    op, layout = GRANT_OPS[cmd]
    for i in range(count):
        op(c, uop + i * layout.size)
    return 0


def _map(c: Call, at: int) -> None:
    m = abi.GNTTAB_MAP_GRANT_REF.read(c.vm, at)
    grantor = find(c.runtime, m["dom"])
    if grantor is None:
        abi.GNTTAB_MAP_GRANT_REF.write(c.vm, at, status=abi.GNTST_bad_domain)
        return
    status, handle, bus = map_grant(c.dom.grants, grantor.grants, m["ref"], m["flags"], m["host_addr"])
    abi.GNTTAB_MAP_GRANT_REF.write(c.vm, at, status=status, handle=handle, dev_bus_addr=bus)


def _unmap(c: Call, at: int) -> None:
    u = abi.GNTTAB_UNMAP_GRANT_REF.read(c.vm, at)
    status = unmap_grant(c.dom.grants, u["handle"], u["host_addr"], c.grants)
    abi.GNTTAB_UNMAP_GRANT_REF.write(c.vm, at, status=status)


def _grant_target(c: Call, domid: int) -> XenDomain | int:
    """The domain a setup/query op is about, or the GNTST status refusing it."""
    try:
        return target(c.runtime, c.dom, domid)
    except XenError as e:
        return abi.GNTST_permission_denied if e.errno == -abi.EPERM else abi.GNTST_bad_domain


def _setup(c: Call, at: int) -> None:
    s = abi.GNTTAB_SETUP_TABLE.read(c.vm, at)
    d = _grant_target(c, s["dom"])
    if isinstance(d, int):
        abi.GNTTAB_SETUP_TABLE.write(c.vm, at, status=d)
        return
    gfns = d.grants.setup(s["nr_frames"])
    if gfns is None:
        abi.GNTTAB_SETUP_TABLE.write(c.vm, at, status=abi.GNTST_general_error)
        return
    for i, gfn in enumerate(gfns):
        c.vm.write_u64(s["frame_list"] + 8 * i, gfn)
    abi.GNTTAB_SETUP_TABLE.write(c.vm, at, status=abi.GNTST_okay)


def _query_size(c: Call, at: int) -> None:
    q = abi.GNTTAB_QUERY_SIZE.read(c.vm, at)
    d = _grant_target(c, q["dom"])
    if isinstance(d, int):
        abi.GNTTAB_QUERY_SIZE.write(c.vm, at, status=d)
        return
    g = d.grants
    abi.GNTTAB_QUERY_SIZE.write(
        c.vm, at, nr_frames=len(g.frames), max_nr_frames=g.max_frames, status=abi.GNTST_okay
    )


GRANT_OPS: dict[int, tuple[Callable[[Call, int], None], Layout]] = {
    abi.GNTTABOP_map_grant_ref: (_map, abi.GNTTAB_MAP_GRANT_REF),
    abi.GNTTABOP_unmap_grant_ref: (_unmap, abi.GNTTAB_UNMAP_GRANT_REF),
    abi.GNTTABOP_setup_table: (_setup, abi.GNTTAB_SETUP_TABLE),
    abi.GNTTABOP_query_size: (_query_size, abi.GNTTAB_QUERY_SIZE),
}


# sched_op(cmd, arg)


def sched_op(c: Call) -> int:
    cmd, arg = c.arg(0), c.arg(1)
    if cmd == abi.SCHEDOP_yield:
        c.cpu.request_exit()
    elif cmd == abi.SCHEDOP_block:
        # Xen clears the upcall mask and sleeps unless an event is already there (no lost wake-up)
        c.dom.shared.unmask_upcall(c.vcpu)
        if not c.dom.shared.upcall_pending(c.vcpu):
            c.cpu.waiting = True
            c.cpu.request_exit()
    elif cmd == abi.SCHEDOP_shutdown:
        reason = abi.SCHED_SHUTDOWN.read(c.vm, arg)["reason"]
        c.vm.stop("shutdown", shutdown=abi.SHUTDOWN_REASONS.get(reason, f"code {reason}"))
        c.cpu.request_exit()
    elif cmd == abi.SCHEDOP_remote_shutdown:
        r = abi.SCHED_REMOTE_SHUTDOWN.read(c.vm, arg)
        d = target(c.runtime, c.dom, r["domain_id"])
        d.vm.stop(
            "shutdown", shutdown=abi.SHUTDOWN_REASONS.get(r["reason"], f"code {r['reason']}"), by=c.dom.domid
        )
        if d is c.dom:
            c.cpu.request_exit()
    else:
        return -abi.ENOSYS
    return 0


# memory_op(cmd, arg)


def memory_op(c: Call) -> int:
    cmd, arg = c.arg(0) & MEMOP_CMD_MASK, c.arg(1)
    if cmd == abi.XENMEM_add_to_physmap:
        a = abi.XEN_ADD_TO_PHYSMAP.read(c.vm, arg)
        _add_to_physmap(target(c.runtime, c.dom, a["domid"]), a["space"], a["idx"], a["gpfn"])
    elif cmd == abi.XENMEM_remove_from_physmap:
        r = abi.XEN_REMOVE_FROM_PHYSMAP.read(c.vm, arg)
        _remove_from_physmap(target(c.runtime, c.dom, r["domid"]), r["gpfn"])
    else:
        return -abi.ENOSYS
    return 0


def _add_to_physmap(d: XenDomain, space: int, idx: int, gpfn: int) -> None:
    try:
        if space == abi.XENMAPSPACE_shared_info:
            if idx != 0:
                fail(abi.EINVAL, "shared_info has one page")
            d.vm.map(gpfn * abi.PAGE_SIZE, d.shared.pa, abi.PAGE_SIZE)
            d.shared.gfn = gpfn
        elif space == abi.XENMAPSPACE_grant_table:
            if idx & abi.XENMAPIDX_grant_table_status or not d.grants.grow(idx + 1):
                fail(abi.EINVAL, f"grant frame {idx:#x}")
            d.grants.map_frame(idx, gpfn)
        else:
            fail(abi.EOPNOTSUPP, f"XENMAPSPACE {space}")
    except ValueError:  # gpfn beyond the IPA space
        fail(abi.EINVAL, f"gpfn {gpfn:#x}")


def _remove_from_physmap(d: XenDomain, gpfn: int) -> None:
    """Only pages Xen put there (shared_info, grant frames) can be taken out again."""
    if d.grants.unmap_gfn(gpfn):
        return
    if d.shared.gfn == gpfn:
        d.vm.unmap(gpfn * abi.PAGE_SIZE, abi.PAGE_SIZE)
        d.shared.gfn = None
        return
    fail(abi.EINVAL, f"gpfn {gpfn:#x} holds no Xen page")


# vcpu_op(cmd, vcpuid, arg)


def vcpu_op(c: Call) -> int:
    cmd, vcpu, arg = c.arg(0), c.arg(1), c.arg(2)
    if vcpu >= c.dom.nvcpus:
        return -abi.ENOENT
    if cmd == abi.VCPUOP_register_vcpu_info:
        r = abi.VCPU_REGISTER_VCPU_INFO.read(c.vm, arg)
        if vcpu in c.dom.registered or r["offset"] + abi.VCPU_INFO.size > abi.PAGE_SIZE:
            return -abi.EINVAL
        try:
            pa = c.vm.translate(r["mfn"] * abi.PAGE_SIZE, write=True)
        except GuestMemoryError:
            return -abi.EINVAL
        c.dom.shared.register(vcpu, pa + r["offset"])
        c.dom.registered.add(vcpu)
        c.dom.kick(vcpu)
    elif cmd == abi.VCPUOP_register_runstate_memory_area:
        c.dom.runstate[vcpu] = c.vm.read_u64(arg)  # Linux insists on it; the area is not kept up to date
    else:
        return -abi.ENOSYS
    return 0


# hvm_op(op, arg)


def hvm_op(c: Call) -> int:
    op, arg = c.arg(0), c.arg(1)
    if op not in (abi.HVMOP_get_param, abi.HVMOP_set_param):
        return -abi.ENOSYS
    p = abi.XEN_HVM_PARAM.read(c.vm, arg)
    if p["index"] >= abi.HVM_NR_PARAMS:
        return -abi.EINVAL
    d = target(c.runtime, c.dom, p["domid"])
    if op == abi.HVMOP_get_param:
        abi.XEN_HVM_PARAM.write(c.vm, arg, value=d.params.get(p["index"], 0))
    elif c.dom.privileged:
        d.params[p["index"]] = p["value"]
    else:
        return -abi.EPERM
    return 0


# xen_version(cmd, arg)


def _features(d: XenDomain, idx: int) -> int:
    if idx != 0:
        return 0
    bits = [
        abi.XENFEAT_writable_page_tables,
        abi.XENFEAT_auto_translated_physmap,
        abi.XENFEAT_ARM_SMCCC_supported,
    ]
    # the host's stage 2 is the identity (it is dom0, direct-mapped); guests' RAM is elsewhere
    bits += [abi.XENFEAT_dom0, abi.XENFEAT_direct_mapped] if d.privileged else [abi.XENFEAT_not_direct_mapped]
    return sum(1 << b for b in bits)


def _text(value: bytes, size: int) -> bytes:
    return value[: size - 1].ljust(size, b"\0")


def xen_version(c: Call) -> int:
    cmd, arg = c.arg(0), c.arg(1)
    strings = {
        abi.XENVER_extraversion: _text(b".0-armboot", 16),
        abi.XENVER_capabilities: _text(b"xen-3.0-aarch64 ", 1024),
        abi.XENVER_changeset: _text(b"armboot", 64),
        abi.XENVER_commandline: _text(b"", 1024),
        abi.XENVER_guest_handle: bytes(16),
        abi.XENVER_platform_parameters: bytes(
            8
        ),  # virt_start: Xen is not in the guest's address space on Arm
    }
    if cmd == abi.XENVER_version:
        return abi.XEN_VERSION[0] << 16 | abi.XEN_VERSION[1]
    if cmd == abi.XENVER_pagesize:
        return abi.PAGE_SIZE
    if cmd in strings:
        c.vm.write(arg, strings[cmd])
        return 0
    if cmd == abi.XENVER_get_features:
        idx = abi.XEN_FEATURE_INFO.read(c.vm, arg)["submap_idx"]
        abi.XEN_FEATURE_INFO.write(c.vm, arg, submap=_features(c.dom, idx))
        return 0
    return -abi.ENOSYS


HANDLERS: dict[int, Callable[[Call], int]] = {
    abi.HYPERVISOR_console_io: console_io,
    abi.HYPERVISOR_event_channel_op: event_channel_op,
    abi.HYPERVISOR_grant_table_op: grant_table_op,
    abi.HYPERVISOR_sched_op: sched_op,
    abi.HYPERVISOR_memory_op: memory_op,
    abi.HYPERVISOR_vcpu_op: vcpu_op,
    abi.HYPERVISOR_hvm_op: hvm_op,
    abi.HYPERVISOR_xen_version: xen_version,
}
