"""Property-based tests: random trees agree with dtc and round-trip DTB -> DTS -> DTB exactly."""

from __future__ import annotations

import tempfile
from pathlib import Path

from armboot.dtc.compiler import BuildOptions, compile_file, emit, process
from armboot.dtc.dtsout import to_dts
from armboot.dtc.fdtread import read_dtb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import dtc, needs_dtc

pytestmark = needs_dtc

NAME_START = "abcdefghijklmnopqrstuvwxyz"
NAME_CHARS = NAME_START + "0123456789,._+-"
RESERVED = {"name", "phandle", "linux,phandle"}

names = st.text(NAME_CHARS, min_size=0, max_size=8).map(lambda s: s).flatmap(
    lambda tail: st.sampled_from(NAME_START).map(lambda head: head + tail)
)
prop_names = st.one_of(names, names.map(lambda n: "#" + n)).filter(lambda n: n not in RESERVED)
unit = st.one_of(st.just(""), st.integers(0, 0xFFFF).map(lambda n: f"@{n:x}"))
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
escapes = st.sampled_from(["\\n", "\\t", "\\\\", '\\"', "\\x41", "\\101", "\\0"])
strings = st.lists(st.one_of(printable.map(lambda s: s.replace("\\", "/").replace('"', "'")), escapes), max_size=4).map(
    "".join
)


@st.composite
def values(draw: st.DrawFn, labels: list[str]) -> str:
    """One property value: comma-separated pieces of every kind dtc accepts."""
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["str", "cells", "bits", "bytes", "ref", "pathref"]))
        if kind == "str":
            pieces.append(f'"{draw(strings)}"')
        elif kind in ("cells", "ref"):
            items = [f"0x{v:x}" for v in draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=4))]
            if kind == "ref" and labels:
                items.insert(draw(st.integers(0, len(items))), "&" + draw(st.sampled_from(labels)))
            pieces.append("<" + " ".join(items) + ">")
        elif kind == "bits":
            bits = draw(st.sampled_from([8, 16, 32, 64]))
            items = draw(st.lists(st.integers(0, (1 << bits) - 1), max_size=4))
            pieces.append(f"/bits/ {bits} <" + " ".join(f"0x{v:x}" for v in items) + ">")
        elif kind == "bytes":
            pieces.append("[" + " ".join(f"{b:02x}" for b in draw(st.binary(max_size=6))) + "]")
        elif labels:
            pieces.append("&" + draw(st.sampled_from(labels)))
        else:
            pieces.append('""')
    return ", ".join(pieces)


@st.composite
def trees(draw: st.DrawFn) -> str:
    """A whole /dts-v1/ source with labels, references, nested nodes and memreserves."""
    labels: list[str] = []
    counter = [0]

    def node_text(depth: int) -> tuple[str, list[str]]:
        prop_lines = []
        for pname in draw(st.lists(prop_names, max_size=4, unique=True)):
            if draw(st.booleans()):
                prop_lines.append(f"{pname};")
            else:
                prop_lines.append(f"{pname} = VALUE;")
        children = []
        if depth < 3:
            child_names = draw(st.lists(st.tuples(names, unit).map("".join), max_size=3, unique=True))
            for cname in child_names:
                label = ""
                if draw(st.booleans()):
                    counter[0] += 1
                    label = f"l{counter[0]}"
                    labels.append(label)
                body, _ = node_text(depth + 1)
                children.append(f"{label + ': ' if label else ''}{cname} {{ {body} }};")
        return " ".join(prop_lines + children), []

    body, _ = node_text(0)
    # Fill values once every label exists (references may point forward).
    while "VALUE" in body:
        body = body.replace("VALUE", draw(values(labels)), 1)
    # A zero-size entry ends the reserve map in the blob format itself, so sizes start at 1.
    entries = draw(st.lists(st.tuples(st.integers(0, 2**48), st.integers(1, 2**32)), max_size=2))
    reserves = "".join(f"/memreserve/ 0x{a:x} 0x{s:x};\n" for a, s in entries)
    return f"/dts-v1/;\n{reserves}/ {{ {body} }};\n"


def _compile(source: str, tmp: Path) -> tuple[bytes | None, bytes | None]:
    src = tmp / "t.dts"
    src.write_text(source)
    ref = dtc("-q", "-I", "dts", "-O", "dtb", "-o", tmp / "ref.dtb", src)
    opts = BuildOptions(force=False, quiet=2, cpp=False)  # dtc has no preprocessor: "#if;" is a property
    try:
        ours, _ = emit(compile_file(str(src), opts).tree, "dtb", opts)
    except Exception:  # a DtcError: compared with dtc's verdict below
        ours = None
    return (tmp / "ref.dtb").read_bytes() if ref.ok else None, ours


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(trees())
def test_random_trees_agree_with_dtc(source: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        ref, ours = _compile(source, Path(d))
        assert ours == ref, source


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(trees())
def test_dtb_dts_dtb_round_trip(source: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _, ours = _compile(source, tmp)
        if ours is None:
            return
        tree = read_dtb(ours, "t.dtb")
        opts = BuildOptions(quiet=2, force=True, cpp=False)
        process(tree, opts)
        text = to_dts(tree)
        (tmp / "back.dts").write_text(text)
        again, _ = emit(compile_file(str(tmp / "back.dts"), opts).tree, "dtb", opts)
        assert again == ours, text
        assert dtc("-q", "-I", "dts", "-O", "dtb", tmp / "back.dts").out == ours
