/*
 * A tiny "host kernel" for armboot's boards.  Everything it knows about the
 * machine comes from the device tree in x0: the console, the interrupt
 * controller, the timer's interrupt, the CPUs and how to start them, PSCI and
 * how to power off.  head.S has already left EL2 (installing the hyp stub) by
 * the time C runs, at EL1.
 */
#include "asm.h"
#include "console.h"
#include "entry.h"
#include "gic.h"
#include "hyp.h"
#include "lib.h"
#include "power.h"
#include "psci.h"
#include "smp.h"
#include "timer.h"
#include "xen_backend.h"

#define TICKS	3

/* /chosen/stdout-path (options after ':' dropped), else the first PL011. */
static int find_console(const struct fdt *fdt)
{
	const char *path = fdt_string(fdt, fdt_path(fdt, "/chosen", 7), "stdout-path");
	size_t len = 0;
	int node = -1;

	if (path) {
		while (path[len] && path[len] != ':')
			len++;
		node = fdt_path(fdt, path, len);
	}
	if (node < 0 || !fdt_is_compatible(fdt, node, "arm,pl011"))
		node = fdt_find_compatible(fdt, -1, "arm,pl011");
	return node;
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

void kernel_main(u64 dtb, u64 entry_current_el, u32 boot_mode)
{
	struct fdt fdt;
	int uart;
	u64 uart_base;
	const char *model;

	if (!fdt_open(&fdt, dtb))
		halt();	/* no tree, no console to say so */
	uart = find_console(&fdt);
	if (uart < 0 || !fdt_reg(&fdt, uart, 0, &uart_base, NULL))
		halt();
	console_init(uart_base);
	model = fdt_string(&fdt, fdt_path(&fdt, "/", 1), "model");
	print("armboot host: a tiny host kernel\n");
	print("dtb: 0x%lx, %u bytes, model \"%s\"\n", dtb, fdt.total_size, model ? model : "?");
	print("console: pl011 at 0x%lx (%s)\n", uart_base, fdt_name(&fdt, uart));
	print("entry: EL%lu (CurrentEL 0x%lx), now at EL%u\n", entry_current_el >> 2, entry_current_el, current_el());

	set_boot_mode(boot_mode);
	print("boot mode: 0x%x (BOOT_CPU_MODE_EL%c), hyp mode available: %s\n", boot_mode,
	      boot_mode == BOOT_CPU_MODE_EL2 ? '2' : '1', yes_no(is_hyp_mode_available()));
	if (is_hyp_mode_available())
		hyp_stub_demo();

	write_sysreg(el1_vectors, vbar_el1);
	isb();
	if (gic_init(&fdt)) {
		const struct gic *gic = gic_info();

		print("gic: v%d, distributor 0x%lx, %s 0x%lx\n", gic->version, gic->dist_base,
		      gic->version == 3 ? "redistributor" : "cpu interface", gic->version == 3 ? gic->redist : gic->cpu_base);
		timer_demo(&fdt, TICKS);
	} else {
		print("gic: no GICv2 or GICv3 this kernel can drive\n");
	}

	xen_console_backend(&fdt, XEN_BACKEND_MS);	/* dom0 under Xen: serve the guests' PV consoles */
	psci_init(&fdt);
	smp_boot(&fdt);
	print("boot modes: hyp mode available: %s, mismatched: %s\n", yes_no(is_hyp_mode_available()),
	      yes_no(is_hyp_mode_mismatched()));
	power_off(&fdt);
}
