"""Xen grant tables, version 1: a domain's grant entries, and other domains mapping what it grants.

The table lives in frames Xen owns (here: pages of the runtime's pool).  The
guest sees frame ``i`` at the gfn it asks for with
XENMEM_add_to_physmap(XENMAPSPACE_grant_table, idx = i) or, through
GNTTABOP_setup_table, at the grant region its /hypervisor node names
(0x38000000 + i pages).  A grant is ``grant_entry_v1 {flags, domid, frame}``
written by the granting guest; another domain maps it with
GNTTABOP_map_grant_ref, which checks the entry as Xen does, then maps the
granted page into the mapper's stage 2 at ``host_addr`` (an IPA on Arm) and
marks the entry GTF_reading/GTF_writing while mapped (the grantor must not
revoke it then).  The handle is the mapper's to unmap with.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...arch.stage2 import Perm
from ...core.runtime import RuntimeError_
from ...core.vm import GuestMemoryError
from .abi import (
    GRANT_ENTRY_V1,
    GUEST_GNTTAB_BASE,
    PAGE_SIZE,
    GNTMAP_contains_pte,
    GNTMAP_device_map,
    GNTMAP_host_map,
    GNTMAP_readonly,
    GNTST_bad_gntref,
    GNTST_bad_handle,
    GNTST_bad_page,
    GNTST_bad_virt_addr,
    GNTST_general_error,
    GNTST_okay,
    GTF_permit_access,
    GTF_reading,
    GTF_readonly,
    GTF_type_mask,
    GTF_writing,
)

if TYPE_CHECKING:
    from ...core.vm import Vm

ENTRIES_PER_FRAME = PAGE_SIZE // GRANT_ENTRY_V1.size
MAX_FRAMES = 4  # Xen's default is 64; the runtime's pool is small, and 2048 grants is plenty here


@dataclass(frozen=True)
class Grant:
    """One grant_entry_v1 as the grantor wrote it."""

    flags: int
    domid: int
    frame: int


@dataclass(frozen=True)
class GrantMapping:
    """A mapping this domain made of another's grant (Xen's maptrack entry)."""

    dom: int
    ref: int
    host_addr: int
    readonly: bool
    pa: int


class GrantTable:
    """A domain's grant table: frames in runtime pages, the gfns the guest mapped them at, its maptrack."""

    def __init__(self, vm: Vm, alloc_page: Callable[[], int], max_frames: int = MAX_FRAMES) -> None:
        self.vm, self.alloc_page, self.max_frames = vm, alloc_page, max_frames
        self.frames: list[int] = []  # PA of each frame
        self.gfns: list[int | None] = []  # where the guest sees each frame
        self.pins: dict[int, list[int]] = {}  # ref -> [read-only maps, writable maps] by other domains
        self.maptrack: dict[int, GrantMapping] = {}
        self._next_handle = 0
        if not self.grow(1):
            raise RuntimeError_(f"{vm.name}: no page for its grant table")

    @property
    def nr_entries(self) -> int:
        return len(self.frames) * ENTRIES_PER_FRAME

    def grow(self, nr_frames: int) -> bool:
        """At least ``nr_frames`` frames (zeroed); False beyond the maximum or when the runtime has no page left."""
        if nr_frames > self.max_frames:
            return False
        while len(self.frames) < nr_frames:
            try:
                pa = self.alloc_page()
            except RuntimeError_:
                return False
            self.vm.machine.write(pa, bytes(PAGE_SIZE))
            self.frames.append(pa)
            self.gfns.append(None)
        return True

    # Entries

    def _entry_pa(self, ref: int) -> int:
        return self.frames[ref // ENTRIES_PER_FRAME] + (ref % ENTRIES_PER_FRAME) * GRANT_ENTRY_V1.size

    def entry(self, ref: int) -> Grant | None:
        if not 0 <= ref < self.nr_entries:
            return None
        e = GRANT_ENTRY_V1.unpack(self.vm.machine.read(self._entry_pa(ref), GRANT_ENTRY_V1.size))
        return Grant(e["flags"], e["domid"], e["frame"])

    def seed(self, ref: int, domid: int, frame: int, flags: int = GTF_permit_access) -> None:
        """Write a grant on the guest's behalf, as the toolstack seeds the reserved console entry."""
        self.vm.machine.write(self._entry_pa(ref), GRANT_ENTRY_V1.pack(flags=flags, domid=domid, frame=frame))

    def update_flags(self, ref: int, set_bits: int, clear_bits: int) -> None:
        pa = self._entry_pa(ref)
        (flags,) = struct.unpack("<H", self.vm.machine.read(pa, 2))
        self.vm.machine.write(pa, struct.pack("<H", (flags | set_bits) & ~clear_bits & 0xFFFF))

    def track(self, mapping: GrantMapping) -> int:
        """Remember a mapping this domain made; its handle."""
        handle = self._next_handle
        self._next_handle += 1
        self.maptrack[handle] = mapping
        return handle

    # Where the guest sees its frames

    def map_frame(self, idx: int, gfn: int) -> None:
        """Frame ``idx`` at ``gfn`` (XENMEM_add_to_physmap); a frame mapped elsewhere moves."""
        old = self.gfns[idx]
        if old is not None and old != gfn:
            self.vm.unmap(old * PAGE_SIZE, PAGE_SIZE)
        self.vm.map(gfn * PAGE_SIZE, self.frames[idx], PAGE_SIZE, Perm.RW)
        self.gfns[idx] = gfn

    def setup(self, nr_frames: int) -> list[int] | None:
        """GNTTABOP_setup_table: the gfns of the first ``nr_frames`` frames, mapping unmapped ones at the grant region."""
        if not self.grow(nr_frames):
            return None
        for i in range(nr_frames):
            if self.gfns[i] is None:
                self.map_frame(i, GUEST_GNTTAB_BASE // PAGE_SIZE + i)
        return [g for g in self.gfns[:nr_frames] if g is not None]

    def unmap_gfn(self, gfn: int) -> bool:
        """XENMEM_remove_from_physmap of a grant frame."""
        if gfn not in self.gfns:
            return False
        idx = self.gfns.index(gfn)
        self.vm.unmap(gfn * PAGE_SIZE, PAGE_SIZE)
        self.gfns[idx] = None
        return True


def map_grant(
    mapper: GrantTable, grantor: GrantTable, ref: int, flags: int, host_addr: int
) -> tuple[int, int, int]:
    """GNTTABOP_map_grant_ref by ``mapper`` of (grantor, ref): (status, handle, dev_bus_addr)."""
    if not flags & (GNTMAP_host_map | GNTMAP_device_map):
        return GNTST_bad_gntref, 0, 0
    if flags & GNTMAP_contains_pte:  # a PTE address means nothing with stage 2
        return GNTST_general_error, 0, 0
    readonly = bool(flags & GNTMAP_readonly)
    grant = grantor.entry(ref)
    if grant is None:
        return GNTST_bad_gntref, 0, 0
    if grant.flags & GTF_type_mask != GTF_permit_access or grant.domid != mapper.vm.domid:
        return GNTST_general_error, 0, 0
    if not readonly and grant.flags & GTF_readonly:
        return GNTST_general_error, 0, 0
    try:
        pa = grantor.vm.translate(grant.frame * PAGE_SIZE, write=not readonly)
    except GuestMemoryError:
        return GNTST_bad_page, 0, 0
    if flags & GNTMAP_host_map:
        if host_addr % PAGE_SIZE:
            return GNTST_bad_virt_addr, 0, 0
        try:
            mapper.vm.map(host_addr, pa, PAGE_SIZE, Perm.R if readonly else Perm.RW)
        except ValueError:  # beyond the mapper's IPA space
            return GNTST_bad_virt_addr, 0, 0
    pins = grantor.pins.setdefault(ref, [0, 0])
    pins[0 if readonly else 1] += 1
    grantor.update_flags(ref, GTF_reading | (0 if readonly else GTF_writing), 0)
    host = host_addr if flags & GNTMAP_host_map else 0
    handle = mapper.track(GrantMapping(grantor.vm.domid, ref, host, readonly, pa))
    return GNTST_okay, handle, pa if flags & GNTMAP_device_map else 0


def unmap_grant(
    mapper: GrantTable, handle: int, host_addr: int, grantors: Callable[[int], GrantTable | None]
) -> int:
    """GNTTABOP_unmap_grant_ref: the status; the grantor's entry stops being in use with its last mapping."""
    m = mapper.maptrack.get(handle)
    if m is None:
        return GNTST_bad_handle
    if host_addr and host_addr != m.host_addr:
        return GNTST_general_error
    if m.host_addr:
        mapper.vm.unmap(m.host_addr, PAGE_SIZE)
    del mapper.maptrack[handle]
    grantor = grantors(m.dom)
    if grantor is not None and m.ref in grantor.pins:
        pins = grantor.pins[m.ref]
        pins[0 if m.readonly else 1] -= 1
        clear = (0 if pins[1] else GTF_writing) | (0 if pins[0] or pins[1] else GTF_reading)
        grantor.update_flags(m.ref, 0, clear)
        if not any(pins):
            del grantor.pins[m.ref]
    return GNTST_okay
