"""DTS output against the reference dtc 1.6.1, byte for byte, and back to the same blob.

For trees compiled from source (dtc -I dts -O dts, after the checks filled in
references) and for trees read from a blob (dtc -I dtb -O dts, where dtc guesses
strings, cells or bytes), the text must be dtc's; and the text must compile
(with dtc and with armboot) to the blob it came from.  Where 1.6.1 aborts on an
assertion, armboot must still write text that compiles to the same blob.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from armboot.dtc.compiler import BuildOptions, compile_file
from armboot.dtc.data import Data, Kind, Marker
from armboot.dtc.dtsout import format_property, guess_type, to_dts
from armboot.dtc.fdt import to_dtb
from armboot.dtc.fdtread import read_dtb
from armboot.dtc.frontend import ParseCache
from armboot.dtc.tree import DeviceTree, Property
from reference import dtc, needs_corpus, needs_dtc
from test_fdtread import board_include_dirs, reference_build, sample_boards
from test_language import CASES, HDR, OPTION_CASES

pytestmark = needs_dtc

BIN = b"abc\0\x01\xff"  # the file /incbin/ reads in the cases below

EXTRA_CASES: dict[str, str] = {
    "escapes-and-controls": HDR + '/ { a = "t\\tn\\nr\\r\\a\\b\\v\\f\\x01\\x1b\\x7f\\"\\\\"; };',
    "high-bytes": HDR + '/ { a = "\\x80\\xff", "ok"; };',
    "empty-values": HDR + '/ { a; b = ""; c = <>; d = []; e = "", ""; f = /bits/ 16 <>; };',
    "odd-lengths": HDR + "/ { a = [01 02 03]; b = /bits/ 16 <1 2 3>; c = [01 02 03 04 05]; };",
    "embedded-nuls": HDR + '/ { a = "a\\0b"; b = "a", "", "b"; c = [00 00]; d = [61 00 62 00]; e = "\\0"; };',
    "labels-everywhere": HDR
    + '/ { L0: a = L1: <1 L2: 2 L3:> L4:, L5: "x" L6:, [L7: 01 L8: 02 L9:] L10:; b = L11: &n L12:; n: n { }; };',
    "bits": HDR
    + "/ { a = /bits/ 8 <1 2 L: 3>; b = /bits/ 16 <0x1234 L:>; c = /bits/ 64 <1 0xffffffffffffffff>; };",
    "refs": HDR
    + '/ { a = <&n>, "x", <&{/n}>; b = &n; c = <1 &n 2>; d = &n, "s", &{/n}; e = "x", &n; n: n { }; };',
    "mixed": HDR + '/ { a = "x", <1 2>, [03], /bits/ 16 <5 6>, /bits/ 64 <7>, /bits/ 8 <9>; };',
    "memreserve-labels": HDR
    + "m1: m2: /memreserve/ 0x1000 0x2000;\n/memreserve/ 0xffffffff00000000 1;\n/ { };",
    "node-labels": HDR + "/ { l1: l2: n { }; };\n&l1 { l3: m { }; };",
    "deleted-labels": HDR
    + "/ { l1: a { }; l2: b { p1: x; }; };\n/delete-node/ &l1;\n&l2 { /delete-property/ x; };",
    "string-list-guess": HDR + '/ { a = "abc\\0d"; b = [61 62 00 63 00]; c = [41 00 00 00]; };',
    "incbin-whole": HDR + '/ { a = /incbin/("bin.bin"); b = /incbin/("bin.bin", 1, 2); };',
    "incbin-after-cells": HDR + '/ { a = <1>, /incbin/("bin.bin", 0, 4); b = /incbin/("bin.bin", 0, 4); };',
    "incbin-after-string": HDR + '/ { a = "x", /incbin/("bin.bin", 0, 4); };',
    "incbin-labels": HDR + '/ { a = L: /incbin/("bin.bin", 0, 4) M:; };',
    "empty-piece-first": HDR + '/ { a = <>, "x"; };',
    "empty-piece-last": HDR + '/ { a = "x", <>; };',
    "empty-piece-middle": HDR + '/ { a = <1>, [], <2>; b = "ab", [], "cd"; };',
    "dtc-aborts-incbin-string": HDR + '/ { a = "x", /incbin/("bin.bin"), <1>; };',
    "dtc-aborts-incbin-cells": HDR + '/ { a = <1>, /incbin/("bin.bin"); };',
    "dtc-aborts-incbin-labels": HDR + '/ { a = "x", L: /incbin/("bin.bin") M:; };',
    "phandle-value-guess": HDR + "/ { a: a { }; b: b { phandle = <0x41424300>; }; c { x = <&a &b>; }; };",
    "nested": HDR + "/ { a { e; b { c { d = <1>; }; }; }; f { }; };",
}

# Where dtc 1.6.1's own -O dts text does not compile back to the same blob.
FLAG_OPTIONS = {"-@": "symbols", "-A": "aliases", "-s": "sort", "-f": "force"}


def build_options(flags: list[str]) -> BuildOptions | None:
    """BuildOptions for the flags that change the tree; None when a flag only shapes the blob."""
    opts = BuildOptions(quiet=3)
    args = iter(flags)
    for flag in args:
        if flag in FLAG_OPTIONS:
            setattr(opts, FLAG_OPTIONS[flag], True)
        elif flag == "-H":
            opts.phandle_format = next(args)
        else:
            return None
    return opts


def all_cases() -> dict[str, tuple[str, list[str]]]:
    cases = {name: (source, []) for name, source in {**CASES, **EXTRA_CASES}.items()}
    for name, (source, flags) in OPTION_CASES.items():
        if build_options(flags) is not None:
            cases["option-" + name] = (source, flags)
    return cases


CASE_LIST = all_cases()
BORROWED = set(CASES) | {"option-" + name for name in OPTION_CASES}  # test_language's: dtc refuses some


def write_case(tmp_path: Path, source: str) -> Path:
    (tmp_path / "bin.bin").write_bytes(BIN)
    src = tmp_path / "case.dts"
    src.write_bytes(source.encode("latin-1"))
    return src


PARSE_CACHE = ParseCache()  # one parser for all cases


def compile_tree(src: Path, opts: BuildOptions) -> DeviceTree:
    return compile_file(str(src), opts, PARSE_CACHE).tree


def dtc_blob(src: Path, flags: list[str], tmp_path: Path) -> bytes | None:
    out = tmp_path / f"{src.stem}.ref.dtb"
    run = dtc("-q", "-I", "dts", "-O", "dtb", *flags, "-o", out, src)
    return out.read_bytes() if run.ok else None


def compiles_back(text: str, flags: list[str], blob: bytes, tmp_path: Path) -> bool:
    again = tmp_path / "again.dts"
    again.write_bytes(text.encode("latin-1"))
    return dtc_blob(again, [f for f in flags if f != "-@"], tmp_path) == blob


def assert_compiles_back(text: str, flags: list[str], blob: bytes, tmp_path: Path) -> None:
    """The text compiles, with dtc and with armboot, to the blob it was written from."""
    assert compiles_back(text, flags, blob, tmp_path)
    again = tmp_path / "again.dts"
    opts = build_options([f for f in flags if f != "-@"])
    assert opts is not None
    assert to_dtb(compile_tree(again, opts))[0] == blob


def assert_like_dtc(text: str, dtc_text: str, flags: list[str], blob: bytes, tmp_path: Path) -> None:
    """dtc's text, except where dtc's own text does not compile back: armboot's always does."""
    if text != dtc_text:
        assert not compiles_back(dtc_text, flags, blob, tmp_path), "armboot differs from dtc where dtc is right"
    assert_compiles_back(text, flags, blob, tmp_path)


