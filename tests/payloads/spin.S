/*
 * A lock waited for with WFE, as Linux's spinlocks do: vCPU 0 starts vCPU 1
 * (PSCI CPU_ON over hvc, as a guest of the hypervisor), then works for a while
 * and releases the "lock" (flag = 1, SEV); vCPU 1 waits in a WFE loop, then
 * says done and turns itself off; vCPU 0 powers the VM off.
 */
#include "lib.h"

#define WORK	2000000

	.bss
	.balign	8
flag:	.quad	0
done:	.quad	0

	.section .text.entry, "ax"
	.globl	_start
_start:
	movq	x0, PSCI_CPU_ON
	mov	x1, #1
	adr	x2, secondary
	mov	x3, #0
	hvc	#0
	movq	x1, WORK
1:	subs	x1, x1, #1
	b.ne	1b
	adr	x2, flag
	mov	x0, #1
	stlr	x0, [x2]
	sev
	adr	x2, done
2:	ldar	x0, [x2]
	cbz	x0, 2b
	movq	x0, PSCI_SYSTEM_OFF
	hvc	#0
	b	.

secondary:
	adr	x2, flag
3:	wfe
	ldar	x0, [x2]
	cbz	x0, 3b
	adr	x2, done
	mov	x0, #1
	stlr	x0, [x2]
	movq	x0, PSCI_CPU_OFF
	hvc	#0
	b	.
