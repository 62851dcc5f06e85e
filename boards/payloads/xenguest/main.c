/*
 * The Xen-aware guest of armboot's hypervisor runtime (xen personality), at
 * EL1 with the DTB in x0, as a dom0less domU.  Everything comes from the
 * tree's /hypervisor node (compatible "xen,xen": grant-table region in reg,
 * event-channel PPI in interrupts) and from Xen itself:
 *
 *  - it prints through HYPERVISOR_console_io (no UART needed);
 *  - it maps shared_info over a page of its own (XENMEM_add_to_physmap) and
 *    takes events on the event PPI through the GICv2 the tree names;
 *  - it maps grant frame 0 at the /hypervisor region and shows the entry
 *    the toolstack seeded for its console (grant ref 0);
 *  - it finds its PV console (HVM_PARAM_CONSOLE_PFN/EVTCHN), writes a line
 *    into the ring and notifies the backend (dom0), then sleeps (WFI, the
 *    virtual timer as a time limit) until the backend has consumed it and
 *    says so with an event;
 *  - it powers off with SCHEDOP_shutdown(poweroff).
 *
 * Without /hypervisor it says so on a PL011, if the tree has one, and powers
 * off with PSCI.  bootargs: name=NAME (default "xenguest"), wait=MS (how long
 * to wait for the backend, default 100).
 */
#include <stdarg.h>

#include "guest.h"
#include "lib.h"
#include "xen.h"

#define GICD_CTLR	0x000
#define GICD_ISENABLER	0x100
#define GICD_IPRIORITYR	0x400
#define GICC_CTLR	0x00
#define GICC_PMR	0x04
#define GICC_IAR	0x0c
#define GICC_EOIR	0x10
#define SPURIOUS	1020
#define PRIORITY_MASK	0xf0
#define EVENT_PRIORITY	0xa0
#define PAGE_SHIFT	12
#define DEFAULT_WAIT_MS	100
#define CNT_CTL_ENABLE	1

static u8 shared_page[1 << PAGE_SHIFT] __attribute__((aligned(1 << PAGE_SHIFT)));
static volatile struct shared_info *shared;
static u64 gicc;
static u32 event_intid, timer_intid, console_port;
static volatile u32 console_events, other_events;
static volatile bool timed_out;

/* Output: console_io, one formatted line at a time */

struct buf {
	char text[192];
	size_t len;
};

static void put(struct buf *b, char c)
{
	if (b->len < sizeof(b->text))
		b->text[b->len++] = c;
}

static void put_number(struct buf *b, u64 n, unsigned int base)
{
	char digits[24];
	int i = 0;

	do {
		digits[i++] = "0123456789abcdef"[n % base];
		n /= base;
	} while (n);
	while (i)
		put(b, digits[--i]);
}

/* %s %u %d %x and their l forms, as the host payload's print() */
static void format(struct buf *b, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		bool is_long = false;

		if (*fmt != '%') {
			put(b, *fmt);
			continue;
		}
		if (*++fmt == 'l') {
			is_long = true;
			fmt++;
		}
		if (*fmt == 's') {
			for (const char *s = va_arg(ap, const char *); *s; s++)
				put(b, *s);
		} else if (*fmt == 'd') {
			s64 v = is_long ? va_arg(ap, s64) : va_arg(ap, int);

			if (v < 0) {
				put(b, '-');
				v = -v;
			}
			put_number(b, (u64)v, 10);
		} else if (*fmt == 'u' || *fmt == 'x') {
			u64 v = is_long ? va_arg(ap, u64) : va_arg(ap, u32);

			put_number(b, v, *fmt == 'x' ? 16 : 10);
		} else {
			put(b, *fmt);
		}
	}
}

/* One console line, prefixed with this guest's name, through HYPERVISOR_console_io. */
static void __attribute__((format(printf, 1, 2))) xsay(const char *fmt, ...)
{
	struct buf b = { .len = 0 };
	va_list ap;

	for (const char *s = guest_name; *s; s++)
		put(&b, *s);
	put(&b, ':');
	put(&b, ' ');
	va_start(ap, fmt);
	format(&b, fmt, ap);
	va_end(ap);
	put(&b, '\n');
	hypercall(__HYPERVISOR_console_io, CONSOLEIO_write, b.len, (u64)b.text);
}

static void __attribute__((noreturn)) shutdown(u32 reason)
{
	struct sched_shutdown s = { .reason = reason };

	hypercall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (u64)&s, 0);
	halt();	/* Xen does not return from a shutdown */
}

/* Events: the 2-level ABI, vCPU 0's vcpu_info in shared_info */

