"""The bundled boards (boards/): each compiles as dtc compiles it, and boots its default payload, the host
kernel in boards/payloads/host, to a clean power-off with and without EL2.

What the host kernel prints is checked against independent references: the ELF's symbols (where the hyp
stub's vectors are, moved by where the report says the Image was loaded), the Linux hyp-stub ABI (return
values), the boot protocol (entry EL), and the board's tree (how many CPUs it has).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from armboot.bootloader.session import load_tree
from armboot.cli.boards import bundled, resolve_board
from armboot.hyp.platform.resolve import gic_intid, interrupts
from elftools.elf.elffile import ELFFile
from reference import DTC, armboot, dtc

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ROOT / "boards"
HOST = BOARDS / "payloads" / "host"
FOUNDATION = BOARDS / "foundation-v8" / "foundation-v8.dts"

BOOT_CPU_MODE_EL1, BOOT_CPU_MODE_EL2 = 0xE11, 0xE12
HVC_STUB_ERR = 0xBADCA11

BOARD_PARAMS = [
    pytest.param("virt", id="virt"),
    pytest.param("virt-gicv3", id="virt-gicv3"),
    pytest.param("foundation-v8", id="foundation-v8"),
]


# Boards with guests: booted under the hypervisor runtime by tests/test_hyp_runtime.py.
HYPERVISOR_BOARDS = ["virt-demo"]


def test_every_bundled_board_is_tested() -> None:
    assert sorted(bundled()) == sorted([*(p.values[0] for p in BOARD_PARAMS), *HYPERVISOR_BOARDS])


# Building


def preprocessed(board: Path, out: Path) -> Path:
    """What dtc reads: the tree through cpp as the kernel runs it when it has #include lines."""
    if "#include" not in board.read_text():
        return board
    cmd = [
        "cpp",
        "-nostdinc",
        "-undef",
        "-D__DTS__",
        "-x",
        "assembler-with-cpp",
        "-P",
        "-I",
        str(board.parent),
    ]
    subprocess.run([*cmd, "-o", str(out), str(board)], check=True)
    return out


@pytest.mark.skipif(DTC is None or shutil.which("cpp") is None, reason="needs the reference dtc and cpp")
@pytest.mark.parametrize("name", [*(p.values[0] for p in BOARD_PARAMS), *HYPERVISOR_BOARDS])
def test_board_builds_as_dtc_builds_it(name: str, tmp_path: Path) -> None:
    board = Path(resolve_board(name))
    run = armboot("build", board, "-o", tmp_path / "armboot.dtb")
    assert run.ok, run.err
    ref = dtc(
        "-q", "-I", "dts", "-O", "dtb", preprocessed(board, tmp_path / "board.pp.dts"), cwd=board.parent
    )
    assert ref.ok, ref.err
    assert (tmp_path / "armboot.dtb").read_bytes() == ref.out


# Booting the host kernel


@dataclass
class Boot:
    rc: int
    report: dict
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.report["console"].splitlines()

    def starting(self, prefix: str) -> list[str]:
        return [line for line in self.lines if line.startswith(prefix)]


def boot(board: str, tmp_path: Path, *args: str) -> Boot:
    report = tmp_path / "report.json"
    run = armboot(
        "boot", board, "--report", report, "-q", "--max-insns", "400000000", "--timeout", "60", *args
    )
    assert report.exists(), run.err
    return Boot(run.rc, json.loads(report.read_text()), run.err)


