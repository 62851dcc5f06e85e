"""Architectural test payloads (tests/payloads) booted on armboot's virt boards.

Every expected value comes from the Arm ARM (ESR_ELx encodings, exception
vectors, SPSR = PSTATE at the time of the exception, the generic timer's CTL
bits), the GIC architecture (GICC_IAR's spurious INTID 1023), PSCI (DEN0022
return codes), the boot protocol (every CPU enters at the same EL), or from
the payload's own ELF symbols (the address of each trial instruction).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from armboot.bootloader.report import build_report
from armboot.bootloader.session import BootOptions, boot_and_run, load_tree
from elftools.elf.elffile import ELFFile

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = ROOT / "tests" / "payloads"
VIRT = ROOT / "boards" / "virt.dts"
SMP4 = PAYLOADS / "virt-smp4.dts"

# ESR_ELx (Arm ARM D17.2.37): EC [31:26], IL [25] (1: 32-bit instruction; also 1 for EC 0 and for
# data aborts without a valid instruction syndrome), ISS [24:0].
EC_UNKNOWN, EC_SVC64, EC_HVC64, EC_SYSREG, EC_DABT_CUR = 0x00, 0x15, 0x16, 0x18, 0x25
DFSC_SEA = 0x10  # synchronous external abort, not on a translation table walk
WNR = 1 << 6


def esr(ec: int, iss: int = 0) -> int:
    return ec << 26 | 1 << 25 | iss


# PSTATE each trial sets before its instruction: N and C set; D, I, F masked, A clear.
NZCV_NC, D_I_F = 0xA000_0000, 0x2C0
M_EL1H, M_EL2H = 0b0101, 0b1001
CURRENT_SPX, LOWER_A64 = 0x200, 0x400  # vector offsets from VBAR_ELx
UNMAPPED = 0x2000_0008  # the address exceptions.S loads from: neither RAM nor a device on virt

FIELD = re.compile(r"(\w+)=(\S+)")
BUDGET = 50_000_000  # instructions: a stuck payload ends as "timeout", never hangs the suite


def boot(board: Path, kernel: Path, hyp: bool) -> dict:
    result = boot_and_run(
        BootOptions(board=str(board), kernel=str(kernel), hyp=hyp, max_insns=BUDGET, timeout=30)
    )
    return build_report(result)


def lines(report: dict, head: str) -> list[dict[str, int | str]]:
    """The console lines starting with ``head``, as {field: value}; hex values as ints."""
    out = []
    for line in report["console"].splitlines():
        if line.split(" ", 1)[0] == head:
            out.append({k: int(v, 16) if v.startswith("0x") else v for k, v in FIELD.findall(line)})
    return out


@cache
def symbols(elf: Path) -> dict[str, int]:
    with open(elf, "rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in table.iter_symbols() if s.name}


def ppi_intids(board: Path, compatible: str) -> list[int]:
    """INTIDs of a node's PPIs, read from the tree: GIC specifier <1 n flags> is INTID 16 + n."""
    tree = load_tree(str(board), [])
    node = next(
        n for n in tree.walk() if (c := n.get("compatible")) is not None and compatible in c.strings()
    )
    cells = node.get("interrupts").cells()  # type: ignore[union-attr]
    assert all(kind == 1 for kind in cells[0::3])
    return [16 + n for n in cells[1::3]]


# Exceptions


def expected_trials(hyp: bool) -> dict[tuple[int, str], dict[str, int]]:
    """(EL of the trial, kind) -> what the handler must have seen."""
    sym = symbols(PAYLOADS / "exceptions.elf")
    out: dict[tuple[int, str], dict[str, int]] = {}
    levels = (2, 1) if hyp else (1,)
    for at in levels:
        mode = M_EL2H if at == 2 else M_EL1H
        spsr = NZCV_NC | D_I_F | mode
        same = {"el": at, "vec": CURRENT_SPX, "spsr": spsr}
        out[(at, "svc")] = {**same, "esr": esr(EC_SVC64, 5), "elr": sym[f"el{at}_svc"] + 4}
        out[(at, "undef")] = {**same, "esr": esr(EC_UNKNOWN), "elr": sym[f"el{at}_undef"]}
        out[(at, "dabt")] = {
            **same,
            "esr": esr(EC_DABT_CUR, DFSC_SEA),
            "elr": sym[f"el{at}_dabt"],
            "far": UNMAPPED,
        }
        if hyp:  # HVC #7: to EL2, from EL1 through the lower-EL vector
            vec = CURRENT_SPX if at == 2 else LOWER_A64
            out[(at, "hvc")] = {
                "el": 2,
                "vec": vec,
                "spsr": spsr,
                "esr": esr(EC_HVC64, 7),
                "elr": sym[f"el{at}_hvc"] + 4,
            }
        else:  # EL2 disabled (SCR_EL3.HCE = 0): HVC is UNDEFINED at EL1
            out[(at, "hvc")] = {**same, "esr": esr(EC_UNKNOWN), "elr": sym["el1_hvc"]}
    return out


