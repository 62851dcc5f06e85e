// MMU fault payload (case numbers in hex): builds its own stage-1 tables (granule 1 << G, 39-bit VAs, TTBR0_EL1),
// turns the MMU on, takes translation, access flag, permission and alignment faults and
// instruction aborts at EL1 and EL0, and prints ESR_EL1/FAR_EL1/ELR_EL1 from its EL1 vectors:
//     case NN esr XXXXXXXXXXXXXXXX far XXXXXXXXXXXXXXXX elr XXXXXXXXXXXXXXXX
// The handler fixes demand-paging and access-flag faults and re-runs the access (printing
// "value ..."), returns to LR after instruction aborts, and skips other faulting instructions.
// Entered at EL1 or EL2 (then drops to EL1). Ends with PSCI SYSTEM_OFF over SMC.

.equ GSIZE, 1 << G
.equ STRIDE, G - 3
.equ START, 4 - ((39 - G + STRIDE - 1) / STRIDE)
.equ FIRST_BITS, 39 - (G + STRIDE * (3 - START))
.equ BLOCK2, 1 << (G + STRIDE)
.if G == 12
.equ TG0, 0
.elseif G == 14
.equ TG0, 2
.else
.equ TG0, 1
.endif
// T0SZ 25, IRGN0/ORGN0 write-back, SH0 inner, TG0, EPD1, IPS 40 bits
.equ TCR, 25 | (1 << 8) | (1 << 10) | (3 << 12) | (TG0 << 14) | (1 << 23) | (2 << 32)
.equ MAIR, 0xff00                       // Attr0 Device-nGnRnE, Attr1 Normal write-back

.equ BLOCK, 1
.equ PAGE, 3
.equ AF, 1 << 10
.equ MEM, AF | (3 << 8) | (1 << 2)
.equ DEV, AF | (0 << 2)
.equ AP_EL0, 1 << 6
.equ AP_RO, 1 << 7
.equ PXN, 1 << 53
.equ UXN, 1 << 54
.equ OA_MASK, ((1 << 48) - 1) & ~(GSIZE - 1)

.equ RAM, 0x40000000
.equ UART, 0x09000000
.equ POOL, 0x40400000
.equ STACK_TOP, 0x40600000
.equ DATA, 0x40800000
.equ RAM_MAPPED, 0x40a00000
.equ VA_USER, 0x1000000000
.equ VA_TEST, 0x2000000000
.equ VA_NOTOP, 0x3000000000
.equ VA_ROBLOCK, 0x4000000000

    .section .text.boot, "ax"
    .global _start
_start:
    mrs x0, CurrentEL
    cmp x0, #8
    b.ne el1
    mov x0, #(1 << 31)                  // HCR_EL2.RW
    msr hcr_el2, x0
    mov x0, #0x3c5
    msr spsr_el2, x0
    adr x0, el1
    msr elr_el2, x0
    eret

el1:
    ldr x0, =STACK_TOP
    mov sp, x0
    ldr x0, =vectors
    msr vbar_el1, x0
    ldr x0, =pool_next
    ldr x1, =POOL + GSIZE
    str x1, [x0]
    ldr x0, =DATA + GSIZE + 8           // what demand paging and the access flag fix will show
    ldr x1, =0x1111111111111111
    str x1, [x0]
    ldr x0, =DATA + 2 * GSIZE + 16
    ldr x1, =0x2222222222222222
    str x1, [x0]

    ldr x19, =RAM & ~(BLOCK2 - 1)       // RAM up to DATA's pages: identity, EL1 only
1:  mov x0, x19
    ldr x1, =MEM | BLOCK
    orr x1, x1, x19
    mov x2, #2
    bl map
    ldr x0, =BLOCK2
    add x19, x19, x0
    ldr x0, =RAM_MAPPED
    cmp x19, x0
    b.lo 1b
    ldr x0, =UART & ~(BLOCK2 - 1)       // the UART's block: Device, never executable
    ldr x1, =(UART & ~(BLOCK2 - 1)) | DEV | BLOCK | PXN | UXN
    mov x2, #2
    bl map
    ldr x0, =VA_TEST                    // page 0: read/write
    ldr x1, =DATA | MEM | PAGE
    mov x2, #3
    bl map
    ldr x0, =VA_TEST + 2 * GSIZE        // page 2: access flag clear
    ldr x1, =(DATA + 2 * GSIZE) | (MEM & ~AF) | PAGE
    mov x2, #3
    bl map
    ldr x0, =VA_TEST + 3 * GSIZE        // page 3: read-only
    ldr x1, =(DATA + 3 * GSIZE) | MEM | AP_RO | PAGE
    mov x2, #3
    bl map
    ldr x0, =VA_ROBLOCK                 // a read-only level 2 block
    ldr x1, =(RAM & ~(BLOCK2 - 1)) | MEM | AP_RO | BLOCK
    mov x2, #2
    bl map
    ldr x0, =VA_USER                    // EL0 code: EL0 read-only, never executable at EL1
    ldr x1, =el0_start
    ldr x3, =MEM | AP_EL0 | AP_RO | PXN | PAGE
    orr x1, x1, x3
    mov x2, #3
    bl map
    ldr x0, =VA_USER + GSIZE            // EL0 data: read-only at EL0 and EL1
    ldr x1, =(DATA + 3 * GSIZE) | MEM | AP_EL0 | AP_RO | PXN | UXN | PAGE
    mov x2, #3
    bl map

    ldr x0, =MAIR
    msr mair_el1, x0
    ldr x0, =TCR
    msr tcr_el1, x0
    ldr x0, =POOL
    msr ttbr0_el1, x0
    isb
    mrs x0, sctlr_el1
    orr x0, x0, #1                      // M
    orr x0, x0, #(1 << 2)               // C
    orr x0, x0, #(1 << 12)              // I
    msr sctlr_el1, x0
    isb
    adr x12, msg_on
    bl puts

    mov x28, #1                         // translation fault at the start level
    ldr x2, =VA_NOTOP
f1: ldr x3, [x2]
    mov x28, #2                         // translation fault, level 2
    ldr x2, =VA_TEST + BLOCK2
f2: ldr x3, [x2]
    mov x28, #3                         // translation fault, level 3: demand paging
    ldr x2, =VA_TEST + GSIZE + 8
f3: ldr x3, [x2]
    bl putvalue
    mov x28, #4                         // permission fault: write to a read-only page
    ldr x2, =VA_TEST + 3 * GSIZE + 24
f4: str x3, [x2]
    mov x28, #5                         // access flag fault, fixed and re-run
    ldr x2, =VA_TEST + 2 * GSIZE + 16
f5: ldr x3, [x2]
    bl putvalue
    mov x28, #6                         // alignment fault: exclusive load, misaligned
    ldr x2, =VA_TEST + 1
f6: ldxr x3, [x2]
    mov x28, #7                         // permission fault, level 2 block
    ldr x2, =VA_ROBLOCK + 0x10
f7: str w3, [x2]
    mov x28, #8                         // instruction abort: translation fault
    ldr x2, =VA_TEST + 4 * GSIZE
f8: blr x2
    mov x28, #9                         // instruction abort: PXN
    ldr x2, =VA_USER
f9: blr x2
    mov x28, #0xa                       // a pair whose second half is on an unmapped page
    ldr x2, =VA_TEST + 4 * GSIZE - 8
f10: ldp x3, x4, [x2]

    ldr x0, =VA_USER                    // to EL0
    msr elr_el1, x0
    msr spsr_el1, xzr
    eret
el0_done:                               // back from EL0's SVC
    mov x28, #0xf                       // LDTR at EL1: checked with EL0's permissions
    ldr x2, =RAM + 0x100
f15: ldtr x3, [x2]
    adr x12, msg_done
    bl puts
    ldr x0, =0x84000008                 // PSCI SYSTEM_OFF
    smc #0
    b .

// map: x0 = VA, x1 = descriptor, x2 = level; tables from pool_next. Clobbers x0-x9.
map:
    ldr x3, =POOL
    mov x4, #START
1:  mov x5, #3                          // shift = G + STRIDE * (3 - level)
    sub x5, x5, x4
    mov x6, #STRIDE
    mul x5, x5, x6
    add x5, x5, #G
    lsr x6, x0, x5
    mov x7, #((1 << FIRST_BITS) - 1)
    mov x8, #((1 << STRIDE) - 1)
    cmp x4, #START
    csel x7, x7, x8, eq
    and x6, x6, x7
    add x6, x3, x6, lsl #3
    cmp x4, x2
    b.eq 3f
    ldr x7, [x6]
    tbnz x7, #0, 2f
    ldr x8, =pool_next                  // a new, zeroed table
    ldr x7, [x8]
    add x9, x7, #GSIZE
    str x9, [x8]
    orr x7, x7, #3
    str x7, [x6]
2:  ldr x3, =OA_MASK
    and x3, x7, x3
    add x4, x4, #1
    b 1b
