// A register loop for the speed benchmark: N iterations, then PSCI SYSTEM_OFF.
.global _start
_start:
    ldr x1, =200000000
    mov x0, #0
1:  add x0, x0, #1
    cmp x0, x1
    b.ne 1b
    ldr x0, =0x84000008
    smc #0
    b .