@pytest.mark.parametrize("hyp", [True, False], ids=["hyp", "no-hyp"])
def test_exception_entry(hyp: bool) -> None:
    report = boot(VIRT, PAYLOADS / "exceptions.elf", hyp)
    assert report["exit"]["reason"] == "system_off", report["console"]
    assert report["entry_el"] == (2 if hyp else 1)
    assert lines(report, "exceptions:")[0]["el"] == (2 if hyp else 1)
    expected = expected_trials(hyp)
    kinds = {kind for _, kind in expected}
    seen = {(int(r["at"]), str(r["kind"])): r for r in lines(report, "exc") if r["kind"] in kinds}
    assert set(seen) == set(expected)
    for key, want in expected.items():
        got = {field: seen[key][field] for field in want}
        assert got == want, f"{key}: {report['console']}"
    assert "unexpected" not in report["console"]


def sysreg_iss(op0: int, op1: int, crn: int, crm: int, op2: int, rt: int, read: bool) -> int:
    """ISS of a trapped MRS/MSR (EC 0x18): Op0, Op2, Op1, CRn, Rt, CRm, Direction (1 = read)."""
    return op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | int(read)


def test_el1_physical_timer_traps_to_el2_when_cnthctl_disables_it() -> None:
    report = boot(VIRT, PAYLOADS / "exceptions.elf", True)
    sym = symbols(PAYLOADS / "exceptions.elf")
    seen = {str(r["kind"]): r for r in lines(report, "exc") if int(r["at"]) == 1}
    for kind, crm in (
        ("cntp_ctl", 2),
        ("cntpct", 0),
    ):  # CNTP_CTL_EL0 = S3_3_C14_C2_1, CNTPCT_EL0 = S3_3_C14_C0_1
        want = {
            "el": 2,
            "vec": LOWER_A64,
            "esr": esr(EC_SYSREG, sysreg_iss(3, 3, 14, crm, 1, rt=1, read=True)),
            "elr": sym[f"el1_{kind}"],  # the trapped instruction itself
            "spsr": NZCV_NC | D_I_F | M_EL1H,
        }
        assert {field: seen[kind][field] for field in want} == want, kind


def test_el1_registers_written_at_el2_survive_eret() -> None:
    report = boot(VIRT, PAYLOADS / "exceptions.elf", True)
    (regs,) = lines(report, "el1regs")
    assert (regs["ttbr0"], regs["mair"], regs["tcr"]) == (0x4000_1000, 0x44FF, 0x80_0019)


# Timer through the GIC

CTL_ENABLE, CTL_IMASK, CTL_ISTATUS = 1, 2, 4
SPURIOUS = 1023
PSTATE_DAF_EL1H = 0x345  # D, A, F masked, I clear (the IRQ was taken), EL1h
DAIF_M_MASK = 0x3DF


@pytest.mark.parametrize("hyp", [True, False], ids=["hyp", "no-hyp"])
def test_timer_interrupts_through_the_gic(hyp: bool) -> None:
    report = boot(VIRT, PAYLOADS / "timer.elf", hyp)
    assert report["exit"]["reason"] == "system_off", report["console"]
    _secure, phys, virt, _hyp = ppi_intids(VIRT, "arm,armv8-timer")
    sym = symbols(PAYLOADS / "timer.elf")
    irqs = {r["timer"]: r for r in lines(report, "irq")}
    assert set(irqs) == {"virt", "phys"}
    for name, intid in (("virt", virt), ("phys", phys)):
        r = irqs[name]
        assert r["intid"] == intid
        assert r["ctl"] == CTL_ENABLE | CTL_ISTATUS
        assert r["count"] >= r["cval"]  # the timer condition held when the interrupt was taken
        assert sym[f"wait_{name}"] < r["elr"] <= sym[f"wait_{name}_end"]  # after the WFI, in the wait loop
        assert r["spsr"] & DAIF_M_MASK == PSTATE_DAF_EL1H
        assert r["next_iar"] == SPURIOUS
    (woken,) = lines(report, "woken")
    assert (woken["pending"], woken["irqs_before"]) == (1, 0)  # WFI woke with PSTATE.I set; nothing taken
    (masked,) = lines(report, "masked")
    assert masked == {"ctl": CTL_ENABLE | CTL_IMASK | CTL_ISTATUS, "irqs": 0, "pending": 0}


def test_unmasked_pending_irq_is_taken_by_the_next_context_synchronization() -> None:
    report = boot(VIRT, PAYLOADS / "timer.elf", True)
    (woken,) = lines(report, "woken")
    assert woken["irqs_after"] == 1


