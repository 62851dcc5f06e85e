#ifndef POWER_H
#define POWER_H

#include "fdt.h"

void __attribute__((noreturn)) power_off(const struct fdt *fdt);

#endif
