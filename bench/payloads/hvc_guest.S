// A guest making 100 000 hypercalls (PSCI_VERSION over hvc #0), then SYSTEM_OFF.
.global _start
_start:
    ldr x1, =100000
    mov x2, #0
1:  ldr x0, =0x84000000
    hvc #0
    add x2, x2, #1
    cmp x2, x1
    b.ne 1b
    ldr x0, =0x84000008
    hvc #0
    b .
