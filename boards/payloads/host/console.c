/*
 * PL011 output (Arm DDI 0183): wait while the transmit FIFO is full (FR.TXFF),
 * write the data register.  print() knows %s %c %d %u %x %lx %lu %ld and %%:
 * enough for this kernel, small enough to read.
 */
#include <stdarg.h>

#include "console.h"
#include "lib.h"

#define UART_DR		0x00
#define UART_FR		0x18
#define UART_FR_TXFF	(1 << 5)

static u64 uart;

void console_init(u64 pl011_base)
{
	uart = pl011_base;
}

static void put_char(char c)
{
	if (!uart)
		return;
	while (readl(uart + UART_FR) & UART_FR_TXFF)
		;
	writel((u8)c, uart + UART_DR);
}

static void put_string(const char *s)
{
	while (*s)
		put_char(*s++);
}

static void put_number(u64 n, unsigned int base)
{
	char digits[24];
	int i = 0;

	do {
		digits[i++] = "0123456789abcdef"[n % base];
		n /= base;
	} while (n);
	while (i)
		put_char(digits[--i]);
}

void print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		bool is_long = false;

		if (*fmt != '%') {
			put_char(*fmt);
			continue;
		}
		if (*++fmt == 'l') {
			is_long = true;
			fmt++;
		}
		if (!*fmt)
			break;
		switch (*fmt) {
		case 's':
			put_string(va_arg(ap, const char *));
			break;
		case 'c':
			put_char((char)va_arg(ap, int));
			break;
		case 'd': {
			s64 v = is_long ? va_arg(ap, s64) : va_arg(ap, int);

			if (v < 0) {
				put_char('-');
				v = -v;
			}
			put_number((u64)v, 10);
			break;
		}
		case 'u':
			put_number(is_long ? va_arg(ap, u64) : va_arg(ap, u32), 10);
			break;
		case 'x':
			put_number(is_long ? va_arg(ap, u64) : va_arg(ap, u32), 16);
			break;
		case '%':
			put_char('%');
			break;
		default:	/* not a format this kernel uses: show it as written */
			put_char('%');
			put_char(*fmt);
			break;
		}
	}
	va_end(ap);
}
