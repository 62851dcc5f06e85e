"""Device trees that are not in ../shared: the DTBs Debian ships with its 6.12 arm64 kernel.

The kernel package `armboot linux fetch` cached (.ci/run fetches it) holds
about a thousand .dtb and fifty .dtbo files built by the kernel's own dtc from
trees eight years newer than the corpus.  A deterministic sample of them is
read, re-emitted, decompiled and checked by armboot and by the installed dtc:

- re-emitted (-I dtb -O dtb): the same bytes as dtc's;
- decompiled (-O dts): dtc's text, except where dtc's text does not compile
  back to the same tree (a string list whose strings start with digits, which
  dtc 1.6.1 prints as "\\00\\01", octal escapes); armboot's text always does;
- checked: the same (check, node path) pairs as dtc prints.

Without the cached package these tests skip, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from armboot.bootloader.debfile import extract
from armboot.bootloader.linux import default_cache_dir, manifest
from armboot.dtc.compiler import BuildOptions, compile_file, emit
from reference import dtc, needs_dtc
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
def trees(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    assert DEB is not None
    blobs = extract(DEB, lambda name: name.startswith("/usr/lib/linux-image-") and name.endswith((".dtb", ".dtbo")))
    assert len(blobs) > 500, f"expected the kernel's DTBs in {DEB}, found {len(blobs)}"
    root = tmp_path_factory.mktemp("kernel-dtbs")
    out = []
    for i, name in enumerate(sorted(blobs)):
        if i % SAMPLE_EVERY:
            continue
        f = root / name.split("/", 4)[-1].replace("/", "_")
        f.write_bytes(blobs[name])
        out.append(f)
    return out


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
