"""PSTATE/SPSR fields and exception levels (Arm ARM D1.4)."""

from __future__ import annotations

N, Z, C, V = 1 << 31, 1 << 30, 1 << 29, 1 << 28
SS, IL = 1 << 21, 1 << 20
D, A, I, F = 1 << 9, 1 << 8, 1 << 7, 1 << 6  # noqa: E741 - the architecture's names
DAIF = D | A | I | F
M_MASK = 0x1F

EL0T, EL1T, EL1H, EL2T, EL2H, EL3H = 0b0000, 0b0100, 0b0101, 0b1000, 0b1001, 0b1101


def el_of(mode: int) -> int:
    """Exception level of an AArch64 mode (M[3:2])."""
    return (mode >> 2) & 3


def uses_sp_el0(mode: int) -> bool:
    """EL0, or an ELxt mode (SPSel = 0)."""
    return (mode & 1) == 0


def current_el_value(el: int) -> int:
    """What ``mrs CurrentEL`` returns."""
    return el << 2
