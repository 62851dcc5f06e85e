/* Shared by the architectural test payloads: constants and small macros.
 * The payloads run on armboot's QEMU-virt-layout boards (boards/virt.dts and
 * virt-smp4.dts here), so the console and the GIC are at fixed addresses. */
#ifndef LIB_H
#define LIB_H

#define UART_BASE	0x09000000
#define GICD_BASE	0x08000000
#define GICC_BASE	0x08010000

#define PSCI_VERSION		0x84000000
#define PSCI_CPU_OFF		0x84000002
#define PSCI_CPU_ON		0xc4000003
#define PSCI_AFFINITY_INFO	0xc4000004
#define PSCI_SYSTEM_OFF		0x84000008

/* PSTATE for an exception return to EL1h with D, A, I, F masked. */
#define SPSR_EL1H_MASKED	0x3c5
#define HCR_RW			(1 << 31)

/* Load a 64-bit constant without a literal pool. */
.macro movq reg, val
	movz	\reg, #((\val) >> 48) & 0xffff, lsl #48
	movk	\reg, #((\val) >> 32) & 0xffff, lsl #32
	movk	\reg, #((\val) >> 16) & 0xffff, lsl #16
	movk	\reg, #(\val) & 0xffff
.endm

/* Print a string literal (clobbers x0-x3, lr). */
.macro puts str
	adr	x0, 9998f
	bl	put_str
	b	9999f
9998:	.asciz	"\str"
	.balign	4
9999:
.endm

/* Print " name=0x<16 hex digits>" for the value in reg (clobbers x0-x4, lr). */
.macro putkv name, reg
	mov	x4, \reg
	puts	" \name="
	mov	x0, x4
	bl	put_hex
.endm

#endif
