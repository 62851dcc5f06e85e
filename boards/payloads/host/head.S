/*
 * Entry points: the arm64 Image header (Documentation/arm64/booting.rst), the
 * boot CPU, and the secondary CPUs (PSCI CPU_ON, or released from the spin
 * table into a holding pen).  Every CPU leaves EL2 here, having installed the
 * hyp stub, so that C only ever runs at EL1.  Nothing is absolute: the code
 * runs wherever the bootloader put it (adrp/add only).
 */
#include "asm.h"

	.section .head.text, "ax"
	.globl	_head
_head:
	b	primary_entry		/* code0 */
	.long	0			/* code1 */
	.quad	0x80000			/* text_offset */
	.quad	_image_size		/* image_size, .bss included */
	.quad	0xa			/* flags: little-endian, 4 KB pages, anywhere in RAM */
	.quad	0, 0, 0			/* res2-res4 */
	.ascii	"ARM\x64"		/* magic */
	.long	0			/* no PE/COFF header */

primary_entry:
	mov	x19, x0			/* the DTB */
	mrs	x20, CurrentEL
	bl	el2_setup
	mov	w21, w0
	adr_l	x0, __bss_start
	adr_l	x1, __bss_end
1:	cmp	x0, x1
	b.hs	2f
	str	xzr, [x0], #8
	b	1b
2:	mov	x0, #0
	bl	el1_init
	mov	x0, x19
	mov	x1, x20
	mov	w2, w21
	bl	kernel_main
	b	halt

/* PSCI CPU_ON: x0 = context_id = the CPU's logical number. */
	.text
	.globl	secondary_psci_entry
secondary_psci_entry:
	mov	x19, x0
	mov	x22, #1			/* started by PSCI: stops with CPU_OFF */
	mrs	x20, CurrentEL
	bl	el2_setup
	b	secondary_common

/* Spin table: every CPU written to its cpu-release-addr waits here until the
 * boot CPU puts its MPIDR in pen_release (as Linux's secondary_holding_pen). */
	.globl	secondary_spin_entry
secondary_spin_entry:
	mov	x22, #0			/* released from the spin table: parks in WFI */
	mrs	x20, CurrentEL
	bl	el2_setup
	mrs	x1, mpidr_el1
	mov_q	x2, MPIDR_HWID_MASK
	and	x1, x1, x2
	adr_l	x2, pen_release
3:	ldr	x3, [x2]
	cmp	x3, x1
	b.eq	4f
	wfe
	b	3b
4:	adr_l	x2, pen_cpu
	ldr	x19, [x2]

/* x19: logical CPU number, x20: CurrentEL at entry, x22: by PSCI, w0: boot mode. */
secondary_common:
	mov	w21, w0
	mov	x0, x19
	bl	el1_init
	mov	x0, x19
	mov	x1, x20
	mov	w2, w21
	mov	x3, x22
	bl	secondary_main
	b	halt

/* x0: logical CPU number. SP = the top of its stack (STACK_SIZE = 4 KB); SCTLR_EL1 in a known state. */
el1_init:
	adr_l	x1, stacks
	add	x0, x0, #1
	add	x1, x1, x0, lsl #12
	mov	sp, x1
	mov_q	x1, SCTLR_EL1_RES1
	msr	sctlr_el1, x1
	isb
	ret

/*
 * At EL2: install the hyp stub, let EL1 run AArch64 with the timers and (GICv3)
 * its system-register interface, and return to the caller at EL1 (ERET to lr).
 * Returns w0 = BOOT_CPU_MODE_EL2, or BOOT_CPU_MODE_EL1 when entered at EL1.
 * Clobbers x0-x1.
 */
el2_setup:
	mrs	x0, CurrentEL
	cmp	x0, #CURRENT_EL_EL2
	b.eq	1f
	mov	w0, #BOOT_CPU_MODE_EL1
	ret
1:	adr_l	x0, __hyp_stub_vectors
	msr	vbar_el2, x0
	mov	x0, #HCR_RW
	msr	hcr_el2, x0
	mrs	x0, cnthctl_el2
	orr	x0, x0, #(CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN)
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr
	mrs	x0, id_aa64pfr0_el1
	ubfx	x0, x0, #24, #4		/* GIC: system-register interface implemented */
	cbz	x0, 2f
	mrs	x0, icc_sre_el2
	mov	x1, #(ICC_SRE_EL2_SRE | ICC_SRE_EL2_ENABLE)
	orr	x0, x0, x1
	msr	icc_sre_el2, x0
	isb
	msr	ich_hcr_el2, xzr
2:	mov	x0, #SPSR_EL1H_DAIF
	msr	spsr_el2, x0
	msr	elr_el2, lr
	mov	w0, #BOOT_CPU_MODE_EL2
	eret

	.globl	halt
halt:
	msr	daifset, #0xf
1:	wfi
	b	1b

	.data
	.balign	8
	.globl	pen_release, pen_cpu
pen_release:
	.quad	-1
pen_cpu:
	.quad	0

	.bss
	.balign	16
stacks:
	.space	STACK_SIZE * NR_CPUS
