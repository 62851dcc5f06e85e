"""The xen personality: Xen's guest board and hypercall interface (hvc #0xEA1, number in x16)."""
