"""armboot abi on real boards, mutated the ways the issue lists.

Each mutation is classed as the DT ABI rules of the issue (and
Documentation/devicetree/bindings/ABI.rst) say: removing a node, a property or
a compatible entry, reordering compatible entries, changing reg, interrupts or
the interrupt parent breaks users of the older tree; adding a node or a
property does not; renumbering phandles and reordering nodes change nothing.
Boards: three kernel boards of ../shared/corpus, armboot's own Foundation v8
board, and three boards of a newer kernel when scripts/fetch-kernel-dts has
extracted its source (the last four are not in shared/).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from armboot.cli.app import app
from armboot.dtc.abi import diff, normalise
from armboot.dtc.compiler import BuildOptions, emit, process
from armboot.dtc.data import Kind, Marker, cells_data, string_data
from armboot.dtc.frontend import Frontend, ParseCache
from armboot.dtc.preprocess import needs_cpp, preprocess
from armboot.dtc.tree import DeviceTree, Node, Property, delete_node, renumber_phandles
from reference import CORPUS, armboot, corpus_include_dirs, needs_corpus
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
BOARDS = {
    "rk3399-evb@v4.14": ("v4.14", CORPUS / "v4.14/arm64/rockchip/rk3399-evb.dts"),
    "tegra210-p2371-2180@v4.14": ("v4.14", CORPUS / "v4.14/arm64/nvidia/tegra210-p2371-2180.dts"),
    "juno@v4.9": ("v4.9", CORPUS / "v4.9/arm64/arm/juno.dts"),
    "foundation-v8@armboot": ("", ROOT / "boards/foundation-v8/foundation-v8.dts"),
}
# Boards of a newer kernel (scripts/fetch-kernel-dts), when its source was fetched: not in shared/.
NEWER = {
    "rk3588-rock-5b@{}": "rockchip/rk3588-rock-5b.dts",
    "sm8550-qrd@{}": "qcom/sm8550-qrd.dts",
    "imx8mp-evk@{}": "freescale/imx8mp-evk.dts",
}
KERNEL_SRC = sorted(Path(os.environ.get("ARMBOOT_KERNEL_SRC", "/nonexistent")).glob("linux-source-*/.complete"))
if KERNEL_SRC:
    _src = KERNEL_SRC[-1].parent
    for _name, _rel in NEWER.items():
        if (_src / "arch/arm64/boot/dts" / _rel).is_file():
            BOARDS[_name.format(_src.name.removeprefix("linux-source-"))] = ("src", _src / "arch/arm64/boot/dts" / _rel)
SPECIAL = {
    "compatible", "status", "reg", "ranges", "dma-ranges", "interrupts", "interrupts-extended", "interrupt-parent",
    "interrupt-map", "interrupt-map-mask", "#address-cells", "#size-cells", "#interrupt-cells", "phandle",
    "linux,phandle",
}  # fmt: skip


class Board:
    """A board compiled once; ``fresh()`` gives a new processed tree cheaply (cpp output and parses reused)."""

    def __init__(self, version: str, path: Path) -> None:
        self.path = str(path)
        if version == "src":  # a kernel source tree: the kernel's include-prefixes folder
            root = next(p for p in path.parents if (p / "scripts/dtc/include-prefixes").is_dir())
            includes = [str(root / "scripts/dtc/include-prefixes")]
        else:
            includes = corpus_include_dirs(version) if version else []
        self.opts = BuildOptions(include_dirs=includes)
        raw = path.read_bytes()
        self.text = preprocess(self.path, self.opts.include_dirs, []).text if needs_cpp(raw) else None
        self.cache = ParseCache()

    def fresh(self) -> DeviceTree:
        tree = Frontend(self.opts, self.cache).load(self.path, self.text)
        process(tree, self.opts)
        return tree


_boards: dict[str, Board] = {}


@pytest.fixture(params=sorted(BOARDS))
def board(request: pytest.FixtureRequest) -> Board:
    version, path = BOARDS[request.param]
    if version and version != "src" and not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    if request.param not in _boards:
        _boards[request.param] = Board(version, path)
    return _boards[request.param]


# Choosing what to mutate (the first fitting node in walk order).


def first(tree: DeviceTree, fits: Callable[[Node], bool]) -> Node:
    node = next((n for n in tree.walk() if fits(n)), None)
    assert node is not None, "the board has no node to mutate this way"
    return node


def referenced(tree: DeviceTree) -> set[int]:
    return {int.from_bytes(p.value[m.offset : m.offset + 4], "big") for n in tree.walk() for p in n.properties
            for m in p.data.markers if m.kind == Kind.REF_PHANDLE}  # fmt: skip


def phandle_of(node: Node) -> int:
    prop = node.get("phandle")
    return prop.u32() if prop is not None else 0


def set_prop(node: Node, name: str, data: object) -> None:
    prop = node.get(name)
    if prop is None:
        node.add_property(Property(name, data))  # type: ignore[arg-type]
    else:
        prop.data = data  # type: ignore[assignment]


def interrupt_parent_of(node: Node, tree: DeviceTree) -> Node | None:
    """The binding's search, written out here: own interrupt-parent, else the parent's, up the tree."""
    cur: Node | None = node
    while cur is not None:
        link = cur.get("interrupt-parent")
        if link is not None:
            return tree.by_phandle(link.u32())
        cur = cur.parent
    return None


# The mutations: each changes the tree and says which (rule, class, path, property) it must produce.

Expect = list[tuple[str, str, str, str]]


def delete_a_node(tree: DeviceTree) -> Expect:
    used = referenced(tree)
    node = first(tree, lambda n: n.get("compatible") is not None and n.get("reg") is not None and not n.nodes
                 and phandle_of(n) not in used and n.parent is not None)  # fmt: skip
    path = node.path
    delete_node(node)
    return [("node-removed", "breaking", path, "")]


def delete_a_property(tree: DeviceTree) -> Expect:
    node = first(tree, lambda n: n.get("compatible") is not None and any(p.name not in SPECIAL for p in n.properties))
    prop = next(p for p in node.properties if p.name not in SPECIAL)
    prop.deleted = True
    return [("property-removed", "breaking", node.path, prop.name)]


def drop_a_compatible_entry(tree: DeviceTree) -> Expect:
    node = first(tree, lambda n: n.get("compatible") is not None and len(n.get("compatible").strings()) >= 2)  # type: ignore[union-attr]
    entries = node.get("compatible").strings()  # type: ignore[union-attr]
    set_prop(node, "compatible", string_data(*entries[:-1]))
    return [("compatible-entry-removed", "breaking", node.path, "compatible")]


def swap_compatible_entries(tree: DeviceTree) -> Expect:
    node = first(tree, lambda n: n.get("compatible") is not None and len(n.get("compatible").strings()) >= 2)  # type: ignore[union-attr]
    entries = node.get("compatible").strings()  # type: ignore[union-attr]
    set_prop(node, "compatible", string_data(entries[1], entries[0], *entries[2:]))
    return [("compatible-reordered", "breaking", node.path, "compatible")]


def change_reg(tree: DeviceTree) -> Expect:
    node = first(tree, lambda n: n.get("reg") is not None and n.parent is not None and len(n.get("reg").value) >= 8)  # type: ignore[union-attr]
    cells = node.get("reg").cells()  # type: ignore[union-attr]
    set_prop(node, "reg", cells_data(*cells[:-1], cells[-1] + 0x1000))
    return [("reg-changed", "breaking", node.path, "reg")]


def change_interrupts(tree: DeviceTree) -> Expect:
    node = first(tree, lambda n: n.get("interrupts") is not None and len(n.get("interrupts").value) >= 8)  # type: ignore[union-attr]
    cells = node.get("interrupts").cells()  # type: ignore[union-attr]
    set_prop(node, "interrupts", cells_data(cells[0], cells[1] + 1, *cells[2:]))
    return [("interrupts-changed", "breaking", node.path, "interrupts")]


def point_interrupt_parent_elsewhere(tree: DeviceTree) -> Expect:
    def providers() -> list[Node]:
        return [n for n in tree.walk() if n.get("#interrupt-cells") is not None
                and (n.get("interrupt-controller") is not None or n.get("interrupt-map") is not None)]  # fmt: skip

    node = first(tree, lambda n: n.get("interrupts") is not None and len(providers()) >= 2)
    now = interrupt_parent_of(node, tree)
    other = next(p for p in providers() if p is not now)
    if not phandle_of(other):
        other.add_property(Property("phandle", cells_data(max(referenced(tree) | {phandle_of(n) for n in tree.walk()}) + 1)))
    set_prop(node, "interrupt-parent", cells_data(phandle_of(other)))
    return [("interrupt-parent-changed", "breaking", node.path, "interrupt-parent")]


def renumber_all_phandles(tree: DeviceTree) -> Expect:
    renumber_phandles(tree, 1000)
    return []


def reorder_nodes(tree: DeviceTree) -> Expect:
    for node in tree.walk():
        node.children.reverse()
        node.props.reverse()
    return []


def add_a_property(tree: DeviceTree) -> Expect:
    node = first(tree, lambda n: n.get("compatible") is not None and n.parent is not None)
    node.add_property(Property("armboot,test-wakeup-source", string_data("yes")))
    return [("property-added", "compatible", node.path, "armboot,test-wakeup-source")]


def add_a_node(tree: DeviceTree) -> Expect:
    node = Node("armboot-test-device")
    node.add_property(Property("compatible", string_data("armboot,test-device")))
    tree.root.add_child(node)
    return [("node-added", "compatible", "/armboot-test-device", "")]


MUTATIONS = [
    delete_a_node, delete_a_property, drop_a_compatible_entry, swap_compatible_entries, change_reg,
    change_interrupts, point_interrupt_parent_elsewhere, renumber_all_phandles, reorder_nodes, add_a_property,
    add_a_node,
]  # fmt: skip


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__)
def test_mutation_is_classed_by_its_rule(board: Board, mutate: Callable[[DeviceTree], Expect]) -> None:
    old = normalise(board.fresh())
    tree = board.fresh()
    expected = mutate(tree)
    found = [(f.rule, f.cls, f.path, f.property) for f in diff(old, normalise(tree))]
    assert found == expected


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__)
def test_mutation_survives_compiling_to_dtb(board: Board, mutate: Callable[[DeviceTree], Expect]) -> None:
    """The same mutation between two .dtb files: values typed by the binding conventions, not by source markers."""
    from armboot.dtc.fdtread import parse_dtb

    tree = board.fresh()
    old_blob, _ = emit(board.fresh(), "dtb", board.opts)
    expected = mutate(tree)
    new_blob, _ = emit(tree, "dtb", board.opts)
    found = [(f.rule, f.cls, f.path, f.property) for f in diff(normalise(parse_dtb(old_blob)[0]), normalise(parse_dtb(new_blob)[0]))]
    assert found == expected


@needs_corpus
@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__)
def test_cli_exit_status_and_json(tmp_path: Path, mutate: Callable[[DeviceTree], Expect]) -> None:
    """What CI sees (the command run in-process): exit 1 exactly when a breaking finding exists, the finding
    in the JSON report."""
    version, path = BOARDS["rk3399-evb@v4.14"]
    b = _boards.setdefault("rk3399-evb@v4.14", Board(version, path))
    tree = b.fresh()
    old_blob, _ = emit(b.fresh(), "dtb", b.opts)
    expected = mutate(tree)
    new_blob, _ = emit(tree, "dtb", b.opts)
    (tmp_path / "old.dtb").write_bytes(old_blob)
    (tmp_path / "new.dtb").write_bytes(new_blob)
    run = CliRunner().invoke(app, ["abi", "diff", "--format", "json", str(tmp_path / "old.dtb"), str(tmp_path / "new.dtb")])
    report = json.loads(run.stdout)
    found = [(f["rule"], f["class"], f["path"], f["property"]) for f in report["comparisons"][0]["findings"]]
    assert found == expected
    assert run.exit_code == (1 if any(cls == "breaking" for _, cls, _, _ in expected) else 0), run.output


def test_a_source_diff_points_at_the_lines(tmp_path: Path) -> None:
    """Findings between two .dts files name file:line:column in the new tree, and in the old one for removals."""
    board_src = (ROOT / "boards/virt.dts").read_text()
    old = tmp_path / "old.dts"
    new = tmp_path / "new.dts"
    old.write_text(board_src)
    changed = board_src.replace("interrupts = <0 1 4>;", "interrupts = <0 2 4>;").replace('compatible = "arm,psci-1.0", ', "compatible = ")
    assert changed.count("\n") == board_src.count("\n") and changed != board_src
    new.write_text(changed)
    run = armboot("abi", "diff", "--format", "json", old, new)
    assert run.rc == 1, run.err
    found = {(f["rule"], f["property"]): f for f in json.loads(run.out)["comparisons"][0]["findings"]}
    lines = changed.splitlines()
    irq = found[("interrupts-changed", "interrupts")]
    assert irq["location"]["file"] == str(new)
    assert "interrupts = <0 2 4>;" in lines[irq["location"]["line"] - 1]
    assert irq["old_location"]["file"] == str(old)
    compat = found[("compatible-entry-removed", "compatible")]
    assert '"arm,psci-0.2"' in lines[compat["location"]["line"] - 1]
    assert compat["old"] == {"t": "strings", "v": ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]}
    assert compat["new"] == {"t": "strings", "v": ["arm,psci-0.2", "arm,psci"]}


def test_removed_property_points_into_the_old_source(tmp_path: Path) -> None:
    src = (ROOT / "boards/virt.dts").read_text()
    old, new = tmp_path / "old.dts", tmp_path / "new.dts"
    old.write_text(src)
    new.write_text(src.replace('\t\tclock-output-names = "clk24mhz";\n', ""))
    assert new.read_text() != src
    run = armboot("abi", "diff", "--format", "json", old, new)
    (f,) = json.loads(run.out)["comparisons"][0]["findings"]
    assert (f["rule"], f["class"], f["property"]) == ("property-removed", "breaking", "clock-output-names")
    assert f["location"]["file"] == str(old)
    assert "clock-output-names" in src.splitlines()[f["location"]["line"] - 1]
    assert run.rc == 1


def test_marker_is_what_makes_a_reference() -> None:
    """A vendor property holding <&label> is a reference because the source says so: renumbering keeps it
    equal, pointing it at another node is a change."""
    opts = BuildOptions()
    tree = Frontend(opts, ParseCache()).load(str(ROOT / "boards/virt.dts"))
    process(tree, opts)
    uart = first(tree, lambda n: n.name.startswith("serial@"))
    gic = first(tree, lambda n: n.get("interrupt-controller") is not None)
    clock = first(tree, lambda n: n.get("#clock-cells") is not None)
    value = cells_data(phandle_of(gic))
    uart.add_property(Property("vendor,syscon", type(value)(value.value, (*value.markers, Marker(0, Kind.REF_PHANDLE, "gic")))))
    old = normalise(tree)
    assert old["nodes"][uart.path]["props"]["vendor,syscon"] == {"t": "cells", "v": [["&" + gic.path]]}
    renumber_all_phandles(tree)
    assert diff(old, normalise(tree)) == []
    prop = uart.get("vendor,syscon")
    assert prop is not None
    prop.data = prop.data.patch_cell(0, phandle_of(clock))
    assert [(f.rule, f.path, f.property) for f in diff(old, normalise(tree))] == [("value-changed", uart.path, "vendor,syscon")]
