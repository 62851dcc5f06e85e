"""System register encodings, and decoding of the MRS/MSR instructions that access them.

An encoding is (op0, op1, CRn, CRm, op2), as in the Arm ARM; unicorn's CP_REG
tuples order the same fields as (CRn, CRm, op0, op1, op2).
"""

from __future__ import annotations

from dataclasses import dataclass

Encoding = tuple[int, int, int, int, int]  # op0, op1, CRn, CRm, op2

NAMES: dict[Encoding, str] = {
    # Identification (EL1, read-only)
    (3, 0, 0, 0, 0): "MIDR_EL1", (3, 0, 0, 0, 5): "MPIDR_EL1", (3, 0, 0, 0, 6): "REVIDR_EL1",
    (3, 0, 0, 4, 0): "ID_AA64PFR0_EL1", (3, 0, 0, 4, 1): "ID_AA64PFR1_EL1",
    (3, 0, 0, 5, 0): "ID_AA64DFR0_EL1", (3, 0, 0, 6, 0): "ID_AA64ISAR0_EL1", (3, 0, 0, 6, 1): "ID_AA64ISAR1_EL1",
    (3, 0, 0, 7, 0): "ID_AA64MMFR0_EL1", (3, 0, 0, 7, 1): "ID_AA64MMFR1_EL1", (3, 0, 0, 7, 2): "ID_AA64MMFR2_EL1",
    (3, 0, 0, 7, 3): "ID_AA64MMFR3_EL1", (3, 0, 0, 7, 4): "ID_AA64MMFR4_EL1",
    # EL1 state the exception model writes
    (3, 0, 1, 0, 0): "SCTLR_EL1", (3, 0, 2, 0, 0): "TTBR0_EL1", (3, 0, 2, 0, 1): "TTBR1_EL1", (3, 0, 2, 0, 2): "TCR_EL1",
    (3, 0, 4, 0, 0): "SPSR_EL1", (3, 0, 4, 0, 1): "ELR_EL1", (3, 0, 4, 1, 0): "SP_EL0", (3, 0, 5, 2, 0): "ESR_EL1",
    (3, 0, 6, 0, 0): "FAR_EL1", (3, 0, 10, 2, 0): "MAIR_EL1", (3, 0, 12, 0, 0): "VBAR_EL1", (3, 0, 13, 0, 4): "TPIDR_EL1",
    (3, 0, 4, 2, 2): "CurrentEL", (3, 0, 4, 2, 1): "DAIF",
    # Generic timer
    (3, 3, 14, 0, 0): "CNTFRQ_EL0", (3, 3, 14, 0, 1): "CNTPCT_EL0", (3, 3, 14, 0, 2): "CNTVCT_EL0",
    (3, 3, 14, 0, 5): "CNTPCTSS_EL0", (3, 3, 14, 0, 6): "CNTVCTSS_EL0",
    (3, 3, 14, 2, 0): "CNTP_TVAL_EL0", (3, 3, 14, 2, 1): "CNTP_CTL_EL0", (3, 3, 14, 2, 2): "CNTP_CVAL_EL0",
    (3, 3, 14, 3, 0): "CNTV_TVAL_EL0", (3, 3, 14, 3, 1): "CNTV_CTL_EL0", (3, 3, 14, 3, 2): "CNTV_CVAL_EL0",
    (3, 0, 14, 1, 0): "CNTKCTL_EL1",
    # GICv3 CPU interface (EL1)
    (3, 0, 4, 6, 0): "ICC_PMR_EL1", (3, 0, 12, 8, 0): "ICC_IAR0_EL1", (3, 0, 12, 8, 1): "ICC_EOIR0_EL1",
    (3, 0, 12, 8, 2): "ICC_HPPIR0_EL1", (3, 0, 12, 8, 3): "ICC_BPR0_EL1", (3, 0, 12, 11, 1): "ICC_DIR_EL1",
    (3, 0, 12, 11, 3): "ICC_RPR_EL1", (3, 0, 12, 11, 5): "ICC_SGI1R_EL1", (3, 0, 12, 11, 6): "ICC_ASGI1R_EL1",
    (3, 0, 12, 11, 7): "ICC_SGI0R_EL1", (3, 0, 12, 12, 0): "ICC_IAR1_EL1", (3, 0, 12, 12, 1): "ICC_EOIR1_EL1",
    (3, 0, 12, 12, 2): "ICC_HPPIR1_EL1", (3, 0, 12, 12, 3): "ICC_BPR1_EL1", (3, 0, 12, 12, 4): "ICC_CTLR_EL1",
    (3, 0, 12, 12, 5): "ICC_SRE_EL1", (3, 0, 12, 12, 6): "ICC_IGRPEN0_EL1", (3, 0, 12, 12, 7): "ICC_IGRPEN1_EL1",
    (3, 0, 12, 8, 4): "ICC_AP0R0_EL1", (3, 0, 12, 9, 0): "ICC_AP1R0_EL1",
    # EL2
    (3, 4, 0, 0, 0): "VPIDR_EL2", (3, 4, 0, 0, 5): "VMPIDR_EL2",
    (3, 4, 1, 0, 0): "SCTLR_EL2", (3, 4, 1, 0, 1): "ACTLR_EL2", (3, 4, 1, 1, 0): "HCR_EL2", (3, 4, 1, 1, 1): "MDCR_EL2",
    (3, 4, 1, 1, 2): "CPTR_EL2", (3, 4, 1, 1, 3): "HSTR_EL2", (3, 4, 1, 1, 4): "HFGRTR_EL2", (3, 4, 1, 1, 5): "HFGWTR_EL2",
    (3, 4, 1, 1, 6): "HFGITR_EL2", (3, 4, 1, 1, 7): "HACR_EL2", (3, 4, 1, 2, 0): "ZCR_EL2", (3, 4, 1, 2, 1): "TRFCR_EL2",
    (3, 4, 1, 2, 2): "HCRX_EL2", (3, 4, 1, 3, 1): "SDER32_EL2",
    (3, 4, 2, 0, 0): "TTBR0_EL2", (3, 4, 2, 0, 1): "TTBR1_EL2", (3, 4, 2, 0, 2): "TCR_EL2",
    (3, 4, 2, 1, 0): "VTTBR_EL2", (3, 4, 2, 1, 2): "VTCR_EL2", (3, 4, 2, 2, 0): "VNCR_EL2",
    (3, 4, 2, 6, 0): "VSTTBR_EL2", (3, 4, 2, 6, 2): "VSTCR_EL2", (3, 4, 3, 0, 0): "DACR32_EL2",
    (3, 4, 3, 1, 4): "HDFGRTR_EL2", (3, 4, 3, 1, 5): "HDFGWTR_EL2", (3, 4, 3, 1, 6): "HAFGRTR_EL2",
    (3, 4, 4, 0, 0): "SPSR_EL2", (3, 4, 4, 0, 1): "ELR_EL2", (3, 4, 4, 1, 0): "SP_EL1",
    (3, 4, 5, 0, 1): "IFSR32_EL2", (3, 4, 5, 1, 0): "AFSR0_EL2", (3, 4, 5, 1, 1): "AFSR1_EL2", (3, 4, 5, 2, 0): "ESR_EL2",
    (3, 4, 5, 3, 0): "FPEXC32_EL2", (3, 4, 6, 0, 0): "FAR_EL2", (3, 4, 6, 0, 4): "HPFAR_EL2",
    (3, 4, 9, 9, 0): "PMSCR_EL2", (3, 4, 10, 2, 0): "MAIR_EL2", (3, 4, 10, 3, 0): "AMAIR_EL2",
    (3, 4, 12, 0, 0): "VBAR_EL2", (3, 4, 12, 0, 1): "RVBAR_EL2", (3, 4, 12, 0, 2): "RMR_EL2",
    (3, 4, 12, 9, 5): "ICC_SRE_EL2", (3, 4, 12, 11, 0): "ICH_HCR_EL2", (3, 4, 12, 11, 1): "ICH_VTR_EL2",
    (3, 4, 12, 11, 7): "ICH_VMCR_EL2",
    (3, 4, 13, 0, 1): "CONTEXTIDR_EL2", (3, 4, 13, 0, 2): "TPIDR_EL2",
    (3, 4, 14, 0, 3): "CNTVOFF_EL2", (3, 4, 14, 1, 0): "CNTHCTL_EL2",
    (3, 4, 14, 2, 0): "CNTHP_TVAL_EL2", (3, 4, 14, 2, 1): "CNTHP_CTL_EL2", (3, 4, 14, 2, 2): "CNTHP_CVAL_EL2",
    (3, 4, 14, 3, 0): "CNTHV_TVAL_EL2", (3, 4, 14, 3, 1): "CNTHV_CTL_EL2", (3, 4, 14, 3, 2): "CNTHV_CVAL_EL2",
    # EL3
    (3, 6, 1, 1, 0): "SCR_EL3", (3, 6, 4, 0, 0): "SPSR_EL3", (3, 6, 4, 0, 1): "ELR_EL3", (3, 6, 12, 0, 0): "VBAR_EL3",
}  # fmt: skip

