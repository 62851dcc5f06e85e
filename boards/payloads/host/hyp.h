/* Boot modes (Linux's __boot_cpu_mode) and the hyp stub, seen from EL1. */
#ifndef HYP_H
#define HYP_H

#include "arch.h"

void set_boot_mode(u32 mode);
bool is_hyp_mode_available(void);
bool is_hyp_mode_mismatched(void);
void hyp_stub_demo(void);

#endif
