/* Types, system registers and MMIO: the little of <asm/...> this kernel needs. */
#ifndef ARCH_H
#define ARCH_H

#include <stdbool.h>
#include <stddef.h>

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;

#define read_sysreg(r) ({ u64 __v; asm volatile("mrs %0, " #r : "=r"(__v)); __v; })
#define write_sysreg(v, r) asm volatile("msr " #r ", %0" : : "r"((u64)(v)))

static inline void isb(void) { asm volatile("isb" : : : "memory"); }
static inline void dsb_sy(void) { asm volatile("dsb sy" : : : "memory"); }
static inline void wfi(void) { asm volatile("wfi" : : : "memory"); }
static inline void wfe(void) { asm volatile("wfe" : : : "memory"); }
static inline void sev(void) { asm volatile("sev" : : : "memory"); }
static inline void irq_enable(void) { asm volatile("msr daifclr, #2" : : : "memory"); }
static inline void irq_disable(void) { asm volatile("msr daifset, #2" : : : "memory"); }

/* Device registers: every access happens, in order, exactly once. */
static inline u32 readl(u64 addr) { return *(volatile u32 *)addr; }
static inline u64 readq(u64 addr) { return *(volatile u64 *)addr; }
static inline void writeb(u8 v, u64 addr) { *(volatile u8 *)addr = v; }
static inline void writel(u32 v, u64 addr) { *(volatile u32 *)addr = v; }
static inline void writeq(u64 v, u64 addr) { *(volatile u64 *)addr = v; }

static inline u32 current_el(void) { return (u32)(read_sysreg(CurrentEL) >> 2) & 3; }
static inline u64 cpu_hwid(void) { return read_sysreg(mpidr_el1) & 0xff00ffffffUL; }

/* A deadline ``ms`` milliseconds from now on the virtual counter, for bounded waits. */
static inline u64 deadline_ms(u64 ms) { return read_sysreg(cntvct_el0) + read_sysreg(cntfrq_el0) / 1000 * ms; }
static inline bool passed(u64 deadline) { return read_sysreg(cntvct_el0) >= deadline; }

/* Spin a while on instructions no emulator traps, between two looks at a slow register. */
static inline void cpu_relax(u32 n)
{
	while (n--)
		asm volatile("yield" : : : "memory");
}

#endif
