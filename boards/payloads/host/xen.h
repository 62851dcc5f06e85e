/*
 * The little of Xen's public interface (xen/include/public) this guest uses,
 * as an arm64 guest sees it: hvc #0xEA1 with the hypercall number in x16,
 * arguments in x0-x4, the result in x0; structures laid out by AAPCS64.
 */
#ifndef XEN_H
#define XEN_H

#include "arch.h"

typedef unsigned short u16;

#define __HYPERVISOR_memory_op		12
#define __HYPERVISOR_xen_version	17
#define __HYPERVISOR_console_io		18
#define __HYPERVISOR_sched_op		29
#define __HYPERVISOR_event_channel_op	32
#define __HYPERVISOR_hvm_op		34

#define CONSOLEIO_write			0
#define XENVER_version			0
#define XENVER_extraversion		1
#define XENMEM_add_to_physmap		7
#define XENMAPSPACE_shared_info		0
#define XENMAPSPACE_grant_table		1
#define HVMOP_get_param			1
#define HVM_PARAM_CONSOLE_PFN		17
#define HVM_PARAM_CONSOLE_EVTCHN	18
#define EVTCHNOP_send			4
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

struct evtchn_send {
	u32 port;
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

struct xencons_interface {
	char in[1024];
	char out[2048];
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
