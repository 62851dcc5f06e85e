/*
 * ID registers as the payload reads them: each MRS into a register holding
 * garbage first, so that a value computed from the destination's old contents
 * (instead of the ID register) shows.  Line:
 *
 *   idregs pfr0a=... pfr0b=... mmfr0=... mpidr=...
 */
#include "lib.h"

	.section .text.entry, "ax"
	.globl	_start
_start:
	movq	x5, 0xdeadbeefcafef00d
	mrs	x5, id_aa64pfr0_el1
	movq	x6, 0x0123456789abcdef
	mrs	x6, id_aa64pfr0_el1
	movq	x7, 0xffffffffffffffff
	mrs	x7, id_aa64mmfr0_el1
	movq	x8, 0x5555555555555555
	mrs	x8, mpidr_el1
	puts	"idregs"
	putkv	pfr0a, x5
	putkv	pfr0b, x6
	putkv	mmfr0, x7
	putkv	mpidr, x8
	bl	put_nl
	b	system_off
