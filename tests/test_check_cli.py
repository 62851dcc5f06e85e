"""armboot check as users and CI meet it: schema findings with file:line, formats, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from reference import (
    CORPUS,
    armboot,
    corpus_include_dirs,
    dtc,
    needs_corpus,
    needs_dtc,
    preprocess_like_kernel,
)

pytestmark = needs_dtc

GOOD = """/dts-v1/;
/ {
\tmodel = "test board";
\tcompatible = "linux,dummy-virt";
\t#address-cells = <2>;
\t#size-cells = <2>;

\tchosen {
\t\tbootargs = "console=ttyAMA0";
\t};

\tmemory@40000000 {
\t\tdevice_type = "memory";
\t\treg = <0x0 0x40000000 0x0 0x1000000>;
\t};
};
"""


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def findings(tmp: Path, text: str, *args: str) -> tuple[int, list[dict], Path]:
    src = write(tmp, "board.dts", text)
    run = armboot("check", "--format", "json", *args, src)
    assert "Traceback" not in run.err
    return run.rc, json.loads(run.out or b"[]"), src


def line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(needle)


def test_clean_tree_exits_0(tmp_path: Path) -> None:
    rc, found, _ = findings(tmp_path, GOOD)
    assert (rc, found) == (0, [])


def test_missing_required_property(tmp_path: Path) -> None:
    rc, found, src = findings(tmp_path, GOOD.replace("\t\treg = <0x0 0x40000000 0x0 0x1000000>;\n", ""))
    schema = [f for f in found if f["check"] == "schema"]
    assert rc == 1
    miss = [f for f in schema if f["property"] == "reg" and "required" in f["message"]]
    assert miss and miss[0]["path"] == "/memory@40000000"
    assert miss[0]["line"] == line_of(src, "memory@40000000") and miss[0]["file"] == str(src)
    assert miss[0]["schema"].endswith(("memory.yaml", "root-node.yaml"))


def test_wrong_type(tmp_path: Path) -> None:
    rc, found, src = findings(tmp_path, GOOD.replace('bootargs = "console=ttyAMA0";', "bootargs = <1 2>;"))
    bad = [f for f in found if f["check"] == "schema" and f["property"] == "bootargs"]
    assert rc == 1 and bad and bad[0]["level"] == "error"
    assert bad[0]["message"] == "'bootargs' has the wrong type: its binding says string"
    assert bad[0]["line"] == line_of(src, "bootargs") and bad[0]["column"] == 3


def test_unknown_compatible(tmp_path: Path) -> None:
    text = GOOD.replace("\tchosen {", '\tgizmo@1000 {\n\t\tcompatible = "acme,gizmo";\n\t\treg = <0 0x1000 0 0x10>;\n\t};\n\n\tchosen {')
    rc, found, src = findings(tmp_path, text)
    unknown = [f for f in found if "acme,gizmo" in f["message"]]
    assert unknown and unknown[0]["level"] == "warning" and unknown[0]["line"] == line_of(src, "acme,gizmo")
    assert rc == 0  # a warning
    rc, _, _ = findings(tmp_path, text, "--strict")
    assert rc == 1
    rc, found, _ = findings(tmp_path, text, "--unknown-compatible", "error")
    assert rc == 1


def test_dtb_property_no_schema_types(tmp_path: Path) -> None:
    """From a DTB, a vendor property no schema describes has no known type: a warning, as an unknown compatible."""
    text = GOOD.replace("\tchosen {", '\tgizmo@1000 {\n\t\tcompatible = "acme,gizmo";\n\t\treg = <0 0x1000 0 0x10>;\n'
                        '\t\tacme,mode = <3>;\n\t};\n\n\tchosen {')
    src = write(tmp_path, "board.dts", text)
    assert dtc("-o", tmp_path / "board.dtb", src).ok
    run = armboot("check", "--format", "json", "-I", "dtb", tmp_path / "board.dtb")
    typeless = [f for f in json.loads(run.out) if f["property"] == "acme,mode"]
    assert run.rc == 0 and typeless and typeless[0]["level"] == "warning", run.out
    assert "its type is unknown" in typeless[0]["message"] and typeless[0]["path"] == "/gizmo@1000"
    run = armboot("check", "--format", "json", "-I", "dtb", "--unknown-compatible", "error", tmp_path / "board.dtb")
    assert run.rc == 1


def test_bad_chosen(tmp_path: Path) -> None:
    rc, found, src = findings(tmp_path, GOOD.replace('bootargs = "console=ttyAMA0";', 'bootargs = "x";\n\t\tstdout-path = <5>;'))
    bad = [f for f in found if f["path"] == "/chosen"]
    assert rc == 1 and any(f["property"] == "stdout-path" for f in bad)
    assert all(f["line"] == line_of(src, f["property"] or "chosen") for f in bad if f["property"])


def test_dtc_check_findings_have_locations(tmp_path: Path) -> None:
    rc, found, src = findings(tmp_path, GOOD.replace("\tchosen {", "\tnode@1 {\n\t\tfoo;\n\t};\n\n\tchosen {"), "--no-schemas")
    assert rc == 0
    unit = [f for f in found if f["check"] == "unit_address_vs_reg"]
    assert unit and unit[0]["path"] == "/node@1" and unit[0]["line"] == line_of(src, "node@1")
    assert all(f["check"] != "schema" for f in found)


def test_formats(tmp_path: Path) -> None:
    src = write(tmp_path, "b.dts", GOOD.replace('bootargs = "console=ttyAMA0";', "bootargs = <1>;"))
    gh = armboot("check", "--format", "github", src)
    assert gh.rc == 1 and "\n::error file=" in "\n" + gh.out.decode()
    junit = armboot("check", "--format", "junit", src)
    root = ET.fromstring(junit.out)
    assert root.find(".//failure") is not None
    sarif = json.loads(armboot("check", "--format", "sarif", src).out)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    out = tmp_path / "report.json"
    assert armboot("check", "--format", "json", "-o", out, src).rc == 1
    assert json.loads(out.read_text())


def test_usage_errors(tmp_path: Path) -> None:
    src = write(tmp_path, "b.dts", GOOD)
    assert armboot("check", "--format", "xml", src).rc == 2
    assert armboot("check", "-W", "no-such_check", src).rc == 2


def test_text_output_groups_by_file_with_caret(tmp_path: Path) -> None:
    a = write(tmp_path, "a.dts", GOOD.replace('bootargs = "console=ttyAMA0";', "bootargs = <1>;"))
    b = write(tmp_path, "b.dts", GOOD)
    run = armboot("check", a, b)
    assert run.rc == 1
    assert str(a) in run.err and f"{a}:{line_of(a, 'bootargs')}:" in run.err and "^" in run.err


def test_findings_in_a_shared_include_name_each_board(tmp_path: Path) -> None:
    """Two boards include one .dtsi with a flaw: each board's finding points into the .dtsi and names the board."""
    (tmp_path / "soc.dtsi").write_text("/ { soc { #address-cells = <1>; #size-cells = <1>; dev@10 { }; }; };\n")
    boards = [write(tmp_path, f"{n}.dts", '/dts-v1/;\n/include/ "soc.dtsi"\n/ { model = "x"; };\n') for n in ("one", "two")]
    run = armboot("check", "--no-schemas", "--format", "json", *boards)
    found = [(f["check"], f["input"], f["file"]) for f in json.loads(run.out) if f["check"] == "unit_address_vs_reg"]
    assert found == [("unit_address_vs_reg", str(b), str(tmp_path / "soc.dtsi")) for b in boards]
    text = armboot("check", "--no-schemas", *boards).err
    soc_line = f"{tmp_path / 'soc.dtsi'}:1:"
    assert text.count(soc_line) >= 2 and text.index(str(boards[0])) < text.index(soc_line) < text.index(str(boards[1]))


