"""Exception syndromes and vectors (Arm ARM D1.10, D17.2.37 ESR_ELx)."""

from __future__ import annotations

from enum import IntEnum


class EC(IntEnum):
    """Exception classes (ESR_ELx.EC)."""

    UNKNOWN = 0x00
    WFX = 0x01
    SVC64 = 0x15
    HVC64 = 0x16
    SMC64 = 0x17
    SYSREG = 0x18
    IABT_LOWER = 0x20
    IABT_SAME = 0x21
    PC_ALIGN = 0x22
    DABT_LOWER = 0x24
    DABT_SAME = 0x25
    SP_ALIGN = 0x26
    SERROR = 0x2F
    BRK64 = 0x3C


IL = 1 << 25  # 32-bit instruction


def esr(ec: int, iss: int = 0, il: bool = True) -> int:
    return (ec << 26) | (IL if il else 0) | (iss & 0x1FFFFFF)


def esr_class(value: int) -> int:
    return (value >> 26) & 0x3F


class Vector(IntEnum):
    """Offsets from VBAR_ELx."""

    SYNC = 0x000
    IRQ = 0x080
    FIQ = 0x100
    SERROR = 0x180


CURRENT_SP0 = 0x000
CURRENT_SPX = 0x200
LOWER_A64 = 0x400
LOWER_A32 = 0x600

# unicorn's interrupt numbers (QEMU's EXCP_*) seen by UC_HOOK_INTR.
EXCP_UDEF = 1
EXCP_SWI = 2
EXCP_PREFETCH_ABORT = 3
EXCP_DATA_ABORT = 4
EXCP_IRQ = 5
EXCP_FIQ = 6
EXCP_BKPT = 7
EXCP_HVC = 11
EXCP_HYP_TRAP = 12
EXCP_SMC = 13
EXCP_VIRQ = 14
EXCP_VFIQ = 15
EXCP_SEMIHOST = 16
EXCP_UNALIGNED = 22
