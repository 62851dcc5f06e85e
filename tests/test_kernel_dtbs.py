"""Device trees that are not in ../shared: the DTBs Debian ships with its 6.12 arm64 kernel.

The kernel package `armboot linux fetch` cached (.ci/run fetches it) holds
about a thousand .dtb and fifty .dtbo files built by the kernel's own dtc from
trees eight years newer than the corpus.  A deterministic sample of them is
read, re-emitted, decompiled and checked by armboot and by the installed dtc:

- re-emitted (-I dtb -O dtb): the same bytes as dtc's;
- decompiled (-O dts): dtc's text, except where dtc's text does not compile
  back to the same tree (a string list whose strings start with digits, which
  dtc 1.6.1 prints as "\\00\\01", octal escapes); armboot's text always does;
- checked: the same (check, node path) pairs as dtc prints;
- and every shipped .dtbo, applied to the boards named most like it, gives
  fdtoverlay's bytes (or is refused where fdtoverlay refuses it).

Without the cached package these tests skip, saying why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from armboot.bootloader.debfile import extract
from armboot.bootloader.linux import default_cache_dir, manifest
from armboot.dtc.compiler import BuildOptions, compile_file, emit
from reference import armboot, dtc, needs_dtc
from test_checks import dtc_reports

SAMPLE_EVERY = 12  # every 12th file in name order: about ninety trees, every vendor folder


def _deb() -> str | None:
    m = manifest()
    if m is None:
        return None
    path = os.path.join(default_cache_dir(), m["kernel"]["deb"])
    return path if os.path.isfile(path) else None


DEB = _deb()
pytestmark = [needs_dtc, pytest.mark.skipif(DEB is None, reason="no cached kernel package: run `armboot linux fetch` first")]


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every .dtb and .dtbo of the package, written flat (vendor_board.dtb), by name."""
    assert DEB is not None
    found = extract(DEB, lambda name: name.startswith("/usr/lib/linux-image-") and name.endswith((".dtb", ".dtbo")))
    assert len(found) > 500, f"expected the kernel's DTBs in {DEB}, found {len(found)}"
    root = tmp_path_factory.mktemp("kernel-dtbs")
    out = {}
    for name in sorted(found):
        f = root / name.split("/", 4)[-1].replace("/", "_")
        f.write_bytes(found[name])
        out[f.name] = f
    return out


@pytest.fixture(scope="module")
def trees(blobs: dict[str, Path]) -> list[Path]:
    return [blobs[name] for name in sorted(blobs)][::SAMPLE_EVERY]


def _armboot(path: Path) -> tuple[bytes, str, set[tuple[str, str]]]:
    opts = BuildOptions(input_format="dtb", force=True)
    compiled = compile_file(str(path), opts)
    dtb = emit(compiled.tree, "dtb", opts)[0]
    text = emit(compiled.tree, "dts", opts)[0].decode("latin-1")
    return dtb, text, {(d.check, d.path) for d in compiled.diagnostics if d.check}


def _recompiled(text: str, tmp: Path) -> bytes | None:
    src = tmp / "text.dts"
    src.write_text(text, encoding="latin-1")
    run = dtc("-q", "-I", "dts", "-O", "dtb", "-b", "0", "-o", tmp / "text.dtb", src)
    return (tmp / "text.dtb").read_bytes() if run.ok else None


def test_kernel_dtbs_read_emit_decompile_and_check_like_dtc(trees: list[Path], tmp_path: Path) -> None:
    differing_text = 0
    for path in trees:
        ref_dtb = dtc("-I", "dtb", "-O", "dtb", "-o", tmp_path / "ref.dtb", path)
        ref_dts = dtc("-q", "-I", "dtb", "-O", "dts", path)
        assert ref_dtb.ok and ref_dts.ok, path.name
        dtb, text, findings = _armboot(path)
        assert dtb == (tmp_path / "ref.dtb").read_bytes(), f"{path.name}: re-emitted bytes differ from dtc's"
        assert findings == {(c, p) for c, p, _, _ in dtc_reports(ref_dtb.err)}, path.name
        theirs = ref_dts.out.decode("latin-1")
        if text != theirs:
            differing_text += 1
            same_tree = _recompiled(text, tmp_path)
            original = dtc("-I", "dtb", "-O", "dtb", "-b", "0", "-o", tmp_path / "orig.dtb", path)
            assert original.ok
            assert same_tree == (tmp_path / "orig.dtb").read_bytes(), f"{path.name}: armboot's text does not compile back"
            assert _recompiled(theirs, tmp_path) != same_tree, f"{path.name}: differs from dtc's text, which compiles back"
    assert len(trees) > 50 and differing_text < len(trees) // 4


def _shared_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def test_kernel_overlays_apply_like_fdtoverlay(blobs: dict[str, Path], tmp_path: Path) -> None:
    """Each shipped .dtbo onto the boards named most like it: fdtoverlay's bytes, or a refusal where it refuses."""
    bases = [n for n in blobs if n.endswith(".dtb")]
    applied = refused = 0
    for overlay in (n for n in sorted(blobs) if n.endswith(".dtbo")):
        stem = overlay.removesuffix(".dtbo")
        best = max(_shared_prefix(stem, b) for b in bases)
        for base in sorted(b for b in bases if _shared_prefix(stem, b) == best)[:3]:
            ref = subprocess.run(["fdtoverlay", "-i", blobs[base], "-o", tmp_path / "ref.dtb", blobs[overlay]], capture_output=True)
            run = armboot("overlay", "apply", blobs[base], blobs[overlay], "-o", tmp_path / "ours.dtb")
            assert "Traceback" not in run.err
            if ref.returncode == 0:
                assert run.rc == 0, f"{overlay} on {base}: {run.err}"
                assert (tmp_path / "ours.dtb").read_bytes() == (tmp_path / "ref.dtb").read_bytes(), f"{overlay} on {base}"
                applied += 1
            else:
                assert run.rc == 1 and "error" in run.err, f"{overlay} on {base}: fdtoverlay refuses, armboot does not"
                refused += 1
            (tmp_path / "ours.dtb").unlink(missing_ok=True)
    assert applied > 20 and refused > 0
