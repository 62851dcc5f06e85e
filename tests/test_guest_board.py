"""Guest boards and guest device trees: layouts, the DTB node by node, dtc and `armboot check --strict`, the event PPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from armboot.bootloader.dom0less import GuestSpec, Module, guest_specs, resolve_files
from armboot.bootloader.session import load_tree
from armboot.dtc.compiler import BuildOptions, compile_file
from armboot.dtc.dtsout import to_dts
from armboot.dtc.fdt import to_dtb
from armboot.dtc.fdtread import read_dtb
from armboot.dtc.tree import DeviceTree, Node
from armboot.hyp.personalities.guest_board import (
    GuestBoard,
    GuestBoardError,
    choose_event_ppi,
    guest_dtb,
    guest_tree,
    kvm_board,
    read_fragment,
    used_ppis,
    xen_board,
)
from reference import armboot, dtc, needs_dtc

FIX = Path(__file__).resolve().parent / "dom0less"
VIRT = Path(__file__).resolve().parents[1] / "boards" / "virt.dts"


def make_spec(
    cpus: int = 1,
    vpl011: bool = False,
    memory: int = 64 << 20,
    bootargs: str | None = None,
    fragment: str | None = None,
) -> GuestSpec:
    """A spec whose nodes sit at /chosen/domU1 (so that errors name real paths)."""
    root, chosen, dom = Node(""), Node("chosen"), Node("domU1")
    root.add_child(chosen)
    chosen.add_child(dom)
    kernel = Module("kernel", Node("module@0"), "/k", 0x48000000, 0x1000)
    dom.add_child(kernel.node)
    dt = None
    if fragment is not None:
        dt = Module("device-tree", Node("module@2"), fragment)
        dom.add_child(dt.node)
    return GuestSpec("domU1", dom, memory, cpus, vpl011, kernel, None, dt, bootargs)


def fragment_blob(
    tmp_path: Path,
    body: str,
    gic: str = "gic: gic { #interrupt-cells = <3>; #address-cells = <0>; interrupt-controller; phandle = <65000>; };",
) -> bytes:
    src = tmp_path / "fragment.dts"
    src.write_text(f"/dts-v1/;\n/ {{\n#address-cells = <2>; #size-cells = <2>;\n{gic}\n{body}\n}};\n")
    return to_dtb(compile_file(str(src), BuildOptions(quiet=2, force=True)).tree)[0]


def passthrough(
    devices: str, bus: str = 'compatible = "simple-bus"; ranges; #address-cells = <2>; #size-cells = <2>;'
) -> str:
    return f"passthrough {{ {bus} {devices} }};"


def decoded(
    spec: GuestSpec, board: GuestBoard, initrd: tuple[int, int] | None = None, fragment: bytes | None = None
) -> DeviceTree:
    """The guest DTB read back with armboot's DTB reader."""
    return read_dtb(guest_dtb(spec, board, initrd, fragment))


def props(tree: DeviceTree, path: str) -> dict[str, bytes]:
    node = tree.find(path)
    assert node is not None, path
    return {p.name: p.value for p in node.properties}


def strs(*values: str) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def cells(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, "big") for v in values)


# Boards


def test_kvm_board_is_qemu_virt() -> None:
    board = kvm_board(make_spec(vpl011=False))
    assert board == GuestBoard(
        "virt", (0x08000000, 0x10000), (0x08010000, 0x10000), (0x09000000, 33), (0x0A000000, 0x200, 48), None,
        0x40000000, (29, 30, 27, 26), "hvc",
    )  # fmt: skip


def test_xen_board_is_xens_guest_layout() -> None:
    with_uart = xen_board(make_spec(vpl011=True), 31)
    assert (with_uart.gicd, with_uart.gicc, with_uart.uart) == (
        (0x03001000, 0x1000),
        (0x03002000, 0x2000),
        (0x22000000, 32),
    )
    assert (with_uart.hypervisor, with_uart.virtio_console, with_uart.ram_base) == (
        (0x38000000, 0x1000000, 31),
        None,
        0x40000000,
    )
    assert (with_uart.timer_ppis, with_uart.psci_method) == ((29, 30, 27, 26), "hvc")
    assert xen_board(make_spec(vpl011=False), 16).uart is None
    assert (with_uart.event_intid, kvm_board(make_spec()).event_intid) == (31, None)


