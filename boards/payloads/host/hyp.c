/*
 * Every CPU records the mode it was entered in, as Linux does: an EL2 entry
 * is stored in the second word, an EL1 entry in the first, so hyp mode is
 * available only if both hold BOOT_CPU_MODE_EL2 (no CPU came in at EL1).
 */
#include "asm.h"
#include "console.h"
#include "entry.h"
#include "hyp.h"

static volatile u32 boot_cpu_mode[2] = { BOOT_CPU_MODE_EL2, BOOT_CPU_MODE_EL1 };

void set_boot_mode(u32 mode)
{
	boot_cpu_mode[mode == BOOT_CPU_MODE_EL2] = mode;
}

bool is_hyp_mode_available(void)
{
	return boot_cpu_mode[0] == BOOT_CPU_MODE_EL2 && boot_cpu_mode[1] == BOOT_CPU_MODE_EL2;
}

bool is_hyp_mode_mismatched(void)
{
	return boot_cpu_mode[0] != boot_cpu_mode[1];
}

static u64 stub_call(u64 fn, u64 arg)
{
	return smccc_hvc(fn, arg, 0, 0);
}

/* Call each function of the stub from EL1 and print what it answered. */
void hyp_stub_demo(void)
{
	u64 stub = (u64)__hyp_stub_vectors, alt = (u64)__hyp_alt_vectors;
	u64 vh = read_sysreg(id_aa64mmfr1_el1) >> 8 & 0xf;

	print("hyp stub: vectors at 0x%lx, alternative vectors at 0x%lx\n", stub, alt);
	print("hyp stub: HVC_GET_VECTORS -> 0x%lx\n", stub_call(HVC_GET_VECTORS, 0));
	print("hyp stub: HVC_SET_VECTORS(0x%lx) -> 0x%lx\n", alt, stub_call(HVC_SET_VECTORS, alt));
	print("hyp stub: HVC_GET_VECTORS -> 0x%lx\n", stub_call(HVC_GET_VECTORS, 0));
	print("hyp stub: HVC_RESET_VECTORS -> 0x%lx\n", stub_call(HVC_RESET_VECTORS, 0));
	print("hyp stub: HVC_GET_VECTORS -> 0x%lx\n", stub_call(HVC_GET_VECTORS, 0));
	soft_restart_seen[0] = soft_restart_seen[1] = 0;
	hyp_soft_restart(0x5afe);
	print("hyp stub: HVC_SOFT_RESTART(0x5afe) -> entry ran at EL%lu with x0 = 0x%lx, back at EL%u\n",
	      soft_restart_seen[0] >> 2, soft_restart_seen[1], current_el());
	print("hyp stub: HVC_FINALISE_EL2 -> 0x%lx (ID_AA64MMFR1_EL1.VH = %lu: staying at EL1, no VHE)\n",
	      stub_call(HVC_FINALISE_EL2, 0), vh);
	print("hyp stub: call 42 -> 0x%lx (HVC_STUB_ERR)\n", stub_call(42, 0));
}
