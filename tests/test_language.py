"""Every DTS language feature, good and bad, against the reference dtc's bytes.

Each case is compiled by the installed dtc and by armboot: where dtc succeeds
the DTBs must be identical, where dtc rejects the input armboot must reject it
too (with a file:line:col diagnostic).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from armboot.dtc.compiler import BuildOptions, compile_file, emit
from armboot.dtc.errors import DtcError
from reference import dtc, needs_dtc

pytestmark = needs_dtc

HDR = "/dts-v1/;\n"

CASES: dict[str, str] = {
    # headers
    "minimal": HDR + "/ { };",
    "two-headers": HDR + HDR + "/ { };",
    "no-header": "/ { };",
    "plugin-header": HDR + "/plugin/;\n&foo { a; };",
    "plugin-mismatch": HDR + "/plugin/;\n" + HDR + "/ { };",
    "plugin-without-v1": "/plugin/;\n/ { };",
    "v1-after-tree": HDR + "/ { };\n" + HDR,
    # memreserve
    "memreserve": HDR + "/memreserve/ 0x10000000 0x4000;\n/memreserve/ (1 << 32) 0x1000;\n/ { };",
    "memreserve-label": HDR + "m1: m2: /memreserve/ 0 1;\n/ { };",
    "memreserve-after-tree": HDR + "/ { };\n/memreserve/ 0 1;",
    "memreserve-one-number": HDR + "/memreserve/ 0;\n/ { };",
    # properties and values
    "empty-prop": HDR + "/ { a; b = <>; c = \"\"; d = []; };",
    "strings": HDR + '/ { a = "x", "yz", ""; b = "tab\\there", "nl\\n", "q\\"q", "bs\\\\"; };',
    "string-escapes": HDR + '/ { a = "\\a\\b\\t\\n\\v\\f\\r\\0\\1\\12\\123\\1234\\x1\\x12\\x123\\q\\\'"; };',
    "string-bad-hex": HDR + '/ { a = "\\xg"; };',
    "string-newline": HDR + '/ { a = "line1\nline2"; };',
    "string-unterminated": HDR + '/ { a = "abc; };',
    "string-latin1": HDR + '/ { a = "caf\xe9"; };',
    "cells": HDR + "/ { a = <1 2 3>, <0xffffffff 0 017 0x10>; b = <0x1U 2L 3UL 4LL 5ULL>; };",
    "cells-bad-octal": HDR + "/ { a = <08>; };",
    "cells-bad-suffix": HDR + "/ { a = <1UU>; };",
    "cells-hex-prefix-only": HDR + "/ { a = <0x>; };",
    "cells-out-of-range": HDR + "/ { a = <0x100000000>; };",
    "cells-negative": HDR + "/ { a = <(-1) (-0x80000000)>; };",
    "literal-too-big": HDR + "/ { a = /bits/ 64 <0x10000000000000000>; };",
    "bits": HDR + "/ { a = /bits/ 8 <1 2 255>; b = /bits/ 16 <0xffff 1>; c = /bits/ 32 <7>; d = /bits/ 64 <0x123456789abcdef0 (-1)>; };",
    "bits-bad-size": HDR + "/ { a = /bits/ 7 <1>; };",
    "bits-8-out-of-range": HDR + "/ { a = /bits/ 8 <256>; };",
    "bits-8-negative": HDR + "/ { a = /bits/ 8 <(-1) (-128)>; };",
    "bits-ref": HDR + "/ { n: n {}; a = /bits/ 16 <&n>; };",
    "bytes": HDR + "/ { a = [00 11 22 aB Cd]; b = [0011223344]; c = [ 01 02 ]; };",
    "bytes-odd": HDR + "/ { a = [001]; };",
    "bytes-bad": HDR + "/ { a = [0g]; };",
    "mixed": HDR + '/ { a = "s", <1>, [02], /bits/ 8 <3>, "t"; };',
    "char-literals": HDR + "/ { a = <'a' 'Z' '\\n' '\\'' '\\x41' '\\101' '\\\\' '\"'>; };",
    "char-empty": HDR + "/ { a = <''>; };",
    "char-multi": HDR + "/ { a = <'ab'>; };",
    "expressions": HDR + "/ { a = <(1 + 2 * 3) ((1 + 2) * 3) (10 / 3) (10 % 3) (7 - 9) (1 << 31) (0x80000000 >> 31) (~0) (!5) (!0) (-1)>; };",
    "expr-compare": HDR + "/ { a = <(1 < 2) (2 < 1) (1 > 2) (2 >= 2) (1 <= 0) (3 == 3) (3 != 3)>; };",
    "expr-logic": HDR + "/ { a = <(1 && 0) (1 || 0) (0 || 0) (6 & 3) (6 | 3) (6 ^ 3) (1 ? 2 : 3) (0 ? 2 : 3) (1 ? 0 ? 4 : 5 : 6)>; };",
    "expr-precedence": HDR + "/ { a = <(1 | 2 ^ 3 & 4 == 4 < 5 << 1 + 2 * 3)>; b = <(1 ? 2 : 3 ? 4 : 5)>; };",
    "expr-64bit": HDR + "/ { a = /bits/ 64 <(0xffffffffffffffff + 2) (1 << 63) (1 << 64) (1 << 100) (0 - 1) ((0 - 1) / 2)>; };",
    "expr-shift-big": HDR + "/ { a = <(1 >> 64) (5 >> 65)>; };",
    "expr-div-zero": HDR + "/ { a = <(1 / 0)>; };",
    "expr-mod-zero": HDR + "/ { a = <(1 % 0)>; };",
    "expr-unparenthesised": HDR + "/ { a = <1 + 2>; };",
    "expr-missing-paren": HDR + "/ { a = <(1 + 2>; };",
    "expr-memreserve": HDR + "/memreserve/ (0x1000 * 4) ((1 << 12) - 1);\n/ { };",
    # names
    "node-names": HDR + "/ { a-b,c.d_e+f@1 { }; 1abc { }; node@0,1 { }; x@ { }; };",
    "prop-names": HDR + "/ { #address-cells = <1>; a,b = <1>; c?d; e#f; +plus; -minus; _u; };",
    "prop-name-escape": HDR + "/ { \\delete-me; \\a; };",
    "node-name-bad-char": HDR + "/ { a$b { }; };",
    "props-after-subnodes": HDR + "/ { a { }; b; };",
    "duplicate-node": HDR + "/ { a { }; a { }; };",
    "duplicate-prop": HDR + "/ { a; a; };",
    "missing-semicolon": HDR + "/ { a = <1> };",
    "missing-brace": HDR + "/ { a { };",
    "extra-brace": HDR + "/ { }; };",
    "garbage-char": HDR + "/ { a = <1>; } $;",
    # labels and references
    "labels": HDR + "/ { l1: l2: n { p1: p2: a = <1>; b = l3: <l4: 1 l5: 2 l6:> l7:, l8: \"s\" l9:; c = [l10: 01 l11: 02 l12:]; }; };",
    "label-dup": HDR + "/ { l: a { }; l: b { }; };",
    "label-dup-same-node": HDR + "/ { l: a { }; };\n/ { l: a { }; };",
    "label-dup-prop": HDR + "/ { l: a { }; b { l: p; }; };",
    "phandle-refs": HDR + "/ { a: a { }; b: b { }; c { x = <&b &a &b>; y = <&{/a}>; z = <&{/c}>; }; };",
    "path-refs": HDR + "/ { a: a { b: b { }; }; c { p = &a, &b, &{/a/b}, \"x\", &{/}; q = &a; }; };",
    "path-ref-in-middle": HDR + '/ { a: a { }; c { p = "x", &a, <1>, &a, "y"; }; };',
    "ref-undefined": HDR + "/ { c { x = <&nope>; }; };",
    "path-ref-undefined": HDR + "/ { c { x = &nope; }; };",
    "ref-bad-path": HDR + "/ { c { x = <&{/nope}>; }; };",
    "self-phandle": HDR + "/ { a: a { phandle = <&a>; }; };",
    "explicit-phandle": HDR + "/ { a: a { phandle = <5>; }; b: b { }; c { x = <&b &a>; }; };",
    "explicit-linux-phandle": HDR + "/ { a: a { linux,phandle = <7>; }; c { x = <&a>; }; };",
    "explicit-phandle-both": HDR + "/ { a: a { linux,phandle = <7>; phandle = <7>; }; c { x = <&a>; }; };",
    "explicit-phandle-mismatch": HDR + "/ { a { linux,phandle = <7>; phandle = <8>; }; };",
    "explicit-phandle-dup": HDR + "/ { a { phandle = <7>; }; b { phandle = <7>; }; };",
    "explicit-phandle-zero": HDR + "/ { a { phandle = <0>; }; };",
    "explicit-phandle-other": HDR + "/ { a: a { }; b { phandle = <&a>; }; };",
    "phandle-gap": HDR + "/ { a: a { phandle = <1>; }; b: b { phandle = <3>; }; c: c { }; d: d { }; e { x = <&c &d &a>; }; };",
    "name-property-ok": HDR + '/ { node@1 { name = "node"; a; }; };',
    "name-property-bad": HDR + '/ { node@1 { name = "other"; }; };',
    "name-property-not-string": HDR + "/ { node { name = <1>; }; };",
    # merging, amending, deleting
    "merge-root": HDR + "/ { a = <1>; n { x; }; };\n/ { a = <2>; b; n { y; }; m { }; };",
    "amend-label": HDR + "/ { n: n { x; }; };\n&n { y; x = <2>; };",
    "amend-path": HDR + "/ { n { m { }; }; };\n&{/n/m} { y; };",
    "amend-labelled": HDR + "/ { n: n { }; };\nnew: &n { y; };\n/ { p = &new; };",
    "amend-missing": HDR + "/ { };\n&nope { y; };",
    "amend-missing-path": HDR + "/ { };\n&{/nope} { y; };",
    "amend-first": HDR + "&n { y; };",
    "delete-node-body": HDR + "/ { a { }; b { }; };\n/ { /delete-node/ a; };",
    "delete-node-ref": HDR + "/ { a: a { c: c { }; }; b { }; };\n/delete-node/ &a;",
    "delete-node-path": HDR + "/ { a { c { }; }; };\n/delete-node/ &{/a/c};",
    "delete-node-missing-ref": HDR + "/ { };\n/delete-node/ &nope;",
    "delete-node-missing-name": HDR + "/ { /delete-node/ nope; };",
    "delete-then-readd-node": HDR + "/ { a { x; }; };\n/ { /delete-node/ a; };\n/ { a { y; }; };",
    "delete-node-labels-gone": HDR + "/ { l: a { }; };\n/delete-node/ &l;\n/ { b { p = <&l>; }; };",
    "delete-prop": HDR + "/ { a; b; c; };\n/ { /delete-property/ b; };",
    "delete-prop-readd": HDR + "/ { a; b = <1>; c; };\n/ { /delete-property/ b; };\n/ { b = <2>; };",
    "delete-prop-same-body": HDR + "/ { a = <1>; /delete-property/ a; };",
    "delete-prop-missing": HDR + "/ { /delete-property/ nope; };",
    "delete-node-same-body": HDR + "/ { a { }; /delete-node/ a; };",
    "delete-label-then-reuse": HDR + "/ { l: a { }; };\n/delete-node/ &l;\n/ { l: b { }; c { p = <&l>; }; };",
    "omit-unreferenced": HDR + "/ { /omit-if-no-ref/ a: a { }; b: b { }; };",
    "omit-referenced": HDR + "/ { /omit-if-no-ref/ a: a { }; c { p = <&a>; }; };",
    "omit-path-referenced": HDR + "/ { /omit-if-no-ref/ a: a { }; c { p = &a; }; };",
    "omit-by-ref": HDR + "/ { a: a { }; b: b { }; c { p = <&b>; }; };\n/omit-if-no-ref/ &a;\n/omit-if-no-ref/ &b;",
    "omit-label-order": HDR + "/ { lbl: /omit-if-no-ref/ a { }; /omit-if-no-ref/ lbl2: b { }; c { p = <&lbl2>; }; };",
    "omit-missing": HDR + "/ { };\n/omit-if-no-ref/ &nope;",
    # comments and linemarkers
    "comments": HDR + "/* c1 */ / { // c2\n a /* c3 */ = /* c4 */ <1 /* c5 */ 2>; // c6\n /* multi\n line */ b; };",
    "comment-unterminated": HDR + "/ { a; }; /* oops",
    "linemarkers": '# 1 "x.dts"\n# 1 "<built-in>"\n#line 5 "other.dtsi" 1 3 4\n' + HDR + '# 7 "x.dts" 2\n/ { a; };',
    "hash-prop-at-line-start": HDR + "/ {\n#address-cells = <1>;\n#size-cells = <0>;\n};",
    # boot cpu guess
    "boot-cpuid": HDR + "/ { cpus { cpu@3 { reg = <3>; }; cpu@4 { reg = <4>; }; }; };",
    "boot-cpuid-2cells": HDR + "/ { cpus { cpu@3 { reg = <0 3>; }; }; };",
    # string table sharing
    "strings-table": HDR + "/ { #size-cells = <1>; size-cells; cells; s; a { ells; }; };",
    # overlays
    "overlay-basic": HDR + "/plugin/;\n&foo { a = <1>; bar: b { }; c = <&bar &other>; };\n&{/x/y} { d; };",
    "overlay-with-root": HDR + "/plugin/;\n/ { fragment@10 { target = <&n>; __overlay__ { a; }; }; };\n&n { b = <&q>; };",
    "overlay-local-fixups-nested": HDR + "/plugin/;\n&foo { l1: a { l2: b { p = <&l1 1 &l2 2 &ext 3>; }; }; q = <&l2>; };",
    # a NUL or high byte outside strings is end-of-input to dtc's parser (a negative token)
    "high-byte-after-tree": HDR + "/ { a = <1>; };\xc3\xa4 garbage { {{ &nope;",
    "nul-after-tree": HDR + '/ { s = "\xc3\xa4"; };\x00 rest',
    "high-byte-between-statements": HDR + "/ { };\n\xaf&nope { x; };",
    "high-byte-inside-node": HDR + "/ { a = <1>; \xc3 };",
    "high-byte-before-tree": HDR + "\xff / { };",
    "high-byte-in-bytestring": HDR + "/ { x = [00 \xc3]; };",
    "high-byte-in-comment-and-string": HDR + "/* \xc3\xa4 */ / { s = \"\xff\"; c = <'\\xff'>; };",
}

OPTION_CASES: dict[str, tuple[str, list[str]]] = {
    "b": (HDR + "/ { };", ["-b", "7"]),
    "p": (HDR + "/ { a; };", ["-p", "100"]),
    "S": (HDR + "/ { a; };", ["-S", "512"]),
    "S-too-small": (HDR + "/ { a = \"a long string to exceed\"; };", ["-S", "10"]),
    "R": (HDR + "/memreserve/ 1 2;\n/ { };", ["-R", "3"]),
    "a": (HDR + "/ { a; };", ["-a", "64"]),
    "a-p": (HDR + "/ { a; };", ["-a", "16", "-p", "3"]),
    "H-legacy": (HDR + "/ { a: a { }; b { x = <&a>; }; };", ["-H", "legacy"]),
    "H-both": (HDR + "/ { a: a { }; b { x = <&a>; }; };", ["-H", "both"]),
    "H-epapr": (HDR + "/ { a: a { }; b { x = <&a>; }; };", ["-H", "epapr"]),
    "symbols": (HDR + "/ { a: a { b: b { }; }; c: d: c { x = <&b>; }; e { }; };", ["-@"]),
    "symbols-plugin": (HDR + "/plugin/;\n&foo { a: a { }; b = <&a &ext>; };", ["-@"]),
    "symbols-omit": (HDR + "/ { /omit-if-no-ref/ a: a { }; /omit-if-no-ref/ b { }; };", ["-@"]),
    "aliases": (HDR + "/ { a: a { }; b: b { c: c { }; }; };", ["-A"]),
    "aliases-existing": (HDR + "/ { aliases { x = \"/a\"; }; a: a { }; };", ["-A"]),
    "sort": (HDR + "/memreserve/ 5 1;\n/memreserve/ 1 9;\n/ { z; a; m { c; b; }; b { }; a { }; };", ["-s"]),
    "V16": (HDR + "/ { a = <1>; };", ["-V", "16"]),
    "V3": (HDR + "/ { a = <1 2>; n@1 { b = \"x\"; }; };", ["-V", "3"]),
    "V2": (HDR + "/ { a = /bits/ 64 <1>; n { }; };", ["-V", "2"]),
    "V1": (HDR + "/ { a = <1 2 3>; n { name = \"n\"; }; };", ["-V", "1"]),
    "force": (HDR + "/ { a; a; };", ["-f"]),
    "force-ref": (HDR + "/ { a = <&nope>; };", ["-f"]),
    "W-disable": (HDR + "/ { a = <&nope>; };", ["-E", "no-phandle_references", "-f"]),
}


def _armboot(src: Path, args: list[str], out: Path) -> bool:
    """Compile with armboot through the CLI's own argument handling (in-process)."""
    from armboot.cli.app import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["build", "-q", "--no-cache", *args, "-o", str(out), str(src)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.output
    return result.exit_code == 0


def _compare(tmp_path: Path, source: str, args: list[str]) -> None:
    src = tmp_path / "case.dts"
    src.write_bytes(source.encode("latin-1"))
    ref = dtc("-q", "-I", "dts", "-O", "dtb", *args, "-o", tmp_path / "ref.dtb", src)
    assert ref.rc >= 0, f"the reference dtc crashed: {ref.err}"
    ok = _armboot(src, args, tmp_path / "ours.dtb")
    if ref.ok:
        assert ok, "dtc accepts this input, armboot rejects it"
        assert (tmp_path / "ours.dtb").read_bytes() == (tmp_path / "ref.dtb").read_bytes()
    else:
        assert not ok, f"dtc rejects this input ({ref.err.strip()}), armboot accepts it"
        assert not (tmp_path / "ours.dtb").exists(), "a failed build must not leave an output file"


@pytest.mark.parametrize("name", sorted(CASES))
def test_language(name: str, tmp_path: Path) -> None:
    _compare(tmp_path, CASES[name], [])


@pytest.mark.parametrize("name", sorted(OPTION_CASES))
def test_option(name: str, tmp_path: Path) -> None:
    source, args = OPTION_CASES[name]
    _compare(tmp_path, source, args)


def test_include_and_incbin(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "inc" / "common.dtsi").write_text("/ { from-inc; n: n { }; };\n")
    (tmp_path / "sub" / "local.dtsi").write_text('/ { from-local; nested { /include/ "frag.dtsi" }; };\n')
    (tmp_path / "sub" / "frag.dtsi").write_text("inner = <1>;\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 3)
    (tmp_path / "sub" / "board.dts").write_text(
        HDR
        + '/include/ "common.dtsi"\n/include/ "local.dtsi"\n'
        + '/ { a = /incbin/("blob.bin"); b = /incbin/("blob.bin", 10, 20); c = "x", /incbin/("blob.bin", 700, 1000), <5>; };\n'
        + "&n { x; };\n"
    )
    src = tmp_path / "sub" / "board.dts"
    args = ["-i", str(tmp_path / "inc"), "-i", str(tmp_path)]
    ref = dtc("-q", "-I", "dts", "-O", "dtb", *args, "-o", tmp_path / "ref.dtb", src)
    assert ref.ok, ref.err
    assert _armboot(src, args, tmp_path / "ours.dtb")
    assert (tmp_path / "ours.dtb").read_bytes() == (tmp_path / "ref.dtb").read_bytes()


@pytest.mark.parametrize(
    "source",
    [
        HDR + '/include/ "missing.dtsi"\n/ { };',
        HDR + '/ { a = /incbin/("missing.bin"); };',
        HDR + '/include/ "self.dts"\n/ { };',
    ],
    ids=["missing-include", "missing-incbin", "include-cycle"],
)
def test_include_errors(source: str, tmp_path: Path) -> None:
    src = tmp_path / "self.dts"
    src.write_text(source)
    assert not dtc("-q", "-o", tmp_path / "ref.dtb", src).ok
    with pytest.raises(DtcError) as err:
        compile_file(str(src), BuildOptions())
    d = err.value.diagnostics[0]
    assert d.location is not None and d.location.file.endswith(".dts") and d.location.line >= 1


def test_error_location_points_at_the_problem(tmp_path: Path) -> None:
    src = tmp_path / "bad.dts"
    src.write_text(HDR + "/ {\n\tok = <1>;\n\tbad = <1 2 +>;\n};\n")
    with pytest.raises(DtcError) as err:
        compile_file(str(src), BuildOptions())
    d = err.value.diagnostics[0]
    assert (d.location.file, d.location.line, d.location.column) == (str(src), 4, 13)
    assert "syntax error" in d.message and "'+'" in d.message


def test_error_location_through_cpp(tmp_path: Path) -> None:
    (tmp_path / "defs.h").write_text("#define VALUE 5\n")
    (tmp_path / "board.dtsi").write_text("/ {\n\tx = <VALUE>;\n\ty = <&missing>;\n};\n")
    src = tmp_path / "board.dts"
    src.write_text('#include "defs.h"\n/dts-v1/;\n#include "board.dtsi"\n')
    with pytest.raises(DtcError) as err:
        compile_file(str(src), BuildOptions())
    d = err.value.diagnostics[0]
    assert d.location is not None and d.location.file.endswith("board.dtsi") and d.location.line == 3


def test_emit_dtb_matches_cli(tmp_path: Path) -> None:
    src = tmp_path / "x.dts"
    src.write_text(CASES["labels"])
    opts = BuildOptions()
    blob, _ = emit(compile_file(str(src), opts).tree, "dtb", opts)
    assert blob == dtc("-q", "-I", "dts", "-O", "dtb", src).out
