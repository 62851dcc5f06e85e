"""Device trees that are not in ../shared: Debian's newest kernel source (6.12 here), eight years newer.

scripts/fetch-kernel-dts (run by .ci/run) extracts the dts folders of its
linux-source package.  A deterministic sample of the arm64 and 32-bit arm
boards is built the kernel's way (cpp with include-prefixes, then dtc -b 0) and
by `armboot build` in batch mode from the raw .dts: the bytes must be the same,
and `armboot check --no-schemas --format json` must report the (check, node
path) pairs dtc prints.  Without the extracted source these tests skip, saying
why.  The whole trees (1118 arm64 and 1621 arm boards) agree too: see
bench/kernel_source.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from reference import armboot, dtc, needs_dtc
from test_checks import dtc_reports


def _source() -> Path | None:
    root = Path(os.environ.get("ARMBOOT_KERNEL_SRC", ""))
    found = sorted(root.glob("linux-source-*/.complete")) if root.is_dir() else []
    return found[-1].parent if found else None


SOURCE = _source()
pytestmark = [needs_dtc, pytest.mark.skipif(SOURCE is None, reason="no kernel source: run scripts/fetch-kernel-dts first")]
SAMPLES = {"arm64": 6, "arm": 10}  # every Nth board in name order


def boards(arch: str) -> list[Path]:
    assert SOURCE is not None
    return sorted((SOURCE / "arch" / arch / "boot" / "dts").rglob("*.dts"))[:: SAMPLES[arch]]


def reference(board: Path, out: Path) -> set[tuple[str, str]]:
    """cpp and dtc as the kernel's build runs them; returns dtc's (check, path) pairs."""
    assert SOURCE is not None
    prefixes = SOURCE / "scripts" / "dtc" / "include-prefixes"
    pp = out.with_suffix(".pp.dts")
    subprocess.run(
        ["cpp", "-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp", "-P", "-I", board.parent, "-I", prefixes, "-o", pp, board],
        check=True, capture_output=True,
    )  # fmt: skip
    run = dtc("-I", "dts", "-O", "dtb", "-b", "0", "-i", board.parent, "-i", prefixes, "-o", out, pp)
    assert run.ok, f"{board}: {run.err[-500:]}"
    return {(check, path) for check, path, _, _ in dtc_reports(run.err)}


@pytest.mark.parametrize("arch", sorted(SAMPLES))
def test_newer_kernel_boards_build_and_check_like_dtc(arch: str, tmp_path: Path) -> None:
    assert SOURCE is not None
    sample = boards(arch)
    assert len(sample) > 100
    prefixes = SOURCE / "scripts" / "dtc" / "include-prefixes"
    (tmp_path / "ref").mkdir()
    expected = {b: reference(b, tmp_path / "ref" / (b.stem + ".dtb")) for b in sample}
    built = armboot("build", "-q", "-b", "0", "-i", prefixes, "--out-dir", tmp_path / "ours", *sample)
    assert built.rc == 0, built.err[-2000:]
    for b in sample:
        ours, ref = tmp_path / "ours" / (b.stem + ".dtb"), tmp_path / "ref" / (b.stem + ".dtb")
        assert ours.read_bytes() == ref.read_bytes(), f"{b}: armboot's DTB differs from dtc's"
    checked = armboot("check", "--no-schemas", "--format", "json", "-i", prefixes, *sample)
    found: dict[str, set[tuple[str, str]]] = {str(b): set() for b in sample}
    for f in json.loads(checked.out):
        found[f.get("input", f["file"])].add((f["check"], f["path"]))
    for b in sample:
        assert found[str(b)] == expected[b], f"{b}: armboot check differs from dtc's warnings"