BY_NAME: dict[str, Encoding] = {name: enc for enc, name in NAMES.items()}


def name_of(enc: Encoding) -> str:
    return NAMES.get(enc) or "S{}_{}_C{}_C{}_{}".format(*enc)


def cp_reg(enc: Encoding, value: int | None = None) -> tuple[int, ...]:
    """unicorn's UC_ARM64_REG_CP_REG tuple for an encoding (optionally with a value to write)."""
    op0, op1, crn, crm, op2 = enc
    return (crn, crm, op0, op1, op2) if value is None else (crn, crm, op0, op1, op2, value)


def is_el2(enc: Encoding) -> bool:
    """Registers only EL2 (or higher) may access: op1 4 (EL2), 5 (EL12/EL02 aliases), 6 (EL3)."""
    return enc[0] == 3 and enc[1] in (4, 5, 6)


@dataclass(frozen=True, slots=True)
class SysregAccess:
    """A decoded MRS/MSR (register) instruction."""

    enc: Encoding
    rt: int
    read: bool  # MRS

    @property
    def name(self) -> str:
        return name_of(self.enc)


def decode_sysreg(insn: int) -> SysregAccess | None:
    """Decode MRS/MSR (register form); None for any other instruction."""
    if insn & 0xFFD00000 != 0xD5100000:
        return None
    op0 = 2 + ((insn >> 19) & 1)
    op1 = (insn >> 16) & 7
    crn = (insn >> 12) & 0xF
    crm = (insn >> 8) & 0xF
    op2 = (insn >> 5) & 7
    return SysregAccess((op0, op1, crn, crm, op2), insn & 0x1F, bool(insn & (1 << 21)))


def sysreg_iss(access: SysregAccess) -> int:
    """ISS of a trapped MSR/MRS (EC 0x18): Op0, Op2, Op1, CRn, Rt, CRm, direction (1 = read)."""
    op0, op1, crn, crm, op2 = access.enc
    return (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (access.rt << 5) | (crm << 1) | int(access.read)


def encode_sysreg(access: SysregAccess) -> int:
    """The MRS/MSR instruction word for an access (tests, and the ISS of trapped accesses)."""
    op0, op1, crn, crm, op2 = access.enc
    word = 0xD5100000 | ((op0 - 2) << 19) | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5) | access.rt
    return word | (1 << 21) if access.read else word
