"""armboot abi as users and CI meet it: the project's own baseline gate, formats, exit statuses, bad input,
rule overrides, baselines across versions, and the binding-schema comparison against dt-cmp-schema."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from armboot.cli.app import app
from armboot.dtc.abi.rules import CHANGE_KINDS, RULES
from reference import CORPUS, armboot, needs_corpus
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "docs/abi/boards-baseline.json"
BOARDS = [
    ROOT / "boards/virt.dts",
    ROOT / "boards/virt-gicv3.dts",
    ROOT / "boards/foundation-v8/foundation-v8.dts",
    ROOT / "boards/virt-demo.dts",
]
VIRT = (ROOT / "boards/virt.dts").read_text()
UART = VIRT[VIRT.index("\tuart0: serial@9000000 {") : VIRT.index("};", VIRT.index("\tuart0: serial@9000000 {")) + 3]
TIMER = VIRT[VIRT.index("\ttimer {") : VIRT.index("};", VIRT.index("\ttimer {")) + 3]


def run(*args: object) -> tuple[int, str, str]:
    """The command in-process (fast); stdout and stderr apart."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def pair(tmp: Path, new_text: str, old_text: str = VIRT) -> tuple[Path, Path]:
    (tmp / "old").mkdir()
    (tmp / "new").mkdir()
    old, new = tmp / "old/virt.dts", tmp / "new/virt.dts"
    old.write_text(old_text)
    new.write_text(new_text)
    return old, new


def findings(out: str) -> list[dict]:
    return [f for c in json.loads(out)["comparisons"] for f in c["findings"]]


# The project's own gate.


def test_project_boards_match_the_committed_baseline() -> None:
    """What .ci/run checks through pytest: armboot's boards break nothing recorded in docs/abi/boards-baseline.json."""
    r = armboot("abi", "check", "--baseline", BASELINE, "--format", "json", *BOARDS)
    assert r.rc == 0, r.out.decode() + r.err
    report = json.loads(r.out)
    assert [c["board"] for c in report["comparisons"]] == ["virt", "virt-gicv3", "foundation-v8", "virt-demo"]
    assert report["missing"] == []
    assert report["counts"]["breaking"] == 0


def test_the_gate_fails_when_a_board_loses_a_device(tmp_path: Path) -> None:
    board = tmp_path / "virt.dts"
    board.write_text(VIRT.replace(TIMER, ""))
    code, out, err = run("abi", "check", "--baseline", BASELINE, "--format", "json", board)
    assert code == 1, err
    removed = [f for f in findings(out) if f["rule"] == "node-removed"]
    assert [f["path"] for f in removed] == ["/timer"]
    # the baseline keeps no source lines: the finding points at the parent in the new tree
    assert removed[0]["location"]["file"] == str(board)
    assert board.read_text().splitlines()[removed[0]["location"]["line"] - 1].startswith("/ {")


# Formats and exit statuses.


def test_formats_carry_the_same_finding(tmp_path: Path) -> None:
    old, new = pair(tmp_path, VIRT.replace("interrupts = <0 1 4>;", "interrupts = <0 7 4>;"))
    line = next(n for n, text in enumerate(new.read_text().splitlines(), 1) if "<0 7 4>" in text)
    code, out, _ = run("abi", "diff", old, new, "--format", "json")
    assert code == 1
    (f,) = findings(out)
    assert (f["rule"], f["class"], f["path"], f["property"]) == ("interrupts-changed", "breaking", "/serial@9000000", "interrupts")
    assert (f["old"], f["new"]) == ({"t": "cells", "v": [[0, 1, 4]]}, {"t": "cells", "v": [[0, 7, 4]]})
    assert (f["location"]["file"], f["location"]["line"]) == (str(new), line)

    code, out, _ = run("abi", "diff", old, new, "--format", "github")
    assert code == 1
    assert re.match(rf"::error file={re.escape(str(new))},line={line},col=\d+,title=interrupts-changed::", out)

    code, out, _ = run("abi", "diff", old, new, "--format", "junit")
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"

    code, out, _ = run("abi", "diff", old, new, "--format", "sarif")
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "interrupts-changed" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == line

    code, out, _ = run("abi", "diff", old, new)
    assert code == 1 and "interrupts-changed" in out and "<0 7 4>" in out  # the source line under the headline


