// GICv3 end to end: the EL1 virtual timer's interrupt (INTID 27) through the
// system-register CPU interface, then an SGI sent to itself with ICC_SGI1R_EL1.
//
// Entered at EL2 (armboot's virtual EL2): enable ICC_SRE_EL2.SRE/Enable, ERET
// to EL1h.  At EL1: distributor on, redistributor awake (GICR_WAKER), INTID 27
// and SGI 1 in group 1 and enabled, PMR/BPR1/IGRPEN1 set as Linux does, timer
// armed, IRQs unmasked, WFI.  The IRQ handler (VBAR_EL1 + 0x280) prints what
// ICC_IAR1_EL1 and ICC_RPR_EL1 say, masks the timer, raises SGI 1 (priority
// 0x80, higher than the timer's 0xa0), shows it in ICC_HPPIR1_EL1, EOIs; the
// SGI is taken next; then PSCI SYSTEM_OFF.  Build: make (see Makefile).

	.equ	UART, 0x09000000
	.equ	GICD, 0x08000000
	.equ	GICR, 0x080a0000
	.equ	SGI_BASE, 0x10000
	.equ	PSCI_SYSTEM_OFF, 0x84000008

	.text
	.globl	_start
_start:
	ldr	x1, =stack_top
	mov	sp, x1
	mrs	x0, S3_4_C12_C9_5		// ICC_SRE_EL2
	orr	x0, x0, #0x1			// SRE
	orr	x0, x0, #0x8			// Enable: EL1 may use ICC_SRE_EL1
	msr	S3_4_C12_C9_5, x0
	isb
	mov	x0, #(1 << 31)			// HCR_EL2.RW: EL1 is AArch64
	msr	hcr_el2, x0
	adr	x0, el1_entry
	msr	elr_el2, x0
	mov	x0, #0x3c5			// EL1h, DAIF masked
	msr	spsr_el2, x0
	eret