@pytest.mark.parametrize("intid", [15, 32, 27, 30])
def test_xen_board_refuses_an_event_intid_that_is_no_free_ppi(intid: int) -> None:
    with pytest.raises(GuestBoardError, match=rf"^domU1: event-channel INTID {intid} is not a free PPI$"):
        xen_board(make_spec(), intid)


# The guest tree, node by node


def test_virt_guest_tree() -> None:
    tree = decoded(
        make_spec(cpus=3, memory=256 << 20, bootargs="console=ttyAMA0"),
        kvm_board(make_spec()),
        (0x48000000, 0x48201000),
    )
    root = tree.root
    assert [n.name for n in root.nodes] == [
        "chosen", "aliases", "memory@40000000", "cpus", "psci", "timer", "interrupt-controller@8000000",
        "apb-pclk", "serial@9000000", "virtio_mmio@a000000",
    ]  # fmt: skip
    assert props(tree, "/") == {
        "model": strs("linux,dummy-virt"),
        "compatible": strs("linux,dummy-virt"),
        "#address-cells": cells(2),
        "#size-cells": cells(2),
        "interrupt-parent": cells(65000),
    }
    assert props(tree, "/chosen") == {
        "bootargs": strs("console=ttyAMA0"),
        "stdout-path": strs("serial0:115200n8"),
        "linux,initrd-start": cells(0, 0x48000000),
        "linux,initrd-end": cells(0, 0x48201000),
    }
    assert props(tree, "/aliases") == {"serial0": strs("/serial@9000000")}
    assert props(tree, "/memory@40000000") == {
        "device_type": strs("memory"),
        "reg": cells(0, 0x40000000, 0, 256 << 20),
    }
    assert props(tree, "/cpus") == {"#address-cells": cells(1), "#size-cells": cells(0)}
    assert [n.name for n in tree.find("/cpus").nodes] == ["cpu@0", "cpu@1", "cpu@2"]  # type: ignore[union-attr]
    for n in range(3):
        assert props(tree, f"/cpus/cpu@{n}") == {
            "device_type": strs("cpu"),
            "compatible": strs("arm,armv8"),
            "enable-method": strs("psci"),
            "reg": cells(n),
        }
    assert props(tree, "/psci") == {
        "compatible": strs("arm,psci-1.0", "arm,psci-0.2", "arm,psci"),
        "method": strs("hvc"),
        "cpu_suspend": cells(0xC4000001),
        "cpu_off": cells(0x84000002),
        "cpu_on": cells(0xC4000003),
        "migrate": cells(0xC4000005),
    }
    # 3 vCPUs: CPU mask 0b111 in bits 8-15, level-high
    assert props(tree, "/timer") == {
        "compatible": strs("arm,armv8-timer"),
        "interrupts": cells(1, 13, 0x704, 1, 14, 0x704, 1, 11, 0x704, 1, 10, 0x704),
    }
    assert props(tree, "/interrupt-controller@8000000") == {
        "compatible": strs("arm,cortex-a15-gic"),
        "#interrupt-cells": cells(3),
        "#address-cells": cells(0),
        "interrupt-controller": b"",
        "reg": cells(0, 0x08000000, 0, 0x10000, 0, 0x08010000, 0, 0x10000),
        "phandle": cells(65000),
    }
    clock = props(tree, "/apb-pclk")
    assert clock == {
        "compatible": strs("fixed-clock"),
        "#clock-cells": cells(0),
        "clock-frequency": cells(24_000_000),
        "clock-output-names": strs("clk24mhz"),
        "phandle": clock["phandle"],
    }
    assert props(tree, "/serial@9000000") == {
        "compatible": strs("arm,pl011", "arm,primecell"),
        "reg": cells(0, 0x09000000, 0, 0x1000),
        "interrupts": cells(0, 1, 4),
        "clocks": clock["phandle"] * 2,
        "clock-names": strs("uartclk", "apb_pclk"),
    }
    assert props(tree, "/virtio_mmio@a000000") == {
        "compatible": strs("virtio,mmio"),
        "reg": cells(0, 0x0A000000, 0, 0x200),
        "interrupts": cells(0, 16, 1),
        "dma-coherent": b"",
    }


