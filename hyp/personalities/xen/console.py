"""The PV console: a guest's xencons_interface ring page and event channel to the backend (dom0).

What Xen's toolstack (or Xen itself, for dom0less domUs) sets up before the
guest runs: a ring page in the guest's magic region (GUEST_MAGIC_BASE, the
console first), an unbound port the backend domain may bind to, grant ref 0
(GNTTAB_RESERVED_CONSOLE) letting the backend map the page, and the HVM
params the guest reads to find both.  The guest produces into ``out`` and
consumes ``in``; the backend does the opposite.  ``ConsoleRing`` is either
side's view of the ring by physical address.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ...arch.stage2 import Perm
from .abi import (
    CONSOLE_PFN_OFFSET,
    GNTTAB_RESERVED_CONSOLE,
    GUEST_MAGIC_BASE,
    HVM_PARAM_CONSOLE_EVTCHN,
    HVM_PARAM_CONSOLE_PFN,
    PAGE_SIZE,
    XENCONS_INTERFACE,
)
from .domain import XenDomain
from .evtchn import PhysMem, alloc_unbound

CONSOLE_GFN = GUEST_MAGIC_BASE // PAGE_SIZE + CONSOLE_PFN_OFFSET
IN_SIZE, OUT_SIZE = 1024, 2048


def setup_console(dom: XenDomain, alloc_page: Callable[[], int], backend: int = 0) -> int:
    """Give ``dom`` a console ring for domain ``backend``; the ring's PA."""
    pa = alloc_page()
    dom.vm.machine.write(pa, bytes(PAGE_SIZE))
    dom.vm.map(CONSOLE_GFN * PAGE_SIZE, pa, PAGE_SIZE, Perm.RW)
    port = alloc_unbound(dom.ports, backend)
    dom.grants.seed(GNTTAB_RESERVED_CONSOLE, backend, CONSOLE_GFN)
    dom.params[HVM_PARAM_CONSOLE_PFN] = CONSOLE_GFN
    dom.params[HVM_PARAM_CONSOLE_EVTCHN] = port
    return pa


class ConsoleRing:
    """A xencons_interface page at PA ``pa``."""

    def __init__(self, mem: PhysMem, pa: int) -> None:
        self.mem, self.pa = mem, pa

    def _index(self, name: str) -> int:
        return struct.unpack("<I", self.mem.read(self.pa + XENCONS_INTERFACE.offsets[name], 4))[0]

    def _set_index(self, name: str, value: int) -> None:
        self.mem.write(self.pa + XENCONS_INTERFACE.offsets[name], struct.pack("<I", value & 0xFFFFFFFF))

    def _put(self, ring: str, size: int, prod: str, cons: str, data: bytes) -> int:
        p, c = self._index(prod), self._index(cons)
        n = min(len(data), size - ((p - c) & 0xFFFFFFFF))
        base = self.pa + XENCONS_INTERFACE.offsets[ring]
        for i in range(n):
            self.mem.write(base + ((p + i) & (size - 1)), data[i : i + 1])
        self._set_index(prod, p + n)
        return n

    def _take(self, ring: str, size: int, prod: str, cons: str) -> bytes:
        p, c = self._index(prod), self._index(cons)
        base = self.pa + XENCONS_INTERFACE.offsets[ring]
        n = min((p - c) & 0xFFFFFFFF, size)  # a guest's bogus indices cannot make us read more than the ring
        out = bytes(self.mem.read(base + ((c + i) & (size - 1)), 1)[0] for i in range(n))
        self._set_index(cons, c + n)
        return out

    def write_out(self, data: bytes) -> int:
        """The guest's side: queue text for the backend; how much fitted."""
        return self._put("out", OUT_SIZE, "out_prod", "out_cons", data)

    def drain_out(self) -> bytes:
        """The backend's side: everything the guest queued."""
        return self._take("out", OUT_SIZE, "out_prod", "out_cons")

    def write_in(self, data: bytes) -> int:
        """The backend's side: input for the guest; how much fitted."""
        return self._put("in", IN_SIZE, "in_prod", "in_cons", data)

    def drain_in(self) -> bytes:
        return self._take("in", IN_SIZE, "in_prod", "in_cons")
