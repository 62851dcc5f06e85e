/*
 * The console's receive side: read the PL011 (virt's, at 0x09000000) until a
 * newline, echoing each character upper-cased, then power off.  Lines:
 *
 *   echo ready
 *   <the typed line, upper-cased>
 */
#include "lib.h"

#define UART_DR		0x00
#define UART_FR		0x18
#define FR_RXFE		(1 << 4)

	.section .text.entry, "ax"
	.globl	_start
_start:
	adr	x0, stack_top
	mov	sp, x0
	puts	"echo ready\n"
	movq	x19, UART_BASE
1:	ldr	w1, [x19, #UART_FR]
	tbnz	w1, #4, 1b
	ldr	w0, [x19, #UART_DR]
	and	w0, w0, #0xff
	cmp	w0, #'a'
	b.lt	2f
	cmp	w0, #'z'
	b.gt	2f
	sub	w0, w0, #('a' - 'A')
2:	mov	w20, w0
	bl	put_char
	cmp	w20, #'\n'
	b.ne	1b
	b	system_off

	.bss
	.balign	16
	.space	0x1000
stack_top:
