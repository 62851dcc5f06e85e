"""Xen event channels, 2-level ABI: per-domain port tables and delivery through shared_info.

A domain's ``shared_info`` is a page Xen owns (here: one page of the
runtime's pool) that the guest maps where it likes with
XENMEM_add_to_physmap(XENMAPSPACE_shared_info).  Delivery is what Xen's
``evtchn_2l_set_pending`` does: set the port's bit in ``evtchn_pending``; if
the port is not masked and its selector bit in the target vCPU's
``vcpu_info.evtchn_pending_sel`` was clear, set it; if ``evtchn_upcall_pending``
was clear, set it and raise the domain's event PPI on that vCPU (``kick``).
The guest clears these bits itself, so the page, not Python, holds the truth.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .abi import (
    DOMID_SELF,
    EINVAL,
    ENOSPC,
    EVTCHN_2L_NR_CHANNELS,
    SHARED_INFO,
    VCPU_INFO,
    EVTCHNSTAT_interdomain,
    EVTCHNSTAT_unbound,
    fail,
)

WORD_BITS = 64
PENDING = SHARED_INFO.offsets["evtchn_pending"]
MASK = SHARED_INFO.offsets["evtchn_mask"]
UPCALL_PENDING = VCPU_INFO.offsets["evtchn_upcall_pending"]
UPCALL_MASK = VCPU_INFO.offsets["evtchn_upcall_mask"]
PENDING_SEL = VCPU_INFO.offsets["evtchn_pending_sel"]


class PhysMem(Protocol):
    """Physical memory by PA (the board's ``Machine``)."""

    def read(self, address: int, length: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


class SharedInfo:
    """One domain's shared_info page at PA ``pa``, and the PA of each vCPU's vcpu_info."""

    def __init__(self, mem: PhysMem, pa: int) -> None:
        self.mem, self.pa = mem, pa
        self.gfn: int | None = None  # where the guest mapped the page, once it has
        self.vcpu_info: dict[int, int] = {0: pa}  # vCPU 0 starts in shared_info (XEN_LEGACY_MAX_VCPUS = 1)
        mem.write(pa, bytes(0x1000))

    def _word(self, pa: int) -> int:
        return struct.unpack("<Q", self.mem.read(pa, 8))[0]

    def _update(self, base: int, bit: int, on: bool) -> bool:
        """Set or clear bit ``bit`` of the u64 array at PA ``base``; whether it was set before."""
        pa = base + 8 * (bit // WORD_BITS)
        word, mask = self._word(pa), 1 << (bit % WORD_BITS)
        self.mem.write(pa, struct.pack("<Q", word | mask if on else word & ~mask))
        return bool(word & mask)

    def test(self, base: int, bit: int) -> bool:
        return bool(self._word(base + 8 * (bit // WORD_BITS)) >> (bit % WORD_BITS) & 1)

    # The shared bitmaps

    def set_pending(self, port: int) -> bool:
        return self._update(self.pa + PENDING, port, True)

    def clear_pending(self, port: int) -> None:
        self._update(self.pa + PENDING, port, False)

    def pending(self, port: int) -> bool:
        return self.test(self.pa + PENDING, port)

    def masked(self, port: int) -> bool:
        return self.test(self.pa + MASK, port)

    def set_mask(self, port: int, on: bool) -> None:
        self._update(self.pa + MASK, port, on)

    # Per-vCPU state

    def info(self, vcpu: int) -> int:
        """PA of the vCPU's vcpu_info (a vCPU that registered none shares vCPU 0's slot: Xen has none for it)."""
        return self.vcpu_info.get(vcpu, self.vcpu_info[0])

    def select(self, vcpu: int, word: int) -> bool:
        return self._update(self.info(vcpu) + PENDING_SEL, word, True)

    def set_upcall(self, vcpu: int) -> bool:
        pa = self.info(vcpu) + UPCALL_PENDING
        old = self.mem.read(pa, 1)[0]
        self.mem.write(pa, b"\x01")
        return bool(old)

    def upcall_pending(self, vcpu: int) -> bool:
        return bool(self.mem.read(self.info(vcpu) + UPCALL_PENDING, 1)[0])

    def unmask_upcall(self, vcpu: int) -> None:
        self.mem.write(self.info(vcpu) + UPCALL_MASK, b"\x00")

    def register(self, vcpu: int, pa: int) -> None:
        """VCPUOP_register_vcpu_info: move the vCPU's vcpu_info to guest memory at PA ``pa``.

        As Xen does, the old contents come along and everything is marked
        pending, so no event is lost in the move (the guest copes with a spurious upcall).
        """
        old = self.mem.read(self.info(vcpu), VCPU_INFO.size)
        self.vcpu_info[vcpu] = pa
        self.mem.write(pa, old)
        self.mem.write(pa + PENDING_SEL, b"\xff" * 8)
        self.mem.write(pa + UPCALL_PENDING, b"\x01")


@dataclass
class Channel:
    """An allocated port: unbound (waiting for ``remote_dom``) or connected to (remote_dom, remote_port)."""

    state: int
    remote_dom: int
    remote_port: int = 0
    vcpu: int = 0  # the vCPU notified (EVTCHNOP_bind_vcpu)


class EventChannels:
    """A domain's port table; ``kick(vcpu)`` raises the domain's event PPI on a vCPU."""

    def __init__(self, domid: int, shared: SharedInfo, kick: Callable[[int], None]) -> None:
        self.domid, self.shared, self.kick = domid, shared, kick
        self.channels: dict[int, Channel] = {}  # port 0 is reserved, as in Xen

    def alloc(self, channel: Channel) -> int:
        port = next((p for p in range(1, EVTCHN_2L_NR_CHANNELS) if p not in self.channels), None)
        if port is None:
            fail(ENOSPC, f"dom{self.domid}: no free event channel")
        self.channels[port] = channel
        return port

    def get(self, port: int) -> Channel:
        """The channel on ``port``; -EINVAL when the port is out of range or closed."""
        ch = self.channels.get(port)
        if ch is None:
            fail(EINVAL, f"dom{self.domid}: port {port} is not open")
        return ch

    def free(self, port: int) -> None:
        del self.channels[port]
        self.shared.clear_pending(port)

    def raise_port(self, port: int) -> None:
        """An event on ``port`` (Xen's evtchn_2l_set_pending)."""
        if self.shared.set_pending(port) or self.shared.masked(port):
            return
        self._notify(self.channels[port].vcpu if port in self.channels else 0, port)

    def unmask(self, port: int) -> None:
        """EVTCHNOP_unmask: an event that arrived while masked is delivered now."""
        ch = self.get(port)
        self.shared.set_mask(port, False)
        if self.shared.pending(port):
            self._notify(ch.vcpu, port)

    def _notify(self, vcpu: int, port: int) -> None:
        if not self.shared.select(vcpu, port // WORD_BITS) and not self.shared.set_upcall(vcpu):
            self.kick(vcpu)


Peers = Callable[[int], EventChannels | None]  # domid -> that domain's port table


def alloc_unbound(d: EventChannels, remote_dom: int) -> int:
    """A fresh port in ``d`` that ``remote_dom`` may bind to."""
    return d.alloc(Channel(EVTCHNSTAT_unbound, remote_dom))


def bind_interdomain(local: EventChannels, remote: EventChannels, remote_port: int) -> int:
    """Connect a fresh local port to ``remote``'s unbound port offered to us; the new port starts pending."""
    rch = remote.channels.get(remote_port)
    if rch is None or rch.state != EVTCHNSTAT_unbound or rch.remote_dom != local.domid:
        fail(EINVAL, f"dom{remote.domid} port {remote_port} is not offered to dom{local.domid}")
    port = local.alloc(Channel(EVTCHNSTAT_interdomain, remote.domid, remote_port))
    rch.state, rch.remote_port = EVTCHNSTAT_interdomain, port
    local.raise_port(port)
    return port


def send(d: EventChannels, port: int, peers: Peers) -> None:
    """Notify the other end of ``port``; an unbound port drops the event, as Xen does."""
    ch = d.get(port)
    if ch.state == EVTCHNSTAT_interdomain:
        remote = peers(ch.remote_dom)
        if remote is not None:
            remote.raise_port(ch.remote_port)


def close(d: EventChannels, port: int, peers: Peers) -> None:
    """Free ``port``; an interdomain peer goes back to unbound, waiting for us again."""
    ch = d.get(port)
    if ch.state == EVTCHNSTAT_interdomain:
        remote = peers(ch.remote_dom)
        rch = remote.channels.get(ch.remote_port) if remote is not None else None
        if rch is not None:
            rch.state, rch.remote_dom, rch.remote_port = EVTCHNSTAT_unbound, d.domid, 0
    d.free(port)


def resolve(domid: int, caller: int) -> int:
    """DOMID_SELF means the caller."""
    return caller if domid == DOMID_SELF else domid
