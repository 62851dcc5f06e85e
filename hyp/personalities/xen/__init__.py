"""The xen personality: Xen's guest board and hypercall interface (hvc #0xEA1, number in x16).

Each VM is a Xen domain (the host is dom0): ``attach`` gives it a
shared_info page, an event-channel port table and a grant table, and a guest
also gets what Xen sets up for a dom0less domU with a PV console: a ring page
in its magic region, an unbound port for dom0 and grant ref 0 on the ring,
announced by HVM_PARAM_CONSOLE_PFN/EVTCHN.  Events reach a VM on the PPI its
/hypervisor node names.  Per-VM state lives in ``vm.personality_state["xen"]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .abi import ENOSYS, HYPERCALL_TAG
from .console import setup_console
from .domain import STATE_KEY, XenDomain, XenRuntime, domain_of
from .host import HostHypervisor, add_hypervisor_node
from .hypercalls import dispatch

if TYPE_CHECKING:
    from armboot.bootloader.dom0less import GuestSpec
    from armboot.dtc.tree import DeviceTree
    from armboot.hyp.arch.cpu import Cpu
    from armboot.hyp.core.vm import Vm
    from armboot.hyp.personalities.guest_board import GuestBoard

__all__ = ["Personality", "XenDomain", "XenRuntime", "domain_of"]


class Personality:
    name = "xen"

    def __init__(self) -> None:
        self.host: HostHypervisor | None = None  # what host_fixup put in the host's /hypervisor node

    def guest_board(self, spec: GuestSpec) -> GuestBoard:
        """Xen's guest layout; /hypervisor on the lowest PPI the guest's tree leaves free."""
        from armboot.hyp.personalities.guest_board import xen_board

        return xen_board(spec)

    @property
    def host_event_intid(self) -> int | None:
        return None if self.host is None else self.host.event_intid

    def host_fixup(self, runtime: XenRuntime, tree: DeviceTree) -> None:
        """The host is dom0: its tree gets /hypervisor, on the lowest PPI its own devices leave free."""
        from armboot.hyp.personalities.guest_board import choose_event_ppi

        self.host = add_hypervisor_node(tree, runtime.machine, choose_event_ppi(tree))

    def attach(self, runtime: XenRuntime, vm: Vm, board: GuestBoard | None) -> None:
        """Make ``vm`` a domain; a guest (``board`` given) gets its PV console, as Xen gives dom0less domUs."""
        intid = self.host_event_intid if board is None else board.event_intid
        dom = XenDomain(vm, runtime, intid)
        vm.personality_state[STATE_KEY] = dom
        if not vm.is_host:
            setup_console(dom, runtime.alloc_page)

    def reset(self, runtime: XenRuntime, vm: Vm, board: GuestBoard | None) -> None:
        """A restarted guest is a new domain to its ports and grants: fresh state, a fresh PV console."""
        self.attach(runtime, vm, board)

    def hypercall(self, runtime: XenRuntime, vm: Vm, cpu: Cpu, imm: int) -> bool:
        """``hvc #0xEA1``: a Xen hypercall, result in x0; any other immediate is not ours."""
        if imm != HYPERCALL_TAG:
            return False
        dom = domain_of(vm)
        if dom is None:  # not attached: the runtime built this VM without us
            cpu.set_x(0, -ENOSYS)
            return True
        vcpu = next((i for i, c in enumerate(vm.vcpus) if c is cpu), 0)
        dispatch(runtime, dom, cpu, vcpu)
        return True
