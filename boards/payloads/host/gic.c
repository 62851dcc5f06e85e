/*
 * The interrupt controller the tree names: a GICv2 (Arm IHI 0048, memory-
 * mapped CPU interface) or a GICv3 (Arm IHI 0069, affinity routing, the
 * redistributor of this CPU, the system-register CPU interface).  Only what
 * taking a PPI on the boot CPU needs: enable, priority, acknowledge, EOI.
 */
#include "console.h"
#include "gic.h"

#define PRIORITY_MASK	0xf0	/* PMR: let priorities 0x00-0xe0 through */

/* GICv2 */
#define GICD_CTLR	0x000
#define GICD_ISENABLER	0x100
#define GICD_IPRIORITYR	0x400
#define GICC_CTLR	0x00
#define GICC_PMR	0x04
#define GICC_IAR	0x0c
#define GICC_EOIR	0x10

/* GICv3 */
#define GICD_CTLR_RWP		(1U << 31)
#define GICD_CTLR_ARE_NS	(1 << 4)
#define GICD_CTLR_ENABLE_G1A	(1 << 1)
#define GICD_CTLR_ENABLE_G1	(1 << 0)
#define GICR_TYPER		0x0008
#define GICR_TYPER_LAST		(1 << 4)
#define GICR_TYPER_VLPIS	(1 << 1)
#define GICR_WAKER		0x0014
#define GICR_WAKER_SLEEP	(1 << 1)	/* ProcessorSleep */
#define GICR_WAKER_ASLEEP	(1 << 2)	/* ChildrenAsleep */
#define GICR_SGI_BASE		0x10000		/* the second 64 KB frame: SGI and PPI registers */
#define GICR_IGROUPR0		0x0080
#define GICR_ISENABLER0		0x0100
#define GICR_IPRIORITYR		0x0400
#define ICC_SRE_SRE		(1 << 0)

static struct gic gic;

const struct gic *gic_info(void)
{
	return &gic;
}

/* One compatible at a time: a table of string pointers would hold absolute addresses. */
static bool find(const struct fdt *fdt)
{
	gic.version = 2;
	gic.node = fdt_find_compatible(fdt, -1, "arm,cortex-a15-gic");
	if (gic.node < 0)
		gic.node = fdt_find_compatible(fdt, -1, "arm,gic-400");
	if (gic.node < 0)
		gic.node = fdt_find_compatible(fdt, -1, "arm,cortex-a9-gic");
	if (gic.node < 0) {
		gic.version = 3;
		gic.node = fdt_find_compatible(fdt, -1, "arm,gic-v3");
	}
	return gic.node >= 0;
}

/* Poll until (register & mask) == 0, for at most 10 ms. */
static bool wait_clear(u64 reg, u32 mask)
{
	u64 deadline = deadline_ms(10);

	while (readl(reg) & mask)
		if (passed(deadline))
			return false;
	return true;
}

/* GICv3: this CPU's redistributor is the frame whose GICR_TYPER.Affinity is our MPIDR's. */
static bool find_redistributor(const struct fdt *fdt)
{
	u64 hwid = cpu_hwid();
	u32 aff = (u32)((hwid >> 32) << 24 | (hwid & 0xffffff));
	u32 regions = fdt_u32(fdt, gic.node, "#redistributor-regions", 1);
	u32 len;
	const void *prop = fdt_prop(fdt, gic.node, "redistributor-stride", &len);
	u64 stride = prop && (len == 4 || len == 8) ? fdt_cells(prop, (int)len / 4) : 0;
	u64 rd;

	for (u32 region = 0; region < regions; region++) {
		if (!fdt_reg(fdt, gic.node, 1 + (int)region, &rd, NULL))
			return false;
		for (;;) {
			u64 typer = readq(rd + GICR_TYPER);

			if ((u32)(typer >> 32) == aff) {
				gic.redist = rd;
				return true;
			}
			if (typer & GICR_TYPER_LAST)
				break;
			rd += stride ? stride : (typer & GICR_TYPER_VLPIS) ? 0x40000 : 0x20000;
		}
	}
	return false;
}

static bool init_v3(const struct fdt *fdt)
{
	if (!find_redistributor(fdt))
		return false;
	writel(readl(gic.redist + GICR_WAKER) & ~GICR_WAKER_SLEEP, gic.redist + GICR_WAKER);
	if (!wait_clear(gic.redist + GICR_WAKER, GICR_WAKER_ASLEEP))
		return false;
	writel(GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A | GICD_CTLR_ENABLE_G1, gic.dist_base + GICD_CTLR);
	if (!wait_clear(gic.dist_base + GICD_CTLR, GICD_CTLR_RWP))
		return false;
	write_sysreg(read_sysreg(icc_sre_el1) | ICC_SRE_SRE, icc_sre_el1);
	isb();
	write_sysreg(PRIORITY_MASK, icc_pmr_el1);
	write_sysreg(1, icc_igrpen1_el1);
	isb();
	return true;
}

bool gic_init(const struct fdt *fdt)
{
	if (!find(fdt) || !fdt_reg(fdt, gic.node, 0, &gic.dist_base, NULL) ||
	    !fdt_reg(fdt, gic.node, 1, &gic.cpu_base, NULL))
		return false;
	if (gic.version == 3)
		return init_v3(fdt);
	writel(1, gic.dist_base + GICD_CTLR);
	writel(PRIORITY_MASK, gic.cpu_base + GICC_PMR);
	writel(1, gic.cpu_base + GICC_CTLR);
	return true;
}

/* A PPI of this CPU: group 1 (v3), priority, enabled. */
void gic_enable_ppi(u32 intid, u8 priority)
{
	u32 bit = 1U << (intid % 32);

	if (gic.version == 3) {
		u64 sgi = gic.redist + GICR_SGI_BASE;

		writel(readl(sgi + GICR_IGROUPR0) | bit, sgi + GICR_IGROUPR0);
		writeb(priority, sgi + GICR_IPRIORITYR + intid);
		writel(bit, sgi + GICR_ISENABLER0);
	} else {
		writeb(priority, gic.dist_base + GICD_IPRIORITYR + intid);
		writel(bit, gic.dist_base + GICD_ISENABLER);
	}
}

u32 gic_acknowledge(void)
{
	if (gic.version == 3)
		return (u32)read_sysreg(icc_iar1_el1);
	return readl(gic.cpu_base + GICC_IAR);
}

u32 gic_intid(u32 iar)
{
	return gic.version == 3 ? iar & 0xffffff : iar & 0x3ff;
}

void gic_end_of_interrupt(u32 iar)
{
	if (gic.version == 3) {
		write_sysreg(iar, icc_eoir1_el1);
		isb();
	} else {
		writel(iar, gic.cpu_base + GICC_EOIR);
	}
}
