/*
 * The generic timer's interrupts through the GICv2, taken at EL1 while waiting
 * in WFI: the virtual timer (PPI 11 = INTID 27), then the physical timer (PPI
 * 14 = INTID 30), then WFI with IRQs masked at the CPU (it wakes; the IRQ is
 * taken once unmasked), then the virtual timer with CTL.IMASK set (no interrupt).
 * Lines:
 *
 *   irq timer=<virt|phys> intid=... ctl=... count=... cval=... elr=... spsr=... next_iar=...
 *   woken pending=... irqs_before=... irqs_after=...
 *   masked ctl=... irqs=... pending=...
 *
 * ctl is the timer's CTL read in the handler (ISTATUS set), count the counter
 * read there, next_iar what GICC_IAR gives after the EOI (1023: nothing more).
 */
#include "lib.h"

#define INTID_VIRT	27
#define INTID_PHYS	30
#define PRIORITY	0xa0
#define GICD_CTLR	0x000
#define GICD_ISENABLER0	0x100
#define GICD_ISPENDR0	0x200
#define GICD_IPRIORITYR	0x400
#define GICC_CTLR	0x00
#define GICC_PMR	0x04
#define GICC_IAR	0x0c
#define GICC_EOIR	0x10
#define SPURIOUS	1023

	.bss
	.balign	16
rec:	.space	56		/* intid, ctl, count, cval, elr, spsr, next_iar */
irqs:	.quad	0
	.space	0x2000
stack:

	.section .text.entry, "ax"
	.globl	_start
_start:
	mrs	x0, CurrentEL
	cmp	x0, #(2 << 2)
	b.ne	el1
	mov	x0, #HCR_RW
	msr	hcr_el2, x0
	mrs	x0, cnthctl_el2
	orr	x0, x0, #3		/* EL1PCTEN, EL1PCEN: EL1 may use the physical timer */
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr
	mov	x0, #SPSR_EL1H_MASKED
	msr	spsr_el2, x0
	adr	x0, el1
	msr	elr_el2, x0
	eret