def test_xen_guest_tree_with_vpl011() -> None:
    spec = make_spec(cpus=2, vpl011=True, bootargs="console=ttyAMA0")
    tree = decoded(spec, xen_board(spec, 31))
    assert [n.name for n in tree.root.nodes] == [
        "chosen", "aliases", "memory@40000000", "cpus", "psci", "timer", "interrupt-controller@3001000",
        "apb-pclk", "serial@22000000", "hypervisor@38000000",
    ]  # fmt: skip
    root = props(tree, "/")
    assert (root["model"], root["compatible"]) == (strs("XENVM-4.17"), strs("xen,xenvm-4.17", "xen,xenvm"))
    assert props(tree, "/chosen") == {
        "bootargs": strs("console=ttyAMA0"),
        "stdout-path": strs("serial0:115200n8"),
    }
    assert props(tree, "/aliases") == {"serial0": strs("/serial@22000000")}
    assert props(tree, "/interrupt-controller@3001000")["reg"] == cells(
        0, 0x03001000, 0, 0x1000, 0, 0x03002000, 0, 0x2000
    )
    assert props(tree, "/timer")["interrupts"] == cells(
        1, 13, 0x304, 1, 14, 0x304, 1, 11, 0x304, 1, 10, 0x304
    )
    assert props(tree, "/serial@22000000")["interrupts"] == cells(0, 0, 4)
    assert props(tree, "/hypervisor@38000000") == {
        "compatible": strs("xen,xen-4.17", "xen,xen"),
        "reg": cells(0, 0x38000000, 0, 0x1000000),
        "interrupts": cells(1, 15, 0x304),
    }


def test_xen_guest_tree_without_vpl011_bootargs_or_initrd() -> None:
    spec = make_spec(cpus=8, memory=1 << 33)
    tree = decoded(spec, xen_board(spec, 16))
    assert [n.name for n in tree.root.nodes] == [
        "chosen", "memory@40000000", "cpus", "psci", "timer", "interrupt-controller@3001000", "hypervisor@38000000",
    ]  # fmt: skip
    assert props(tree, "/chosen") == {}
    assert props(tree, "/memory@40000000")["reg"] == cells(0, 0x40000000, 2, 0)
    assert len(tree.find("/cpus").nodes) == 8  # type: ignore[union-attr]
    assert props(tree, "/timer")["interrupts"] == cells(
        1, 13, 0xFF04, 1, 14, 0xFF04, 1, 11, 0xFF04, 1, 10, 0xFF04
    )
    assert props(tree, "/hypervisor@38000000")["interrupts"] == cells(1, 0, 0xFF04)


def test_the_model_tree_and_its_dtb_agree() -> None:
    spec = make_spec(vpl011=True, bootargs="x")
    board = xen_board(spec, 20)
    assert to_dtb(guest_tree(spec, board))[0] == guest_dtb(spec, board)
    assert guest_tree(spec, board).find("/interrupt-controller@3001000").phandle == 65000  # type: ignore[union-attr]


# Against the reference dtc and `armboot check --strict`


def cases(tmp: Path) -> dict[str, tuple[GuestSpec, GuestBoard, tuple[int, int] | None, bytes | None]]:
    frag = fragment_blob(
        tmp,
        passthrough(
            'virtio@a003e00 { compatible = "virtio,mmio"; reg = <0 0x0a003e00 0 0x200>; interrupts = <0 47 1>; };'
        ),
    )
    one, two, eight = (
        make_spec(1),
        make_spec(2, vpl011=True, bootargs="console=ttyAMA0 quiet"),
        make_spec(8, vpl011=True),
    )
    return {
        "virt-1": (one, kvm_board(one), None, None),
        "virt-2-initrd": (two, kvm_board(two), (0x44000000, 0x44100000), None),
        "virt-fragment": (one, kvm_board(one), None, frag),
        "xen-1": (one, xen_board(one, 31), None, None),
        "xen-2-vpl011": (two, xen_board(two, 16), (0x44000000, 0x44100000), None),
        "xen-8-fragment": (eight, xen_board(eight, 17), None, (FIX / "passthrough.dtb").read_bytes()),
    }


