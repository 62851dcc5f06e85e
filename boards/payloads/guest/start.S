/*
 * Entry and EL1 exception vectors of the guest payloads (guest/, probe/).
 * An arm64 Image header (the .bin runs at any 4 KB-aligned address: adrp/add
 * only), x0 = the DTB.  Guests run at EL1; entered at EL2 (a bare board with
 * EL2 enabled) a CPU drops to EL1 and leaves behind a stub that answers any
 * HVC with -1 (NOT_SUPPORTED), as a hypervisor does for an unknown call.
 *
 * C provides: guest_main(dtb, CurrentEL at entry); secondary_main(cpu) for
 * CPUs started by PSCI CPU_ON at secondary_entry (context_id = the logical
 * CPU number); el1_irq(); el1_sync(esr, elr, far, vector offset) for every
 * other exception, returning the ELR to resume at.
 */
#define HCR_RW			(1 << 31)	/* EL1 is AArch64 */
#define CNTHCTL_EL1PCEN_PCTEN	3		/* EL1 may use the physical counter and timer */
#define SPSR_EL1H_DAIF		0x3c5		/* EL1h, D, A, I, F masked */
#define SCTLR_EL1_RES1		0x30d00800	/* MMU, caches and alignment checks off */
#define STACK_SHIFT		12		/* 4 KB per CPU */
#define NR_CPUS			8
#define FRAME			(22 * 8)	/* x0-x18, x29, x30, padding */

.macro adr_l reg, sym
	adrp	\reg, \sym
	add	\reg, \reg, :lo12:\sym
.endm

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
	mov	x19, x0
	mrs	x20, CurrentEL
	bl	to_el1
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
	bl	guest_main
	b	halt

	.text
	.globl	secondary_entry
secondary_entry:
	mov	x19, x0
	bl	to_el1
	mov	x0, x19
	bl	el1_init
	mov	x0, x19
	bl	secondary_main
	b	halt

/* x0: logical CPU number (< NR_CPUS).  Its stack, SCTLR_EL1 known, our vectors. */
el1_init:
	adr_l	x1, stacks
	add	x0, x0, #1
	add	x1, x1, x0, lsl #STACK_SHIFT
	mov	sp, x1
	mov	x1, #(SCTLR_EL1_RES1 & 0xffff)
	movk	x1, #(SCTLR_EL1_RES1 >> 16), lsl #16
	msr	sctlr_el1, x1
	adr_l	x1, el1_vectors
	msr	vbar_el1, x1
	isb
	ret

/* At EL1: return.  At EL2: the stub, AArch64 EL1 with the counters, return at EL1. */
to_el1:
	mrs	x0, CurrentEL
	cmp	x0, #(2 << 2)
	b.eq	1f
	ret
1:	adr_l	x0, el2_stub
	msr	vbar_el2, x0
	mov	x0, #HCR_RW
	msr	hcr_el2, x0
	mov	x0, #CNTHCTL_EL1PCEN_PCTEN
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr
	mov	x0, #SPSR_EL1H_DAIF
	msr	spsr_el2, x0
	msr	elr_el2, lr
	eret

	.globl	halt
halt:
	msr	daifset, #0xf
1:	wfi
	b	1b

/* EL2 vectors: an HVC (or anything) from EL1 returns -1 in x0. */
	.balign	0x800
el2_stub:
	.rept	8
	.balign	0x80
	b	.
	.endr
	.balign	0x80			/* lower EL, AArch64: synchronous */
	mov	x0, #-1
	eret
	.rept	7
	.balign	0x80
	b	.
	.endr

/* EL1 vectors: every entry goes to el1_exception with its offset in x0. */
.macro ventry offset
	.balign	0x80
	sub	sp, sp, #FRAME
	stp	x0, x1, [sp]
	mov	x0, #\offset
	b	el1_exception
.endm

	.balign	0x800
el1_vectors:
	.irp	offset, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
	ventry	\offset
	.endr

/* An IRQ taken from EL1 with SP_EL1 goes to el1_irq(), anything else to el1_sync(). */
el1_exception:
	stp	x2, x3, [sp, #16 * 1]
	stp	x4, x5, [sp, #16 * 2]
	stp	x6, x7, [sp, #16 * 3]
	stp	x8, x9, [sp, #16 * 4]
	stp	x10, x11, [sp, #16 * 5]
	stp	x12, x13, [sp, #16 * 6]
	stp	x14, x15, [sp, #16 * 7]
	stp	x16, x17, [sp, #16 * 8]
	stp	x18, x29, [sp, #16 * 9]
	str	x30, [sp, #16 * 10]
	cmp	x0, #0x280
	b.ne	1f
	bl	el1_irq
	b	2f
1:	mov	x3, x0
	mrs	x0, esr_el1
	mrs	x1, elr_el1
	mrs	x2, far_el1
	bl	el1_sync
	msr	elr_el1, x0
2:	ldp	x0, x1, [sp]
	ldp	x2, x3, [sp, #16 * 1]
	ldp	x4, x5, [sp, #16 * 2]
	ldp	x6, x7, [sp, #16 * 3]
	ldp	x8, x9, [sp, #16 * 4]
	ldp	x10, x11, [sp, #16 * 5]
	ldp	x12, x13, [sp, #16 * 6]
	ldp	x14, x15, [sp, #16 * 7]
	ldp	x16, x17, [sp, #16 * 8]
	ldp	x18, x29, [sp, #16 * 9]
	ldr	x30, [sp, #16 * 10]
	add	sp, sp, #FRAME
	eret

	.bss
	.balign	16
stacks:
	.space	NR_CPUS << STACK_SHIFT