def test_report_file_is_written(tmp_path: Path) -> None:
    old, new = pair(tmp_path, VIRT.replace(TIMER, ""))
    report = tmp_path / "out/report.sarif"
    report.parent.mkdir()
    code, out, _ = run("abi", "diff", old, new, "--format", "sarif", "-o", report)
    assert code == 1 and out == ""
    assert json.loads(report.read_text())["runs"][0]["results"][0]["ruleId"] == "node-removed"


def test_rules_can_be_promoted_silenced_and_the_failing_classes_chosen(tmp_path: Path) -> None:
    old, new = pair(tmp_path, VIRT.replace('model = "', 'model = "renamed ').replace(UART, UART + "\textra {\n\t};\n"))
    assert run("abi", "diff", old, new)[0] == 0  # model: info, extra node: compatible
    assert run("abi", "diff", old, new, "--rule", "value-changed=breaking")[0] == 1
    assert run("abi", "diff", old, new, "--fail-on", "compatible")[0] == 1
    code, out, _ = run("abi", "diff", old, new, "--format", "json", "--rule", "value-changed=off", "--rule", "node-added=info")
    assert code == 0
    assert [(f["rule"], f["class"]) for f in findings(out)] == [("node-added", "info")]
    (tmp_path / "b").mkdir()
    old, new = pair(tmp_path / "b", VIRT.replace(TIMER, ""))
    assert run("abi", "diff", old, new)[0] == 1
    assert run("abi", "diff", old, new, "--fail-on", "none")[0] == 0


def test_a_dtb_and_its_source_are_the_same_tree(tmp_path: Path) -> None:
    dtb = tmp_path / "virt.dtb"
    assert armboot("build", "-o", dtb, ROOT / "boards/virt.dts").rc == 0
    code, out, _ = run("abi", "diff", ROOT / "boards/virt.dts", dtb, "--format", "json")
    assert (code, findings(out)) == (0, [])


# Bad input: a clear error with where it is, exit status 2, never a traceback.


@pytest.mark.parametrize(
    ("text", "where"),
    [("/dts-v1/;\n/ { a = <1>\n};\n", r"new/virt\.dts:3:1: error"), ("/dts-v1/;\n/ { x = <&nowhere>; };\n", r"new/virt\.dts:2:\d+: error")],
    ids=["syntax", "unknown-label"],
)
def test_bad_source_is_reported_with_its_line(tmp_path: Path, text: str, where: str) -> None:
    old, new = pair(tmp_path, text)
    r = armboot("abi", "diff", old, new)
    assert r.rc == 2
    assert re.search(where, r.err), r.err
    assert "Traceback" not in r.err


