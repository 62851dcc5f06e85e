"""The hypervisor runtime's guest payloads (boards/payloads/guest, boards/payloads/probe) on the bare virt board.

They are written for EL1 inside a VM, finding everything in the DTB, so they also run on boards/virt.dts
entered at EL1 with EL2 disabled (PSCI over SMC; EL2 registers and HVC are UNDEF there), and at EL2, which
they leave for EL1 behind a stub that answers every HVC with -1 (NOT_SUPPORTED), as a hypervisor does.

Expected addresses and INTIDs come from the board's tree (the GIC's and the PL011's reg, the timer's third
interrupt), exception syndromes from the Arm ARM (ESR_ELx.EC, DFSC), the rest from the payloads' documented
output.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from armboot.bootloader.report import build_report
from armboot.bootloader.session import BootOptions, boot_and_run, load_tree
from elftools.elf.elffile import ELFFile

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = ROOT / "boards" / "payloads"
GUEST, PROBE = PAYLOADS / "guest", PAYLOADS / "probe"
VIRT = ROOT / "boards" / "virt.dts"
BUDGET = 50_000_000  # instructions: a stuck payload ends as "timeout", never hangs the suite

EC_UNKNOWN, EC_DABT_CUR = 0x00, 0x25  # ESR_ELx.EC: UNDEF; data abort without a change in EL
DFSC_SEA = 0x10  # synchronous external abort, not on a translation table walk
# Neither RAM nor a device on virt: armboot answers a read there with a synchronous external abort.
UNMAPPED = (0x2000_0000, 0x8000_0000)
IMAGE_MAGIC = 0x644D5241  # "ARM\x64", at offset 56 of an arm64 Image header


def boot(
    kernel: Path, hyp: bool, bootargs: str | None = None, cpus: int | None = None, tree: Path = VIRT
) -> dict:
    opts = BootOptions(
        board=str(tree),
        kernel=str(kernel),
        bootargs=bootargs,
        hyp=hyp,
        cpus=cpus,
        max_insns=BUDGET,
        timeout=30,
    )
    report = build_report(boot_and_run(opts))
    assert report["exit"] == {"reason": "system_off", "by": "PSCI SYSTEM_OFF"}, report["console"]
    assert report["entry_el"] == (2 if hyp else 1)
    return report


def console(report: dict) -> list[str]:
    return report["console"].splitlines()


@cache
def board(path: Path = VIRT) -> dict[str, int]:
    """What the guest must have found in the tree: GICD, GICC, the PL011, the virtual timer's INTID."""
    tree = load_tree(str(path), [])

    def node(compatible: str):
        return next(
            n for n in tree.walk() if (c := n.get("compatible")) is not None and compatible in c.strings()
        )

    def reg(compatible: str, index: int) -> int:
        cells = node(compatible).get("reg").cells()  # type: ignore[union-attr]
        hi, lo = cells[4 * index : 4 * index + 2]  # #address-cells = #size-cells = 2
        return hi << 32 | lo

    kind, number, _flags = node("arm,armv8-timer").get("interrupts").cells()[6:9]  # type: ignore[union-attr]
    assert kind == 1  # a PPI: INTID 16 + number
    return {
        "gicd": reg("arm,cortex-a15-gic", 0),
        "gicc": reg("arm,cortex-a15-gic", 1),
        "uart": reg("arm,pl011", 0),
        "vtimer": 16 + number,
    }


