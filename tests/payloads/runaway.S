/*
 * A guest gone wrong: interrupts masked, spinning forever.  The hypervisor's
 * scheduler must still run everyone else (it preempts on its own tick).
 */
	.section .text.entry, "ax"
	.globl	_start
_start:
	msr	daifset, #0xf
1:	add	x1, x1, #1
	b	1b