# PSCI CPU_ON with four CPUs

PSCI_SUCCESS, PSCI_INVALID_PARAMETERS, PSCI_ALREADY_ON = 0, -2, -4
AFF_ON, AFF_OFF = 0, 1
MPIDR_RES1 = 1 << 31


def u64(value: int) -> int:
    return value & (1 << 64) - 1


@pytest.mark.parametrize("hyp", [True, False], ids=["hyp", "no-hyp"])
def test_psci_cpu_on_four_cpus(hyp: bool) -> None:
    report = boot(SMP4, PAYLOADS / "smp.elf", hyp)
    assert report["exit"]["reason"] == "system_off", report["console"]
    assert len(report["cpus"]) == 4
    (version,) = lines(report, "psci")
    assert version["version"] >= 0x2  # CPU_ON, CPU_OFF and AFFINITY_INFO with these ids: PSCI 0.2 or later
    entry_el = 2 if hyp else 1
    started = [(r["mpidr"], r["el"], r["context"]) for r in lines(report, "secondary")]
    assert started == [(MPIDR_RES1 | n, entry_el, 0x100 + n) for n in (1, 2, 3)] + [
        (MPIDR_RES1 | 1, entry_el, 0x201)
    ]
    cpu_on = [(r["target"], r["ret"]) for r in lines(report, "cpu_on")]
    assert cpu_on == [
        (1, PSCI_SUCCESS), (2, PSCI_SUCCESS), (3, PSCI_SUCCESS),
        (0, u64(PSCI_ALREADY_ON)), (7, u64(PSCI_INVALID_PARAMETERS)), (1, PSCI_SUCCESS),
    ]  # fmt: skip
    affinity = [(r["target"], r["state"]) for r in lines(report, "affinity")]
    assert affinity == [(1, AFF_OFF), (2, AFF_OFF), (3, AFF_OFF), (0, AFF_ON), (1, AFF_OFF)]
    assert "timeout" not in report["console"] and "cpu_off returned" not in report["console"]


# The committed ELFs are what the sources build to

CROSS_GCC = shutil.which("aarch64-linux-gnu-gcc")


@pytest.mark.skipif(
    CROSS_GCC is None or shutil.which("make") is None, reason="no aarch64-linux-gnu-gcc or make"
)
def test_payloads_rebuild_byte_identical(tmp_path: Path) -> None:
    src = tmp_path / "payloads"
    shutil.copytree(PAYLOADS, src, ignore=shutil.ignore_patterns("build", "*.elf"))
    run = subprocess.run(["make", "-C", str(src)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "warning" not in run.stderr
    committed = sorted(PAYLOADS.glob("*.elf"))
    assert [p.name for p in committed] == ["echo.elf", "exceptions.elf", "idregs.elf", "reset.elf", "runaway.elf", "smp.elf", "spin.elf", "timer.elf", "tlbi.elf"]
    for elf in committed:
        assert (src / elf.name).read_bytes() == elf.read_bytes(), elf.name


# ID registers


def _raw_a72(encoding: tuple[int, int, int, int, int]) -> int:
    """An ID register as unicorn's Cortex-A72 model holds it (the reference the overrides start from)."""
    from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc
    from unicorn import arm64_const as A

    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM64_A72)
    op0, op1, crn, crm, op2 = encoding
    return uc.reg_read(A.UC_ARM64_REG_CP_REG, (crn, crm, op0, op1, op2))


@pytest.mark.parametrize("hyp", [True, False], ids=["hyp", "no-hyp"])
def test_id_registers_do_not_depend_on_the_destination_register(hyp: bool) -> None:
    """An overridden ID register is the real one adjusted, whatever the MRS destination held before."""
    report = boot(VIRT, PAYLOADS / "idregs.elf", hyp)
    assert report["exit"]["reason"] == "system_off"
    (seen,) = lines(report, "idregs")
    pfr0 = _raw_a72((3, 0, 0, 4, 0)) & ~(0xF << 24)  # a GICv2 board: no GIC system-register interface
    assert seen["pfr0a"] == seen["pfr0b"] == pfr0
    assert seen["mmfr0"] == _raw_a72((3, 0, 0, 7, 0))
    assert seen["mpidr"] == 1 << 31  # cpu@0's reg, with the RES1 bit


# EL2's own system instructions


def test_el2_tlb_maintenance_runs_at_el2_and_is_undefined_at_el1() -> None:
    report = boot(VIRT, PAYLOADS / "tlbi.elf", True)
    assert report["exit"]["reason"] == "system_off", report["console"]
    at_el2, at_el1 = lines(report, "tlbi")
    assert at_el2 == {"el": 2, "done": 5}
    assert at_el1 == {"el": "1", "esr": esr(EC_UNKNOWN), "elr": symbols(PAYLOADS / "tlbi.elf")["el1_tlbi"]}
