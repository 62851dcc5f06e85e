/* The console: a PL011 UART, and a printf for the handful of formats this kernel prints. */
#ifndef CONSOLE_H
#define CONSOLE_H

#include "arch.h"

void console_init(u64 pl011_base);
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
