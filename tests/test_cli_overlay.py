"""armboot overlay apply on the command line, against fdtoverlay."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reference import armboot, dtc, needs_dtc

pytestmark = [needs_dtc, pytest.mark.skipif(shutil.which("fdtoverlay") is None, reason="fdtoverlay is not installed")]

BASE = """/dts-v1/;
/ {
\tclk: clock { #clock-cells = <0>; };
\tuart: serial@1000 { reg = <0x1000 0x100>; status = "disabled"; };
};
"""
OVERLAY = """/dts-v1/;
/plugin/;
&uart { status = "okay"; clocks = <&clk>; extra { x = <1>; }; };
&{/} { added { compatible = "test,added"; }; };
"""


def _compile(tmp: Path, name: str, text: str) -> Path:
    src = tmp / f"{name}.dts"
    src.write_text(text)
    out = tmp / f"{name}.dtb"
    assert dtc("-@", "-I", "dts", "-O", "dtb", "-o", out, src).ok
    return out


def test_apply_matches_fdtoverlay(tmp_path: Path) -> None:
    import subprocess

    base = _compile(tmp_path, "base", BASE)
    ovl = _compile(tmp_path, "ovl", OVERLAY)
    subprocess.run(["fdtoverlay", "-i", base, "-o", tmp_path / "ref.dtb", ovl], check=True)
    run = armboot("overlay", "apply", base, ovl, "-o", tmp_path / "ours.dtb")
    assert run.ok, run.err
    assert (tmp_path / "ours.dtb").read_bytes() == (tmp_path / "ref.dtb").read_bytes()


def test_unresolved_label_names_overlay_fragment_and_label(tmp_path: Path) -> None:
    base = _compile(tmp_path, "base", BASE)
    ovl = _compile(tmp_path, "typo", OVERLAY.replace("<&clk>", "<&clx>"))
    run = armboot("overlay", "apply", base, ovl, "-o", tmp_path / "out.dtb")
    assert run.rc == 1
    assert "typo.dtb" in run.err and "fragment@0" in run.err and "'clx'" in run.err and "clk" in run.err
    assert "Traceback" not in run.err
    assert not (tmp_path / "out.dtb").exists()
