/*
 * What the guest payloads (guest/, probe/) share: the entry code's symbols
 * (start.S), and their setup from the DTB in x0 (common.c).  The device tree
 * reader, print(), PSCI and the SMCCC calls are the host payload's
 * (../host/fdt.c, console.c, lib.c, psci.c, smccc.S).
 */
#ifndef GUEST_H
#define GUEST_H

#include "console.h"
#include "fdt.h"
#include "psci.h"

#define NR_CPUS		8	/* as start.S */

/* ../host/smccc.S: one SMCCC call, result in x0 */
u64 smccc_hvc(u64 fn, u64 a1, u64 a2, u64 a3);

/* start.S */
extern char secondary_entry[];
void __attribute__((noreturn)) halt(void);

/* Called from start.S */
void guest_main(u64 dtb, u64 entry_current_el);
void secondary_main(u64 cpu);
u64 el1_sync(u64 esr, u64 elr, u64 far, u64 vector);
void el1_irq(void);

/* common.c */
extern struct fdt dt;
extern char guest_name[32];
void guest_init(u64 dtb, u64 entry_current_el, const char *default_name, const char *what);
const char *bootarg(const char *key, size_t *len);
u64 parse_number(const char **s, const char *end);
void __attribute__((noreturn)) power_off(void);
void __attribute__((noreturn)) panic(u64 esr, u64 elr, u64 far, u64 vector);

/* One console line, prefixed with this guest's name. */
#define say(fmt, ...) print("%s: " fmt "\n", guest_name, ##__VA_ARGS__)

#define ESR_EC(esr)	((u32)((esr) >> 26) & 0x3f)
#define ESR_FSC(esr)	((u32)(esr) & 0x3f)

#endif