@needs_corpus
@pytest.mark.parametrize("version", ["v4.14", "v4.9"])
def test_corpus_sample_matches_dtc_through_the_cli(version: str, tmp_path: Path) -> None:
    """`armboot check --no-schemas --format json` reports dtc's (check, path) pairs (a sample; test_checks does all)."""
    boards = sorted((CORPUS / version / "arm64").rglob("*.dts"))[::9]
    for board in boards:
        pp = tmp_path / (board.stem + ".pp.dts")
        preprocess_like_kernel(board, version, pp)
        ref = dtc("-I", "dts", "-O", "dtb", "-o", "/dev/null", "-f", "-i", board.parent, pp)
        expected = set()
        for line in ref.err.splitlines():
            if "): " in line and ("Warning (" in line or "ERROR (" in line):
                name = line.split(" (", 1)[1].split(")", 1)[0]
                rest = line.split("): ", 1)[1]
                expected.add((name, rest.split(":", 1)[0] if rest.startswith("/") else ""))
        includes = [arg for d in corpus_include_dirs(version) for arg in ("-i", d)]
        run = armboot("check", "--no-schemas", "--format", "json", "--no-cpp", "-i", board.parent, *includes, pp)
        ours = {(f["check"], f["path"]) for f in json.loads(run.out)}
        assert ours == expected, board.name


def test_every_bundled_board_passes_schema_validation() -> None:
    boards = sorted(p for p in (Path(__file__).resolve().parents[1] / "boards").rglob("*.dts"))
    assert boards
    run = armboot("check", "--strict", *boards)
    assert run.rc == 0, run.err


ACME_SCHEMA = """%YAML 1.2
---
$id: http://devicetree.org/schemas/acme-gizmo.yaml#
$schema: http://devicetree.org/meta-schemas/core.yaml#

title: Acme gizmo

maintainers:
  - Someone <someone@example.org>

properties:
  compatible:
    const: acme,gizmo
  reg:
    maxItems: 1
  acme,speed:
    $ref: /schemas/types.yaml#/definitions/uint32

required:
  - compatible
  - reg
  - acme,speed

additionalProperties: false
"""


def test_more_schemas_from_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "bindings"
    folder.mkdir()
    (folder / "acme-gizmo.yaml").write_text(ACME_SCHEMA)
    text = GOOD.replace("\tchosen {", '\tgizmo@1000 {\n\t\tcompatible = "acme,gizmo";\n\t\treg = <0 0x1000 0 0x10>;\n\t};\n\n\tchosen {')
    rc, found, src = findings(tmp_path, text, "--schemas", str(folder))
    miss = [f for f in found if f["property"] == "acme,speed"]
    assert rc == 1 and miss and miss[0]["path"] == "/gizmo@1000" and miss[0]["schema"].endswith("acme-gizmo.yaml")
    assert miss[0]["line"] == line_of(src, "gizmo@1000")
    assert armboot("check", "--schemas", str(tmp_path / "nope"), src).rc == 2
