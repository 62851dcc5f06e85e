/*
 * dom0's side of the PV console, for a host running on Xen (armboot's xen
 * personality): the tree's /hypervisor node (compatible "xen,xen") says so,
 * and its second reg entry is address space free for other domains' pages.
 *
 * Without xenstore, dom0 finds its guests by asking Xen for each domain's
 * HVM_PARAM_CONSOLE_EVTCHN (domain 1, 2, ... until "no such domain"), binds
 * to that port (EVTCHNOP_bind_interdomain), maps the ring page by grant ref 0
 * (GNTTABOP_map_grant_ref), then polls the rings: each line a guest puts in
 * its ring's ``out`` is printed on the host console prefixed with its domid,
 * out_cons moves on and the guest is notified (EVTCHNOP_send).  It serves
 * until every guest has sent a line and its ring is empty, or ``ms`` pass;
 * then it unmaps the rings and closes the ports.
 */
#include "console.h"
#include "lib.h"
#include "xen.h"
#include "xen_backend.h"
#include "gic.h"

#define MAX_GUESTS	8
#define PAGE_SIZE	0x1000


struct guest {
	u16 domid;
	u32 port;			/* dom0's end of the console channel */
	u32 handle;			/* of the ring's grant mapping */
	u64 ring_addr;
	u32 lines;
	size_t len;
	char line[120];
};

static struct guest guests[MAX_GUESTS];

static s64 get_param(u16 domid, u32 index, u64 *value)
{
	struct xen_hvm_param p = { .domid = domid, .index = index };
	s64 rc = hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, (u64)&p, 0);

	*value = p.value;
	return rc;
}

static s64 send(u32 port)
{
	struct evtchn_port s = { .port = port };

	return hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&s, 0);
}

/* Bind to the guest's console port and map its ring at ``addr``: false (and said why) on failure. */
static bool connect(struct guest *g, u16 domid, u32 remote_port, u64 addr)
{
	struct evtchn_bind_interdomain bind = { .remote_dom = domid, .remote_port = remote_port };
	struct gnttab_map_grant_ref map = {
		.host_addr = addr, .flags = GNTMAP_host_map, .ref = GNTTAB_RESERVED_CONSOLE, .dom = domid,
	};
	s64 rc = hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, (u64)&bind, 0);

	if (rc) {
		print("xen: dom%u: binding to its console port %u: error %ld\n", domid, remote_port, rc);
		return false;
	}
	rc = hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref, (u64)&map, 1);
	if (rc || map.status) {
		print("xen: dom%u: mapping grant ref 0: error %ld, status %d\n", domid, rc, map.status);
		return false;
	}
	*g = (struct guest){ .domid = domid, .port = bind.local_port, .handle = map.handle, .ring_addr = addr };
	print("xen: dom%u console: its port %u bound as %u, ring mapped at 0x%lx\n", domid, remote_port,
	      g->port, addr);
	return true;
}

static void flush_line(struct guest *g)
{
	g->line[g->len] = 0;
	print("xen: dom%u| %s\n", g->domid, g->line);
	g->len = 0;
	g->lines++;
}

/* Everything the guest queued: printed line by line; the guest hears that its ring has room. */
static void drain(struct guest *g)
{
	volatile struct xencons_interface *ring = (volatile struct xencons_interface *)g->ring_addr;
	u32 cons = ring->out_cons, prod = ring->out_prod;

	if (cons == prod)
		return;
	dsb_sy();	/* the index before the text it publishes */
	if (prod - cons > XENCONS_OUT_SIZE)
		cons = prod - XENCONS_OUT_SIZE;	/* a confused guest: keep what the ring can hold */
	for (; cons != prod; cons++) {
		char c = ring->out[cons & (XENCONS_OUT_SIZE - 1)];

		if (c == '\n')
			flush_line(g);
		else if (g->len < sizeof(g->line) - 1)
			g->line[g->len++] = c;
	}
	dsb_sy();
	ring->out_cons = cons;
	dsb_sy();
	send(g->port);
}

static bool served(const struct guest *gs, u32 n)
{
	for (u32 i = 0; i < n; i++) {
		volatile struct xencons_interface *ring = (volatile struct xencons_interface *)gs[i].ring_addr;

		if (!gs[i].lines || ring->out_cons != ring->out_prod)
			return false;
	}
	return true;
}

static void disconnect(struct guest *g)
{
	struct gnttab_unmap_grant_ref unmap = { .host_addr = g->ring_addr, .handle = g->handle };
	struct evtchn_port close = { .port = g->port };

	hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref, (u64)&unmap, 1);
	hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_close, (u64)&close, 0);
}

/* Sleep between polls: WFI with IRQs masked wakes on the event PPI (a guest notified us) or on
 * the virtual timer set to the deadline; the interrupt is acknowledged here, never taken. */
static u32 event_intid, timer_intid;

static void wait_setup(const struct fdt *fdt, int hv)
{
	int timer = fdt_find_compatible(fdt, -1, "arm,armv8-timer");

	irq_disable();
	if (!fdt_interrupt(fdt, hv, 0, &event_intid) || timer < 0 || !fdt_interrupt(fdt, timer, 2, &timer_intid))
		event_intid = timer_intid = 0;	/* no way to sleep: poll */
	if (event_intid) {
		gic_enable_ppi(event_intid, 0xa0);
		gic_enable_ppi(timer_intid, 0xa0);
	}
}

static void wait_event(u64 deadline)
{
	if (!event_intid)
		return;
	write_sysreg(deadline, cntv_cval_el0);
	write_sysreg(1, cntv_ctl_el0);	/* enabled, not masked: its level wakes WFI at the deadline */
	isb();
	__asm__ volatile("wfi" ::: "memory");
	write_sysreg(0, cntv_ctl_el0);
	for (;;) {
		u32 iar = gic_acknowledge();
		u32 intid = gic_intid(iar);

		if (intid >= 1020)
			break;
		gic_end_of_interrupt(iar);
	}
}

static void wait_done(void)
{
	irq_enable();
}

void xen_console_backend(const struct fdt *fdt, u32 ms)
{
	int hv = fdt_find_compatible(fdt, -1, "xen,xen");
	u64 foreign, size, deadline;
	u32 n = 0, lines = 0;

	if (hv < 0)
		return;
	if (!fdt_reg(fdt, hv, 1, &foreign, &size) || size < MAX_GUESTS * PAGE_SIZE) {
		print("xen: /hypervisor has no region for other domains' pages: no console backend\n");
		return;
	}
	for (u16 domid = 1; n < MAX_GUESTS; domid++) {
		u64 port;
		s64 rc = get_param(domid, HVM_PARAM_CONSOLE_EVTCHN, &port);

		if (rc == -XEN_ESRCH)
			break;	/* no more domains */
		if (rc || !port)
			continue;	/* a domain without a PV console */
		n += connect(&guests[n], domid, (u32)port, foreign + n * PAGE_SIZE);
	}
	print("xen: dom0 serves %u guest console%s for up to %u ms\n", n, n == 1 ? "" : "s", ms);
	deadline = deadline_ms(ms);
	wait_setup(fdt, hv);
	while (n && !served(guests, n) && !passed(deadline)) {
		for (u32 i = 0; i < n; i++)
			drain(&guests[i]);
		if (!served(guests, n))
			wait_event(deadline);
	}
	wait_done();
	for (u32 i = 0; i < n; i++) {
		drain(&guests[i]);
		lines += guests[i].lines;
		disconnect(&guests[i]);
	}
	if (n)
		print("xen: %u line%s from %u guest%s\n", lines, lines == 1 ? "" : "s", n, n == 1 ? "" : "s");
}
