/*
 * u64 smccc_smc(u64 fn, u64 a1, u64 a2, u64 a3) and smccc_hvc(...): one call
 * through a conduit (SMC Calling Convention, immediate 0), result in x0.  The
 * callee may use x0-x17, which a C call allows anyway.
 */
	.text
	.globl	smccc_smc, smccc_hvc
smccc_smc:
	smc	#0
	ret

smccc_hvc:
	hvc	#0
	ret
