"""The real history: boards of Linux v4.9 and v4.14 (../shared/corpus) diffed with armboot abi.

Each case below is a breaking finding read by hand in both versions' sources;
the reason it breaks an older tree's users is written next to it, with the
file and line of each version.  The test requires the finding, its class and
the source lines it points at.  The whole history (every board in both
versions) runs in bench/abi_history.py; here a sample of its per-board counts
is recomputed against docs/abi/history.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from armboot.dtc.abi.corpus import common_boards, compare_versions
from reference import CORPUS, needs_corpus

pytestmark = needs_corpus
ROOT = Path(__file__).resolve().parents[1]
OLD, NEW = CORPUS / "v4.9", CORPUS / "v4.14"


@dataclass(frozen=True)
class Case:
    board: str
    rule: str
    path: str
    prop: str
    old: str  # file:line in v4.9 (below arm64/)
    new: str  # file:line in v4.14 (the node's, for a removed property), "" for a removed node
    why: str


HAND_CHECKED = [
    Case("mediatek/mt8173-evb.dts", "node-removed", "/soc/usb@11270000", "", "mediatek/mt8173.dtsi:710", "",
         "v4.9 describes the xHCI as usb30: usb@11270000 directly under /soc; v4.14 (mt8173.dtsi:728, 752) "
         "puts an ssusb wrapper usb@11271000 there and the xHCI below it as xhci@11270000: the node an older "
         "tree's users bound is gone from where it was"),
    Case("rockchip/rk3399-evb.dts", "property-removed", "/dwmmc@fe310000", "clock-freq-min-max",
         "rockchip/rk3399.dtsi:238", "rockchip/rk3399.dtsi:293",
         "sdio0 had clock-freq-min-max = <400000 150000000> in v4.9; v4.14 (rk3399.dtsi:298) has max-frequency "
         "instead, so a kernel that reads clock-freq-min-max finds nothing"),
    Case("freescale/fsl-ls1043a-rdb.dts", "compatible-entry-removed", "/soc/msi-controller1@1571000", "compatible",
         "freescale/fsl-ls1043a.dtsi:514", "freescale/fsl-ls1043a.dtsi:656",
         'the misspelt "fsl,1s1043a-msi" (digit one) became "fsl,ls1043a-msi": a kernel matching the old '
         "string does not bind the MSI controller of the new tree"),
    Case("marvell/armada-7040-db.dts", "reg-changed", "/ap806/config-space@f0000000/system-controller@6f4000", "reg",
         "marvell/armada-ap806.dtsi:239", "marvell/armada-ap806.dtsi:257",
         "the AP806 system controller grew from 0x1000 to 0x2000 bytes; the device's register window is not the same"),
    Case("hisilicon/hip06-d03.dts", "interrupts-changed", "/soc/ehci@a7020000", "interrupts",
         "hisilicon/hip06.dtsi:334", "hisilicon/hip06.dtsi:340",
         "the EHCI interrupt through mbigen_usb went from <65 4> to <641 4>: another interrupt number"),
    Case("marvell/armada-7040-db.dts", "interrupt-parent-changed", "/cp110-master", "interrupt-parent",
         "marvell/armada-cp110-master.dtsi:52", "marvell/armada-cp110-master.dtsi:54",
         "every CP110 device's interrupts went from the GIC (<&gic>) to the new ICU (<&cpm_icu>), whose "
         "specifiers mean something else"),
    Case("marvell/armada-7040-db.dts", "interrupt-map-changed", "/cp110-master/pcie@f2600000", "interrupt-map",
         "marvell/armada-cp110-master.dtsi:188", "marvell/armada-cp110-master.dtsi:339",
         "PCIe INTx now maps to <&cpm_icu ICU_GRP_NSR 22 ...> instead of <&gic 0 GIC_SPI 32 ...>"),
    Case("rockchip/rk3399-evb.dts", "reference-target-gone", "/pcie@f8000000", "pinctrl-0",
         "rockchip/rk3399-evb.dts:162", "rockchip/rk3399-evb.dts:202",
         "pcie0's pinctrl-0 named pcie_clkreqn (v4.9 rk3399.dtsi:1822); v4.14 has only pcie_clkreqn_cpm "
         "(rk3399.dtsi:2367), a different pin group node, and the old one is gone"),
    Case("rockchip/rk3399-evb.dts", "ranges-changed", "/pcie@f8000000", "ranges",
         "rockchip/rk3399.dtsi:300", "rockchip/rk3399.dtsi:256",
         "the PCIe memory window grew from 0x600000 to 0x1e00000 and the I/O window moved from 0xfa600000 to "
         "0xfbe00000: bus addresses translate differently"),
    Case("arm/juno.dts", "node-removed", "/coresight-replicator", "", "arm/juno-base.dtsi:331", "",
         'the static "arm,coresight-replicator" node is gone; v4.14 describes a programmable '
         '"arm,coresight-dynamic-replicator" at replicator@20120000 (juno-base.dtsi:429) instead'),
    Case("qcom/apq8016-sbc.dts", "compatible-entry-removed", "/pmu", "compatible",
         "qcom/msm8916.dtsi:159", "qcom/msm8916.dtsi:165",
         '"arm,armv8-pmuv3" was replaced by "arm,cortex-a53-pmu" rather than kept after it: a kernel that '
         "only knows the generic PMUv3 string no longer binds"),
    Case("renesas/r8a7795-salvator-x.dts", "reg-changed", "/soc/sata@ee300000", "reg",
         "renesas/r8a7795.dtsi:1048", "renesas/r8a7795.dtsi:1456",
         "the SATA register window went from 0x1fff to 0x200000 bytes"),
    Case("hisilicon/hip06-d03.dts", "status-disabled", "/soc/sas@a3000000", "status",
         "hisilicon/hip06-d03.dts:53", "hisilicon/hip06.dtsi:677",
         'v4.9\'s D03 board file set &sas2 { status = "ok"; }; v4.14\'s enables only &sas1 (hip06-d03.dts:44), '
         "so the third SAS controller stays disabled by the SoC file"),
    Case("rockchip/rk3368-r88.dts", "status-disabled", "/mbox@ff6b0000", "status",
         "rockchip/rk3368.dtsi:625", "rockchip/rk3368.dtsi:649",
         'the mailbox had no status in v4.9 (enabled); v4.14 adds status = "disabled" and R88 does not enable it'),
]  # fmt: skip


@pytest.fixture(scope="module")
def history() -> dict[str, list]:
    boards = [b for b in common_boards(OLD, NEW) if b[0] in {c.board for c in HAND_CHECKED}]
    out: dict[str, list] = {}
    for comparison in compare_versions(OLD, NEW, boards):
        assert not isinstance(comparison, tuple), comparison
        out[comparison.board] = comparison.findings
    return out


def _at(location: object, root: Path, where: str) -> bool:
    file, line = where.rsplit(":", 1)
    return location is not None and Path(location.file) == root / "arm64" / file and location.line == int(line)  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", HAND_CHECKED, ids=lambda c: f"{c.rule}:{c.path}")
def test_hand_checked_breaking_finding(history: dict[str, list], case: Case) -> None:
    found = [f for f in history[case.board] if (f.path, f.property, f.rule) == (case.path, case.prop, case.rule)]
    assert len(found) == 1, [(f.rule, f.path, f.property) for f in history[case.board] if f.path == case.path]
    finding = found[0]
    assert finding.cls == "breaking"
    assert _at(finding.old_location, OLD, case.old), finding.old_location
    if case.new:
        assert _at(finding.new_location, NEW, case.new), finding.new_location
    else:
        assert finding.new_location is None
    removal = case.rule in ("node-removed", "property-removed")
    assert finding.location == (finding.old_location if removal else finding.new_location)


def test_the_cited_lines_say_what_the_cases_say() -> None:
    """The sources at the cited lines hold the values the cases are about (a guard on the citations)."""
    def line(root: Path, where: str) -> str:
        file, n = where.rsplit(":", 1)
        return (root / "arm64" / file).read_text().splitlines()[int(n) - 1]

    assert "clock-freq-min-max = <400000 150000000>;" in line(OLD, "rockchip/rk3399.dtsi:238")
    assert "dwmmc@fe310000 {" in line(NEW, "rockchip/rk3399.dtsi:293")
    assert '"fsl,1s1043a-msi"' in line(OLD, "freescale/fsl-ls1043a.dtsi:514")
    assert '"fsl,ls1043a-msi"' in line(NEW, "freescale/fsl-ls1043a.dtsi:656")
    assert "interrupts = <65 4>;" in line(OLD, "hisilicon/hip06.dtsi:334")
    assert "interrupts = <641 4>;" in line(NEW, "hisilicon/hip06.dtsi:340")
    assert "<&gic>" in line(OLD, "marvell/armada-cp110-master.dtsi:52")
    assert "<&cpm_icu>" in line(NEW, "marvell/armada-cp110-master.dtsi:54")
    assert "pcie_clkreqn>" in line(OLD, "rockchip/rk3399-evb.dts:162")
    assert '"arm,armv8-pmuv3"' in line(OLD, "qcom/msm8916.dtsi:159")
    assert "0x1fff" in line(OLD, "renesas/r8a7795.dtsi:1048")
    assert "0x200000" in line(NEW, "renesas/r8a7795.dtsi:1456")
    assert "usb@11270000" in line(OLD, "mediatek/mt8173.dtsi:710")
    assert "coresight-replicator {" in line(OLD, "arm/juno-base.dtsi:331")


def test_boards_of_both_versions_are_paired() -> None:
    """64 boards keep their path from v4.9 to v4.14 and one (ns2-svk) moved to broadcom/northstar2/."""
    pairs = common_boards(OLD, NEW)
    old_names = {p.relative_to(OLD / "arm64").as_posix() for p in (OLD / "arm64").rglob("*.dts")}
    new_names = {p.relative_to(NEW / "arm64").as_posix() for p in (NEW / "arm64").rglob("*.dts")}
    assert len(pairs) == len(old_names & new_names) + 1
    assert ("broadcom/northstar2/ns2-svk.dts", str(OLD / "arm64/broadcom/ns2-svk.dts"),
            str(NEW / "arm64/broadcom/northstar2/ns2-svk.dts")) in pairs  # fmt: skip


SAMPLE = ["amlogic/meson-gxbb-odroidc2.dts", "arm/foundation-v8.dts", "cavium/thunder-88xx.dts", "zte/zx296718-evb.dts"]


def test_sampled_boards_match_the_published_history() -> None:
    """docs/abi/history.md (made by bench/abi_history.py) still says what the differ finds for a sample of boards."""
    table = (ROOT / "docs/abi/history.md").read_text()
    boards = [b for b in common_boards(OLD, NEW) if b[0] in SAMPLE]
    assert len(boards) == len(SAMPLE)
    for comparison in compare_versions(OLD, NEW, boards):
        assert not isinstance(comparison, tuple), comparison
        row = re.search(rf"^\| {re.escape(comparison.board)} \| (\d+) \| (\d+) \| (\d+) \|", table, re.MULTILINE)
        assert row is not None, comparison.board
        assert [int(n) for n in row.groups()] == [comparison.count(c) for c in ("breaking", "compatible", "info")]
