/*
 * The hyp stub: what a kernel entered at EL2 leaves there so that a hypervisor
 * (KVM) can take EL2 over later.  The ABI is Linux's (arch/arm64/kernel/
 * hyp-stub.S, Documentation/virt/kvm/arm/hyp-abi.rst): `hvc #0`, function in
 * x0, result in x0.  It uses no stack and keeps every other register.
 *
 * A second table, __hyp_alt_vectors, stands in for a hypervisor's vectors so
 * that HVC_SET_VECTORS and HVC_RESET_VECTORS can be seen to work.
 */
#include "asm.h"

.macro stub_vectors name
	.balign	0x800			/* VBAR_EL2[10:0] are RES0 */
	.globl	\name
\name:
	ventry	el2_unexpected		/* current EL with SP_EL0: sync, IRQ, FIQ, SError */
	ventry	el2_unexpected
	ventry	el2_unexpected
	ventry	el2_unexpected
	ventry	el2_unexpected		/* current EL with SP_EL2 */
	ventry	el2_unexpected
	ventry	el2_unexpected
	ventry	el2_unexpected
	ventry	el1_sync		/* lower EL, AArch64: the HVC */
	ventry	el2_unexpected
	ventry	el2_unexpected
	ventry	el2_unexpected
	ventry	el2_unexpected		/* lower EL, AArch32 */
	ventry	el2_unexpected
	ventry	el2_unexpected
	ventry	el2_unexpected
.endm

	.text
	stub_vectors __hyp_stub_vectors
	stub_vectors __hyp_alt_vectors

el1_sync:
	cmp	x0, #HVC_SET_VECTORS
	b.ne	1f
	msr	vbar_el2, x1
	b	ok

1:	cmp	x0, #HVC_SOFT_RESTART
	b.ne	2f
	mov	x0, x2			/* entry(x2, x3, x4) at EL2, never returns */
	mov	x2, x4
	mov	x4, x1
	mov	x1, x3
	br	x4

2:	cmp	x0, #HVC_RESET_VECTORS
	b.ne	3f
	adr_l	x0, __hyp_stub_vectors
	msr	vbar_el2, x0
	b	ok

3:	cmn	x0, #1			/* HVC_GET_VECTORS */
	b.ne	4f
	mrs	x0, vbar_el2
	eret

4:	/* HVC_FINALISE_EL2 would switch the kernel to VHE; this stub keeps it at
	 * EL1 (nVHE), so it fails like Linux's stub on a CPU without VHE. */
	mov_q	x0, HVC_STUB_ERR
	eret

ok:	mov	x0, xzr
	eret

/* Nothing else should reach EL2: stop here. */
el2_unexpected:
	b	halt

/*
 * The target of the HVC_SOFT_RESTART demonstration: runs at EL2 with x0 = a
 * value to echo and x1 = where to resume at EL1.  Records what it saw in
 * soft_restart_seen (CurrentEL, x0), then returns to EL1 like el2_setup.
 */
	.globl	soft_restart_target
soft_restart_target:
	mrs	x2, CurrentEL
	adr_l	x3, soft_restart_seen
	stp	x2, x0, [x3]
	mov	x0, #SPSR_EL1H_DAIF
	msr	spsr_el2, x0
	msr	elr_el2, x1
	eret

/*
 * void hyp_soft_restart(u64 value): HVC_SOFT_RESTART into soft_restart_target
 * and back to EL1 at the label below.  SP_EL1 and x19-x28 are untouched by the
 * round trip through EL2; x29/x30 are saved on the stack.
 */
	.globl	hyp_soft_restart
hyp_soft_restart:
	stp	x29, x30, [sp, #-16]!
	mov	x2, x0
	adr_l	x1, soft_restart_target
	adr_l	x3, 1f
	mov	x0, #HVC_SOFT_RESTART
	hvc	#0
1:	ldp	x29, x30, [sp], #16
	ret

	.bss
	.balign	8
	.globl	soft_restart_seen
soft_restart_seen:
	.quad	0, 0