static void handle_events(void)
{
	volatile struct vcpu_info *v = &shared->vcpu_info[0];
	u64 sel;

	v->evtchn_upcall_pending = 0;	/* before looking: a new event sets it again */
	dsb_sy();
	sel = v->evtchn_pending_sel;
	v->evtchn_pending_sel = 0;
	for (u32 w = 0; sel; w++, sel >>= 1) {
		u64 bits;

		if (!(sel & 1))
			continue;
		bits = shared->evtchn_pending[w] & ~shared->evtchn_mask[w];
		shared->evtchn_pending[w] &= ~bits;
		for (u32 bit = 0; bits; bit++, bits >>= 1) {
			if (bits & 1) {
				if (w * 64 + bit == console_port)
					console_events++;
				else
					other_events++;
			}
		}
	}
}

void el1_irq(void)
{
	u32 iar = readl(gicc + GICC_IAR);
	u32 intid = iar & 0x3ff;

	if (intid >= SPURIOUS)
		return;
	if (intid == event_intid) {
		handle_events();
	} else if (intid == timer_intid) {
		write_sysreg(0, cntv_ctl_el0);	/* the line drops */
		timed_out = true;
	} else
		xsay("unexpected interrupt %u", intid);
	writel(iar, gicc + GICC_EOIR);
}

u64 el1_sync(u64 esr, u64 elr, u64 far, u64 vector)
{
	xsay("panic: exception at vector 0x%lx, ESR 0x%lx, ELR 0x%lx, FAR 0x%lx", vector, esr, elr, far);
	shutdown(SHUTDOWN_crash);
}

void secondary_main(u64 cpu)
{
	(void)cpu;
	halt();	/* this guest runs on its first vCPU only */
}

/* Set-up */

static u64 hvm_param(u32 index)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
	s64 rc = hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, (u64)&p, 0);

	if (rc)
		xsay("HVMOP_get_param %u: error %ld", index, rc);
	return rc ? 0 : p.value;
}

static s64 add_to_physmap(u32 space, u64 idx, u64 address)
{
	struct xen_add_to_physmap a = { .domid = DOMID_SELF, .space = space, .idx = idx, .gpfn = address >> PAGE_SHIFT };

	return hypercall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, (u64)&a, 0);
}

static void __attribute__((noreturn)) not_on_xen(void)
{
	int uart = fdt_find_compatible(&dt, -1, "arm,pl011");
	u64 base;

	if (uart >= 0 && fdt_reg(&dt, uart, 0, &base, NULL)) {
		console_init(base);
		say("no /hypervisor node (compatible \"xen,xen\"): not running on Xen");
	}
	if (psci_init(&dt))
		psci_call(PSCI_SYSTEM_OFF, 0, 0, 0);
	halt();
}

static void enable_ppi(u64 gicd, u32 intid)
{
	writeb(EVENT_PRIORITY, gicd + GICD_IPRIORITYR + intid);
	writel(1U << (intid % 32), gicd + GICD_ISENABLER + intid / 32 * 4);
}

/* The event PPI, and the virtual timer's (the third of arm,armv8-timer) to bound waits. */
static bool interrupts_on(void)
{
	int gic = fdt_find_compatible(&dt, -1, "arm,cortex-a15-gic");
	int timer = fdt_find_compatible(&dt, -1, "arm,armv8-timer");
	u64 gicd;

	if (gic < 0 || !fdt_reg(&dt, gic, 0, &gicd, NULL) || !fdt_reg(&dt, gic, 1, &gicc, NULL) ||
	    !fdt_interrupt(&dt, timer, 2, &timer_intid)) {
		xsay("no arm,cortex-a15-gic with an arm,armv8-timer: no events");
		return false;
	}
	writel(1, gicd + GICD_CTLR);
	enable_ppi(gicd, event_intid);
	enable_ppi(gicd, timer_intid);
	writel(PRIORITY_MASK, gicc + GICC_PMR);
	writel(1, gicc + GICC_CTLR);
	irq_enable();
	return true;
}

/* Sleep until the backend has taken everything and said so, or ``ms`` pass. */
static void wait_for_backend(volatile struct xencons_interface *ring, u32 ms)
{
	timed_out = false;
	write_sysreg(read_sysreg(cntfrq_el0) / 1000 * ms, cntv_tval_el0);
	write_sysreg(CNT_CTL_ENABLE, cntv_ctl_el0);
	irq_disable();	/* look, then sleep: an interrupt in between still ends the WFI */
	while (!timed_out && (ring->out_cons != ring->out_prod || !console_events)) {
		wfi();
		irq_enable();
		irq_disable();
	}
	irq_enable();
	write_sysreg(0, cntv_ctl_el0);
}

