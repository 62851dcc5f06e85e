"""Xen ABI layouts: every ``Layout`` against the same struct declared with ctypes' natural alignment.

ctypes on an LP64 host aligns 1/2/4/8-byte integers as AAPCS64 does, so a C
declaration written from the Xen headers gives the offsets and sizes an
arm64 guest's compiler produces.
"""

from __future__ import annotations

import ctypes as C

import pytest
from armboot.hyp.personalities.xen import abi

u8, u16, u32, u64, i16, i8 = C.c_uint8, C.c_uint16, C.c_uint32, C.c_uint64, C.c_int16, C.c_int8


def struct(*fields: tuple[str, type]) -> type[C.Structure]:
    return type("S", (C.Structure,), {"_fields_": list(fields)})


TIME = struct(
    ("version", u32),
    ("pad0", u32),
    ("tsc_timestamp", u64),
    ("system_time", u64),
    ("tsc_to_system_mul", u32),
    ("tsc_shift", i8),
    ("pad1", i8 * 3),
)
VCPU_INFO = struct(
    ("evtchn_upcall_pending", u8), ("evtchn_upcall_mask", u8), ("evtchn_pending_sel", u64), ("time", TIME)
)

C_STRUCTS: dict[str, type[C.Structure]] = {
    "evtchn_alloc_unbound": struct(("dom", u16), ("remote_dom", u16), ("port", u32)),
    "evtchn_bind_interdomain": struct(("remote_dom", u16), ("remote_port", u32), ("local_port", u32)),
    "evtchn_send/close/unmask": struct(("port", u32)),
    "evtchn_bind_vcpu": struct(("port", u32), ("vcpu", u32)),
    "evtchn_status": struct(
        ("dom", u16), ("port", u32), ("status", u32), ("vcpu", u32), ("u_dom", u16), ("u_port", u32)
    ),
    "gnttab_map_grant_ref": struct(
        ("host_addr", u64),
        ("flags", u32),
        ("ref", u32),
        ("dom", u16),
        ("status", i16),
        ("handle", u32),
        ("dev_bus_addr", u64),
    ),
    "gnttab_unmap_grant_ref": struct(
        ("host_addr", u64), ("dev_bus_addr", u64), ("handle", u32), ("status", i16)
    ),
    "gnttab_setup_table": struct(("dom", u16), ("nr_frames", u32), ("status", i16), ("frame_list", u64)),
    "gnttab_query_size": struct(("dom", u16), ("nr_frames", u32), ("max_nr_frames", u32), ("status", i16)),
    "gnttab_set_version": struct(("version", u32)),
    "gnttab_get_version": struct(("dom", u16), ("pad", u16), ("version", u32)),
    "grant_entry_v1": struct(("flags", u16), ("domid", u16), ("frame", u32)),
    "sched_shutdown": struct(("reason", u32)),
    "sched_remote_shutdown": struct(("domain_id", u16), ("reason", u32)),
    "xen_add_to_physmap": struct(("domid", u16), ("size", u16), ("space", u32), ("idx", u64), ("gpfn", u64)),
    "xen_remove_from_physmap": struct(("domid", u16), ("gpfn", u64)),
    "xen_hvm_param": struct(("domid", u16), ("pad", u16), ("index", u32), ("value", u64)),
    "vcpu_register_vcpu_info": struct(("mfn", u64), ("offset", u32), ("rsvd", u32)),
    "xen_feature_info": struct(("submap_idx", u32), ("submap", u32)),
    "vcpu_time_info": TIME,
    "vcpu_info": VCPU_INFO,
    "shared_info": struct(
        ("vcpu_info", VCPU_INFO * 1),
        ("evtchn_pending", u64 * 64),
        ("evtchn_mask", u64 * 64),
        ("wc_version", u32),
        ("wc_sec", u32),
        ("wc_nsec", u32),
        ("wc_sec_hi", u32),
    ),
    "xencons_interface": struct(
        ("in", C.c_char * 1024),
        ("out", C.c_char * 2048),
        ("in_cons", u32),
        ("in_prod", u32),
        ("out_cons", u32),
        ("out_prod", u32),
        ("connection", u8),
    ),
}

LAYOUTS = [v for v in vars(abi).values() if isinstance(v, abi.Layout)]


def test_every_layout_is_checked() -> None:
    assert sorted(lay.name for lay in LAYOUTS) == sorted(C_STRUCTS)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.name)
def test_layout_matches_c(layout: abi.Layout) -> None:
    c = C_STRUCTS[layout.name]
    assert layout.size == C.sizeof(c)
    for name, offset in layout.offsets.items():
        assert offset == getattr(c, name).offset, name


def test_pack_unpack_round_trip() -> None:
    raw = abi.GNTTAB_MAP_GRANT_REF.pack(host_addr=0x1234000, flags=6, ref=7, dom=1, status=-3, handle=9)
    c = C_STRUCTS["gnttab_map_grant_ref"].from_buffer_copy(raw)
    assert (c.host_addr, c.flags, c.ref, c.dom, c.status, c.handle) == (0x1234000, 6, 7, 1, -3, 9)
    assert abi.GNTTAB_MAP_GRANT_REF.unpack(raw)["status"] == -3


def test_numbers() -> None:
    """A few values guests hard-code, from xen.h and friends."""
    assert abi.HYPERCALL_TAG == 0xEA1
    assert (abi.HYPERVISOR_console_io, abi.HYPERVISOR_grant_table_op, abi.HYPERVISOR_sched_op) == (18, 20, 29)
    assert (abi.HYPERVISOR_event_channel_op, abi.HYPERVISOR_hvm_op, abi.HYPERVISOR_memory_op) == (32, 34, 12)
    assert (abi.EVTCHNOP_alloc_unbound, abi.EVTCHNOP_bind_interdomain, abi.EVTCHNOP_send) == (6, 0, 4)
    assert (abi.HVM_PARAM_CONSOLE_PFN, abi.HVM_PARAM_CONSOLE_EVTCHN) == (17, 18)
    assert -abi.ENOSYS == -38 and abi.DOMID_SELF == 0x7FF0
    assert abi.EVTCHN_2L_NR_CHANNELS == 4096
