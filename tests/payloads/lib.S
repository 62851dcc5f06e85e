/* Console output and power-off for the test payloads: no stack use beyond lr. */
#include "lib.h"

	.text
	.globl	put_char, put_str, put_hex, put_nl, system_off, psci_smc

/* w0: the character. Clobbers x1. */
put_char:
	movz	x1, #(UART_BASE >> 16), lsl #16
	strb	w0, [x1]
	ret

/* x0: a NUL-terminated string. Clobbers x0-x3. */
put_str:
	movz	x1, #(UART_BASE >> 16), lsl #16
1:	ldrb	w2, [x0], #1
	cbz	w2, 2f
	strb	w2, [x1]
	b	1b
2:	ret

/* x0: a value, printed as 0x and 16 hex digits. Clobbers x0-x3. */
put_hex:
	movz	x1, #(UART_BASE >> 16), lsl #16
	mov	w2, #'0'
	strb	w2, [x1]
	mov	w2, #'x'
	strb	w2, [x1]
	mov	x3, #60
1:	lsr	x2, x0, x3
	and	w2, w2, #0xf
	add	w2, w2, #'0'
	cmp	w2, #'9'
	b.ls	2f
	add	w2, w2, #('a' - '9' - 1)
2:	strb	w2, [x1]
	subs	x3, x3, #4
	b.ge	1b
	ret

put_nl:
	movz	x1, #(UART_BASE >> 16), lsl #16
	mov	w2, #'\n'
	strb	w2, [x1]
	ret

/* PSCI call over SMC (the conduit of armboot's virt boards): x0-x3 in, x0 out. */
psci_smc:
	smc	#0
	ret

system_off:
	movq	x0, PSCI_SYSTEM_OFF
	smc	#0
1:	wfi
	b	1b
