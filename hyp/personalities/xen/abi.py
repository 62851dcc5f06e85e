"""Xen's public guest ABI as seen by an arm64 guest: numbers, error codes and struct layouts.

Values follow xen/include/public (xen.h, event_channel.h, grant_table.h,
sched.h, memory.h, vcpu.h, version.h, features.h, hvm/params.h, hvm/hvm_op.h,
io/console.h, arch-arm.h).  Structures are laid out by AAPCS64: natural
alignment, ``XEN_GUEST_HANDLE`` and ``xen_pfn_t``/``xen_ulong_t`` are 8 bytes,
and ``struct arch_vcpu_info`` is empty on Arm.  Each layout spells its padding
out, so a ``Layout`` is exactly the bytes the guest's C compiler produces.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from ...core.vm import Vm

# The HVC immediate that marks a Xen hypercall (arch-arm.h XEN_HYPERCALL_TAG); number in x16.
HYPERCALL_TAG = 0xEA1
XEN_VERSION = (4, 17)  # what XENVER_version reports; guest trees say "xen,xen-4.17" (guest_board.py)
PAGE_SIZE = 0x1000

# Guest IPA layout (arch-arm.h); guests should take the grant region from /hypervisor reg.
GUEST_GNTTAB_BASE, GUEST_GNTTAB_SIZE = 0x38000000, 0x01000000
GUEST_MAGIC_BASE, GUEST_MAGIC_SIZE = 0x39000000, 0x01000000
CONSOLE_PFN_OFFSET = 0  # the console ring is the first magic page (libxenguest's layout)
GUEST_EVTCHN_PPI = 31  # the domU event-channel INTID Xen uses

# Hypercall numbers (xen.h __HYPERVISOR_*)
HYPERVISOR_memory_op = 12
HYPERVISOR_xen_version = 17
HYPERVISOR_console_io = 18
HYPERVISOR_grant_table_op = 20
HYPERVISOR_vcpu_op = 24
HYPERVISOR_sched_op = 29
HYPERVISOR_event_channel_op = 32
HYPERVISOR_physdev_op = 33
HYPERVISOR_hvm_op = 34

# Error numbers (public/errno.h): hypercalls return their negation in x0.
EPERM, ENOENT, ESRCH, EFAULT, EBUSY, EEXIST = 1, 2, 3, 14, 16, 17
EINVAL, ENOSPC, ENOSYS, EOPNOTSUPP = 22, 28, 38, 95

DOMID_SELF = 0x7FF0
DOMID_FIRST_RESERVED = 0x7FF0

# console_io
CONSOLEIO_write, CONSOLEIO_read = 0, 1

# event_channel_op
EVTCHNOP_bind_interdomain = 0
EVTCHNOP_bind_virq = 1
EVTCHNOP_close = 3
EVTCHNOP_send = 4
EVTCHNOP_status = 5
EVTCHNOP_alloc_unbound = 6
EVTCHNOP_bind_ipi = 7
EVTCHNOP_bind_vcpu = 8
EVTCHNOP_unmask = 9
EVTCHNOP_init_control = 11  # FIFO ABI: not offered, guests fall back to 2-level
EVTCHNSTAT_closed, EVTCHNSTAT_unbound, EVTCHNSTAT_interdomain = 0, 1, 2
EVTCHN_2L_NR_CHANNELS = 64 * 64  # sizeof(xen_ulong_t) * sizeof(xen_ulong_t) * 64

# grant_table_op
GNTTABOP_map_grant_ref = 0
GNTTABOP_unmap_grant_ref = 1
GNTTABOP_setup_table = 2
GNTTABOP_query_size = 6
GNTTABOP_set_version = 8
GNTTABOP_get_version = 10
GNTMAP_device_map, GNTMAP_host_map, GNTMAP_readonly = 1 << 0, 1 << 1, 1 << 2
GNTMAP_application_map, GNTMAP_contains_pte = 1 << 3, 1 << 4
GTF_invalid, GTF_permit_access, GTF_accept_transfer, GTF_transitive = 0, 1, 2, 3
GTF_type_mask = 3
GTF_readonly, GTF_reading, GTF_writing = 1 << 2, 1 << 3, 1 << 4
GNTTAB_NR_RESERVED_ENTRIES = 8
GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE = 0, 1
GNTST_okay = 0
GNTST_general_error = -1
GNTST_bad_domain = -2
GNTST_bad_gntref = -3
GNTST_bad_handle = -4
GNTST_bad_virt_addr = -5
GNTST_permission_denied = -8
GNTST_bad_page = -9

# sched_op
SCHEDOP_yield, SCHEDOP_block, SCHEDOP_shutdown, SCHEDOP_poll = 0, 1, 2, 3
SCHEDOP_remote_shutdown = 4
SHUTDOWN_REASONS = {0: "poweroff", 1: "reboot", 2: "suspend", 3: "crash", 4: "watchdog", 5: "soft_reset"}

# memory_op
XENMEM_add_to_physmap = 7
XENMEM_remove_from_physmap = 15
XENMAPSPACE_shared_info, XENMAPSPACE_grant_table = 0, 1
XENMAPIDX_grant_table_status = 0x80000000

# vcpu_op
VCPUOP_is_up = 3
VCPUOP_register_runstate_memory_area = 5
VCPUOP_register_vcpu_info = 10

# xen_version
XENVER_version = 0
XENVER_extraversion = 1
XENVER_capabilities = 3
XENVER_changeset = 4
XENVER_platform_parameters = 5
XENVER_get_features = 6
XENVER_pagesize = 7
XENVER_guest_handle = 8
XENVER_commandline = 9
XENFEAT_writable_page_tables = 0
XENFEAT_auto_translated_physmap = 2
XENFEAT_dom0 = 11
XENFEAT_ARM_SMCCC_supported = 14
XENFEAT_not_direct_mapped, XENFEAT_direct_mapped = 16, 17

# hvm_op
HVMOP_set_param, HVMOP_get_param = 0, 1
HVM_PARAM_CALLBACK_IRQ = 0
HVM_PARAM_STORE_PFN, HVM_PARAM_STORE_EVTCHN = 1, 2
HVM_PARAM_CONSOLE_PFN, HVM_PARAM_CONSOLE_EVTCHN = 17, 18
HVM_NR_PARAMS = 39


class XenError(Exception):
    """A hypercall failed: ``errno`` is the negative value the guest gets in x0."""

    def __init__(self, errno: int, why: str = "") -> None:
        super().__init__(why or f"errno {-errno}")
        self.errno = errno


def fail(errno: int, why: str = "") -> NoReturn:
    raise XenError(-errno, why)


@dataclass(frozen=True)
class Layout:
    """One C struct: named fields with ``struct`` codes, padding as unnamed ``Nx`` entries."""

    name: str
    fields: tuple[tuple[str, str], ...]
    offsets: dict[str, int] = field(init=False, repr=False)
    codes: dict[str, str] = field(init=False, repr=False)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        offsets, codes, at = {}, {}, 0
        for name, code in self.fields:
            if name:
                offsets[name], codes[name] = at, code
            at += struct.calcsize("<" + code)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "size", at)

    def unpack(self, data: bytes) -> dict[str, int]:
        return {n: struct.unpack_from("<" + self.codes[n], data, o)[0] for n, o in self.offsets.items()}

    def pack(self, **values: int) -> bytes:
        out = bytearray(self.size)
        for n, v in values.items():
            struct.pack_into("<" + self.codes[n], out, self.offsets[n], v)
        return bytes(out)

    def read(self, vm: Vm, ipa: int) -> dict[str, int]:
        """The struct at ``ipa`` in the guest (GuestMemoryError when not mapped)."""
        return self.unpack(vm.read(ipa, self.size))

    def write(self, vm: Vm, ipa: int, **values: int) -> None:
        """Store OUT fields only, each at its offset, leaving the rest of the guest's struct alone."""
        for n, v in values.items():
            vm.write(ipa + self.offsets[n], struct.pack("<" + self.codes[n], v))


