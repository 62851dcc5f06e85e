/*
 * A guest that reboots itself: prints a line, then PSCI SYSTEM_RESET over
 * hvc (it runs as a guest of the hypervisor).  The runtime restarts that VM
 * only, a few times, then counts it as stopped by reset.  Line:
 *
 *   reset boot
 */
#include "lib.h"

#define PSCI_SYSTEM_RESET	0x84000009

	.section .text.entry, "ax"
	.globl	_start
_start:
	adr	x0, stack_top
	mov	sp, x0
	puts	"reset boot\n"
	movq	x0, PSCI_SYSTEM_RESET
	hvc	#0
	b	.

	.bss
	.balign	16
	.space	0x1000
stack_top:
