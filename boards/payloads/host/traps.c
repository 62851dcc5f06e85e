/* What the EL1 vectors call: interrupts, and exceptions that should never happen. */
#include "console.h"
#include "entry.h"
#include "gic.h"
#include "timer.h"

#define SPURIOUS_FIRST	1020	/* INTIDs 1020-1023 are special: nothing to EOI */

void irq_handler(void)
{
	u32 iar = gic_acknowledge();
	u32 intid = gic_intid(iar);

	if (intid >= SPURIOUS_FIRST)
		return;
	if (!timer_interrupt(intid))
		print("irq: unexpected intid %u\n", intid);
	gic_end_of_interrupt(iar);
}

void bad_exception(u64 vector, u64 esr, u64 elr, u64 far)
{
	print("panic: exception at vector 0x%lx: ESR 0x%lx, ELR 0x%lx, FAR 0x%lx\n", vector * 0x80, esr, elr, far);
	halt();
}
