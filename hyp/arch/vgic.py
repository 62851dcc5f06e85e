"""A VM's virtual GIC: GICv2 distributor and CPU interfaces emulated per VM, list-register style injection.

The guest boards of both personalities (kvm's ``virt``, Xen's guest board)
give their VMs a GICv2, so a VM's GIC is a ``GicV2`` whose "CPUs" are the VM's
vCPUs 0..n-1 (which physical CPU runs a vCPU is the runtime's business) and
whose interrupts come from the hypervisor instead of wires.  ``inject`` plays
the part of writing a list register: the virtual interrupt becomes pending,
optionally linked to a physical interrupt the hypervisor has acknowledged and
left active.  When the guest deactivates a linked interrupt (EOI, or DIR in
EOImode 1) or throws it away (ICPENDR, ICACTIVER), the physical one must be
deactivated too: that is the maintenance event handed to ``on_maintenance``.
A device the runtime emulates for the VM drives its line with ``set_level``
(level-sensitive, sampled continuously, so it needs no maintenance).  Each
instance owns all of its state; nothing is shared between VMs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .gic import Irq
from .gicv2 import GicV2


@dataclass(frozen=True)
class Maintenance:
    """The guest finished with a virtual interrupt linked to a physical one: deactivate ``hw_intid``."""

    vcpu: int
    intid: int
    hw_intid: int


@dataclass(frozen=True)
class ListEntry:
    """One interrupt in flight on a vCPU, as a list register would hold it."""

    intid: int
    priority: int
    pending: bool
    active: bool
    hw_intid: int | None


def _ignore(event: Maintenance) -> None:
    pass


class VGic(GicV2):
    """The virtual GIC of one VM with ``nvcpus`` vCPUs (at most 8, GICv2's limit)."""

    name = "vgic"

    def __init__(self, nvcpus: int, nirqs: int = 256) -> None:
        super().__init__(nvcpus, nirqs)
        self.on_maintenance: Callable[[Maintenance], None] = _ignore

    @property
    def nvcpus(self) -> int:
        return self.ncpus

    def inject(self, vcpu_index: int, virtual_intid: int, hw_intid: int | None = None) -> None:
        """Make a virtual interrupt pending (edge-like): SGIs and PPIs on that vCPU, SPIs where the guest routes them.

        An injected SGI comes from the vCPU itself (GICC_IAR's source field).
        With ``hw_intid`` the interrupt is linked to that physical INTID until the guest deactivates it.
        """
        if not 0 <= vcpu_index < self.ncpus:
            raise ValueError(f"vCPU {vcpu_index}: the VM has {self.ncpus}")
        irq = self.lookup(virtual_intid, vcpu_index)
        if irq is None:
            raise ValueError(f"virtual INTID {virtual_intid}: the VM's GIC has {self.nirqs}")
        if virtual_intid < 16:
            irq.sources |= 1 << vcpu_index
        irq.latch = True
        if hw_intid is not None:
            irq.hw = hw_intid
        self.update(irq)
        self.on_change()

    def pending_for(self, vcpu_index: int) -> bool:
        """Whether the vCPU has a virtual IRQ to take (the scheduler's question at each slice)."""
        return self.irq_pending(vcpu_index)

    def in_flight(self, vcpu_index: int) -> list[ListEntry]:
        """The interrupts pending or active for a vCPU, highest priority first."""
        mine = self.banked[vcpu_index] + [i for i in self.shared if i.targets >> vcpu_index & 1]
        irqs = [i for i in mine if i.pending or i.active]
        irqs.sort(key=lambda i: (i.priority, i.intid))
        return [ListEntry(i.intid, i.priority, i.pending, i.active, i.hw) for i in irqs]

    def settle(self, cpu: int, irq: Irq) -> None:
        """A linked interrupt left by the guest with nothing pending or active: report it once."""
        if irq.hw is not None and not irq.active and not irq.pending:
            hw, irq.hw = irq.hw, None
            self.on_maintenance(Maintenance(cpu, irq.intid, hw))