el1:
	adr	x0, stack
	mov	sp, x0
	adr	x0, vectors
	msr	vbar_el1, x0
	puts	"timer: entry"
	mrs	x5, CurrentEL
	lsr	x5, x5, #2
	putkv	el, x5
	bl	put_nl

	movz	x20, #(GICD_BASE >> 16), lsl #16
	movz	x21, #(GICC_BASE >> 16), lsl #16
	mov	w0, #1
	str	w0, [x20, #GICD_CTLR]
	mov	w0, #PRIORITY
	strb	w0, [x20, #(GICD_IPRIORITYR + INTID_VIRT)]
	strb	w0, [x20, #(GICD_IPRIORITYR + INTID_PHYS)]
	mov	w0, #((1 << INTID_VIRT) | (1 << INTID_PHYS))
	str	w0, [x20, #GICD_ISENABLER0]
	mov	w0, #0xf0
	str	w0, [x21, #GICC_PMR]
	mov	w0, #1
	str	w0, [x21, #GICC_CTLR]
	mrs	x22, cntfrq_el0
	mov	x0, #1000
	udiv	x22, x22, x0		/* one millisecond of counter ticks */

	/* Virtual timer. */
	adr	x23, irqs
	str	xzr, [x23]
	mrs	x0, cntvct_el0
	add	x0, x0, x22
	msr	cntv_cval_el0, x0
	mov	x0, #1
	msr	cntv_ctl_el0, x0
	msr	daifset, #0xf
	msr	daifclr, #2
	.globl	wait_virt, wait_virt_end
wait_virt:
	wfi
	ldr	x0, [x23]
	cbz	x0, wait_virt
wait_virt_end:
	msr	daifset, #2
	puts	"irq timer=virt"
	bl	print_rec

	/* Physical timer. */
	str	xzr, [x23]
	mrs	x0, cntpct_el0
	add	x0, x0, x22
	msr	cntp_cval_el0, x0
	mov	x0, #1
	msr	cntp_ctl_el0, x0
	msr	daifclr, #2
	.globl	wait_phys, wait_phys_end
wait_phys:
	wfi
	ldr	x0, [x23]
	cbz	x0, wait_phys
wait_phys_end:
	msr	daifset, #2
	puts	"irq timer=phys"
	bl	print_rec

	/* WFI with PSTATE.I set still wakes on the interrupt; it is taken once unmasked. */
	str	xzr, [x23]
	mrs	x0, cntvct_el0
	add	x0, x0, x22
	msr	cntv_cval_el0, x0
	mov	x0, #1
	msr	cntv_ctl_el0, x0
	.globl	wait_masked, wait_masked_end
wait_masked:
	wfi
	ldr	w5, [x20, #GICD_ISPENDR0]
	ubfx	x5, x5, #INTID_VIRT, #1
	ldr	x6, [x23]
	msr	daifclr, #2
	isb
wait_masked_end:
	msr	daifset, #2
	puts	"woken"
	putkv	pending, x5
	putkv	irqs_before, x6
	ldr	x6, [x23]
	putkv	irqs_after, x6
	bl	put_nl

	/* Virtual timer with its interrupt masked at the timer: ISTATUS, no IRQ.
	 * 10 us, polled: every counter read is a trap to the emulator. */
	mov	x0, #100
	udiv	x22, x22, x0
	str	xzr, [x23]
	mrs	x0, cntvct_el0
	add	x24, x0, x22
	msr	cntv_cval_el0, x24
	mov	x0, #3			/* ENABLE | IMASK */
	msr	cntv_ctl_el0, x0
	msr	daifclr, #2
	add	x24, x24, x22
1:	mrs	x0, cntvct_el0
	cmp	x0, x24
	b.lo	1b
	msr	daifset, #2
	mrs	x5, cntv_ctl_el0
	puts	"masked"
	putkv	ctl, x5
	ldr	x5, [x23]
	putkv	irqs, x5
	ldr	w5, [x20, #GICD_ISPENDR0]
	ubfx	x5, x5, #INTID_VIRT, #1
	putkv	pending, x5
	bl	put_nl
	msr	cntv_ctl_el0, xzr
	puts	"timer: done\n"
	b	system_off

print_rec:
	stp	x29, x30, [sp, #-16]!
	adr	x6, rec
	ldr	x5, [x6, #0]
	putkv	intid, x5
	ldr	x5, [x6, #8]
	putkv	ctl, x5
	ldr	x5, [x6, #16]
	putkv	count, x5
	ldr	x5, [x6, #24]
	putkv	cval, x5
	ldr	x5, [x6, #32]
	putkv	elr, x5
	ldr	x5, [x6, #40]
	putkv	spsr, x5
	ldr	x5, [x6, #48]
	putkv	next_iar, x5
	bl	put_nl
	ldp	x29, x30, [sp], #16
	ret

/* IRQ: acknowledge, record the timer's state, stop the timer (its line drops), EOI, look again. */
irq:
	movz	x9, #(GICC_BASE >> 16), lsl #16
	adr	x10, rec
	ldr	w11, [x9, #GICC_IAR]
	and	x12, x11, #0x3ff
	str	x12, [x10, #0]
	cmp	x12, #INTID_VIRT
	b.ne	1f
	mrs	x13, cntv_ctl_el0
	mrs	x14, cntvct_el0
	mrs	x15, cntv_cval_el0
	msr	cntv_ctl_el0, xzr
	b	2f
1:	mrs	x13, cntp_ctl_el0
	mrs	x14, cntpct_el0
	mrs	x15, cntp_cval_el0
	msr	cntp_ctl_el0, xzr
2:	stp	x13, x14, [x10, #8]
	str	x15, [x10, #24]
	mrs	x13, elr_el1
	mrs	x14, spsr_el1
	stp	x13, x14, [x10, #32]
	str	w11, [x9, #GICC_EOIR]
	ldr	w11, [x9, #GICC_IAR]
	str	x11, [x10, #48]
	and	x12, x11, #0x3ff
	cmp	x12, #SPURIOUS
	b.eq	3f
	str	w11, [x9, #GICC_EOIR]
3:	adr	x10, irqs
	ldr	x11, [x10]
	add	x11, x11, #1
	str	x11, [x10]
	eret

unexpected:
	puts	"unexpected exception"
	putkv	vec, x9
	bl	put_nl
	b	system_off

	.balign	0x800
vectors:
	.irp	off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
	.balign	0x80
	mov	x9, #\off
	.if	\off == 0x280
	b	irq
	.else
	b	unexpected
	.endif
	.endr
