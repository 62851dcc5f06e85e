/*
 * The plain guest of armboot's hypervisor runtime: at EL1, everything from
 * the DTB in x0.  It takes N interrupts of the EL1 virtual timer (the third
 * interrupt of the arm,armv8-timer node) through the GICv2 that the
 * arm,cortex-a15-gic node's reg places, starts each other CPU of /cpus with
 * PSCI CPU_ON (the CPU reports and turns itself off with CPU_OFF), and powers
 * off with SYSTEM_OFF, PSCI over /psci's method.
 *
 * bootargs: name=NAME (default "guest"), ticks=N (default 3).
 */
#include "guest.h"
#include "lib.h"

#define GICD_CTLR	0x000
#define GICD_ISENABLER	0x100
#define GICD_IPRIORITYR	0x400
#define GICC_CTLR	0x00
#define GICC_PMR	0x04
#define GICC_IAR	0x0c
#define GICC_EOIR	0x10
#define SPURIOUS	1020	/* INTIDs 1020-1023: nothing to EOI */
#define PRIORITY_MASK	0xf0
#define TIMER_PRIORITY	0xa0
#define CNT_CTL_ENABLE	1
#define PERIOD_MS	10
#define DEFAULT_TICKS	3
#define WAIT_MS		50
#define RELAX		1000

static u64 gicc;
static u32 timer_intid, wanted;
static volatile u32 ticks;
static volatile u64 arrived;	/* the logical number of the last CPU that reported */

void el1_irq(void)
{
	u32 iar = readl(gicc + GICC_IAR);
	u32 intid = iar & 0x3ff;

	if (intid >= SPURIOUS)
		return;
	if (intid == timer_intid) {
		say("tick %u", ++ticks);
		if (ticks < wanted)
			write_sysreg(read_sysreg(cntfrq_el0) / 1000 * PERIOD_MS, cntv_tval_el0);
		else
			write_sysreg(0, cntv_ctl_el0);	/* the line drops */
	} else {
		say("unexpected interrupt %u", intid);
	}
	writel(iar, gicc + GICC_EOIR);
}

u64 el1_sync(u64 esr, u64 elr, u64 far, u64 vector)
{
	panic(esr, elr, far, vector);
}

static void timer_ticks(void)
{
	int gic = fdt_find_compatible(&dt, -1, "arm,cortex-a15-gic");
	int timer = fdt_find_compatible(&dt, -1, "arm,armv8-timer");
	u64 gicd;

	if (!fdt_reg(&dt, gic, 0, &gicd, NULL) || !fdt_reg(&dt, gic, 1, &gicc, NULL) ||
	    !fdt_interrupt(&dt, timer, 2, &timer_intid)) {
		say("no arm,cortex-a15-gic with an arm,armv8-timer: no ticks");
		return;
	}
	say("gic v2 distributor 0x%lx cpu interface 0x%lx", gicd, gicc);
	say("virtual timer intid %u, %u ticks every %u ms", timer_intid, wanted, PERIOD_MS);
	writel(1, gicd + GICD_CTLR);
	writeb(TIMER_PRIORITY, gicd + GICD_IPRIORITYR + timer_intid);
	writel(1U << (timer_intid % 32), gicd + GICD_ISENABLER + timer_intid / 32 * 4);
	writel(PRIORITY_MASK, gicc + GICC_PMR);
	writel(1, gicc + GICC_CTLR);
	if (!wanted)
		return;
	write_sysreg(read_sysreg(cntfrq_el0) / 1000 * PERIOD_MS, cntv_tval_el0);
	write_sysreg(CNT_CTL_ENABLE, cntv_ctl_el0);
	irq_enable();
	while (ticks < wanted)
		wfi();
	irq_disable();
}

void secondary_main(u64 cpu)
{
	say("cpu%lu up at EL%u, mpidr 0x%lx", cpu, current_el(), cpu_hwid());
	dsb_sy();
	arrived = cpu;
	dsb_sy();
	psci_call(PSCI_CPU_OFF, 0, 0, 0);
	say("cpu%lu: CPU_OFF returned", cpu);
	halt();
}

/* One CPU at a time, so that console lines never mix: started, reported, off again. */
static bool start_cpu(u64 cpu, u64 hwid)
{
	u64 deadline = deadline_ms(WAIT_MS);
	s64 ret;

	say("cpu%lu: CPU_ON mpidr 0x%lx over %s", cpu, hwid, psci_conduit());
	ret = psci_call(PSCI_CPU_ON, hwid, (u64)secondary_entry, cpu);
	if (ret) {
		say("cpu%lu: CPU_ON returned %ld", cpu, ret);
		return false;
	}
	while (arrived != cpu) {
		if (passed(deadline)) {
			say("cpu%lu: did not come up in %u ms", cpu, WAIT_MS);
			return false;
		}
		cpu_relax(RELAX);
	}
	while (psci_call(PSCI_AFFINITY_INFO, hwid, 0, 0) != PSCI_AFFINITY_OFF) {
		if (passed(deadline)) {
			say("cpu%lu: not off in %u ms", cpu, WAIT_MS);
			return false;
		}
		cpu_relax(RELAX);
	}
	say("cpu%lu off", cpu);
	return true;
}

static void start_cpus(void)
{
	int cpus = fdt_path(&dt, "/cpus", 5);
	u32 ac = fdt_u32(&dt, cpus, "#address-cells", 1);
	u64 cpu = 0, up = 1;

	for (int node = fdt_first_child(&dt, cpus); node >= 0; node = fdt_next_sibling(&dt, node)) {
		const char *type = fdt_string(&dt, node, "device_type");
		const char *method = fdt_string(&dt, node, "enable-method");
		const void *reg = fdt_prop(&dt, node, "reg", NULL);
		u64 hwid;

		if (!type || strcmp(type, "cpu") || !reg || (hwid = fdt_cells(reg, (int)ac)) == cpu_hwid())
			continue;
		if (cpu + 1 >= NR_CPUS)
			break;
		cpu++;
		if (psci_present() && method && !strcmp(method, "psci"))
			up += start_cpu(cpu, hwid);
		else
			say("cpu%lu: no PSCI enable-method", cpu);
	}
	say("%lu of %lu cpus up", up, cpu + 1);
}

void guest_main(u64 dtb, u64 entry_current_el)
{
	const char *arg;
	size_t len;

	guest_init(dtb, entry_current_el, "guest", "guest payload");
	arg = bootarg("ticks", &len);
	wanted = arg ? (u32)parse_number(&arg, arg + len) : DEFAULT_TICKS;
	timer_ticks();
	start_cpus();
	power_off();
}
