// GICv3 on two CPUs: an SGI by affinity target list, and a device's SPI
// routed to CPU 1 by GICD_IROUTER.
//
// CPU 0 (entered at EL2, drops to EL1) turns the distributor on, starts CPU 1
// with PSCI CPU_ON and waits until CPU 1 has woken its redistributor (frame 1)
// and enabled its interface.  It then sends SGI 2 with ICC_SGI1R_EL1 (target
// list bit 1 = Aff0 1), waits for CPU 1 to take it, routes the PL011's
// interrupt (SPI 33) to affinity 0.0.0.1, enables it and unmasks the UART's TX
// interrupt, whose line is high at once.  CPU 1's IRQ handler prints each
// INTID; for the SPI it masks the UART's interrupt before the EOI.

	.equ	UART, 0x09000000
	.equ	UART_IMSC, 0x38
	.equ	GICD, 0x08000000
	.equ	GICR, 0x080a0000
	.equ	GICR_STRIDE, 0x20000
	.equ	SGI_BASE, 0x10000
	.equ	PSCI_CPU_ON, 0xc4000003
	.equ	PSCI_SYSTEM_OFF, 0x84000008

	.text
	.globl	_start
_start:						// CPU 0, and CPU 1 through CPU_ON
	mrs	x19, mpidr_el1
	and	x19, x19, #0xff			// Aff0 = CPU number here
	mrs	x0, S3_4_C12_C9_5		// ICC_SRE_EL2
	orr	x0, x0, #0x1
	orr	x0, x0, #0x8
	msr	S3_4_C12_C9_5, x0
	mov	x0, #(1 << 31)
	msr	hcr_el2, x0
	adr	x0, el1_entry
	msr	elr_el2, x0
	mov	x0, #0x3c5
	msr	spsr_el2, x0
	eret

el1_entry:
	adr	x1, stacks			// a stack per CPU (SP_EL1)
	add	x1, x1, x19, lsl #12
	add	sp, x1, #4096
	adr	x0, vectors
	msr	vbar_el1, x0
	isb
	cbnz	x19, secondary

	adr	x0, s_cpu0
	bl	puts
	ldr	x1, =GICD
	mov	w0, #0x13			// ARE | EnableGrp1 | EnableGrp0
	str	w0, [x1]
	ldr	x0, =PSCI_CPU_ON
	mov	x1, #1				// target MPIDR
	adr	x2, _start
	mov	x3, #0
	smc	#0
	cbnz	x0, fail
1:	ldr	w0, ready
	cbz	w0, 1b

	ldr	x0, =((2 << 24) | (1 << 1))	// SGI 2 to Aff0 1 of cluster 0.0.0
	msr	S3_0_C12_C11_5, x0		// ICC_SGI1R_EL1
2:	ldr	w0, seen
	cmp	w0, #1
	b.lo	2b

	ldr	x1, =GICD
	ldr	w0, [x1, #0x84]			// GICD_IGROUPR1
	orr	w0, w0, #(1 << 1)		// INTID 33: group 1
	str	w0, [x1, #0x84]
	mov	w0, #0x90
	strb	w0, [x1, #0x421]		// GICD_IPRIORITYR33
	mov	x0, #1				// affinity 0.0.0.1, IRM = 0
	add	x2, x1, #0x6000
	str	x0, [x2, #(33 * 8)]		// GICD_IROUTER33 (64-bit)
	mov	w0, #(1 << 1)
	str	w0, [x1, #0x104]		// GICD_ISENABLER1
	ldr	x1, =UART
	mov	w0, #0x20			// TXIM: the TX interrupt is raised at once
	str	w0, [x1, #UART_IMSC]
3:	ldr	w0, seen
	cmp	w0, #2
	b.lo	3b

	adr	x0, s_done
	bl	puts
	ldr	x0, =PSCI_SYSTEM_OFF
	smc	#0
	b	.

secondary:					// CPU 1 at EL1
	ldr	x1, =(GICR + GICR_STRIDE)
	ldr	w0, [x1, #0x14]			// GICR_WAKER of its own redistributor
	bic	w0, w0, #2
	str	w0, [x1, #0x14]
1:	ldr	w0, [x1, #0x14]
	tbnz	w0, #2, 1b
	add	x2, x1, #SGI_BASE
	mov	w0, #-1
	str	w0, [x2, #0x80]			// GICR_IGROUPR0
	mov	w0, #(1 << 2)
	str	w0, [x2, #0x100]		// GICR_ISENABLER0: SGI 2
	mov	x0, #0xf0
	msr	S3_0_C4_C6_0, x0		// ICC_PMR_EL1
	mov	x0, #1
	msr	S3_0_C12_C12_7, x0		// ICC_IGRPEN1_EL1
	isb
	adr	x0, s_cpu1
	bl	puts
	adr	x0, ready
	mov	w1, #1
	str	w1, [x0]
	msr	daifclr, #2
2:	wfi
	b	2b

irq_entry:					// CPU 1 only
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
	bl	newline
	cmp	x19, #33
	b.ne	1f
	ldr	x1, =UART
	str	wzr, [x1, #UART_IMSC]		// the device drops its line before the EOI
1:	msr	S3_0_C12_C12_1, x19		// ICC_EOIR1_EL1
	adr	x0, seen
	ldr	w1, [x0]
	add	w1, w1, #1
	str	w1, [x0]
	ldp	x13, x14, [sp], #16
	ldp	x11, x12, [sp], #16
	ldp	x9, x10, [sp], #16
	ldp	x0, x1, [sp], #16
	ldp	x19, x20, [sp], #16
	ldp	x29, x30, [sp], #16
	eret

fail:
unexpected:
	adr	x0, s_unexpected
	bl	puts
	ldr	x0, =PSCI_SYSTEM_OFF
	smc	#0
	b	.

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

	.balign	4
ready:	.word	0
seen:	.word	0

	.ltorg

	.balign	2048
vectors:
	.rept	5
	b	unexpected
	.balign	0x80
	.endr
	b	irq_entry
	.balign	0x80
	.rept	10
	b	unexpected
	.balign	0x80
	.endr

	.section .rodata
s_cpu0:		.asciz	"cpu0 up\n"
s_cpu1:		.asciz	"cpu1 up\n"
s_irq:		.asciz	"cpu1 irq "
s_done:		.asciz	"done\n"
s_unexpected:	.asciz	"unexpected\n"

	.bss
	.balign	4096
stacks:	.space	2 * 4096