@needs_dtc
def test_dts_round_trip_matches_dtc(tmp_path: Path) -> None:
    for name, (spec, board, initrd, frag) in cases(tmp_path).items():
        src = tmp_path / f"{name}.dts"
        src.write_text(to_dts(guest_tree(spec, board, initrd, frag)))
        run = dtc("-I", "dts", "-O", "dtb", src)
        assert run.ok, (name, run.err)
        assert run.out == guest_dtb(spec, board, initrd, frag), name


@pytest.fixture(scope="module")
def strict_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    """`armboot check --strict` over every case's DTB, in one run: (path, message) per finding, per case."""
    tmp = tmp_path_factory.mktemp("strict")
    files = {}
    for name, (spec, board, initrd, frag) in cases(tmp).items():
        files[name] = tmp / f"{name}.dtb"
        files[name].write_bytes(guest_dtb(spec, board, initrd, frag))
    run = armboot("check", "--strict", "--format", "json", *files.values())
    records = json.loads(run.out)
    assert (run.rc == 0) == (records == []), run.err
    out: dict[str, list[tuple[str, str]]] = {name: [] for name in files}
    for r in records:
        out[Path(r["file"]).stem].append((r["path"], r["message"]))
    return out


@pytest.mark.parametrize("name", ["virt-1", "virt-2-initrd", "virt-fragment"])
def test_virt_guest_trees_check_strict_clean(
    strict_findings: dict[str, list[tuple[str, str]]], name: str
) -> None:
    assert strict_findings[name] == []


@pytest.mark.parametrize("name", ["xen-1", "xen-2-vpl011", "xen-8-fragment"])
def test_xen_guest_trees_check_strict_clean(strict_findings: dict[str, list[tuple[str, str]]], name: str) -> None:
    assert strict_findings[name] == []


# The passthrough fragment


def test_fragment_contents_join_the_guest(tmp_path: Path) -> None:
    spec = make_spec(vpl011=True)
    tree = decoded(spec, xen_board(spec, 16), None, (FIX / "passthrough.dtb").read_bytes())
    assert tree.root.nodes[-1].name == "virtio@a003e00"
    assert tree.find("/passthrough") is None and tree.find("/gic") is None
    assert props(tree, "/virtio@a003e00") == {  # xen,reg and xen,path dropped, as Xen drops them
        "compatible": strs("virtio,mmio"),
        "reg": cells(0, 0x0A003E00, 0, 0x200),
        "interrupts": cells(0, 47, 1),
        "interrupt-parent": cells(65000),
    }
    assert props(tree, "/aliases") == {
        "serial0": strs("/serial@22000000"),
        "virtio1": strs("/virtio@a003e00"),
    }


def test_fragment_from_the_module_file_and_the_fixture() -> None:
    specs = guest_specs(load_tree(str(FIX / "guests.dts"), []))
    resolve_files(specs, str(FIX / "guests.dts"), {})
    by_file = guest_dtb(specs[0], kvm_board(specs[0]))
    assert by_file == guest_dtb(specs[0], kvm_board(specs[0]), None, (FIX / "passthrough.dtb").read_bytes())
    assert read_dtb(by_file).find("/virtio@a003e00") is not None


def test_fragment_gic_phandle_becomes_the_gics(tmp_path: Path) -> None:
    gic = "gic: gic { #interrupt-cells = <3>; #address-cells = <0>; interrupt-controller; phandle = <0x7>; };"
    body = passthrough(
        'dev@10000000 { compatible = "virtio,mmio"; reg = <0 0x10000000 0 0x200>; interrupt-parent = <&gic>; interrupts = <0 50 4>; };'
    )
    tree = decoded(make_spec(vpl011=True), kvm_board(make_spec()), None, fragment_blob(tmp_path, body, gic))
    assert props(tree, "/")["interrupt-parent"] == cells(7)
    assert props(tree, "/interrupt-controller@8000000")["phandle"] == cells(7)
    assert props(tree, "/dev@10000000")["interrupt-parent"] == cells(7)
    assert props(tree, "/apb-pclk")["phandle"] == cells(65001)