static void show_console_grant(u64 gnttab)
{
	volatile struct grant_entry_v1 *entry = (volatile struct grant_entry_v1 *)gnttab;
	s64 rc = add_to_physmap(XENMAPSPACE_grant_table, 0, gnttab);

	if (rc) {
		xsay("grant frame 0: XENMEM_add_to_physmap error %ld", rc);
		return;
	}
	entry += GNTTAB_RESERVED_CONSOLE;
	xsay("grant ref 0: flags 0x%x, dom%u may map frame 0x%x", entry->flags, entry->domid, entry->frame);
}

/* The PV console: one line into the ring, a notification, and the backend's answer */

static void pv_console(u64 pfn, u32 wait_ms)
{
	volatile struct xencons_interface *ring = (volatile struct xencons_interface *)(pfn << PAGE_SHIFT);
	struct evtchn_port send = { .port = console_port };
	char text[64];
	size_t n = 0;
	u32 prod = ring->out_prod;
	s64 rc;

	for (const char *s = guest_name; *s && n < sizeof(text) - 32; s++)
		text[n++] = *s;
	for (const char *s = ": hello over the PV console\n"; *s; s++)
		text[n++] = *s;
	if (n > sizeof(ring->out) - (prod - ring->out_cons)) {
		xsay("PV console: the ring is full");
		return;
	}
	for (size_t i = 0; i < n; i++)
		ring->out[(prod + i) & (sizeof(ring->out) - 1)] = text[i];
	dsb_sy();	/* the text before the index that publishes it */
	ring->out_prod = prod + (u32)n;
	dsb_sy();
	rc = hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&send, 0);
	xsay("PV console: %lu bytes into the ring at 0x%lx, port %u notified (%ld)", n, pfn << PAGE_SHIFT,
	     console_port, rc);
	wait_for_backend(ring, wait_ms);
	if (ring->out_cons == ring->out_prod)
		xsay("PV console: the backend took the line and said so (%u event%s)", console_events,
		     console_events == 1 ? "" : "s");
	else
		xsay("PV console: no backend took the line in %u ms (%u bytes wait in the ring)", wait_ms,
		     ring->out_prod - ring->out_cons);
}

void guest_main(u64 dtb, u64 entry_current_el)
{
	const char *arg;
	size_t len;
	int hv;
	u64 gnttab, pfn;
	s64 version;
	char extra[16];

	(void)entry_current_el;
	if (!fdt_open(&dt, dtb))
		halt();
	arg = bootarg("name", &len);
	if (!arg || !len || len >= sizeof(guest_name)) {
		arg = "xenguest";
		len = strlen(arg);
	}
	memcpy(guest_name, arg, len);
	hv = fdt_find_compatible(&dt, -1, "xen,xen");
	if (hv < 0)
		not_on_xen();
	if (!fdt_reg(&dt, hv, 0, &gnttab, NULL) || !fdt_interrupt(&dt, hv, 0, &event_intid)) {
		xsay("/hypervisor has no reg or interrupts");
		shutdown(SHUTDOWN_crash);
	}
	version = hypercall(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
	memset(extra, 0, sizeof(extra));
	hypercall(__HYPERVISOR_xen_version, XENVER_extraversion, (u64)extra, 0);
	extra[sizeof(extra) - 1] = 0;
	xsay("Xen %ld.%ld%s at EL%u, grant table at 0x%lx, events on intid %u", version >> 16, version & 0xffff,
	     extra, current_el(), gnttab, event_intid);

	if (add_to_physmap(XENMAPSPACE_shared_info, 0, (u64)shared_page)) {
		xsay("shared_info: XENMEM_add_to_physmap failed");
		shutdown(SHUTDOWN_crash);
	}
	shared = (volatile struct shared_info *)shared_page;
	xsay("shared_info at 0x%lx", (u64)shared_page);
	show_console_grant(gnttab);

	pfn = hvm_param(HVM_PARAM_CONSOLE_PFN);
	console_port = (u32)hvm_param(HVM_PARAM_CONSOLE_EVTCHN);
	xsay("PV console: ring pfn 0x%lx, event channel %u", pfn, console_port);
	if (pfn && console_port && interrupts_on()) {
		arg = bootarg("wait", &len);
		pv_console(pfn, arg ? (u32)parse_number(&arg, arg + len) : DEFAULT_WAIT_MS);
	}
	irq_disable();
	xsay("SCHEDOP_shutdown poweroff");
	shutdown(SHUTDOWN_poweroff);
}
