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

from .abi import ENOSYS, GUEST_EVTCHN_PPI, HYPERCALL_TAG
from .console import setup_console
from .domain import STATE_KEY, XenDomain, XenRuntime, domain_of
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
        self.host_event_intid: int | None = None  # set by host_fixup when the host tree gets /hypervisor

    def guest_board(self, spec: GuestSpec) -> GuestBoard:
        # TODO(issue 7): hyp/personalities/guest_board.py's xen_board is being written; until it lands
        # a xen guest has no board, and saying so beats inventing one here.
        try:
            from armboot.hyp.personalities.guest_board import xen_board
        except ImportError as e:
            raise NotImplementedError("the xen guest board (guest_board.xen_board) is not written yet") from e
        return xen_board(spec)

    def host_fixup(self, runtime: XenRuntime, tree: DeviceTree) -> None:
        """TODO(issue 7): the host's /hypervisor node (dom0), once choose_event_ppi exists."""

    def attach(self, runtime: XenRuntime, vm: Vm, board: GuestBoard | None) -> None:
        """Make ``vm`` a domain; a guest (``board`` given) gets its PV console, as Xen gives dom0less domUs."""
        intid = self.host_event_intid if board is None else getattr(board, "event_intid", GUEST_EVTCHN_PPI)
        dom = XenDomain(vm, runtime, intid)
        vm.personality_state[STATE_KEY] = dom
        if not vm.is_host:
            setup_console(dom, runtime.alloc_page)

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