def test_clock_phandle_avoids_the_fragments(tmp_path: Path) -> None:
    body = passthrough("a { phandle = <65001>; }; b { phandle = <65002>; };")
    tree = decoded(make_spec(vpl011=True), kvm_board(make_spec()), None, fragment_blob(tmp_path, body))
    assert props(tree, "/apb-pclk")["phandle"] == cells(65003)
    assert props(tree, "/serial@9000000")["clocks"] == cells(65003, 65003)


FRAGMENT_ERRORS = {
    "cells": (
        passthrough("", "ranges; #address-cells = <2>;"),
        "#address-cells and #size-cells must be 2 (the guest root's), not 2 and 1",
    ),
    "ranges": (
        passthrough("", "ranges = <0 0 0 0 0 0x1000>; #address-cells = <2>; #size-cells = <2>;"),
        "ranges must be empty (the devices sit at the same addresses in the guest)",
    ),
    "compatible": (
        passthrough("", 'compatible = "vendor,bus"; ranges; #address-cells = <2>; #size-cells = <2>;'),
        'compatible must be "simple-bus"',
    ),
    "property": (
        passthrough("", 'ranges; #address-cells = <2>; #size-cells = <2>; status = "okay";'),
        "property status is not supported (only compatible, ranges, #address-cells, #size-cells)",
    ),
}


@pytest.mark.parametrize("case", FRAGMENT_ERRORS)
def test_fragment_bus_errors(tmp_path: Path, case: str) -> None:
    body, message = FRAGMENT_ERRORS[case]
    with pytest.raises(GuestBoardError) as err:
        guest_tree(make_spec(), kvm_board(make_spec()), None, fragment_blob(tmp_path, body))
    assert str(err.value) == f"domU1's fragment: /passthrough: {message}"


def test_fragment_clashes(tmp_path: Path) -> None:
    spec = make_spec(vpl011=True, fragment=str(tmp_path / "frag.dtb"))
    (tmp_path / "frag.dtb").write_bytes(
        fragment_blob(tmp_path, passthrough('timer { compatible = "arm,armv8-timer"; };'))
    )
    with pytest.raises(
        GuestBoardError,
        match=r"^/chosen/domU1/module@2: /passthrough/timer has the name of a node armboot gives the guest$",
    ):
        guest_tree(spec, kvm_board(spec))
    (tmp_path / "frag.dtb").write_bytes(fragment_blob(tmp_path, 'aliases { serial0 = "/x"; };'))
    with pytest.raises(
        GuestBoardError, match=r"^/chosen/domU1/module@2: alias serial0 is one armboot gives the guest$"
    ):
        guest_tree(spec, kvm_board(spec))
    (tmp_path / "frag.dtb").write_bytes(
        fragment_blob(tmp_path, passthrough("x { phandle = <65000>; };"), gic="")
    )
    with pytest.raises(
        GuestBoardError,
        match=r"^/chosen/domU1/module@2: phandle 65000 is the GIC's; a /passthrough node uses it too$",
    ):
        guest_tree(spec, kvm_board(spec))
    (tmp_path / "frag.dtb").write_bytes(b"not a dtb")
    with pytest.raises(GuestBoardError, match=r"^/chosen/domU1/module@2: not a device tree blob: "):
        guest_tree(spec, kvm_board(spec))


def test_fragment_file_errors(tmp_path: Path) -> None:
    spec = make_spec(fragment=str(tmp_path / "missing.dtb"))
    with pytest.raises(
        GuestBoardError,
        match=rf"^/chosen/domU1/module@2: cannot read {tmp_path}/missing.dtb: No such file or directory$",
    ):
        guest_tree(spec, kvm_board(spec))
    assert spec.device_tree is not None
    spec.device_tree.path = None  # preloaded (reg only), and load_modules has not kept its bytes
    with pytest.raises(
        GuestBoardError,
        match=r"^/chosen/domU1/module@2: the fragment is not loaded: load_modules first, or pass its bytes$",
    ):
        guest_tree(spec, kvm_board(spec))
    blob = (FIX / "passthrough.dtb").read_bytes()
    assert read_dtb(guest_dtb(spec, kvm_board(spec), None, blob)).find("/virtio@a003e00") is not None
    spec.device_tree.data = blob  # as load_modules keeps it
    assert guest_dtb(spec, kvm_board(spec)) == guest_dtb(spec, kvm_board(spec), None, blob)


