"""Abort syndromes: the rules (data_fault, ISS) on tables in a CPU's memory, then payloads end to end.

The payloads (tests/mmu_payloads/faults.S, one ELF per granule) build their
own tables, turn the MMU on, fault, and print ESR_EL1/FAR_EL1/ELR_EL1 from
their vectors; every printed value is compared with the one the Arm ARM
prescribes (ESR: EC, IL, WnR, DFSC/IFSC with the level; FAR: the faulting
VA; ELR: the faulting instruction).
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from armboot.bootloader.session import BootOptions, boot_and_run
from armboot.hyp.arch import faults
from armboot.hyp.arch.cpu import Cpu
from armboot.hyp.arch.decode import decode
from armboot.hyp.arch.exceptions import EC, EXCP_DATA_ABORT, EXCP_PREFETCH_ABORT, EXCP_UNALIGNED
from armboot.hyp.arch.faults import (
    UnexplainedAbort,
    data_abort_iss,
    data_fault,
    describe_abort,
    external_abort,
)
from armboot.hyp.arch.stage1 import Fault, FaultKind, Stage1Regs
from elftools.elf.elffile import ELFFile

HERE = os.path.dirname(__file__)
PAYLOADS = os.path.join(HERE, "mmu_payloads")
BOARD = os.path.join(HERE, "..", "boards", "virt.dts")
IL = 1 << 25
WNR, CM = 1 << 6, 1 << 8

# Encodings of the instructions the unit tests run (checked against binutils in test_decode.py)
LDR_X1_X2 = 0xF9400041  # ldr x1, [x2]
STR_X1_X2 = 0xF9000041  # str x1, [x2]
LDR_X1_X2_PLUS1 = 0xF8401041  # ldur x1, [x2, #1]
LDADD_X1_X3_X2 = 0xF8210043  # ldadd x1, x3, [x2]
DC_ZVA_X2 = 0xD50B7422  # dc zva, x2
DC_IVAC_X2 = 0xD5087622  # dc ivac, x2
DC_CIVAC_X2 = 0xD50B7E22  # dc civac, x2
PRFM_X2 = 0xF9800040  # prfm pldl1keep, [x2]
LDP_X1_X3_X2 = 0xA9400C41  # ldp x1, x3, [x2]
NOP = 0xD503201F


# A CPU with 2 MB of RAM at 0x40000000 and 4 KB-granule tables (39-bit VAs) in it

RAM, ROOT, L2, L3 = 0x4000_0000, 0x4010_0000, 0x4010_1000, 0x4010_2000
CODE = 0x4000_0000
VALID_PAGE, AF, NORMAL, AP_RO, AP_EL0 = 3, 1 << 10, 1 << 2, 1 << 7, 1 << 6
TCR_39 = 25 | (1 << 23) | (0b010 << 32)


class Machine:
    """One Cpu, its RAM, and helpers to map 4 KB pages at VA 0x1_0000_0000 + n pages."""

    VA = 0x1_0000_0000

    def __init__(self) -> None:
        self.cpu = Cpu(0, 0)
        self.ram = mmap.mmap(-1, 0x20_0000)
        self.cpu.map_ram(RAM, 0x20_0000, self.ram)
        self.put(ROOT + 8 * 4, L2 | 3)  # VA 4 GB..5 GB
        self.put(L2, L3 | 3)
        self.cpu.set_sysreg("MAIR_EL1", 0xFF00)
        self.cpu.set_sysreg("TCR_EL1", TCR_39)
        self.cpu.set_sysreg("TTBR0_EL1", ROOT)
        self.put(ROOT + 8 * 1, RAM | 1 | AF | NORMAL)  # 1 GB identity block over RAM (code)

    def put(self, pa: int, value: int) -> None:
        self.cpu.write_phys(pa, value.to_bytes(8, "little"))

    def page(self, n: int, pa: int, attrs: int = AF | NORMAL) -> int:
        self.put(L3 + 8 * n, pa | VALID_PAGE | attrs)
        return self.VA + n * 4096

    def mmu_on(self) -> None:
        self.cpu.set_sysreg("SCTLR_EL1", self.cpu.sysreg("SCTLR_EL1") | 1)

    def at(self, insn: int, x2: int, el0: bool = False) -> None:
        """PC at ``insn`` (identity-mapped code), X2 the address operand."""
        self.cpu.write_phys(CODE, insn.to_bytes(4, "little"))
        self.cpu.pc = CODE
        self.cpu.set_x(2, x2)
        self.cpu.pstate = 0x3C0 if el0 else 0x3C5

    def regs(self) -> Stage1Regs:
        return Stage1Regs.of(self.cpu)


@pytest.fixture
def m() -> Iterator[Machine]:
    yield Machine()


def dfault(m: Machine, insn: int, va: int, el0: bool = False) -> faults.DataFault | None:
    op = decode(insn)
    assert op is not None
    return data_fault(m.regs(), op, va, faults.cpu_reader(m.cpu), el0)


def test_translation_fault_syndrome(m: Machine) -> None:
    m.mmu_on()
    m.at(LDR_X1_X2, m.VA + 5 * 4096 + 8)
    s = describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert (s.ec, s.iss, s.far, s.return_address) == (EC.DABT_SAME, 0x07, m.VA + 5 * 4096 + 8, CODE)


def test_stage1_iss_has_no_instruction_syndrome(m: Machine) -> None:
    """ESR_EL1 never has ISV = 1: SAS/SSE/SRT/SF/AR stay 0 even for a plain LDR (D17.2.37)."""
    m.mmu_on()
    va = m.page(0, RAM + 0x10000, AF | NORMAL | AP_RO)
    m.at(STR_X1_X2, va)
    s = describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert s.iss == WNR | 0x0F
    assert data_abort_iss(m.cpu, True, 0x10) == WNR | 0x10
    # A stage-2 abort reported in ESR_EL2 carries it: ISV, SAS = 3, SRT = 1, SF
    assert (
        data_abort_iss(m.cpu, True, 0x06, stage2=True)
        == (1 << 24) | (3 << 22) | (1 << 16) | (1 << 15) | WNR | 0x06
    )


def test_el0_faults_are_from_a_lower_el(m: Machine) -> None:
    m.mmu_on()
    va = m.page(0, RAM + 0x10000)  # EL1 only
    m.at(LDR_X1_X2, va, el0=True)
    s = describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert (s.ec, s.iss) == (EC.DABT_LOWER, 0x0F)
    m.cpu.pc = m.VA + 7 * 4096
    s = describe_abort(m.cpu, EXCP_PREFETCH_ABORT)
    assert (s.ec, s.iss, s.far, s.return_address) == (EC.IABT_LOWER, 0x07, m.VA + 7 * 4096, m.VA + 7 * 4096)


def test_rmw_reports_wnr_by_the_half_that_faults(m: Machine) -> None:
    """Atomics: WnR 0 when the read would fault, 1 when only the write does."""
    m.mmu_on()
    ro = m.page(1, RAM + 0x11000, AF | NORMAL | AP_RO)
    assert dfault(m, LDADD_X1_X3_X2, ro) == faults.DataFault(Fault(FaultKind.PERMISSION, 3), ro, True)
    missing = m.VA + 9 * 4096
    assert dfault(m, LDADD_X1_X3_X2, missing) == faults.DataFault(
        Fault(FaultKind.TRANSLATION, 3), missing, False
    )
    assert dfault(m, LDADD_X1_X3_X2, ro + 1).fault.kind is FaultKind.ALIGNMENT  # type: ignore[union-attr]


def test_alignment_rules(m: Machine) -> None:
    m.mmu_on()
    va = m.page(0, RAM + 0x10000)
    dev = m.page(1, RAM + 0x11000, AF)  # AttrIndx 0: Device-nGnRnE
    assert dfault(m, LDR_X1_X2_PLUS1, va) is None  # Normal memory, SCTLR.A = 0
    assert dfault(m, LDR_X1_X2_PLUS1, dev + 1) == faults.DataFault(Fault(FaultKind.ALIGNMENT), dev + 1, False)
    assert dfault(m, DC_ZVA_X2, dev).fault.kind is FaultKind.ALIGNMENT  # type: ignore[union-attr]
    m.cpu.set_sysreg("SCTLR_EL1", m.cpu.sysreg("SCTLR_EL1") | 2)  # SCTLR_EL1.A
    assert dfault(m, LDR_X1_X2_PLUS1, va + 1) == faults.DataFault(Fault(FaultKind.ALIGNMENT), va + 1, False)
    # Alignment comes before translation
    assert dfault(m, LDR_X1_X2_PLUS1, m.VA + 9 * 4096 + 1).fault.kind is FaultKind.ALIGNMENT  # type: ignore[union-attr]


def test_mmu_off_data_is_device(m: Machine) -> None:
    assert dfault(m, LDR_X1_X2_PLUS1, RAM + 1) == faults.DataFault(Fault(FaultKind.ALIGNMENT), RAM + 1, False)
    assert dfault(m, LDR_X1_X2, RAM + 8) is None


def test_cache_maintenance(m: Machine) -> None:
    """CM = 1 and WnR = 1; DC IVAC needs write permission, DC CIVAC only read."""
    m.mmu_on()
    ro = m.page(1, RAM + 0x11000, AF | NORMAL | AP_RO)
    assert dfault(m, DC_CIVAC_X2, ro + 0x40) is None
    assert dfault(m, DC_IVAC_X2, ro + 0x40) == faults.DataFault(
        Fault(FaultKind.PERMISSION, 3), ro + 0x40, True
    )
    m.at(DC_CIVAC_X2, m.VA + 9 * 4096 + 0x40)
    s = describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert (s.iss, s.far) == (CM | WNR | 0x07, m.VA + 9 * 4096 + 0x40)


def test_dc_zva_is_a_write_of_its_block(m: Machine) -> None:
    m.mmu_on()
    ro = m.page(1, RAM + 0x11000, AF | NORMAL | AP_RO)
    m.at(DC_ZVA_X2, ro + 0x48)
    s = describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert (s.iss, s.far) == (WNR | 0x0F, ro + 0x48)


def test_pair_across_pages_reports_the_second_page(m: Machine) -> None:
    m.mmu_on()
    va = m.page(0, RAM + 0x10000)
    m.at(LDP_X1_X3_X2, va + 4096 - 8)
    s = describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert (s.iss, s.far) == (0x07, va + 4096)


def test_unexplained_aborts_raise(m: Machine) -> None:
    m.mmu_on()
    va = m.page(0, RAM + 0x10000)
    m.at(LDR_X1_X2, va)
    with pytest.raises(UnexplainedAbort, match="translation tables allow it") as e:
        describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert e.value.allowed
    m.at(NOP, va)
    with pytest.raises(UnexplainedAbort, match="not a load or store"):
        describe_abort(m.cpu, EXCP_DATA_ABORT)
    m.at(PRFM_X2, m.VA + 9 * 4096)
    with pytest.raises(UnexplainedAbort):
        describe_abort(m.cpu, EXCP_DATA_ABORT)  # prefetches never fault
    m.cpu.pc = CODE
    with pytest.raises(UnexplainedAbort, match="may execute"):
        describe_abort(m.cpu, EXCP_PREFETCH_ABORT)
    m.at(LDR_X1_X2, va)
    with pytest.raises(UnexplainedAbort, match="aligned address"):
        describe_abort(m.cpu, EXCP_UNALIGNED)


def test_unaligned_exception_is_an_alignment_fault(m: Machine) -> None:
    m.mmu_on()
    va = m.page(0, RAM + 0x10000)
    m.at(LDR_X1_X2_PLUS1, va + 2)
    s = describe_abort(m.cpu, EXCP_UNALIGNED)
    assert (s.ec, s.iss, s.far) == (EC.DABT_SAME, 0x21, va + 3)


def test_external_abort_far_is_the_virtual_address(m: Machine) -> None:
    """unicorn's unmapped hook gives a PA; FAR must be the VA that reached it."""
    m.mmu_on()
    va = m.page(3, 0x8000_0000)  # nothing at that PA
    m.at(STR_X1_X2, va + 0x18)
    s = external_abort(m.cpu, 0x8000_0018, True, False)
    assert (s.ec, s.iss, s.far, s.return_address) == (EC.DABT_SAME, WNR | 0x10, va + 0x18, CODE)
    s = external_abort(m.cpu, 0x8000_0000, False, True)
    assert (s.ec, s.iss, s.far) == (EC.IABT_SAME, 0x10, CODE)


