/*
 * The little of Xen's public interface (xen/include/public) armboot's
 * payloads use, as an arm64 guest sees it: hvc #0xEA1 with the hypercall
 * number in x16, arguments in x0-x4, the result in x0; structures laid out by
 * AAPCS64.  Shared by the dom0 console backend (xen_backend.c, the host) and
 * the Xen-aware guest (../xenguest).
 */
#ifndef XEN_H
#define XEN_H

#include "arch.h"

typedef unsigned short u16;
typedef short s16;

#define __HYPERVISOR_memory_op		12
#define __HYPERVISOR_xen_version	17
#define __HYPERVISOR_console_io		18
#define __HYPERVISOR_grant_table_op	20
#define __HYPERVISOR_sched_op		29
#define __HYPERVISOR_event_channel_op	32
#define __HYPERVISOR_hvm_op		34

#define XEN_ESRCH			3	/* no such domain */

#define CONSOLEIO_write			0
#define XENVER_version			0
#define XENVER_extraversion		1
#define XENMEM_add_to_physmap		7
#define XENMAPSPACE_shared_info		0
#define XENMAPSPACE_grant_table		1
#define HVMOP_get_param			1
#define HVM_PARAM_CONSOLE_PFN		17
#define HVM_PARAM_CONSOLE_EVTCHN	18
#define EVTCHNOP_bind_interdomain	0
#define EVTCHNOP_close			3
#define EVTCHNOP_send			4
#define GNTTABOP_map_grant_ref		0
#define GNTTABOP_unmap_grant_ref	1
#define GNTMAP_host_map			(1 << 1)
#define SCHEDOP_shutdown		2
#define SHUTDOWN_poweroff		0
#define SHUTDOWN_crash			3
#define DOMID_SELF			0x7ff0
#define GNTTAB_RESERVED_CONSOLE		0
#define GTF_permit_access		1

struct xen_add_to_physmap {
	u16 domid;
	u16 size;
	u32 space;
	u64 idx;
	u64 gpfn;
};

struct xen_hvm_param {
	u16 domid;
	u16 pad;
	u32 index;
	u64 value;
};

struct sched_shutdown {
	u32 reason;
};

struct evtchn_port {		/* evtchn_send, evtchn_close */
	u32 port;
};

struct evtchn_bind_interdomain {
	u16 remote_dom;
	u32 remote_port;
	u32 local_port;
};

struct gnttab_map_grant_ref {
	u64 host_addr;
	u32 flags;
	u32 ref;
	u16 dom;
	s16 status;
	u32 handle;
	u64 dev_bus_addr;
};

struct gnttab_unmap_grant_ref {
	u64 host_addr;
	u64 dev_bus_addr;
	u32 handle;
	s16 status;
};

struct grant_entry_v1 {
	u16 flags;
	u16 domid;
	u32 frame;
};

/* struct arch_vcpu_info is empty on Arm: 48 bytes */
struct vcpu_info {
	u8 evtchn_upcall_pending;
	u8 evtchn_upcall_mask;
	u64 evtchn_pending_sel;
	u8 time[32];
};

struct shared_info {
	struct vcpu_info vcpu_info[1];	/* Arm: only vCPU 0's lives here */
	u64 evtchn_pending[64];
	u64 evtchn_mask[64];
	u32 wc_version, wc_sec, wc_nsec, wc_sec_hi;
};

#define XENCONS_OUT_SIZE	2048

struct xencons_interface {
	char in[1024];
	char out[XENCONS_OUT_SIZE];
	u32 in_cons, in_prod;
	u32 out_cons, out_prod;
};

static inline s64 hypercall(u64 nr, u64 a0, u64 a1, u64 a2)
{
	register u64 x0 asm("x0") = a0;
	register u64 x1 asm("x1") = a1;
	register u64 x2 asm("x2") = a2;
	register u64 x16 asm("x16") = nr;

	asm volatile("hvc #0xea1" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x16) : : "x3", "x4", "memory");
	return (s64)x0;
}

#endif
