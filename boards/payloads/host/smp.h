#ifndef SMP_H
#define SMP_H

#include "fdt.h"

void smp_boot(const struct fdt *fdt);

#endif