def _layout(name: str, *fields: tuple[str, str]) -> Layout:
    return Layout(name, tuple(fields))


EVTCHN_ALLOC_UNBOUND = _layout("evtchn_alloc_unbound", ("dom", "H"), ("remote_dom", "H"), ("port", "I"))
EVTCHN_BIND_INTERDOMAIN = _layout(
    "evtchn_bind_interdomain", ("remote_dom", "H"), ("", "2x"), ("remote_port", "I"), ("local_port", "I")
)
EVTCHN_PORT = _layout("evtchn_send/close/unmask", ("port", "I"))
EVTCHN_BIND_VCPU = _layout("evtchn_bind_vcpu", ("port", "I"), ("vcpu", "I"))
EVTCHN_STATUS = _layout(
    "evtchn_status",
    ("dom", "H"), ("", "2x"), ("port", "I"), ("status", "I"), ("vcpu", "I"),
    ("u_dom", "H"), ("", "2x"), ("u_port", "I"),
)  # fmt: skip
GNTTAB_MAP_GRANT_REF = _layout(
    "gnttab_map_grant_ref",
    ("host_addr", "Q"), ("flags", "I"), ("ref", "I"), ("dom", "H"), ("status", "h"),
    ("handle", "I"), ("dev_bus_addr", "Q"),
)  # fmt: skip
GNTTAB_UNMAP_GRANT_REF = _layout(
    "gnttab_unmap_grant_ref",
    ("host_addr", "Q"), ("dev_bus_addr", "Q"), ("handle", "I"), ("status", "h"), ("", "2x"),
)  # fmt: skip
GNTTAB_SETUP_TABLE = _layout(
    "gnttab_setup_table",
    ("dom", "H"), ("", "2x"), ("nr_frames", "I"), ("status", "h"), ("", "6x"), ("frame_list", "Q"),
)  # fmt: skip
GNTTAB_QUERY_SIZE = _layout(
    "gnttab_query_size",
    ("dom", "H"), ("", "2x"), ("nr_frames", "I"), ("max_nr_frames", "I"), ("status", "h"), ("", "2x"),
)  # fmt: skip
GNTTAB_SET_VERSION = _layout("gnttab_set_version", ("version", "I"))
GNTTAB_GET_VERSION = _layout("gnttab_get_version", ("dom", "H"), ("", "2x"), ("version", "I"))
GRANT_ENTRY_V1 = _layout("grant_entry_v1", ("flags", "H"), ("domid", "H"), ("frame", "I"))
SCHED_SHUTDOWN = _layout("sched_shutdown", ("reason", "I"))
SCHED_REMOTE_SHUTDOWN = _layout("sched_remote_shutdown", ("domain_id", "H"), ("", "2x"), ("reason", "I"))
XEN_ADD_TO_PHYSMAP = _layout(
    "xen_add_to_physmap", ("domid", "H"), ("size", "H"), ("space", "I"), ("idx", "Q"), ("gpfn", "Q")
)
XEN_REMOVE_FROM_PHYSMAP = _layout("xen_remove_from_physmap", ("domid", "H"), ("", "6x"), ("gpfn", "Q"))
XEN_HVM_PARAM = _layout("xen_hvm_param", ("domid", "H"), ("", "2x"), ("index", "I"), ("value", "Q"))
VCPU_REGISTER_VCPU_INFO = _layout("vcpu_register_vcpu_info", ("mfn", "Q"), ("offset", "I"), ("rsvd", "I"))
XEN_FEATURE_INFO = _layout("xen_feature_info", ("submap_idx", "I"), ("submap", "I"))
VCPU_TIME_INFO = _layout(
    "vcpu_time_info",
    ("version", "I"), ("", "4x"), ("tsc_timestamp", "Q"), ("system_time", "Q"),
    ("tsc_to_system_mul", "I"), ("tsc_shift", "b"), ("", "3x"),
)  # fmt: skip
VCPU_INFO = _layout(
    "vcpu_info",
    ("evtchn_upcall_pending", "B"), ("evtchn_upcall_mask", "B"), ("", "6x"), ("evtchn_pending_sel", "Q"),
    ("time", f"{VCPU_TIME_INFO.size}s"),
)  # fmt: skip
XEN_LEGACY_MAX_VCPUS = 1  # Arm: only vCPU 0's vcpu_info lives in shared_info
SHARED_INFO = _layout(
    "shared_info",
    ("vcpu_info", f"{VCPU_INFO.size * XEN_LEGACY_MAX_VCPUS}s"),
    ("evtchn_pending", f"{8 * 64}s"), ("evtchn_mask", f"{8 * 64}s"),
    ("wc_version", "I"), ("wc_sec", "I"), ("wc_nsec", "I"), ("wc_sec_hi", "I"),
)  # fmt: skip
XENCONS_INTERFACE = _layout(
    "xencons_interface",
    ("in", "1024s"), ("out", "2048s"),
    ("in_cons", "I"), ("in_prod", "I"), ("out_cons", "I"), ("out_prod", "I"),
    ("connection", "B"), ("", "3x"),
)  # fmt: skip