@pytest.mark.parametrize("name", sorted(CASE_LIST))
def test_source_trees_print_like_dtc(name: str, tmp_path: Path) -> None:
    source, flags = CASE_LIST[name]
    src = write_case(tmp_path, source)
    ref = dtc("-q", "-I", "dts", "-O", "dts", *flags, src)
    blob = dtc_blob(src, flags, tmp_path)
    if ref.rc > 0:
        assert name in BORROWED, f"dtc refuses a case written for this test: {ref.err}"
        pytest.skip("dtc refuses this input")
    opts = build_options(flags)
    assert opts is not None
    text = to_dts(compile_tree(src, opts))
    assert blob is not None
    if ref.ok:
        assert_like_dtc(text, ref.out.decode("latin-1"), flags, blob, tmp_path)
    else:
        assert_compiles_back(text, flags, blob, tmp_path)


@pytest.mark.parametrize("name", sorted(CASE_LIST))
def test_blob_trees_print_like_dtc(name: str, tmp_path: Path) -> None:
    source, flags = CASE_LIST[name]
    src = write_case(tmp_path, source)
    blob = dtc_blob(src, flags, tmp_path)
    if blob is None:
        assert name in BORROWED, "dtc refuses a case written for this test"
        pytest.skip("dtc refuses this input")
    (tmp_path / "case.dtb").write_bytes(blob)
    force = [f for f in flags if f == "-f"]
    ref = dtc("-q", "-I", "dtb", "-O", "dts", *force, tmp_path / "case.dtb")
    assert ref.ok, ref.err
    text = to_dts(read_dtb(blob))
    assert_like_dtc(text, ref.out.decode("latin-1"), force, blob, tmp_path)