el1_entry:
	ldr	x1, =stack_top
	mov	sp, x1
	adr	x0, vectors
	msr	vbar_el1, x0
	isb

	adr	x0, s_gic
	bl	puts
	mrs	x0, id_aa64pfr0_el1
	ubfx	x0, x0, #24, #4			// GIC field: 1 = system-register interface
	bl	puthex
	adr	x0, s_sre
	bl	puts
	mrs	x0, S3_0_C12_C12_5		// ICC_SRE_EL1
	bl	puthex
	bl	newline

	ldr	x1, =GICD
	mov	w0, #0x13			// ARE | EnableGrp1 | EnableGrp0, as Linux writes it
	str	w0, [x1]

	ldr	x1, =GICR
	ldr	w0, [x1, #0x14]			// GICR_WAKER
	bic	w0, w0, #2			// ProcessorSleep = 0
	str	w0, [x1, #0x14]
1:	ldr	w0, [x1, #0x14]
	tbnz	w0, #2, 1b			// until ChildrenAsleep = 0

	add	x2, x1, #SGI_BASE
	mov	w0, #-1
	str	w0, [x2, #0x80]			// GICR_IGROUPR0: SGIs and PPIs in group 1
	mov	w0, #0xa0
	strb	w0, [x2, #0x41b]		// GICR_IPRIORITYR: INTID 27 at 0xa0 (byte access)
	mov	w0, #0x80
	strb	w0, [x2, #0x401]		// SGI 1 at 0x80
	ldr	w0, =((1 << 27) | (1 << 1))
	str	w0, [x2, #0x100]		// GICR_ISENABLER0

	mov	x0, #0xf0
	msr	S3_0_C4_C6_0, x0		// ICC_PMR_EL1
	msr	S3_0_C12_C12_3, xzr		// ICC_BPR1_EL1 = 0 (reads back the minimum)
	mov	x0, #1
	msr	S3_0_C12_C12_7, x0		// ICC_IGRPEN1_EL1
	isb

	mov	x0, #1000
	msr	cntv_tval_el0, x0
	mov	x0, #1				// ENABLE
	msr	cntv_ctl_el0, x0
	msr	daifclr, #2

wait:
	wfi
	ldr	x0, =done
	ldr	w0, [x0]
	cbz	w0, wait

	adr	x0, s_done
	bl	puts
	ldr	x0, =PSCI_SYSTEM_OFF
	smc	#0
	b	.

// The IRQ handler: acknowledge, report, act, EOI.
irq_entry:
	stp	x29, x30, [sp, #-16]!
	stp	x19, x20, [sp, #-16]!
	stp	x0, x1, [sp, #-16]!
	stp	x9, x10, [sp, #-16]!
	stp	x11, x12, [sp, #-16]!
	stp	x13, x14, [sp, #-16]!

	mrs	x19, S3_0_C12_C12_0		// ICC_IAR1_EL1
	adr	x0, s_irq
	bl	puts
	mov	x0, x19
	bl	puthex
	adr	x0, s_rpr
	bl	puts
	mrs	x0, S3_0_C12_C11_3		// ICC_RPR_EL1
	bl	puthex

	cmp	x19, #27
	b.ne	1f
	mov	x0, #3				// ENABLE | IMASK: the line drops
	msr	cntv_ctl_el0, x0
	ldr	x0, =((1 << 24) | 1)		// SGI 1 to Aff0 0 (this CPU) in cluster 0.0.0
	msr	S3_0_C12_C11_5, x0		// ICC_SGI1R_EL1
	isb
	adr	x0, s_hppi
	bl	puts
	mrs	x0, S3_0_C12_C12_2		// ICC_HPPIR1_EL1
	bl	puthex
1:	cmp	x19, #1
	b.ne	2f
	ldr	x0, =done
	mov	w1, #1
	str	w1, [x0]
2:	bl	newline
	msr	S3_0_C12_C12_1, x19		// ICC_EOIR1_EL1

	ldp	x13, x14, [sp], #16
	ldp	x11, x12, [sp], #16
	ldp	x9, x10, [sp], #16
	ldp	x0, x1, [sp], #16
	ldp	x19, x20, [sp], #16
	ldp	x29, x30, [sp], #16
	eret

unexpected:
	adr	x0, s_unexpected
	bl	puts
	mrs	x0, esr_el1
	bl	puthex
	bl	newline
	ldr	x0, =PSCI_SYSTEM_OFF
	smc	#0
	b	.

// puts: x0 = NUL-terminated string.  Clobbers x9-x11.
puts:
	ldr	x9, =UART
	mov	x10, x0
1:	ldrb	w11, [x10], #1
	cbz	w11, 2f
	strb	w11, [x9]
	b	1b
2:	ret

newline:
	ldr	x9, =UART
	mov	w10, #'\n'
	strb	w10, [x9]
	ret

// puthex: x0 in hex without leading zeros.  Clobbers x9-x13.
puthex:
	ldr	x9, =UART
	mov	x10, #60
	mov	x12, #0
1:	lsr	x11, x0, x10
	and	x11, x11, #0xf
	orr	x12, x12, x11
	cbnz	x12, 2f
	cbnz	x10, 3f
2:	add	x13, x11, #'0'
	add	x11, x11, #('a' - 10)
	cmp	x13, #'9'
	csel	x11, x13, x11, ls
	strb	w11, [x9]
3:	subs	x10, x10, #4
	b.ge	1b
	ret

	.ltorg

	.balign	2048
vectors:
	.rept	4				// current EL with SP_EL0
	b	unexpected
	.balign	0x80
	.endr
	b	unexpected			// current EL with SP_ELx: synchronous
	.balign	0x80
	b	irq_entry			// IRQ
	.balign	0x80
	.rept	10				// FIQ, SError; lower ELs
	b	unexpected
	.balign	0x80
	.endr

	.section .rodata
s_gic:		.asciz	"gic="
s_sre:		.asciz	" sre="
s_irq:		.asciz	"irq "
s_rpr:		.asciz	" rpr="
s_hppi:		.asciz	" hppi="
s_done:		.asciz	"done\n"
s_unexpected:	.asciz	"unexpected exception, esr="

	.bss
	.balign	16
done:	.space	16
	.space	4096
stack_top:
