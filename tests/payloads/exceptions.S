/*
 * Exception entry, as the Arm ARM prescribes it, at EL2 (when entered there)
 * and at EL1: SVC, HVC, UNDEF and a data abort on an unmapped physical address
 * (a synchronous external abort).  Each trial sets a known PSTATE (N and C set;
 * D, I, F masked, A clear), runs one instruction at a global label, and
 * prints what the handler saw, one line per trial:
 *
 *   exc at=<EL of the trial> kind=<name> el=<EL of the handler> vec=<offset>
 *       esr=... elr=... spsr=... far=...
 *
 * Entered at EL2, it also disables EL1's access to the physical counter and
 * timer (CNTHCTL_EL2) and checks that reading them from EL1 traps to EL2.
 * The test reads the labels' addresses from this ELF and checks every value.
 */
#include "lib.h"

#define UNMAPPED	0x20000008	/* no RAM or device there on the virt boards */
#define NZCV_NC		0xa0000000
#define EC_UNKNOWN	0x00
#define EC_SYSREG	0x18
#define EC_DABT_LOW	0x24
#define EC_DABT_CUR	0x25

	.bss
	.balign	16
rec:	.space	48		/* vec, el, esr, elr, spsr, far */
	.space	0x2000
el2_stack:
	.space	0x2000
el1_stack:

/* One trial: known PSTATE, then the instruction at \label, then its record. */
.macro trial kind, label, insn:vararg
	adr	x10, rec
	stp	xzr, xzr, [x10]
	stp	xzr, xzr, [x10, #16]
	stp	xzr, xzr, [x10, #32]
	movz	x9, #(NZCV_NC >> 16), lsl #16
	msr	nzcv, x9
	msr	daifset, #0xf
	msr	daifclr, #4
	.globl	\label
\label:	\insn
	adr	x0, 9997f
	bl	print_rec
	b	9996f
9997:	.asciz	"\kind"
	.balign	4
9996:
.endm

	.section .text.entry, "ax"
	.globl	_start
_start:
	adr	x1, el2_stack
	mov	sp, x1
	movq	x8, UNMAPPED
	mrs	x19, CurrentEL
	lsr	x19, x19, #2
	puts	"exceptions: entry"
	putkv	el, x19
	bl	put_nl
	cmp	x19, #2
	b.ne	at_el1

	adr	x0, el2_vectors
	msr	vbar_el2, x0
	trial	svc, el2_svc, svc #5
	trial	hvc, el2_hvc, hvc #7
	trial	undef, el2_undef, udf #0x42
	trial	dabt, el2_dabt, ldr x1, [x8]

	/* EL1 registers written at EL2 (as a hypervisor does before entering a guest). */
	movq	x0, 0x40001000
	msr	ttbr0_el1, x0
	movq	x0, 0x44ff
	msr	mair_el1, x0
	movq	x0, 0x800019
	msr	tcr_el1, x0
	mov	x0, #HCR_RW
	msr	hcr_el2, x0
	msr	cnthctl_el2, xzr	/* EL1PCTEN = EL1PCEN = 0: EL1's physical counter and timer trap */
	mov	x0, #SPSR_EL1H_MASKED
	msr	spsr_el2, x0
	adr	x0, from_el2
	msr	elr_el2, x0
	eret

from_el2:
	adr	x1, el1_stack
	mov	sp, x1
	puts	"el1regs"
	mrs	x5, ttbr0_el1
	putkv	ttbr0, x5
	mrs	x5, mair_el1
	putkv	mair, x5
	mrs	x5, tcr_el1
	putkv	tcr, x5
	bl	put_nl
	adr	x0, el1_vectors
	msr	vbar_el1, x0
	trial	cntp_ctl, el1_cntp_ctl, mrs x1, cntp_ctl_el0
	trial	cntpct, el1_cntpct, mrs x1, cntpct_el0

at_el1:
	adr	x1, el1_stack
	mov	sp, x1
	adr	x0, el1_vectors
	msr	vbar_el1, x0
	trial	svc, el1_svc, svc #5
	trial	hvc, el1_hvc, hvc #7
	trial	undef, el1_undef, udf #0x42
	trial	dabt, el1_dabt, ldr x1, [x8]
	puts	"exceptions: done\n"
	b	system_off

/* x0: the trial's name. Prints the record line (clobbers x0-x5). */
print_rec:
	stp	x29, x30, [sp, #-16]!
	mov	x5, x0
	puts	"exc at="
	mrs	x0, CurrentEL
	lsr	x0, x0, #2
	add	w0, w0, #'0'
	bl	put_char
	puts	" kind="
	mov	x0, x5
	bl	put_str
	adr	x5, rec
	ldr	x4, [x5, #8]
	putkv	el, x4
	ldr	x4, [x5]
	putkv	vec, x4
	ldr	x4, [x5, #16]
	putkv	esr, x4
	ldr	x4, [x5, #24]
	putkv	elr, x4
	ldr	x4, [x5, #32]
	putkv	spsr, x4
	ldr	x4, [x5, #40]
	putkv	far, x4
	bl	put_nl
	ldp	x29, x30, [sp], #16
	ret

/* Record the exception; step over an UNDEF, a trapped MRS or an abort, return past SVC/HVC. */
.macro handler el
handler_el\el:
	adr	x10, rec
	mrs	x11, CurrentEL
	lsr	x11, x11, #2
	stp	x9, x11, [x10]
	mrs	x11, esr_el\el
	mrs	x12, elr_el\el
	stp	x11, x12, [x10, #16]
	mrs	x11, spsr_el\el
	mrs	x13, far_el\el
	stp	x11, x13, [x10, #32]
	mrs	x11, esr_el\el
	lsr	x11, x11, #26
	cmp	x11, #EC_UNKNOWN
	b.eq	1f
	cmp	x11, #EC_SYSREG
	b.eq	1f
	cmp	x11, #EC_DABT_CUR
	b.eq	1f
	cmp	x11, #EC_DABT_LOW
	b.ne	2f
1:	add	x12, x12, #4
	msr	elr_el\el, x12
2:	eret
.endm

	handler 1
	handler 2

unexpected:
	mov	x19, x9
	puts	"unexpected exception"
	putkv	vec, x19
	mrs	x5, CurrentEL
	lsr	x5, x5, #2
	putkv	el, x5
	bl	put_nl
	b	system_off

/* 16 entries of 128 bytes; the synchronous ones from the current EL (SPx) and from a lower EL are handled. */
.macro vectors el
	.balign	0x800
el\el\()_vectors:
	.irp	off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
	.balign	0x80
	mov	x9, #\off
	.if	\off == 0x200 || \off == 0x400
	b	handler_el\el
	.else
	b	unexpected
	.endif
	.endr
.endm

	vectors 1
	vectors 2