def test_guessing_random_values_like_dtc(tmp_path: Path) -> None:
    """dtc guesses the type of marker-less values: strings, cells or bytes; hundreds of random ones."""
    rng = random.Random(1234)
    alphabet = b'abcXYZ09 ,.-_\0\0\0\t\n\x01\x7f\x80\xff"\\'
    lines = []
    for i in range(400):
        size = rng.choice((1, 2, 3, 4, 5, 7, 8, 12, 16))
        value = bytes(rng.choice(alphabet) for _ in range(size))
        if rng.random() < 0.5:
            value = value[:-1] + b"\0"
        lines.append(f"\tp{i} = [{value.hex()}];")
    src = tmp_path / "random.dts"
    src.write_text(HDR + "/ {\n" + "\n".join(lines) + "\n};\n")
    blob = dtc_blob(src, [], tmp_path)
    assert blob is not None
    (tmp_path / "random.dtb").write_bytes(blob)
    ref = dtc("-q", "-I", "dtb", "-O", "dts", tmp_path / "random.dtb")
    ours = to_dts(read_dtb(blob)).splitlines()
    theirs = ref.out.decode("latin-1").splitlines()
    assert len(ours) == len(theirs)
    for mine, dtcs in zip(ours, theirs, strict=True):
        if mine != dtcs:  # only where dtc's own line does not read back
            assert_like_dtc(HDR + "/ {\n" + mine + "\n};\n", HDR + "/ {\n" + dtcs + "\n};\n", [], _one(mine, tmp_path), tmp_path)


def _one(line: str, tmp_path: Path) -> bytes:
    """The blob of a tree holding just this property line, as armboot's text says it."""
    src = tmp_path / "one.dts"
    src.write_text(HDR + "/ {\n" + line + "\n};\n")
    blob = dtc_blob(src, [], tmp_path)
    assert blob is not None
    return blob


def test_fallback_keeps_bytes_and_labels() -> None:
    """Where dtc would abort (a string piece without its NUL), the value is still written so it reads back."""
    data = Data(b"x\0abc", (Marker(0, Kind.STRING), Marker(2, Kind.LABEL, "L"), Marker(2, Kind.NONE)))
    assert format_property(Property("a", data)) == 'a = "x", L: [61 62 63];\n'
    odd = Data(b"x\0ab", (Marker(0, Kind.STRING), Marker(1, Kind.LABEL, "L"), Marker(1, Kind.STRING)))
    assert format_property(Property("a", odd)) == "a = [78 L:00 61 62];\n"
    assert guess_type(b"ab\0", ()) == Kind.STRING
    assert guess_type(b"a\0b\0", (Marker(2, Kind.LABEL, "L"),)) == Kind.STRING
    assert guess_type(b"a\0b\0", (Marker(1, Kind.LABEL, "L"),)) == Kind.UINT8  # inside a string and a cell
    assert guess_type(b"a\0\0\0", ()) == Kind.UINT32  # more NULs than characters


@needs_corpus
def test_corpus_prints_like_dtc(tmp_path: Path) -> None:
    cache = ParseCache()
    for version, board in sample_boards():
        opts = BuildOptions(include_dirs=board_include_dirs(version, board), boot_cpuid=0, quiet=3)
        tree = compile_file(str(board), opts, cache).tree
        ref_text = reference_build(version, board, tmp_path, "dts").decode("latin-1")
        assert to_dts(tree) == ref_text, board.name
        blob = reference_build(version, board, tmp_path, "dtb")
        (tmp_path / "board.dtb").write_bytes(blob)
        from_blob = to_dts(read_dtb(blob))
        assert from_blob == dtc("-q", "-I", "dtb", "-O", "dts", tmp_path / "board.dtb").out.decode("latin-1")
        for text in (ref_text, from_blob):
            (tmp_path / "again.dts").write_text(text, encoding="latin-1")
            assert dtc("-q", "-I", "dts", "-O", "dtb", "-b", "0", tmp_path / "again.dts").out == blob, (
                board.name
            )
        tree_again = compile_tree(tmp_path / "again.dts", BuildOptions(boot_cpuid=0, quiet=3))
        assert to_dtb(tree_again)[0] == blob, board.name
