"""The hypervisor runtime's personalities: what guests see and how they call the hypervisor.

The guest nodes of a tree do not depend on the personality; the personality
decides the guest board (QEMU virt for kvm, Xen's guest board for xen) and
the hypercall interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from armboot.hyp.core.runtime import Personality

NAMES = ("kvm", "xen")


def make(name: str) -> Personality:
    if name == "kvm":
        from .kvm import Personality as Kvm

        return Kvm()
    if name == "xen":
        from .xen import Personality as Xen

        return Xen()
    raise ValueError(f"unknown hypervisor personality {name!r} (choose {' or '.join(NAMES)})")
