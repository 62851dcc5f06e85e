/* Constants and macros shared by the assembly files (and, for the constants, the C). */
#ifndef ASM_H
#define ASM_H

#define BOOT_CPU_MODE_EL1	0xe11	/* Linux's markers: the EL a CPU was entered at */
#define BOOT_CPU_MODE_EL2	0xe12

#define HVC_SET_VECTORS		0	/* the Linux hyp stub ABI (asm/virt.h) */
#define HVC_SOFT_RESTART	1
#define HVC_RESET_VECTORS	2
#define HVC_FINALISE_EL2	3
#define HVC_GET_VECTORS		(-1)	/* the original (2012) stub's call: x0 = -1 returns VBAR_EL2 */
#define HVC_STUB_ERR		0xbadca11

#define CURRENT_EL_EL2		(2 << 2)
#define HCR_RW			(1 << 31)	/* EL1 is AArch64 */
#define CNTHCTL_EL1PCTEN	(1 << 0)	/* EL1 may read the physical counter... */
#define CNTHCTL_EL1PCEN		(1 << 1)	/* ...and use the physical timer */
#define ICC_SRE_EL2_SRE		(1 << 0)
#define ICC_SRE_EL2_ENABLE	(1 << 3)	/* EL1 may use ICC_SRE_EL1 */
#define SPSR_EL1H_DAIF		0x3c5		/* EL1h, D, A, I, F masked */
#define SCTLR_EL1_RES1		0x30d00800	/* MMU, caches and alignment checks off */
#define MPIDR_HWID_MASK		0xff00ffffff

#define STACK_SIZE		0x1000
#define NR_CPUS			8

#ifdef __ASSEMBLER__
/* A PC-relative address within +-4 GB: the image runs wherever it is loaded. */
.macro adr_l reg, sym
	adrp	\reg, \sym
	add	\reg, \reg, :lo12:\sym
.endm

.macro mov_q reg, val
	movz	\reg, #((\val) >> 32) & 0xffff, lsl #32
	movk	\reg, #((\val) >> 16) & 0xffff, lsl #16
	movk	\reg, #(\val) & 0xffff
.endm

/* One 128-byte vector entry. */
.macro ventry label
	.balign	0x80
	b	\label
.endm
#endif

#endif