def symbols() -> dict[str, int]:
    with open(HOST / "host.elf", "rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in table.iter_symbols() if s.name}


def expected_stub_lines(load_address: int) -> list[str]:
    """The hyp stub's answers (Linux hyp-stub ABI), at the addresses the loaded Image has its vectors."""
    sym = symbols()
    stub = load_address + sym["__hyp_stub_vectors"] - sym["_head"]
    alt = load_address + sym["__hyp_alt_vectors"] - sym["_head"]
    return [
        f"hyp stub: vectors at {stub:#x}, alternative vectors at {alt:#x}",
        f"hyp stub: HVC_GET_VECTORS -> {stub:#x}",
        f"hyp stub: HVC_SET_VECTORS({alt:#x}) -> 0x0",
        f"hyp stub: HVC_GET_VECTORS -> {alt:#x}",
        "hyp stub: HVC_RESET_VECTORS -> 0x0",
        f"hyp stub: HVC_GET_VECTORS -> {stub:#x}",
        "hyp stub: HVC_SOFT_RESTART(0x5afe) -> entry ran at EL2 with x0 = 0x5afe, back at EL1",
        f"hyp stub: HVC_FINALISE_EL2 -> {HVC_STUB_ERR:#x} (ID_AA64MMFR1_EL1.VH = 0: staying at EL1, no VHE)",
        f"hyp stub: call 42 -> {HVC_STUB_ERR:#x} (HVC_STUB_ERR)",
    ]


def cpu_count(board: str) -> int:
    tree = load_tree(resolve_board(board), [])
    cpus = tree.find("/cpus")
    assert cpus is not None
    return sum(1 for n in cpus.nodes if (t := n.get("device_type")) is not None and t.string() == "cpu")


def check_common(b: Boot, board: str, el: int) -> None:
    """What every boot must show: a clean power-off, the entry EL, three ticks, every CPU up."""
    assert b.rc == 0, b.stderr + b.report["console"]
    assert b.report["exit"]["reason"] == "system_off"
    assert b.report["entry_el"] == el and b.report["hyp_available"] == (el == 2)
    assert b.lines[0] == "armboot host: a tiny host kernel"
    assert f"entry: EL{el} (CurrentEL {el << 2:#x}), now at EL1" in b.lines
    assert [line.split(",")[0] for line in b.starting("timer: tick")] == [
        f"timer: tick {n}" for n in (1, 2, 3)
    ]
    n = cpu_count(board)
    assert f"smp: {n} of {n} cpus came up" in b.lines
    assert all(f"entered at EL{el}, running at EL1" in line for line in b.starting("cpu") if "mpidr" in line)
    assert not b.starting("panic") and not b.starting("irq: unexpected")


@pytest.mark.parametrize("board", BOARD_PARAMS)
def test_boots_at_el2_and_the_stub_answers(board: str, tmp_path: Path) -> None:
    b = boot(board, tmp_path, "--hyp")
    check_common(b, board, 2)
    mode = f"boot mode: {BOOT_CPU_MODE_EL2:#x} (BOOT_CPU_MODE_EL2), hyp mode available: yes"
    assert mode in b.lines
    assert b.starting("hyp stub:") == expected_stub_lines(int(b.report["payload"]["entry"], 16))
    assert "boot modes: hyp mode available: yes, mismatched: no" in b.lines


@pytest.mark.parametrize("board", BOARD_PARAMS)
def test_boots_at_el1_without_hyp(board: str, tmp_path: Path) -> None:
    b = boot(board, tmp_path, "--no-hyp")
    check_common(b, board, 1)
    assert f"boot mode: {BOOT_CPU_MODE_EL1:#x} (BOOT_CPU_MODE_EL1), hyp mode available: no" in b.lines
    assert not b.starting("hyp stub:")  # is_hyp_mode_available() is false: no HVC is ever made
    assert "boot modes: hyp mode available: no, mismatched: no" in b.lines


def test_host_elf_boots_where_it_is_linked(tmp_path: Path) -> None:
    b = boot(str(BOARDS / "virt.dts"), tmp_path, "--kernel", str(HOST / "host.elf"))
    check_common(b, "virt", 2)
    assert b.report["payload"]["kind"] == "elf"
    assert b.starting("hyp stub:") == expected_stub_lines(symbols()["_head"])


def test_cpus_option_limits_the_cpus_the_payload_sees(tmp_path: Path) -> None:
    b = boot("virt", tmp_path, "--cpus", "1")
    assert b.rc == 0 and len(b.report["cpus"]) == 1
    assert "smp: 1 of 1 cpus came up" in b.lines


# The Foundation model's tree as the machine must read it


def test_foundation_motherboard_interrupts_go_through_the_interrupt_map() -> None:
    tree = load_tree(str(FOUNDATION), [])
    uart = tree.find("/bus@8000000/iofpga-bus@300000000/serial@90000")
    assert uart is not None
    (irq,) = interrupts(tree, uart)  # interrupts = <5>, mapped by <0 0 5 &gic 0 0 0 5 4>: SPI 5
    assert irq.controller.path == "/interrupt-controller@2c001000"
    assert irq.specifier == (0, 5, 4) and gic_intid(irq.specifier) == 37


# The committed binaries are what the sources build to

CROSS_GCC = shutil.which("aarch64-linux-gnu-gcc")


@pytest.mark.skipif(
    CROSS_GCC is None or shutil.which("make") is None, reason="no aarch64-linux-gnu-gcc or make"
)
def test_host_payload_rebuilds_byte_identical(tmp_path: Path) -> None:
    src = tmp_path / "host"
    shutil.copytree(HOST, src, ignore=shutil.ignore_patterns("build", "host.elf", "host.bin"))
    run = subprocess.run(["make", "-C", str(src)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "warning" not in run.stderr
    for name in ("host.elf", "host.bin"):
        assert (src / name).read_bytes() == (HOST / name).read_bytes(), name
