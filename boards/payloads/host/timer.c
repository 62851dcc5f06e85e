/*
 * The EL1 virtual timer (CNTV_*), every 10 ms, on the PPI the tree's
 * arm,armv8-timer node gives third (secure phys, phys, virt, hyp): the boot
 * CPU waits in WFI and counts the interrupts the GIC delivers.
 */
#include "console.h"
#include "gic.h"
#include "timer.h"

#define CNT_CTL_ENABLE	(1 << 0)
#define PERIOD_MS	10
#define TIMER_PRIORITY	0xa0

static u32 timer_intid, wanted;
static volatile u32 ticks;
static u64 period, start;

bool timer_interrupt(u32 intid)
{
	if (intid != timer_intid)
		return false;
	ticks++;
	print("timer: tick %u, intid %u, %lu ms\n", ticks, intid,
	      (read_sysreg(cntvct_el0) - start) / (read_sysreg(cntfrq_el0) / 1000));
	if (ticks < wanted)
		write_sysreg(period, cntv_tval_el0);
	else
		write_sysreg(0, cntv_ctl_el0);	/* the line drops: nothing more pending */
	return true;
}

void timer_demo(const struct fdt *fdt, u32 count)
{
	int node = fdt_find_compatible(fdt, -1, "arm,armv8-timer");

	if (!fdt_interrupt(fdt, node, 2, &timer_intid)) {
		print("timer: no arm,armv8-timer node with a virtual timer PPI\n");
		return;
	}
	period = read_sysreg(cntfrq_el0) / 1000 * PERIOD_MS;
	wanted = count;
	print("timer: virtual timer, intid %u, %lu Hz, every %u ms\n", timer_intid, read_sysreg(cntfrq_el0),
	      PERIOD_MS);
	gic_enable_ppi(timer_intid, TIMER_PRIORITY);
	start = read_sysreg(cntvct_el0);
	write_sysreg(period, cntv_tval_el0);
	write_sysreg(CNT_CTL_ENABLE, cntv_ctl_el0);
	irq_enable();
	while (ticks < wanted)
		wfi();
	irq_disable();
}