3:  str x1, [x6]
    dsb ishst
    ret

// Output: x10-x17 only.
putc:                                   // w10
    ldr x11, =UART
    str w10, [x11]
    ret
puts:                                   // x12: NUL-terminated
    mov x17, x30
1:  ldrb w10, [x12], #1
    cbz w10, 2f
    bl putc
    b 1b
2:  mov x30, x17
    ret
puthex:                                 // x13, x14 = digits
    mov x16, x30
    sub x15, x14, #1
    lsl x15, x15, #2
1:  lsr x10, x13, x15
    and x10, x10, #0xf
    cmp x10, #10
    add x11, x10, #'0'
    add x10, x10, #('a' - 10)
    csel x10, x11, x10, lo
    bl putc
    subs x15, x15, #4
    b.pl 1b
    mov x30, x16
    ret
putvalue:                               // "value <x3>"
    mov x18, x30
    adr x12, msg_value
    bl puts
    mov x13, x3
    mov x14, #16
    bl puthex
    mov x10, #'\n'
    bl putc
    mov x30, x18
    ret

    .balign 2048
vectors:                                // synchronous from EL1 (SP_EL1) and from EL0; nothing else
    .irp off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
    .org vectors + \off
    .if \off == 0x200 || \off == 0x400
    b sync
    .else
    b unexpected
    .endif
    .endr
    .org vectors + 0x800

unexpected:
    adr x12, msg_unexpected
    bl puts
    ldr x0, =0x84000008
    smc #0

sync:
    mov x27, x30                        // the interrupted LR
    stp x0, x1, [sp, #-80]!
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    mrs x19, esr_el1
    mrs x20, far_el1
    mrs x21, elr_el1
    ubfx x22, x19, #26, #6
    cmp x22, #0x15                      // SVC from EL0: back to EL1's code
    b.eq from_el0
    adr x12, msg_case
    bl puts
    mov x13, x28
    mov x14, #2
    bl puthex
    adr x12, msg_esr
    bl puts
    mov x13, x19
    mov x14, #16
    bl puthex
    adr x12, msg_far
    bl puts
    mov x13, x20
    mov x14, #16
    bl puthex
    adr x12, msg_elr
    bl puts
    mov x13, x21
    mov x14, #16
    bl puthex
    mov x10, #'\n'
    bl putc
    cmp x28, #3
    b.eq demand
    cmp x28, #5
    b.eq set_af
    cmp x22, #0x21
    b.eq to_lr
    cmp x22, #0x20
    b.eq to_lr
    add x21, x21, #4                    // skip the faulting instruction
    msr elr_el1, x21
    b return
demand:
    ldr x0, =VA_TEST + GSIZE
    ldr x1, =(DATA + GSIZE) | MEM | PAGE
    mov x2, #3
    bl map
    b return
set_af:
    ldr x0, =VA_TEST + 2 * GSIZE
    ldr x1, =(DATA + 2 * GSIZE) | MEM | PAGE
    mov x2, #3
    bl map
    b return
to_lr:
    msr elr_el1, x27
return:
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x0, x1, [sp], #80
    mov x30, x27
    eret
from_el0:
    add sp, sp, #80
    ldr x0, =el0_done
    msr elr_el1, x0
    mov x0, #0x3c5
    msr spsr_el1, x0
    eret

    .ltorg
msg_on:         .asciz "mmu on\n"
msg_done:       .asciz "done\n"
msg_case:       .asciz "case "
msg_esr:        .asciz " esr "
msg_far:        .asciz " far "
msg_elr:        .asciz " elr "
msg_value:      .asciz "value "
msg_unexpected: .asciz "unexpected exception\n"

    .data
    .balign 8
pool_next: .quad 0

// EL0 code, mapped at VA_USER (its literals live on the same page).
    .section .text.el0, "ax"
el0:
    mov x28, #0xb                       // EL0 load from EL1-only memory: permission, level 2
    ldr x2, =RAM + 0x40
u11: ldr x3, [x2]
    mov x28, #0xc                       // EL0 translation fault at the start level
    ldr x2, =VA_NOTOP + 8
u12: ldr x3, [x2]
    mov x28, #0xd                       // EL0 store to a read-only page
    ldr x2, =VA_USER + GSIZE + 32
u13: str x3, [x2]
    mov x28, #0xe                       // EL0 instruction abort
    ldr x2, =VA_TEST + 4 * GSIZE
u14: blr x2
    ldr x2, =VA_USER + GSIZE            // an access that works
    ldr x3, [x2]
    svc #0
    b .
    .ltorg
