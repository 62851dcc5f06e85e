"""Hostile input never hangs or crashes armboot: each gets a clean error (or output) in bounded time."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from armboot.dtc.compiler import BuildOptions, compile_file, emit
from armboot.dtc.errors import DtcError
from reference import armboot, dtc, needs_dtc

pytestmark = needs_dtc
HDR = "/dts-v1/;\n"


def clean_failure(run, seconds: float, limit: float = 60) -> None:
    assert run.rc == 1, (run.rc, run.err[-2000:])
    assert "Traceback" not in run.err and "internal error" not in run.err
    assert seconds < limit


def timed(*args, **kw):
    t0 = time.monotonic()
    run = armboot(*args, **kw)
    return run, time.monotonic() - t0


def test_include_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.dtsi").write_text('/include/ "b.dtsi"\n')
    (tmp_path / "b.dtsi").write_text('/include/ "a.dtsi"\n')
    (tmp_path / "x.dts").write_text(HDR + '/include/ "a.dtsi"\n/ { };\n')
    run, secs = timed("build", "--no-cache", tmp_path / "x.dts")
    clean_failure(run, secs)
    assert "nested too deeply" in run.err


def test_cpp_include_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.h").write_text('#include "a.h"\n')
    (tmp_path / "x.dts").write_text('#include "a.h"\n' + HDR + "/ { };\n")
    run, secs = timed("build", "--no-cache", tmp_path / "x.dts")
    clean_failure(run, secs)
    assert "a.h" in run.err


@pytest.mark.parametrize("depth, ok", [(3330, True), (3331, False), (200_000, False)])
def test_deep_nesting_matches_dtc_limit(depth: int, ok: bool, tmp_path: Path) -> None:
    src = tmp_path / "deep.dts"
    src.write_text(HDR + "/ {" + " n {" * depth + " p;" + " };" * depth + " };\n")
    assert dtc("-q", "-o", tmp_path / "ref.dtb", src).ok == ok
    run, secs = timed("build", "--no-cache", src, "-o", tmp_path / "ours.dtb")
    if ok:
        assert run.ok and (tmp_path / "ours.dtb").read_bytes() == (tmp_path / "ref.dtb").read_bytes()
    else:
        clean_failure(run, secs)
        assert "memory exhausted" in run.err


@pytest.mark.parametrize(
    "value",
    ["/bits/ 99999999999999999999999 <1>", "/bits/ 64 <0x10000000000000000>", "/bits/ 128 <1>",
     "/bits/ 0xffffffffffffffff <1>", "<(1 << 0xffffffffffffffff)>", "<(0xffffffffffffffff * 0xffffffffffffffff)>"],
)  # fmt: skip
def test_enormous_numbers(value: str, tmp_path: Path) -> None:
    src = tmp_path / "n.dts"
    src.write_text(HDR + f"/ {{ a = {value}; }};\n")
    ref = dtc("-q", "-o", tmp_path / "ref.dtb", src)
    run, secs = timed("build", "--no-cache", src, "-o", tmp_path / "ours.dtb")
    if ref.ok:
        assert run.ok and (tmp_path / "ours.dtb").read_bytes() == (tmp_path / "ref.dtb").read_bytes()
    else:
        clean_failure(run, secs)


@pytest.mark.parametrize(
    "args",
    ['"blob.bin", 0, 0xffffffffffffffff', '"blob.bin", 0xffffffffffffffff, 4', '"blob.bin", 0x7fffffffffffffff, 4',
     '"blob.bin", 2, 0x7fffffffffffffff', '"blob.bin", 1000, 1000'],
)  # fmt: skip
def test_enormous_incbin_lengths(args: str, tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(100)))
    src = tmp_path / "i.dts"
    src.write_text(HDR + f"/ {{ a = /incbin/({args}); }};\n")
    ref = dtc("-q", "-o", tmp_path / "ref.dtb", src)
    run, secs = timed("build", "--no-cache", src, "-o", tmp_path / "ours.dtb")
    assert secs < 60
    if ref.ok:
        assert run.ok, run.err
        assert (tmp_path / "ours.dtb").read_bytes() == (tmp_path / "ref.dtb").read_bytes()
    else:
        clean_failure(run, secs)


def test_incbin_of_an_endless_device(tmp_path: Path) -> None:
    src = tmp_path / "z.dts"
    src.write_text(HDR + '/ { a = /incbin/("/dev/zero", 0, 0x100000000); };\n')
    run, secs = timed("build", "--no-cache", src, "-o", tmp_path / "z.dtb")
    clean_failure(run, secs)
    assert "too large" in run.err


@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    src = tmp_path / "g.dts"
    body = bytes(rng.randrange(256) for _ in range(20000))
    src.write_bytes(body if seed % 2 else b"/dts-v1/;\n/ {\n" + body)
    with pytest.raises(DtcError) as err:
        compile_file(str(src), BuildOptions(cpp=False))
    assert err.value.diagnostics and err.value.diagnostics[0].location is not None


def test_non_utf8_text(tmp_path: Path) -> None:
    src = tmp_path / "latin.dts"
    src.write_bytes(HDR.encode() + b'/ { model = "\xff\xfe caf\xe9"; \xe9 = <1>; };\n')
    ref = dtc("-q", "-o", tmp_path / "ref.dtb", src)
    run, secs = timed("build", "--no-cache", src, "-o", tmp_path / "ours.dtb")
    assert not ref.ok
    clean_failure(run, secs)
    src.write_bytes(HDR.encode() + b'/ { model = "\xff\xfe caf\xe9\x00"; };\n')
    opts = BuildOptions()
    blob, _ = emit(compile_file(str(src), opts).tree, "dtb", opts)
    assert blob == dtc("-q", src).out


def test_unterminated_everything(tmp_path: Path) -> None:
    for text in ['/ { a = "', "/ { a = <", "/ { a = [", "/ {", "/* ", "/ { a = '", "/ { a = <(((((1"]:
        src = tmp_path / "u.dts"
        src.write_text(HDR + text)
        with pytest.raises(DtcError):
            compile_file(str(src), BuildOptions())


@pytest.mark.parametrize("text", ["", "\n", HDR, HDR + "/plugin/;\n", "/* only a comment */\n", HDR + "/memreserve/ 1 2;\n"])
def test_no_tree_at_all(text: str, tmp_path: Path) -> None:
    """Empty input, or a header with no tree: dtc's syntax error, from the library and the command alike."""
    src = tmp_path / "empty.dts"
    src.write_text(text)
    assert dtc("-o", tmp_path / "ref.dtb", src).rc == 1
    with pytest.raises(DtcError):
        compile_file(str(src), BuildOptions())
    run, secs = timed("build", "--no-cache", src, "-o", tmp_path / "ours.dtb")
    clean_failure(run, secs)
    assert "input ends before the tree" in run.err


def test_huge_flat_value_is_linear(tmp_path: Path) -> None:
    src = tmp_path / "big.dts"
    src.write_text(HDR + "/ { a = <" + " ".join(str(i) for i in range(100_000)) + ">; };\n")
    t0 = time.monotonic()
    opts = BuildOptions()
    blob, _ = emit(compile_file(str(src), opts).tree, "dtb", opts)
    assert time.monotonic() - t0 < 30
    assert blob == dtc("-q", src).out