def test_bad_dtb_missing_file_and_bad_baseline(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dtb"
    bad.write_bytes(b"\xd0\x0d\xfe\xed" + b"\0" * 60)
    r = armboot("abi", "diff", ROOT / "boards/virt.dts", bad)
    assert r.rc == 2 and "bad.dtb:offset 0x" in r.err and "Traceback" not in r.err
    r = armboot("abi", "diff", ROOT / "boards/virt.dts", tmp_path / "missing.dts")
    assert r.rc == 2 and "missing.dts" in r.err and "Traceback" not in r.err
    broken = tmp_path / "baseline.json"
    broken.write_text('{"format": "armboot-abi-baseline",\n "version": 1,\n "boards": {,}}\n')
    r = armboot("abi", "check", "--baseline", broken, ROOT / "boards/virt.dts")
    assert r.rc == 2 and re.search(r"baseline\.json:3:\d+: error", r.err) and "Traceback" not in r.err
    broken.write_text('{"format": "something else"}')
    code, _, err = run("abi", "check", "--baseline", broken, ROOT / "boards/virt.dts")
    assert code == 2 and "not an armboot ABI baseline" in err


@pytest.mark.parametrize(
    "args",
    [["--rule", "no-such-rule=info"], ["--rule", "value-changed=fatal"], ["--rule", "value-changed"], ["--fail-on", "severe"],
     ["--format", "xml"], ["-o", "x.txt"]],
    ids=["unknown-rule", "unknown-class", "no-class", "fail-on", "format", "text-to-file"],
)  # fmt: skip
def test_usage_errors_exit_2(args: list[str]) -> None:
    code, _, err = run("abi", "diff", *args, ROOT / "boards/virt.dts", ROOT / "boards/virt.dts")
    assert code == 2 and "error:" in err


# Rules as data.


def test_every_change_has_a_rule_and_every_rule_is_listed() -> None:
    for kind in CHANGE_KINDS:
        assert any(kind in r.kinds and not r.props for r in RULES), f"no catch-all rule for {kind}"
    _, out, _ = run("abi", "rules", "--format", "json")
    listed = json.loads(out)["tree"]
    assert [r["id"] for r in listed] == [r.id for r in RULES]
    assert all(r["class"] in ("breaking", "compatible", "info") and r["why"] and r["example"] for r in listed)
    _, text, _ = run("abi", "rules")
    assert all(f"{r.id} [{r.cls}]" in text for r in RULES)


def test_rule_classes_follow_the_issue() -> None:
    """The classes the issue (and the kernel's DT ABI document) give each kind of change."""
    cls = {r.id: r.cls for r in RULES}
    for rule in ("node-removed", "property-removed", "compatible-entry-removed", "compatible-reordered", "reg-changed",
                 "ranges-changed", "cells-changed", "interrupts-changed", "interrupt-parent-changed",
                 "reference-target-gone", "status-disabled"):  # fmt: skip
        assert cls[rule] == "breaking", rule
    assert cls["node-added"] == cls["property-added"] == "compatible"
    assert cls["value-changed"] == "info"


# Across versions.


def test_snapshot_check_and_history_across_versions(tmp_path: Path) -> None:
    v1 = tmp_path / "v1/virt.dts"
    v2 = tmp_path / "v2/virt.dts"
    v1.parent.mkdir()
    v2.parent.mkdir()
    v1.write_text(VIRT)
    v2.write_text(VIRT.replace("interrupts = <0 1 4>;", "interrupts = <0 5 4>;"))
    baseline = tmp_path / "baseline.json"
    assert run("abi", "snapshot", v1, "--kernel-version", "v4.9", "-o", baseline)[0] == 0
    assert run("abi", "snapshot", v2, "--kernel-version", "v4.14", "-o", baseline)[0] == 0
    assert sorted(json.loads(baseline.read_text())["boards"]["virt"]) == ["v4.14", "v4.9"]

    code, out, _ = run("abi", "check", "--baseline", baseline, "--format", "json", v2)
    report = json.loads(out)
    assert code == 1  # v2 breaks what v4.9 recorded, and nothing of v4.14
    assert [(c["version"], c["counts"]["breaking"]) for c in report["comparisons"]] == [("v4.9", 1), ("v4.14", 0)]

    code, out, _ = run("abi", "history", "--baseline", baseline, "--board", "virt", "--format", "json")
    assert [(c["old"], c["new"]) for c in json.loads(out)["comparisons"]] == [("v4.9", "v4.14")]
    code, out, _ = run("abi", "history", f"a={v1}", f"b={v2}", f"c={v1}", "--format", "json")
    comparisons = json.loads(out)["comparisons"]
    assert [(c["old"], c["new"], c["counts"]["breaking"]) for c in comparisons] == [("a", "b", 1), ("b", "c", 1)]

    code, _, err = run("abi", "check", "--baseline", baseline, tmp_path / "v1/virt.dts", "--require-baseline")
    assert code == 1  # v1 against v4.14: the interrupt moved back
    other = tmp_path / "other.dts"
    other.write_text(VIRT)
    code, _, err = run("abi", "check", "--baseline", baseline, other, "--require-baseline")
    assert code == 2 and "other: not in" in err


@needs_corpus
def test_kernel_boards_across_versions_with_auto_include() -> None:
    """--auto-include finds each version's include folders, so one command diffs a board across kernel trees."""
    old, new = CORPUS / "v4.9/arm64/rockchip/rk3399-evb.dts", CORPUS / "v4.14/arm64/rockchip/rk3399-evb.dts"
    code, out, err = run("abi", "diff", "--auto-include", old, new, "--format", "json")
    assert code == 1, err
    assert ("/pcie@f8000000", "ranges", "ranges-changed") in {(f["path"], f["property"], f["rule"]) for f in findings(out)}
    code, _, err = run("abi", "diff", old, new)
    assert code == 2 and "dt-bindings" in err  # without the include folders the #include fails


# Binding schemas, against dt-schema's own dt-cmp-schema.

SCHEMA = """\
%YAML 1.2
---
$id: http://devicetree.org/schemas/misc/acme,widget.yaml#
$schema: http://devicetree.org/meta-schemas/core.yaml#

title: ACME widget

maintainers:
  - A Person <a@example.com>

properties:
  compatible:
    const: acme,widget
  reg:
    maxItems: 1
  clocks:
    minItems: 1
    maxItems: 3
  acme,mode:
    $ref: /schemas/types.yaml#/definitions/uint32
    description: the mode

required:
  - compatible
  - reg

additionalProperties: false
"""
NEWER = SCHEMA.replace("    minItems: 1\n", "    minItems: 2\n").replace(
    "  acme,mode:\n    $ref: /schemas/types.yaml#/definitions/uint32\n    description: the mode\n", ""
).replace("  - reg\n", "  - reg\n  - clocks\n")


def _schema_dirs(tmp: Path, old: str, new: str) -> tuple[Path, Path]:
    for name, text in (("old", old), ("new", new)):
        (tmp / name).mkdir()
        (tmp / name / "acme,widget.yaml").write_text(text)
    return tmp / "old", tmp / "new"


def test_schema_changes_are_what_dt_cmp_schema_reports(tmp_path: Path) -> None:
    old, new = _schema_dirs(tmp_path, SCHEMA, NEWER)
    code, out, _ = run("abi", "schemas", old, new, "--format", "json")
    assert code == 1
    ours = {(f["schema"] + f["pointer"], f["rule"]) for f in json.loads(out)}
    tool = shutil.which("dt-cmp-schema")
    if tool is None:
        pytest.skip("dt-cmp-schema is not installed")
    lines = subprocess.run([tool, str(old), str(new)], capture_output=True, text=True).stderr.splitlines()
    kinds = {"new required properties added": "schema-required-added", "existing property removed": "schema-property-removed",
             "required entries increased": "schema-min-items-raised", "existing property deprecated": "schema-property-deprecated"}  # fmt: skip
    theirs = set()
    for line in lines:
        where, _, what = line.partition(": ")
        theirs.add((where, next(rule for text, rule in kinds.items() if what.startswith(text))))
    assert theirs and ours == theirs
    found = {f["rule"]: f for f in json.loads(out)}
    assert found["schema-required-added"]["message"] == "new required properties: clocks"
    assert found["schema-min-items-raised"]["message"] == "minItems raised from 1 to 2"
    assert found["schema-property-removed"]["location"]["file"].endswith("old/acme,widget.yaml")


def test_same_schemas_nothing_to_report_and_bad_schema_is_exit_2(tmp_path: Path) -> None:
    old, new = _schema_dirs(tmp_path, SCHEMA, SCHEMA)
    code, out, _ = run("abi", "schemas", old, new, "--format", "json")
    assert (code, json.loads(out)) == (0, [])
    (new / "broken.yaml").write_text("properties: [\n  oops\n")
    code, _, err = run("abi", "schemas", old, new)
    assert code == 2 and re.search(r"broken\.yaml:\d+:\d+: error", err), err
    code, _, err = run("abi", "schemas", old, tmp_path / "nowhere")
    assert code == 2 and "no such folder" in err


# The documentation's promises.


def test_every_rule_is_documented_with_its_class() -> None:
    doc = (ROOT / "docs/abi/README.md").read_text()
    for r in RULES:
        assert f"| {r.id} | {r.cls} |" in doc, r.id


def test_the_ci_recipes_run_the_gate_and_pass_on_this_repository(tmp_path: Path) -> None:
    """The commands the GitHub workflow and the pre-commit entry run, run here (from the repository's root)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    workflow = yaml.load((ROOT / "docs/abi/ci/github-workflow.yml").read_text())
    commands = [s["run"] for s in workflow["jobs"]["abi"]["steps"] if "armboot abi check" in s.get("run", "")]
    hook = yaml.load((ROOT / "docs/abi/ci/pre-commit-config.yaml").read_text())["repos"][0]["hooks"][0]
    commands.append(" ".join([hook["entry"], *hook["args"]]))
    assert len(commands) == 3
    for command in commands:
        args = command.split()
        assert args[:3] == ["armboot", "abi", "check"]
        if "-o" in args:  # the report goes to a scratch folder here
            args[args.index("-o") + 1] = str(tmp_path / args[args.index("-o") + 1])
        code, _, err = run(*[a if not a.startswith(("boards/", "docs/")) else ROOT / a for a in args[1:]])
        assert code == 0, (command, err)
    assert json.loads((tmp_path / "dt-abi.sarif").read_text())["runs"][0]["results"] == []
