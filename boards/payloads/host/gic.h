#ifndef GIC_H
#define GIC_H

#include "fdt.h"

struct gic {
	int version;		/* 2 or 3 */
	int node;
	u64 dist_base;		/* GICD */
	u64 cpu_base;		/* v2: GICC; v3: the first redistributor region */
	u64 redist;		/* v3: this CPU's redistributor (RD_base) */
};

bool gic_init(const struct fdt *fdt);
const struct gic *gic_info(void);
void gic_enable_ppi(u32 intid, u8 priority);
u32 gic_acknowledge(void);
u32 gic_intid(u32 iar);
void gic_end_of_interrupt(u32 iar);

#endif
