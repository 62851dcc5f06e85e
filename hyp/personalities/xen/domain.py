"""A VM as Xen sees it (a domain): its shared_info, port table, grant table and HVM params.

The personality keeps one ``XenDomain`` per VM in ``vm.personality_state["xen"]``
and finds other domains through the runtime's VM list, so it holds no state of
its own.  What it needs from the runtime is the ``XenRuntime`` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ...arch.gic import GicCore
from .abi import EPERM, ESRCH, fail
from .evtchn import EventChannels, SharedInfo, resolve
from .grant import GrantTable

if TYPE_CHECKING:
    from ...core.vm import Vm
    from ...platform.board import Machine

STATE_KEY = "xen"


class XenRuntime(Protocol):
    """The runtime hooks the xen personality uses."""

    @property
    def vms(self) -> Sequence[Vm]:
        """Every VM, the host (domain 0) included."""
        ...

    @property
    def machine(self) -> Machine: ...

    def alloc_page(self) -> int:
        """PA of a zeroed page of the runtime's pool (no VM's stage 2 maps it); ``RuntimeError_`` when exhausted."""
        ...


class XenDomain:
    """Per-VM Xen state; pages Xen owns come from the runtime's pool.

    ``event_intid`` is the PPI the VM's /hypervisor node names; None while it
    has none (a host tree without the node): events then only set pending bits.
    """

    def __init__(self, vm: Vm, runtime: XenRuntime, event_intid: int | None) -> None:
        self.vm, self.event_intid = vm, event_intid
        self.shared = SharedInfo(vm.machine, runtime.alloc_page())
        self.ports = EventChannels(vm.domid, self.shared, self.kick)
        self.grants = GrantTable(vm, runtime.alloc_page)
        self.params: dict[int, int] = {}  # HVM params (HVM_PARAM_*); unset reads as 0, as in Xen
        self.registered: set[int] = set()  # vCPUs whose vcpu_info moved (VCPUOP_register_vcpu_info)
        self.runstate: dict[int, int] = {}  # vCPU -> IPA of its runstate area (accepted, not updated)

    @property
    def domid(self) -> int:
        return self.vm.domid

    @property
    def privileged(self) -> bool:
        """The host is dom0: it may act on other domains."""
        return self.vm.is_host

    @property
    def nvcpus(self) -> int:
        return max(1, len(self.vm.vcpus))

    def kick(self, vcpu: int) -> None:
        """Raise the event PPI on ``vcpu``: through a guest's vGIC, or latched on the board's GIC for the host."""
        if self.event_intid is None:
            return
        if self.vm.vgic is not None:
            self.vm.inject(vcpu, self.event_intid)
        elif self.vm.is_host and isinstance(self.vm.machine.gic, GicCore):
            latch(self.vm.machine.gic, vcpu, self.event_intid)


def latch(gic: GicCore, cpu: int, intid: int) -> None:
    """Make ``intid`` pending on ``cpu`` as an edge would (the host runs on the board's GIC, not a vGIC)."""
    irq = gic.lookup(intid, cpu)
    if irq is not None:
        irq.latch = True
        gic.update(irq)
        gic.on_change()


def domain_of(vm: Vm) -> XenDomain | None:
    d = vm.personality_state.get(STATE_KEY)
    return d if isinstance(d, XenDomain) else None


def find(runtime: XenRuntime, domid: int) -> XenDomain | None:
    for vm in runtime.vms:
        if vm.domid == domid:
            return domain_of(vm)
    return None


def peer(runtime: XenRuntime, caller: XenDomain, domid: int) -> XenDomain:
    """The domain ``domid`` names (DOMID_SELF: the caller); -ESRCH when there is none."""
    d = find(runtime, resolve(domid, caller.domid))
    if d is None:
        fail(ESRCH, f"no domain {domid}")
    return d


def target(runtime: XenRuntime, caller: XenDomain, domid: int) -> XenDomain:
    """A domain the caller acts on: itself, or any domain when the caller is privileged (else -EPERM)."""
    d = peer(runtime, caller, domid)
    if d is not caller and not caller.privileged:
        fail(EPERM, f"dom{caller.domid} may not act on dom{d.domid}")
    return d
