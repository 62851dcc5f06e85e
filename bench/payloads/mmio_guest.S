// A guest making 100 000 trapped MMIO reads (its PL011's flag register at 0x09000018), then SYSTEM_OFF.
.global _start
_start:
    ldr x1, =100000
    mov x2, #0
    ldr x3, =0x09000000
1:  ldr w4, [x3, #0x18]
    add x2, x2, #1
    cmp x2, x1
    b.ne 1b
    ldr x0, =0x84000008
    hvc #0
    b .
