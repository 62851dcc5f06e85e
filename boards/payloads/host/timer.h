#ifndef TIMER_H
#define TIMER_H

#include "fdt.h"

void timer_demo(const struct fdt *fdt, u32 ticks);
bool timer_interrupt(u32 intid);

#endif
