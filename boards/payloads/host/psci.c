/*
 * PSCI 0.2 and later (fixed function ids): "method" = "smc" calls the EL3
 * firmware, "hvc" the hypervisor.  Without a /psci node there is no PSCI.
 */
#include "entry.h"
#include "lib.h"
#include "psci.h"

static bool present, use_hvc;

bool psci_init(const struct fdt *fdt)
{
	int node = fdt_find_compatible(fdt, -1, "arm,psci-1.0");
	const char *method;

	if (node < 0)
		node = fdt_find_compatible(fdt, -1, "arm,psci-0.2");
	method = fdt_string(fdt, node, "method");
	present = method && (!strcmp(method, "smc") || !strcmp(method, "hvc"));
	use_hvc = present && !strcmp(method, "hvc");
	return present;
}

bool psci_present(void)
{
	return present;
}

const char *psci_conduit(void)
{
	return use_hvc ? "hvc" : "smc";
}

s64 psci_call(u64 fn, u64 a1, u64 a2, u64 a3)
{
	return (s64)(use_hvc ? smccc_hvc(fn, a1, a2, a3) : smccc_smc(fn, a1, a2, a3));
}
