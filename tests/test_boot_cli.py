"""``armboot boot`` from the command line: console input from stdin, and payloads it must refuse.

Every refusal is a one-line error naming the file and the problem, exit
status 1 (bad input), and never a Python traceback.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.reference import armboot

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "tests" / "payloads" / "echo.elf"
HOST_ELF = ROOT / "boards" / "payloads" / "host" / "host.elf"
IMAGE_MAGIC = 0x644D5241
EXIT_BAD_INPUT, EXIT_TIMEOUT = 1, 4


def test_typed_input_reaches_the_console_uart() -> None:
    run = armboot("boot", "virt", "--kernel", ECHO, "--no-hyp", stdin=b"hello, uart\n")
    assert run.rc == 0, run.err
    assert run.out == b"echo ready\nHELLO, UART\n"


def test_no_stdin_means_no_input() -> None:
    run = armboot("boot", "virt", "--kernel", ECHO, "--no-stdin", "--max-insns", "2000000", stdin=b"x\n")
    assert run.rc == EXIT_TIMEOUT
    assert run.out == b"echo ready\n"


def image(image_size: int, magic: int = IMAGE_MAGIC) -> bytes:
    """An arm64 Image header (booting.rst): branch, text_offset 0x80000, image_size, flags 0xa."""
    hdr = bytearray(64)
    struct.pack_into("<IIQQQ", hdr, 0, 0x14000010, 0, 0x80000, image_size, 0xA)
    struct.pack_into("<I", hdr, 56, magic)
    return bytes(hdr) + bytes(4096)


def refused(run_args: list[str | Path], *needles: str) -> None:
    run = armboot("boot", "virt", *run_args)
    assert run.rc == EXIT_BAD_INPUT, (run.rc, run.err)
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in run.err, run.err


def test_missing_payload(tmp_path: Path) -> None:
    refused(["--kernel", tmp_path / "nowhere.img"], "cannot read payload", "nowhere.img", "No such file")


def test_bad_magic(tmp_path: Path) -> None:
    f = tmp_path / "bad.img"
    f.write_bytes(image(0x100000, magic=0x12345678))
    refused(["--kernel", f], "bad.img", "not an arm64 Image", "raw binary needs --load-addr")


def test_not_an_aarch64_elf(tmp_path: Path) -> None:
    f = tmp_path / "x86.elf"
    f.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HH", 2, 62) + bytes(100))
    refused(["--kernel", f], "x86.elf", "not AArch64")


def test_too_large_for_ram(tmp_path: Path) -> None:
    f = tmp_path / "huge.img"
    f.write_bytes(image(1 << 30))  # 1 GB: virt has 256 MB
    refused(["--kernel", f], "huge.img", "no free 2 MB-aligned place", "0x40000000 bytes")


def test_outside_ram(tmp_path: Path) -> None:
    f = tmp_path / "raw.bin"
    f.write_bytes(bytes(0x1000))
    refused(["--kernel", f, "--load-addr", "0x4ffff800"], "raw.bin", "is not inside RAM")


def test_overlapping_a_reserved_region(tmp_path: Path) -> None:
    board = tmp_path / "reserved.dts"
    board.write_text(f'/dts-v1/;\n/memreserve/ 0x40080000 0x1000;\n/include/ "{ROOT / "boards" / "virt.dts"}"\n')
    run = armboot("boot", board, "--kernel", HOST_ELF)
    assert run.rc == EXIT_BAD_INPUT and "Traceback" not in run.err
    assert "host.elf" in run.err and "overlaps a /memreserve/ entry" in run.err


@pytest.mark.parametrize("flag", ["--initrd", "--dtb-out", "--report"])
def test_unusable_files(flag: str, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "f"
    run = armboot("boot", "virt", flag, target, "--max-insns", "100000")
    assert run.rc == EXIT_BAD_INPUT and "Traceback" not in run.err
    assert str(target) in run.err


# Boards no real machine could have: found by mutating the
# bundled trees (RAM placement, device windows, compatibles) and booting them.
BAD_BOARDS = {
    "unaligned RAM": ("&{/memory@40000000} { reg = <0x0 0x40000010 0x0 0x10000000>; };", "does not start on a 4 KiB page"),
    "RAM beyond the PA space": ("&{/memory@40000000} { reg = <0xffff0000 0x0 0x0 0x10000000>; };", "beyond the 48-bit physical address space"),
    "RAM over a device": ("&{/memory@40000000} { reg = <0x0 0x8000000 0x0 0x10000000>; };", "/memory@40000000 (RAM) at 0x8000000 overlaps /interrupt-controller@8000000"),
    "an interrupt controller with no cells": ("&gic { #interrupt-cells = <0>; };", "has #interrupt-cells = <0>"),
    "more RAM than the host has": ("&{/memory@40000000} { reg = <0x0 0x40000000 0xffff 0x0>; };", "cannot give the machine"),
}


@pytest.mark.parametrize("case", sorted(BAD_BOARDS))
def test_impossible_boards(case: str, tmp_path: Path) -> None:
    amendment, needle = BAD_BOARDS[case]
    board = tmp_path / "bad.dts"
    board.write_text(f'/dts-v1/;\n/include/ "{ROOT / "boards" / "virt.dts"}"\n{amendment}\n')
    run = armboot("boot", board, "--kernel", HOST_ELF, "--max-insns", "100000")
    assert run.rc == EXIT_BAD_INPUT, (run.rc, run.err)
    assert "Traceback" not in run.err and "internal error" not in run.err
    assert needle in run.err and "bad.dts" in run.err, run.err


def test_device_without_a_compatible_string(tmp_path: Path) -> None:
    board = tmp_path / "odd.dts"
    board.write_text(f'/dts-v1/;\n/include/ "{ROOT / "boards" / "virt.dts"}"\n/ {{ odd@a000000 {{ compatible = ""; reg = <0x0 0xa000000 0x0 0x1000>; }}; }};\n')
    run = armboot("boot", board, "--kernel", HOST_ELF)
    assert run.rc == 0, run.err
    assert "no model for /odd@a000000 (no compatible string)" in run.err


def test_unknown_board_names_the_bundled_ones() -> None:
    run = armboot("boot", "nosuchboard")
    assert run.rc == EXIT_BAD_INPUT and "Traceback" not in run.err
    assert "no such board: nosuchboard" in run.err and "virt-demo" in run.err and "foundation-v8" in run.err
