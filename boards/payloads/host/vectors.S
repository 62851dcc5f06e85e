/*
 * EL1 exception vectors.  IRQs from EL1 go to irq_handler() in C with the
 * caller-saved registers kept on the stack; anything else is a bug and goes to
 * bad_exception() with the syndrome.
 */
#include "asm.h"

#define FRAME_SIZE	(22 * 8)	/* x0-x18, x29, x30, padding to 16 bytes */

.macro invalid kind
	.balign	0x80
	mov	x0, #\kind
	b	bad_vector
.endm

	.text
	.balign	0x800
	.globl	el1_vectors
el1_vectors:
	invalid	0			/* current EL with SP_EL0 */
	invalid	1
	invalid	2
	invalid	3
	invalid	4			/* current EL with SP_EL1: sync */
	.balign	0x80
	b	el1_irq			/* IRQ */
	invalid	6
	invalid	7
	.irp	kind, 8, 9, 10, 11, 12, 13, 14, 15	/* lower ELs: none here */
	invalid	\kind
	.endr

el1_irq:
	sub	sp, sp, #FRAME_SIZE
	stp	x0, x1, [sp, #16 * 0]
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
	bl	irq_handler
	ldp	x0, x1, [sp, #16 * 0]
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
	add	sp, sp, #FRAME_SIZE
	eret

/* x0: vector number (offset / 0x80). */
bad_vector:
	mrs	x1, esr_el1
	mrs	x2, elr_el1
	mrs	x3, far_el1
	bl	bad_exception
	b	halt
