/*
 * Power off: PSCI SYSTEM_OFF when the tree has PSCI, else the board's own
 * way; on a Versatile Express (the Foundation model) that is the system
 * registers' configuration controller: SYS_CFGCTRL = START | WRITE | SHUTDOWN.
 */
#include "console.h"
#include "entry.h"
#include "power.h"
#include "psci.h"

#define SYS_CFGDATA	0xa0
#define SYS_CFGCTRL	0xa4
#define CFG_START	(1U << 31)
#define CFG_WRITE	(1U << 30)
#define CFG_SHUTDOWN	(8U << 20)	/* function 8, site 0 (motherboard) */

void power_off(const struct fdt *fdt)
{
	int sysreg = fdt_find_compatible(fdt, -1, "arm,vexpress-sysreg");
	u64 base;

	if (psci_present()) {
		print("power: PSCI SYSTEM_OFF over %s\n", psci_conduit());
		psci_call(PSCI_SYSTEM_OFF, 0, 0, 0);
	} else if (sysreg >= 0 && fdt_reg(fdt, sysreg, 0, &base, NULL)) {
		print("power: vexpress SYS_CFGCTRL shutdown at 0x%lx\n", base + SYS_CFGCTRL);
		writel(0, base + SYS_CFGDATA);
		writel(CFG_START | CFG_WRITE | CFG_SHUTDOWN, base + SYS_CFGCTRL);
	}
	print("power: still running; halting\n");
	halt();
}