@cache
def symbols(elf: Path) -> dict[str, int]:
    with open(elf, "rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in table.iter_symbols() if s.name}


# The plain guest


def expected_guest(
    name: str, ticks: int, dropped: bool = False, cpus: int = 2, tree: Path = VIRT
) -> list[str]:
    b = board(tree)
    out = [f"{name}: guest payload at EL1 (CurrentEL 0x4)"]
    if dropped:
        out.append(f"{name}: entered at EL2, dropped to EL1")
    out += [
        f"{name}: console pl011 at {b['uart']:#x}",
        f"{name}: gic v2 distributor {b['gicd']:#x} cpu interface {b['gicc']:#x}",
        f"{name}: virtual timer intid {b['vtimer']}, {ticks} ticks every 10 ms",
        *(f"{name}: tick {n}" for n in range(1, ticks + 1)),
    ]
    for cpu in range(1, cpus):
        out += [
            f"{name}: cpu{cpu}: CPU_ON mpidr {cpu:#x} over smc",
            f"{name}: cpu{cpu} up at EL1, mpidr {cpu:#x}",
            f"{name}: cpu{cpu} off",
        ]
    return [*out, f"{name}: {cpus} of {cpus} cpus up", f"{name}: SYSTEM_OFF over smc"]


@pytest.mark.parametrize(
    ("kernel", "bootargs", "name", "ticks"),
    [
        pytest.param("guest.bin", "name=domU1", "domU1", 3, id="image-named"),
        pytest.param("guest.elf", None, "guest", 3, id="elf-board-bootargs"),
        pytest.param("guest.bin", "console=hvc0 ticks=5 name=vm2 ", "vm2", 5, id="ticks"),
    ],
)
def test_guest_at_el1(kernel: str, bootargs: str | None, name: str, ticks: int) -> None:
    report = boot(GUEST / kernel, hyp=False, bootargs=bootargs)
    assert board()["vtimer"] == 27  # the virtual timer's PPI 11, as the issue says
    assert console(report) == expected_guest(name, ticks)
    assert [cpu.get("stop_reason") for cpu in report["cpus"]] == ["system_off", "cpu_off"]


def test_guest_with_one_cpu_starts_none() -> None:
    report = boot(GUEST / "guest.bin", hyp=False, bootargs="name=solo ticks=1", cpus=1)
    assert console(report) == expected_guest("solo", 1, cpus=1)


def test_guest_entered_at_el2_drops_to_el1() -> None:
    report = boot(GUEST / "guest.bin", hyp=True, bootargs="name=domU1")
    assert console(report) == expected_guest("domU1", 3, dropped=True)


# A tree laid out as Xen's guest board (references.md): other addresses, the console through an alias only
XEN_LIKE = """/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	interrupt-parent = <&gic>;
	chosen { bootargs = "name=domU2 ticks=2"; };
	aliases { serial0 = &uart; };
	memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x4000000>; };
	psci { compatible = "arm,psci-1.0", "arm,psci-0.2"; method = "smc"; };
	cpus {
		#address-cells = <1>;
		#size-cells = <0>;
		cpu@0 { device_type = "cpu"; compatible = "arm,armv8"; reg = <0x0>; enable-method = "psci"; };
		cpu@1 { device_type = "cpu"; compatible = "arm,armv8"; reg = <0x1>; enable-method = "psci"; };
	};
	timer {
		compatible = "arm,armv8-timer";
		interrupts = <1 13 0xf08>, <1 14 0xf08>, <1 11 0xf08>, <1 10 0xf08>;
	};
	gic: interrupt-controller@3001000 {
		compatible = "arm,cortex-a15-gic";
		#interrupt-cells = <3>;
		#address-cells = <0>;
		interrupt-controller;
		reg = <0x0 0x03001000 0x0 0x1000>, <0x0 0x03002000 0x0 0x2000>;
	};
	uart: sbsa-uart@22000000 {
		compatible = "arm,pl011", "arm,primecell";
		reg = <0x0 0x22000000 0x0 0x1000>;
		interrupts = <0 0 4>;
	};
};
"""


def test_guest_finds_everything_in_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "xen-like.dts"
    tree.write_text(XEN_LIKE)
    report = boot(GUEST / "guest.bin", hyp=False, tree=tree)
    assert board(tree)["uart"] == 0x2200_0000 and board(tree)["gicd"] == 0x0300_1000
    assert console(report) == expected_guest("domU2", 2, tree=tree)


# The isolation probe


def abort_line(addr: int) -> str:
    return f"probe: read {addr:#x}: data abort, EC {EC_DABT_CUR:#x}, DFSC {DFSC_SEA:#x}, FAR {addr:#x}"


EL2_ACCESSES = ["mrs x0, hcr_el2", "msr vbar_el2, x0", "mrs x0, vttbr_el2"]


def test_probe_at_el1_without_el2() -> None:
    foreign = ",".join(f"{a:#x}" for a in UNMAPPED)
    report = boot(PROBE / "probe.bin", hyp=False, bootargs=f"name=probe foreign={foreign}")
    assert console(report) == [
        "probe: isolation probe at EL1 (CurrentEL 0x4)",
        f"probe: console pl011 at {board()['uart']:#x}",
        *(abort_line(a) for a in UNMAPPED),
        *(f"probe: {insn}: UNDEF (EC {EC_UNKNOWN:#x})" for insn in EL2_ACCESSES),
        "probe: hvc #0 function 0x83000bad: UNDEF (EC 0x0)",  # EL2 disabled: HVC is UNDEFINED at EL1
        "probe: 2/2 foreign reads aborted, 3/3 EL2 accesses UNDEF, hvc UNDEF",
        "probe: SYSTEM_OFF over smc",
    ]


def test_probe_reads_what_is_mapped_and_gets_not_supported_from_a_hypervisor() -> None:
    """At EL2 the probe leaves a stub that answers HVC as a hypervisor does; its own Image is readable."""
    magic = symbols(PROBE / "probe.elf")["_head"] + 56
    report = boot(PROBE / "probe.elf", hyp=True, bootargs=f"foreign={magic:#x},{UNMAPPED[1]} name=isolated")
    lines = console(report)
    assert lines[:3] == [
        "isolated: isolation probe at EL1 (CurrentEL 0x4)",
        "isolated: entered at EL2, dropped to EL1",
        f"isolated: console pl011 at {board()['uart']:#x}",
    ]
    assert lines[3:] == [
        f"isolated: read {magic:#x}: value {IMAGE_MAGIC:#x}",
        abort_line(UNMAPPED[1]).replace("probe:", "isolated:"),
        *(f"isolated: {insn}: UNDEF (EC 0x0)" for insn in EL2_ACCESSES),
        "isolated: hvc #0 function 0x83000bad: returned -1",
        "isolated: 1/2 foreign reads aborted, 3/3 EL2 accesses UNDEF, hvc NOT_SUPPORTED",
        "isolated: SYSTEM_OFF over smc",
    ]


def test_probe_without_foreign_addresses() -> None:
    report = boot(PROBE / "probe.bin", hyp=False)  # virt.dts's own bootargs: no name=, no foreign=
    assert "probe: 0/0 foreign reads aborted, 3/3 EL2 accesses UNDEF, hvc UNDEF" in console(report)


# The committed binaries are what the sources build to

CROSS_GCC = shutil.which("aarch64-linux-gnu-gcc")


@pytest.mark.skipif(
    CROSS_GCC is None or shutil.which("make") is None, reason="no aarch64-linux-gnu-gcc or make"
)
@pytest.mark.parametrize("name", ["guest", "probe"])
def test_guest_payload_rebuilds_byte_identical(name: str, tmp_path: Path) -> None:
    """Built from a copy: the payloads share guest/'s start.S and common.c and the host payload's sources."""
    outputs = shutil.ignore_patterns("build", "*.elf", "*.bin")
    for folder in ("host", "guest", "probe"):
        shutil.copytree(PAYLOADS / folder, tmp_path / folder, ignore=outputs)
    run = subprocess.run(["make", "-C", str(tmp_path / name)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "warning" not in run.stderr
    for out in (f"{name}.elf", f"{name}.bin"):
        assert (tmp_path / name / out).read_bytes() == (PAYLOADS / name / out).read_bytes(), out
