"""YAML output against the reference dtc 1.6.1 (yamltree.c through libyaml), byte for byte.

Every language case and option case of the DTS tests is printed by dtc -O yaml
and by armboot; names that libyaml must quote, long keys, and flow sequences
and strings long enough to wrap are added here.  dtc refuses YAML for a blob
input, with one message armboot must give too.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from armboot.dtc.compiler import BuildOptions, compile_file
from armboot.dtc.data import Data
from armboot.dtc.errors import DtcError
from armboot.dtc.fdtread import read_dtb
from armboot.dtc.tree import Property
from armboot.dtc.yamlemit import analyze_scalar
from armboot.dtc.yamlout import to_yaml
from reference import dtc, needs_corpus, needs_dtc
from test_dtsout import BORROWED, CASE_LIST, build_options, compile_tree, write_case
from test_fdtread import board_include_dirs, reference_build, sample_boards
from test_language import HDR

pytestmark = needs_dtc

LONG = "p" * 130
YAML_CASES: dict[str, tuple[str, list[str]]] = {
    "names-libyaml-quotes": (
        HDR + '/ { #foo = <1>; ,bar = "x"; - = <2>; ? = <3>; ?a = <4>; ---x = <5>; ...y = <6>; a,b?c#d = <7>;'
        " @1 { }; ,n { x; }; -n@2 { }; *s { }; };",
        ["-f"],
    ),
    "long-keys": (HDR + f'/ {{ {LONG} = <8>; {LONG}q = "a b"; {LONG} {{ y = <1>; }}; e {{ }}; }};', []),
    "long-strings-fold": (
        HDR
        + '/ { a = "'
        + "a" * 74
        + " "
        + "b" * 26
        + "  cccccccccccc c   "
        + "d" * 27
        + " "
        + "e" * 90
        + ' f", "x y"; b = "'
        + "z " * 60
        + '"; };',
        [],
    ),
    "long-arrays-wrap": (
        HDR
        + "/ { a = <"
        + " ".join(str(i * 0x10001) for i in range(60))
        + ">; b = "
        + ", ".join(f"<0 {i} 4>" for i in range(30))
        + "; c = ["
        + "ab " * 70
        + "]; d = <"
        + "&n 1 " * 30
        + ">; e = /bits/ 64 <"
        + "0x123456789 " * 12
        + ">; n: n { }; };",
        [],
    ),
    "deep-wrap": (HDR + "/ { a { b { c { d { p = <" + "0xdeadbeef " * 40 + ">; }; }; }; }; };", []),
    "string-escapes-yaml": (HDR + '/ { a = "\\t\\n\\r\\a\\b\\v\\f\\x1b\\x7f\\x01\\"\\\\ q\'s"; };', []),
    "empty-nodes": (HDR + "/ { a { }; b { c { }; }; };", []),
    "empty-root": (HDR + "/ { };", []),
}

def _params() -> list:
    return sorted({**CASE_LIST, **YAML_CASES})


@pytest.mark.parametrize("name", _params())
def test_source_trees_print_like_dtc(name: str, tmp_path: Path) -> None:
    source, flags = {**CASE_LIST, **YAML_CASES}[name]
    src = write_case(tmp_path, source)
    ref = dtc("-q", "-I", "dts", "-O", "yaml", *flags, src)
    if ref.rc > 0:
        assert name in BORROWED, f"dtc refuses a case written for these tests: {ref.err}"
        pytest.skip("dtc refuses this input")
    opts = build_options(flags)
    assert opts is not None
    text = to_yaml(compile_tree(src, opts))
    if ref.ok:
        assert text == ref.out.decode("latin-1")
    else:  # dtc aborted on an assertion: armboot's text must at least be YAML
        from ruamel.yaml import YAML

        assert YAML(typ="rt").load(io.StringIO(text)) is not None


def test_blob_input_is_refused_like_dtc(tmp_path: Path) -> None:
    src = write_case(tmp_path, HDR + "/ { a = <1>; };")
    blob = dtc("-q", "-O", "dtb", src).out
    (tmp_path / "a.dtb").write_bytes(blob)
    ref = dtc("-q", "-I", "dtb", "-O", "yaml", tmp_path / "a.dtb")
    assert ref.rc == 1
    with pytest.raises(DtcError) as info:
        to_yaml(read_dtb(blob))
    assert f"FATAL ERROR: {info.value.diagnostics[0].message}" in ref.err


def test_property_without_markers_is_refused_like_dtc(tmp_path: Path) -> None:
    """dtc dies with this message when a property carries no type information at all."""
    tree = compile_tree(write_case(tmp_path, HDR + "/ { a = <1>; };"), BuildOptions(quiet=3))
    tree.root.props.append(Property("bare", Data(b"x\0")))
    with pytest.raises(DtcError, match="No markers present in property 'bare' value"):
        to_yaml(tree)


def test_scalar_analysis_follows_libyaml() -> None:
    assert not analyze_scalar("#a").block_plain and analyze_scalar("a#b").block_plain
    assert analyze_scalar("?a").block_plain and not analyze_scalar("?a").flow_plain
    assert not analyze_scalar("-").block_plain and analyze_scalar("-a").block_plain
    assert not analyze_scalar("a b ").block_plain and analyze_scalar("a b ").single_quoted
    assert not analyze_scalar("a\tb").single_quoted and analyze_scalar("a\nb").multiline


@needs_corpus
def test_corpus_prints_like_dtc(tmp_path: Path) -> None:
    for version, board in sample_boards():
        opts = BuildOptions(include_dirs=board_include_dirs(version, board), boot_cpuid=0, quiet=3)
        tree = compile_file(str(board), opts).tree
        assert to_yaml(tree) == reference_build(version, board, tmp_path, "yaml").decode("latin-1"), (
            board.name
        )