def test_read_fragment_ignores_other_nodes(tmp_path: Path) -> None:
    frag = read_fragment(
        fragment_blob(tmp_path, 'other { compatible = "x"; }; ' + passthrough("a { }; b { };")), "f"
    )
    assert (frag.gic_phandle, [n.name for n in frag.nodes], frag.aliases) == (65000, ["a", "b"], [])


# The event-channel PPI


def tree_of(tmp_path: Path, body: str) -> DeviceTree:
    src = tmp_path / "t.dts"
    src.write_text(
        "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
        'gic: interrupt-controller@0 { compatible = "arm,cortex-a15-gic"; #interrupt-cells = <3>; interrupt-controller;'
        " reg = <0 0 0 0x1000>, <0 0x1000 0 0x1000>; };\n"
        f"{body}\n}};\n"
    )
    return load_tree(str(src), [])


def ppi_devices(*numbers: int) -> str:
    return "".join(f"d{n} {{ interrupts = <1 {n} 4>; }};" for n in numbers)


def test_event_ppi_lowest_free_of_a_guest_tree() -> None:
    spec = make_spec(vpl011=True)
    tree = guest_tree(spec, xen_board(spec, 31))
    assert used_ppis(tree) == {26, 27, 29, 30, 31}  # the timer's and /hypervisor's own
    assert choose_event_ppi(tree) == 16
    board = xen_board(spec)  # chosen from the guest's tree
    assert (board.hypervisor, board.event_intid) == ((0x38000000, 0x1000000, 16), 16)


def test_event_ppi_skips_the_lowest_used(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, ppi_devices(0, 1, 2) + "x { interrupts = <1 3 4>, <0 4 4>, <1 4 4>; };")
    assert used_ppis(tree) == {16, 17, 18, 19, 20}
    assert choose_event_ppi(tree) == 21


def test_event_ppi_with_31_used(tmp_path: Path) -> None:
    """Xen's fixed choice (31) is taken here: the lowest free one is still chosen."""
    assert choose_event_ppi(tree_of(tmp_path, ppi_devices(15))) == 16
    assert choose_event_ppi(tree_of(tmp_path, ppi_devices(*range(15)))) == 31
    with pytest.raises(
        GuestBoardError,
        match=r"^every PPI \(INTID 16\.\.31\) is used by the guest's tree: none is left for the event channel$",
    ):
        choose_event_ppi(tree_of(tmp_path, ppi_devices(*range(16))))


def test_event_ppi_reads_interrupts_extended_and_skips_other_controllers(tmp_path: Path) -> None:
    body = (
        "gpio: gpio { #interrupt-cells = <2>; interrupt-controller; };\n"
        "a { interrupts-extended = <&gic 1 0 4>, <&gpio 1 4>; };\n"  # PPI 0 (INTID 16); gpio line 1 is no PPI
        "b { interrupt-parent = <&gpio>; interrupts = <1 1>, <1 2>; };\n"  # not GIC specifiers
        "c { interrupts = <0 1 4>; };\n"  # an SPI
    )
    tree = tree_of(tmp_path, body)
    assert used_ppis(tree) == {16}
    assert choose_event_ppi(tree) == 17


def test_event_ppi_of_nodes_and_of_the_host_board(tmp_path: Path) -> None:
    frag = fragment_blob(tmp_path, passthrough("a { interrupts = <1 0 4>; }; b { interrupts = <1 1 4>; };"))
    nodes = read_fragment(frag, "f").nodes  # outside any tree: the interrupt parent is taken to be the GIC
    assert choose_event_ppi(nodes) == 18
    assert choose_event_ppi(nodes[0]) == 17
    spec = make_spec()
    assert xen_board(spec, None, frag).event_intid == 18
    assert (
        xen_board(make_spec(fragment=str(FIX / "passthrough.dtb"))).event_intid == 16
    )  # from the module's file
    assert (
        choose_event_ppi(load_tree(str(VIRT), [])) == 16
    )  # dom0's case: the host's timer uses 26, 27, 29, 30
