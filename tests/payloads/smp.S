/*
 * PSCI CPU_ON / CPU_OFF / AFFINITY_INFO on a four-CPU board (virt-smp4.dts),
 * over SMC.  The boot CPU (at EL1, having left EL2 if it was entered there)
 * starts CPUs 1-3 one at a time with context_id 0x100 + n; each prints its
 * MPIDR, its EL and the x0 it was entered with, then calls CPU_OFF.  Then the
 * error returns (ALREADY_ON, INVALID_PARAMETERS), and CPU 1 started again.
 * Lines:
 *
 *   psci version=...
 *   cpu_on target=... ret=...
 *   secondary mpidr=... el=... context=...
 *   affinity target=... state=...
 */
#include "lib.h"

#define NCPUS		4
#define STACK_SIZE	0x1000
#define WAIT_LOOPS	0x200000

	.bss
	.balign	16
arrived:
	.space	8 * NCPUS
stacks:
	.space	STACK_SIZE * NCPUS

	.section .text.entry, "ax"
	.globl	_start
_start:
	mrs	x0, CurrentEL
	cmp	x0, #(2 << 2)
	b.ne	boot_el1
	mov	x0, #HCR_RW
	msr	hcr_el2, x0
	mov	x0, #SPSR_EL1H_MASKED
	msr	spsr_el2, x0
	adr	x0, boot_el1
	msr	elr_el2, x0
	eret

boot_el1:
	adr	x0, stacks + STACK_SIZE
	mov	sp, x0
	puts	"smp: boot cpu"
	mrs	x5, mpidr_el1
	putkv	mpidr, x5
	bl	put_nl

	movq	x0, PSCI_VERSION
	bl	psci_smc
	mov	x5, x0
	puts	"psci"
	putkv	version, x5
	bl	put_nl

	mov	x19, #1
1:	add	x1, x19, #0x100
	mov	x0, x19
	bl	start_and_wait
	add	x19, x19, #1
	cmp	x19, #NCPUS
	b.lo	1b

	/* Errors PSCI prescribes: the caller itself is on; there is no CPU with MPIDR 7. */
	mov	x0, #0
	bl	cpu_on
	mov	x0, #7
	bl	cpu_on
	mov	x0, #0
	bl	affinity

	/* A CPU that called CPU_OFF can be started again. */
	mov	x0, #1
	mov	x1, #0x201
	bl	start_and_wait
	puts	"smp: done\n"
	b	system_off

/* x0: MPIDR; x1: context_id.  CPU_ON, wait for the CPU's mark, then for AFFINITY_INFO = OFF. */
start_and_wait:
	stp	x29, x30, [sp, #-16]!
	stp	x19, x20, [sp, #-16]!
	str	x21, [sp, #-16]!
	mov	x19, x0
	adr	x20, arrived
	str	xzr, [x20, x19, lsl #3]
	bl	cpu_on
	mov	x21, #WAIT_LOOPS
1:	ldr	x0, [x20, x19, lsl #3]
	cbnz	x0, 2f
	subs	x21, x21, #1
	b.ne	1b
	puts	"timeout waiting for the secondary\n"
2:	mov	x21, #WAIT_LOOPS
3:	movq	x0, PSCI_AFFINITY_INFO
	mov	x1, x19
	mov	x2, #0
	bl	psci_smc
	cmp	x0, #1			/* OFF */
	b.eq	4f
	subs	x21, x21, #1
	b.ne	3b
4:	mov	x0, x19
	bl	affinity
	ldr	x21, [sp], #16
	ldp	x19, x20, [sp], #16
	ldp	x29, x30, [sp], #16
	ret

/* x0: MPIDR, x1: context_id.  Prints the call's result. */
cpu_on:
	stp	x29, x30, [sp, #-16]!
	stp	x19, x20, [sp, #-16]!
	mov	x19, x0
	mov	x3, x1
	mov	x1, x0
	adr	x2, secondary
	movq	x0, PSCI_CPU_ON
	bl	psci_smc
	mov	x20, x0
	puts	"cpu_on"
	putkv	target, x19
	putkv	ret, x20
	bl	put_nl
	ldp	x19, x20, [sp], #16
	ldp	x29, x30, [sp], #16
	ret

/* x0: MPIDR.  Prints AFFINITY_INFO's answer (0 ON, 1 OFF). */
affinity:
	stp	x29, x30, [sp, #-16]!
	stp	x19, x20, [sp, #-16]!
	mov	x19, x0
	mov	x1, x0
	mov	x2, #0
	movq	x0, PSCI_AFFINITY_INFO
	bl	psci_smc
	mov	x20, x0
	puts	"affinity"
	putkv	target, x19
	putkv	state, x20
	bl	put_nl
	ldp	x19, x20, [sp], #16
	ldp	x29, x30, [sp], #16
	ret

/* A secondary CPU, entered by the firmware with x0 = context_id. */
secondary:
	mov	x19, x0
	and	x20, x0, #0xff
	adr	x1, stacks + STACK_SIZE
	add	x1, x1, x20, lsl #12
	mov	sp, x1
	puts	"secondary"
	mrs	x5, mpidr_el1
	putkv	mpidr, x5
	mrs	x5, CurrentEL
	lsr	x5, x5, #2
	putkv	el, x5
	putkv	context, x19
	bl	put_nl
	adr	x1, arrived
	mov	x0, #1
	str	x0, [x1, x20, lsl #3]
	movq	x0, PSCI_CPU_OFF
	bl	psci_smc
	puts	"cpu_off returned\n"
1:	wfi
	b	1b
