/*
 * EL2's TLB maintenance: entered at EL2, the payload runs TLBI ALLE2,
 * ALLE1, VMALLS12E1IS, VAE2 and IPAS2E1IS (EL2-only SYS instructions), then
 * drops to EL1, where TLBI ALLE2 is UNDEFINED: taken to its EL1 vectors.
 * Lines:
 *
 *   tlbi el=2 done=5
 *   tlbi el=1 esr=... elr=...
 */
#include "lib.h"

	.section .text.entry, "ax"
	.globl	_start
_start:
	adr	x0, stack_top
	mov	sp, x0
	mov	x20, #0
	tlbi	alle2
	add	x20, x20, #1
	tlbi	alle1
	add	x20, x20, #1
	tlbi	vmalls12e1is
	add	x20, x20, #1
	tlbi	vae2, x0
	add	x20, x20, #1
	tlbi	ipas2e1is, x0
	add	x20, x20, #1
	mrs	x19, CurrentEL
	lsr	x19, x19, #2
	puts	"tlbi"
	putkv	el, x19
	putkv	done, x20
	bl	put_nl
	/* to EL1, with vectors there */
	adr	x0, el1_vectors
	msr	vbar_el1, x0
	mov	x0, #HCR_RW
	msr	hcr_el2, x0
	adr	x0, at_el1
	msr	elr_el2, x0
	mov	x0, #SPSR_EL1H_MASKED
	msr	spsr_el2, x0
	eret
at_el1:
	adr	x0, stack_top
	mov	sp, x0
	.globl	el1_tlbi
el1_tlbi:
	tlbi	alle2
	puts	"tlbi el=1 no exception\n"
	b	system_off

el1_sync:
	mrs	x21, esr_el1
	mrs	x22, elr_el1
	puts	"tlbi el=1"
	putkv	esr, x21
	putkv	elr, x22
	bl	put_nl
	b	system_off

	.balign	2048
el1_vectors:
	.org	el1_vectors + 0x200
	b	el1_sync
	.org	el1_vectors + 0x800

	.bss
	.balign	16
	.space	0x1000
stack_top:
