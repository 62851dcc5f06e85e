// HVC round trips: EL2 installs vectors whose lower-EL sync handler ERETs, drops to EL1, loops on hvc.
.global _start
_start:
    adr x0, vectors
    msr vbar_el2, x0
    mov x0, #(1 << 31)
    msr hcr_el2, x0
    adr x0, el1
    msr elr_el2, x0
    mov x0, #0x3c5
    msr spsr_el2, x0
    eret
el1:
    ldr x1, =100000
    mov x2, #0
1:  hvc #0
    add x2, x2, #1
    cmp x2, x1
    b.ne 1b
    ldr x0, =0x84000008
    smc #0
    b .
.balign 2048
vectors:
.org vectors + 0x400
    eret
.org vectors + 0x800
