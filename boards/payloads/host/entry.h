/* What the assembly files provide to C. */
#ifndef ENTRY_H
#define ENTRY_H

#include "arch.h"

extern char __hyp_stub_vectors[], __hyp_alt_vectors[], el1_vectors[];
extern char secondary_psci_entry[], secondary_spin_entry[];
extern volatile u64 pen_release, pen_cpu;	/* the spin-table holding pen */
extern u64 soft_restart_seen[2];		/* CurrentEL, x0 at the soft-restart target */

u64 smccc_smc(u64 fn, u64 a1, u64 a2, u64 a3);
u64 smccc_hvc(u64 fn, u64 a1, u64 a2, u64 a3);
void hyp_soft_restart(u64 value);
void __attribute__((noreturn)) halt(void);

/* Called from assembly. */
void kernel_main(u64 dtb, u64 entry_current_el, u32 boot_mode);
void secondary_main(u64 cpu, u64 entry_current_el, u32 boot_mode, bool by_psci);
void irq_handler(void);
void bad_exception(u64 vector, u64 esr, u64 elr, u64 far);

#endif
