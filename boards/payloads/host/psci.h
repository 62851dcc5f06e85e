/* PSCI (Arm DEN0022) through the conduit the tree's /psci node names. */
#ifndef PSCI_H
#define PSCI_H

#include "fdt.h"

#define PSCI_VERSION		0x84000000
#define PSCI_CPU_OFF		0x84000002
#define PSCI_CPU_ON		0xc4000003
#define PSCI_AFFINITY_INFO	0xc4000004
#define PSCI_SYSTEM_OFF		0x84000008
#define PSCI_AFFINITY_OFF	1

bool psci_init(const struct fdt *fdt);
bool psci_present(void);
const char *psci_conduit(void);
s64 psci_call(u64 fn, u64 a1, u64 a2, u64 a3);

#endif
