/*
 * Secondary CPUs, started the way each /cpus/cpu node's enable-method says:
 * "psci" (CPU_ON with our entry point, context_id = the logical CPU number)
 * or "spin-table" (our entry point written to cpu-release-addr, then SEV; as
 * on the Foundation model all CPUs may share one release address, they wait in
 * a holding pen for their MPIDR).  One CPU at a time, so that their console
 * lines never mix: each prints, then turns itself off (PSCI CPU_OFF) or parks
 * in WFI, and the boot CPU waits for it.
 */
#include "asm.h"
#include "console.h"
#include "entry.h"
#include "hyp.h"
#include "lib.h"
#include "psci.h"
#include "smp.h"

#define WAIT_MS		20
#define RELAX		1000

static volatile u64 arrived;	/* the logical number of the last CPU that came up */

void secondary_main(u64 cpu, u64 entry_current_el, u32 boot_mode, bool by_psci)
{
	set_boot_mode(boot_mode);
	write_sysreg(el1_vectors, vbar_el1);
	print("cpu%lu: mpidr 0x%lx, entered at EL%lu, running at EL%u\n", cpu, read_sysreg(mpidr_el1),
	      entry_current_el >> 2, current_el());
	dsb_sy();
	arrived = cpu;
	dsb_sy();
	if (by_psci) {
		psci_call(PSCI_CPU_OFF, 0, 0, 0);
		print("cpu%lu: CPU_OFF returned\n", cpu);
	}
	halt();
}

static bool wait_arrival(u64 cpu)
{
	u64 deadline = deadline_ms(WAIT_MS);

	while (arrived != cpu) {
		if (passed(deadline))
			return false;
		cpu_relax(RELAX);
	}
	return true;
}

static bool wait_off(u64 hwid)
{
	u64 deadline = deadline_ms(WAIT_MS);

	while (psci_call(PSCI_AFFINITY_INFO, hwid, 0, 0) != PSCI_AFFINITY_OFF) {
		if (passed(deadline))
			return false;
		cpu_relax(RELAX);
	}
	return true;
}

static bool start_psci(u64 cpu, u64 hwid)
{
	s64 ret;

	if (!psci_present()) {
		print("cpu%lu: enable-method psci, but no /psci node\n", cpu);
		return false;
	}
	ret = psci_call(PSCI_CPU_ON, hwid, (u64)secondary_psci_entry, cpu);
	if (ret) {
		print("cpu%lu: PSCI CPU_ON returned %ld\n", cpu, ret);
		return false;
	}
	return true;
}

static bool start_spin_table(const struct fdt *fdt, int node, u64 cpu, u64 hwid)
{
	u32 len;
	const void *prop = fdt_prop(fdt, node, "cpu-release-addr", &len);

	if (!prop || len != 8) {
		print("cpu%lu: enable-method spin-table, but no 64-bit cpu-release-addr\n", cpu);
		return false;
	}
	pen_cpu = cpu;
	dsb_sy();
	pen_release = hwid;
	writeq((u64)secondary_spin_entry, fdt_cells(prop, 2));
	dsb_sy();
	sev();
	return true;
}

/* Start one CPU and wait until it has reported (and, with PSCI, is off again). */
static bool start_cpu(const struct fdt *fdt, int node, u64 cpu, u64 hwid)
{
	const char *method = fdt_string(fdt, node, "enable-method");
	bool psci = method && !strcmp(method, "psci");
	bool started;

	if (psci)
		started = start_psci(cpu, hwid);
	else if (method && !strcmp(method, "spin-table"))
		started = start_spin_table(fdt, node, cpu, hwid);
	else {
		print("cpu%lu: unknown enable-method \"%s\"\n", cpu, method ? method : "");
		return false;
	}
	if (!started)
		return false;
	if (!wait_arrival(cpu)) {
		print("cpu%lu: did not come up in %u ms\n", cpu, WAIT_MS);
		return false;
	}
	if (psci && !wait_off(hwid)) {
		print("cpu%lu: still on %u ms after CPU_OFF\n", cpu, WAIT_MS);
		return false;
	}
	print(psci ? "cpu%lu: off (PSCI AFFINITY_INFO)\n" : "cpu%lu: parked in WFI\n", cpu);
	return true;
}

void smp_boot(const struct fdt *fdt)
{
	int cpus = fdt_path(fdt, "/cpus", 5);
	u32 ac = fdt_u32(fdt, cpus, "#address-cells", 1);
	u64 cpu = 0, online = 1;

	if (psci_present())
		print("smp: PSCI over %s\n", psci_conduit());
	for (int node = fdt_first_child(fdt, cpus); node >= 0; node = fdt_next_sibling(fdt, node)) {
		const char *type = fdt_string(fdt, node, "device_type");
		const void *reg = fdt_prop(fdt, node, "reg", NULL);
		u64 hwid;

		if (!type || strcmp(type, "cpu") || !reg)
			continue;
		hwid = fdt_cells(reg, (int)ac);
		if (hwid == cpu_hwid())
			continue;
		if (++cpu >= NR_CPUS)
			break;
		online += start_cpu(fdt, node, cpu, hwid);
	}
	pen_release = -1UL;
	print("smp: %lu of %lu cpus came up\n", online, cpu + 1);
}
