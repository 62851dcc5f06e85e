/*
 * The isolation probe: what a guest must not be able to do, tried at EL1.
 * It reads each "foreign" physical address (32 bits) and reports the data
 * abort it should get (EC, DFSC, FAR) or the value it should not have read;
 * it tries EL2's registers (UNDEF from EL1) and an HVC with a function id
 * nobody implements (a hypervisor answers -1, NOT_SUPPORTED; with EL2
 * disabled HVC is UNDEF).  Each exception is taken by its own EL1 vectors,
 * which step over the faulting instruction, then a summary and SYSTEM_OFF.
 *
 * bootargs: name=NAME (default "probe"), foreign=ADDR[,ADDR...] (0x-hex or decimal).
 */
#include "guest.h"

#define EC_UNKNOWN	0x00
#define EC_DABT_CUR	0x25
#define VECTOR_SYNC	0x200	/* current EL with SP_ELx: synchronous */
#define UNKNOWN_FN	0x83000bad	/* SMCCC fast call, OEM service, function 0xbad */
#define STR(x)		#x
#define HVC_CALL(fn)	"hvc #0 function " STR(fn)

static volatile struct {
	bool armed, taken;
	u64 esr, far;
} trap;

u64 el1_sync(u64 esr, u64 elr, u64 far, u64 vector)
{
	if (!trap.armed || vector != VECTOR_SYNC)
		panic(esr, elr, far, vector);
	trap.armed = false;
	trap.taken = true;
	trap.esr = esr;
	trap.far = far;
	return elr + 4;
}

void el1_irq(void)
{
	panic(0, 0, 0, 0x280);
}

void secondary_main(u64 cpu)	/* the probe starts no other CPU */
{
	(void)cpu;
	halt();
}

static void arm_trap(void)
{
	trap.taken = false;
	trap.armed = true;
}

/* Whether the foreign read aborted. */
static bool read_foreign(u64 addr)
{
	u32 value = 0;

	arm_trap();
	asm volatile("ldr %w0, [%1]" : "+r"(value) : "r"(addr) : "memory");
	trap.armed = false;
	if (!trap.taken) {
		say("read 0x%lx: value 0x%x", addr, value);
		return false;
	}
	say("read 0x%lx: %s, EC 0x%x, DFSC 0x%x, FAR 0x%lx", addr,
	    ESR_EC(trap.esr) == EC_DABT_CUR ? "data abort" : "exception", ESR_EC(trap.esr), ESR_FSC(trap.esr),
	    trap.far);
	return ESR_EC(trap.esr) == EC_DABT_CUR;
}

/* Whether the instruction just tried took UNDEF. */
static bool undefined(const char *what, u64 x0)
{
	if (!trap.taken)
		say("%s: no exception, x0 0x%lx", what, x0);
	else if (ESR_EC(trap.esr) == EC_UNKNOWN)
		say("%s: UNDEF (EC 0x0)", what);
	else
		say("%s: exception, EC 0x%x, ESR 0x%lx", what, ESR_EC(trap.esr), trap.esr);
	return trap.taken && ESR_EC(trap.esr) == EC_UNKNOWN;
}

#define EL2_ACCESS(insn) ({						\
	register u64 x0 asm("x0") = 0;					\
	arm_trap();							\
	asm volatile(insn : "+r"(x0) : : "memory");			\
	trap.armed = false;						\
	undefined(insn, x0);						\
})

void guest_main(u64 dtb, u64 entry_current_el)
{
	size_t len = 0;
	const char *list, *end, *hvc = "unexpected";
	u32 reads = 0, aborted = 0, undef = 0;
	s64 ret;

	guest_init(dtb, entry_current_el, "probe", "isolation probe");
	list = bootarg("foreign", &len);
	end = list + len;
	while (list && list < end) {
		const char *start = list;
		u64 addr = parse_number(&list, end);

		if (list == start || (list < end && *list++ != ',')) {
			say("foreign=: not a list of addresses at \"%s\"", start);
			break;
		}
		reads++;
		aborted += read_foreign(addr);
	}
	undef += EL2_ACCESS("mrs x0, hcr_el2");
	undef += EL2_ACCESS("msr vbar_el2, x0");
	undef += EL2_ACCESS("mrs x0, vttbr_el2");

	arm_trap();
	ret = (s64)smccc_hvc(UNKNOWN_FN, 0, 0, 0);
	trap.armed = false;
	if (trap.taken) {
		hvc = undefined(HVC_CALL(UNKNOWN_FN), 0) ? "UNDEF" : "exception";
	} else {
		say(HVC_CALL(UNKNOWN_FN) ": returned %ld", ret);
		if (ret == -1)
			hvc = "NOT_SUPPORTED";
	}
	say("%u/%u foreign reads aborted, %u/3 EL2 accesses UNDEF, hvc %s", aborted, reads, undef, hvc);
	power_off();
}