def test_external_abort_on_the_walk(m: Machine) -> None:
    m.mmu_on()
    m.put(L2 + 8 * 1, 0x8000_0000 | 3)  # a level 3 table where nothing is
    m.at(LDR_X1_X2, m.VA + 0x20_0000)
    s = describe_abort(m.cpu, EXCP_DATA_ABORT)
    assert s.iss == 0x17  # synchronous external abort on translation table walk, level 3


# End to end: the payloads


def symbols(elf: str) -> dict[str, int]:
    with open(elf, "rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in table.iter_symbols() if s.name}


VA_USER, VA_TEST, VA_NOTOP, VA_ROBLOCK, RAM_BASE = (
    0x10_0000_0000,
    0x20_0000_0000,
    0x30_0000_0000,
    0x40_0000_0000,
    RAM,
)


def prescribed(g: int, sym: dict[str, int]) -> dict[int, tuple[int, int, int]]:
    """ESR, FAR, ELR the architecture gives each case of faults.S (granule 1 << g, 39-bit VAs)."""
    page, stride = 1 << g, g - 3
    start = 4 - -(-(39 - g) // stride)
    block2 = 1 << (g + stride)

    def esr(ec: int, iss: int) -> int:
        return (ec << 26) | IL | iss

    def user(name: str) -> int:
        return VA_USER + sym[name] - sym["el0_start"]

    def fsc(kind: FaultKind, level: int = 0) -> int:
        return Fault(kind, level).fsc

    tr, perm, af = FaultKind.TRANSLATION, FaultKind.PERMISSION, FaultKind.ACCESS_FLAG
    dabt, iabt, dabt0, iabt0 = EC.DABT_SAME, EC.IABT_SAME, EC.DABT_LOWER, EC.IABT_LOWER
    page4 = VA_TEST + 4 * page
    return {
        0x1: (esr(dabt, fsc(tr, start)), VA_NOTOP, sym["f1"]),
        0x2: (esr(dabt, fsc(tr, 2)), VA_TEST + block2, sym["f2"]),
        0x3: (esr(dabt, fsc(tr, 3)), VA_TEST + page + 8, sym["f3"]),
        0x4: (esr(dabt, WNR | fsc(perm, 3)), VA_TEST + 3 * page + 24, sym["f4"]),
        0x5: (esr(dabt, fsc(af, 3)), VA_TEST + 2 * page + 16, sym["f5"]),
        0x6: (esr(dabt, fsc(FaultKind.ALIGNMENT)), VA_TEST + 1, sym["f6"]),
        0x7: (esr(dabt, WNR | fsc(perm, 2)), VA_ROBLOCK + 0x10, sym["f7"]),
        0x8: (esr(iabt, fsc(tr, 3)), page4, page4),
        0x9: (esr(iabt, fsc(perm, 3)), VA_USER, VA_USER),
        0xA: (esr(dabt, fsc(tr, 3)), page4, sym["f10"]),
        0xB: (esr(dabt0, fsc(perm, 2)), RAM_BASE + 0x40, user("u11")),
        0xC: (esr(dabt0, fsc(tr, start)), VA_NOTOP + 8, user("u12")),
        0xD: (esr(dabt0, WNR | fsc(perm, 3)), VA_USER + page + 32, user("u13")),
        0xE: (esr(iabt0, fsc(tr, 3)), page4, page4),
        0xF: (esr(dabt, fsc(perm, 2)), RAM_BASE + 0x100, sym["f15"]),
    }


LINE = re.compile(r"case ([0-9a-f]{2}) esr ([0-9a-f]{16}) far ([0-9a-f]{16}) elr ([0-9a-f]{16})")


def run_payload(elf: str, hyp: bool) -> tuple[str, str]:
    out = bytearray()
    opts = BootOptions(board=BOARD, kernel=elf, hyp=hyp, cpus=1, max_insns=2_000_000, console=out.extend)
    boot = boot_and_run(opts)
    assert boot.result is not None
    return boot.result.reason, out.decode(errors="replace")


@pytest.mark.parametrize("hyp", [False, True], ids=["el1", "el2"])
@pytest.mark.parametrize("g", [12, 14, 16], ids=["4k", "16k", "64k"])
def test_payload_syndromes(g: int, hyp: bool) -> None:
    elf = os.path.join(PAYLOADS, f"faults{(1 << g) // 1024}k.elf")
    reason, text = run_payload(elf, hyp)
    got = {int(c, 16): (int(e, 16), int(f, 16), int(r, 16)) for c, e, f, r in LINE.findall(text)}
    want = prescribed(g, symbols(elf))
    for case in sorted(want):
        assert got.get(case) == want[case], f"case {case:#x}: got {got.get(case)}, want {want[case]}\n{text}"
    assert (
        "value 1111111111111111" in text
    )  # demand paging: the load re-ran after the handler mapped the page
    assert "value 2222222222222222" in text  # access flag set by the handler, load re-ran
    assert text.rstrip().endswith("done") and reason == "system_off", text


def test_payload_el0_faults_leave_a_working_el1_handler() -> None:
    """After an exception from EL0 the EL1 handler runs with EL1's permissions (unicorn's EL refreshed)."""
    reason, text = run_payload(os.path.join(PAYLOADS, "faults4k.elf"), False)
    assert reason == "system_off" and text.rstrip().endswith("done")


@pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-as") is None or shutil.which("make") is None, reason="no binutils"
)
def test_committed_payloads_match_their_source(tmp_path: object) -> None:
    build = str(tmp_path)
    for name in ("faults.S", "payload.ld", "Makefile"):
        shutil.copy(os.path.join(PAYLOADS, name), build)
    subprocess.run(["make", "-s", "-C", build], check=True, capture_output=True)
    for elf in ("faults4k.elf", "faults16k.elf", "faults64k.elf"):
        with open(os.path.join(build, elf), "rb") as a, open(os.path.join(PAYLOADS, elf), "rb") as b:
            assert a.read() == b.read(), f"{elf} is stale: run make in tests/mmu_payloads"
