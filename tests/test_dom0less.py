"""Dom0less guests: specs from /chosen "xen,domain" nodes, module files, loading into a real machine."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from armboot.bootloader.dom0less import (
    Dom0lessError,
    GuestSpec,
    Module,
    guest_specs,
    load_modules,
    parse_module_args,
    resolve_files,
    set_reg,
)
from armboot.bootloader.errors import BootError
from armboot.bootloader.layout import Planner
from armboot.bootloader.session import load_tree
from armboot.dtc.data import cells_data
from armboot.dtc.fdt import to_dtb
from armboot.dtc.fdtread import read_dtb
from armboot.dtc.tree import DeviceTree, Node, Property
from armboot.hyp.platform.board import Machine
from reference import armboot

FIX = Path(__file__).resolve().parent / "dom0less"
GUESTS = FIX / "guests.dts"
VIRT = Path(__file__).resolve().parents[1] / "boards" / "virt.dts"

KERNEL = """compatible = "multiboot,kernel", "multiboot,module";"""


def tree_with(tmp_path: Path, chosen: str, board: bool = False) -> tuple[DeviceTree, Path]:
    """A tree whose /chosen holds ``chosen`` (on the virt board when ``board``)."""
    src = tmp_path / "board.dts"
    head = f'/include/ "{VIRT}"\n' if board else "/dts-v1/;\n/ { chosen { }; };\n"
    src.write_text(f"{head}&{{/chosen}} {{\n{chosen}\n}};\n")
    return load_tree(str(src), []), src


def specs_of(tmp_path: Path, chosen: str) -> list[GuestSpec]:
    return guest_specs(tree_with(tmp_path, chosen)[0])


def domain(body: str, name: str = "domU1", cells: str = "#address-cells = <1>; #size-cells = <1>;") -> str:
    return f'{name} {{ compatible = "xen,domain"; {cells} {body} }};'


def kernel(name: str = "module@0", extra: str = "reg = <0x48000000 0x1000>;") -> str:
    return f"{name} {{ {KERNEL} {extra} }};"


def kernel_file(name: str, reg: str = "reg = <0 0>;") -> str:
    """A kernel module whose data comes from ``armboot,file``."""
    return kernel(extra=f'{reg} armboot,file = "{name}";')


# Specs


def test_specs_from_the_fixture() -> None:
    tree = load_tree(str(GUESTS), [])
    one, two = guest_specs(tree)
    assert (one.name, one.node.path, one.memory, one.cpus, one.vpl011) == (
        "domU1",
        "/chosen/domU1",
        128 << 20,
        2,
        True,
    )
    assert one.kernel.kind == "kernel" and one.kernel.node.name == "module@0"
    assert one.ramdisk is not None and one.ramdisk.node.name == "module@1" and one.ramdisk.kind == "ramdisk"
    assert one.device_tree is not None and one.device_tree.kind == "device-tree"
    assert one.bootargs == one.kernel.bootargs == "console=ttyAMA0 rdinit=/init"
    # placeholders (size 0) are not data yet; paths come from resolve_files
    assert [(m.address, m.size, m.path) for m in one.modules] == [(None, None, None)] * 3
    assert (two.name, two.memory, two.cpus, two.vpl011, two.bootargs) == ("domU2", 64 << 20, 1, False, None)
    assert (two.ramdisk, two.device_tree) == (None, None)
    assert (two.kernel.address, two.kernel.size) == (0x4C000000, 0x2000)


def test_memory_in_kb_as_hi_lo_or_one_cell(tmp_path: Path) -> None:
    specs = specs_of(
        tmp_path, domain(f"memory = <0x1 0x0>; {kernel()}") + domain(f"memory = <0x400>; {kernel()}", "b")
    )
    assert [s.memory for s in specs] == [(1 << 32) * 1024, 1 << 20]


def test_defaults_bootargs_and_other_chosen_children(tmp_path: Path) -> None:
    chosen = (
        'bootargs = "host";\n'
        'other { compatible = "vendor,thing"; };\n'
        + domain(f'memory = <0x400>; bootargs = "from-domain"; {kernel()}', "a")
        + domain(
            'memory = <0x400>; bootargs = "from-domain"; '
            + kernel(extra='reg = <1 2>; bootargs = "from-kernel";'),
            "b",
        )
    )
    a, b = specs_of(tmp_path, chosen)
    assert (a.name, a.cpus, a.vpl011, a.bootargs) == ("a", 1, False, "from-domain")
    assert (b.name, b.bootargs, b.kernel.bootargs) == ("b", "from-kernel", "from-kernel")


def test_no_chosen_and_no_guests(tmp_path: Path) -> None:
    src = tmp_path / "bare.dts"
    src.write_text("/dts-v1/;\n/ { };\n")
    assert guest_specs(load_tree(str(src), [])) == []
    assert specs_of(tmp_path, 'bootargs = "x";') == []


def test_module_reg_in_the_domains_cells(tmp_path: Path) -> None:
    chosen = domain(
        f"memory = <0x400>; {kernel(extra='reg = <0x0 0x48000000 0x0 0x3000>;')}",
        cells="#address-cells = <2>; #size-cells = <2>;",
    )
    (spec,) = specs_of(tmp_path, chosen)
    assert (spec.kernel.address, spec.kernel.size) == (0x48000000, 0x3000)
    # without #address-cells/#size-cells: the Devicetree spec's 2 and 1
    (spec,) = specs_of(
        tmp_path, domain(f"memory = <0x400>; {kernel(extra='reg = <0x0 0x48000000 0x5000>;')}", cells="")
    )
    assert (spec.kernel.address, spec.kernel.size) == (0x48000000, 0x5000)


ERRORS = {
    "no kernel": (
        domain(
            'memory = <0x400>; module@1 { compatible = "multiboot,ramdisk", "multiboot,module"; reg = <1 1>; };'
        ),
        '/chosen/domU1: no kernel module (a child with compatible "multiboot,kernel")',
    ),
    "two kernels": (
        domain(f"memory = <0x400>; {kernel()} {kernel('module@1', 'reg = <0x1 0x1>;')}"),
        "/chosen/domU1/module@1: a second kernel module (the first is module@0)",
    ),
    "two ramdisks": (
        domain(
            f"memory = <0x400>; {kernel()}"
            ' rd@1 { compatible = "multiboot,ramdisk"; reg = <1 1>; }; rd@2 { compatible = "multiboot,ramdisk"; reg = <2 1>; };'
        ),
        "/chosen/domU1/rd@2: a second ramdisk module (the first is rd@1)",
    ),
    "module of no kind": (
        domain(f'memory = <0x400>; {kernel()} module@1 {{ compatible = "multiboot,module"; reg = <1 1>; }};'),
        '/chosen/domU1/module@1: a "multiboot,module" must also say its kind: "multiboot,kernel", "multiboot,ramdisk" or "multiboot,device-tree"',
    ),
    "memory missing": (
        domain(kernel()),
        "/chosen/domU1: no memory property (the guest's RAM in KB, as <hi lo> or one cell)",
    ),
    "memory zero": (
        domain(f"memory = <0x0 0x0>; {kernel()}"),
        "/chosen/domU1: memory is 0: a guest needs RAM",
    ),
    "memory three cells": (
        domain(f"memory = <0 1 0>; {kernel()}"),
        "/chosen/domU1: memory has 12 bytes; it is the RAM in KB as <hi lo> or one cell",
    ),
    "cpus zero": (
        domain(f"memory = <0x400>; cpus = <0>; {kernel()}"),
        "/chosen/domU1: cpus = 0: a guest has 1 to 8 vCPUs (its virtual GICv2 serves at most 8)",
    ),
    "cpus nine": (
        domain(f"memory = <0x400>; cpus = <9>; {kernel()}"),
        "/chosen/domU1: cpus = 9: a guest has 1 to 8 vCPUs (its virtual GICv2 serves at most 8)",
    ),
    "cpus two cells": (
        domain(f"memory = <0x400>; cpus = <0 1>; {kernel()}"),
        "/chosen/domU1: cpus must be one cell",
    ),
    "reg too long": (
        domain(f"memory = <0x400>; {kernel(extra='reg = <0x0 0x48000000 0x1000>;')}"),
        "/chosen/domU1/module@0: reg has 12 bytes; one (address, size) entry of 1+1 cells "
        "(#address-cells, #size-cells of /chosen/domU1) is 8",
    ),
    "reg too short for 2+2": (
        domain(
            f"memory = <0x400>; {kernel(extra='reg = <0x48000000 0x1000>;')}",
            cells="#address-cells = <2>; #size-cells = <2>;",
        ),
        "/chosen/domU1/module@0: reg has 8 bytes; one (address, size) entry of 2+2 cells "
        "(#address-cells, #size-cells of /chosen/domU1) is 16",
    ),
    "reg of two entries": (
        domain(f"memory = <0x400>; {kernel(extra='reg = <1 1>, <2 2>;')}"),
        "/chosen/domU1/module@0: reg has 16 bytes; one (address, size) entry of 1+1 cells "
        "(#address-cells, #size-cells of /chosen/domU1) is 8",
    ),
    "address cells 3": (
        domain(
            f"memory = <0x400>; {kernel(extra='reg = <0 0 1 1>;')}",
            cells="#address-cells = <3>; #size-cells = <1>;",
        ),
        "/chosen/domU1: #address-cells = 3, #size-cells = 1: modules need 1 or 2 of each",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_spec_errors(tmp_path: Path, case: str) -> None:
    chosen, message = ERRORS[case]
    with pytest.raises(Dom0lessError) as err:
        specs_of(tmp_path, chosen)
    assert str(err.value) == message


def test_duplicate_guest_names() -> None:
    """dtc refuses two /chosen children of one name; a tree built otherwise (or read from a DTB) may have them."""
    tree = load_tree(str(GUESTS), [])
    chosen = tree.find("/chosen")
    assert chosen is not None
    twin = Node("domU1")
    for prop in chosen.subnode("domU2").props:  # type: ignore[union-attr]
        twin.add_property(prop)
    twin.add_child(chosen.subnode("domU2").nodes[0])  # type: ignore[union-attr]
    chosen.add_child(twin)
    with pytest.raises(Dom0lessError, match=r"^/chosen/domU1: a second guest named 'domU1'$"):
        guest_specs(tree)


# --module and armboot,file


def test_parse_module_args() -> None:
    assert parse_module_args(["domU1=k.bin", "domU1:ramdisk=/x/r=1.cpio"]) == {
        "domU1": "k.bin",
        "domU1:ramdisk": "/x/r=1.cpio",
    }
    with pytest.raises(Dom0lessError, match=r"^--module domU1: expected DOMAIN=FILE or DOMAIN:KIND=FILE$"):
        parse_module_args(["domU1"])
    with pytest.raises(Dom0lessError, match=r"^--module a is given twice$"):
        parse_module_args(["a=1", "a=2"])


def test_files_from_armboot_file_and_module_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = guest_specs(load_tree(str(GUESTS), []))
    resolve_files(specs, str(GUESTS), {})
    one, two = specs
    assert [m.path for m in one.modules] == [
        str(FIX / n) for n in ("domU1-kernel.bin", "domU1-initrd.bin", "passthrough.dtb")
    ]
    assert two.kernel.path is None  # already loaded: reg says where
    monkeypatch.chdir(tmp_path)
    specs = guest_specs(load_tree(str(GUESTS), []))
    resolve_files(specs, str(GUESTS), {"domU1": "k", "domU1:ramdisk": "/abs/r", "domU2:kernel": "sub/k2"})
    one, two = specs
    assert [m.path for m in one.modules] == [str(tmp_path / "k"), "/abs/r", str(FIX / "passthrough.dtb")]
    assert two.kernel.path == str(tmp_path / "sub" / "k2")


RESOLVE_ERRORS = {
    "domU9": "--module domU9: no guest named 'domU9' (guests: domU1, domU2)",
    "domU1:initrd": "--module domU1:initrd: unknown kind 'initrd' (use kernel, ramdisk or device-tree)",
    "domU2:ramdisk": '/chosen/domU2: --module domU2:ramdisk: the guest has no ramdisk module (add a child with compatible "multiboot,ramdisk")',
}


@pytest.mark.parametrize("key", RESOLVE_ERRORS)
def test_module_key_errors(key: str) -> None:
    specs = guest_specs(load_tree(str(GUESTS), []))
    with pytest.raises(Dom0lessError) as err:
        resolve_files(specs, str(GUESTS), {key: "f"})
    assert str(err.value) == RESOLVE_ERRORS[key]


def test_one_module_named_twice() -> None:
    specs = guest_specs(load_tree(str(GUESTS), []))
    with pytest.raises(Dom0lessError) as err:
        resolve_files(specs, str(GUESTS), {"domU1": "a", "domU1:kernel": "b"})
    assert (
        str(err.value)
        == "--module domU1:kernel and --module domU1 name the same module (/chosen/domU1/module@0)"
    )


def test_a_module_without_data(tmp_path: Path) -> None:
    specs = specs_of(tmp_path, domain(f"memory = <0x400>; {kernel(extra='reg = <0x48000000 0x0>;')}"))
    with pytest.raises(Dom0lessError) as err:
        resolve_files(specs, str(tmp_path / "board.dts"), {})
    assert str(err.value) == (
        "/chosen/domU1/module@0: no data for this kernel module: give --module domU1:kernel=FILE, "
        "an armboot,file property, or a reg (with a non-zero size) where it is already loaded"
    )
    resolve_files(specs, str(tmp_path / "board.dts"), {"domU1": "k"})  # a file fixes it
    assert specs[0].kernel.path == os.path.abspath("k")


# Loading into a real machine


def loaded(modules: dict[str, str] | None = None) -> tuple[Machine, Planner, list[GuestSpec]]:
    machine = Machine(load_tree(str(GUESTS), []))
    planner = Planner(machine)
    specs = guest_specs(machine.tree)
    resolve_files(specs, str(GUESTS), modules or {})
    load_modules(specs, planner, machine)
    return machine, planner, specs


def test_modules_loaded_into_ram_and_reg_rewritten() -> None:
    machine, planner, (one, two) = loaded()
    spans = []
    for module in one.modules:
        assert module.path is not None and module.address is not None and module.size is not None
        data = Path(module.path).read_bytes()
        assert module.size == len(data)
        assert module.address % 0x1000 == 0
        assert machine.read(module.address, module.size) == data
        assert module.node.get("reg").cells() == [module.address, module.size]  # type: ignore[union-attr]
        spans.append((module.address, module.address + module.size))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert all(s >= 0x40000000 and e <= 0x50000000 for s, e in spans)
    # the already-loaded kernel keeps its reg and is claimed; the rewritten reg reaches the DTB
    assert (two.kernel.address, two.kernel.size) == (0x4C000000, 0x2000)
    assert any((c.start, c.end) == (0x4C000000, 0x4C002000) for c in planner.claims)
    blob, _ = to_dtb(machine.tree)
    back = read_dtb(blob)
    for module in one.modules:
        assert back.find(module.node.path).get("reg").cells() == [module.address, module.size]  # type: ignore[union-attr]
    # nothing later is placed over a module
    nxt = planner.place(0x1000, 0x1000, "something else")
    assert all(not (s <= nxt < e) for s, e in [*spans, (0x4C000000, 0x4C002000)])


def test_fragment_bytes_kept(tmp_path: Path) -> None:
    """The device-tree fragment's bytes stay with its Module, loaded from a file or already in RAM."""
    _, _, (one, _) = loaded()
    assert one.device_tree is not None and one.device_tree.data == (FIX / "passthrough.dtb").read_bytes()
    assert one.kernel.data is None and one.ramdisk is not None and one.ramdisk.data is None
    frag = b"\xd0\x0d\xfe\xed fragment"
    tree, src = tree_with(
        tmp_path,
        domain(
            f'memory = <0x400>; {kernel()} dt@1 {{ compatible = "multiboot,device-tree"; reg = <0x49000000 0xd>; }};'
        ),
        board=True,
    )
    machine = Machine(tree)
    machine.write(0x49000000, frag)
    specs = guest_specs(tree)
    resolve_files(specs, str(src), {})
    load_modules(specs, Planner(machine), machine)
    assert specs[0].device_tree is not None and specs[0].device_tree.data == frag
    assert specs[0].kernel.data is None


def test_loaded_tree_still_checks_clean(tmp_path: Path) -> None:
    """The host's tree with the modules' reg rewritten (as a DTB: what the host receives)."""
    machine, _, _ = loaded()
    out = tmp_path / "loaded.dtb"
    out.write_bytes(to_dtb(machine.tree)[0])
    run = armboot("check", "--strict", str(GUESTS), str(out))
    assert run.ok, run.err


def test_module_args_replace_files(tmp_path: Path) -> None:
    k = tmp_path / "other-kernel"
    k.write_bytes(b"\x7fOTHER" * 1000)
    machine, _, (one, _) = loaded({"domU1": str(k)})
    assert one.kernel.size == 6000
    assert machine.read(one.kernel.address, 6000) == k.read_bytes()  # type: ignore[arg-type]


def test_reg_rewritten_in_two_cells(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"K" * 100)
    chosen = domain(
        f"memory = <0x400>; {kernel_file('k', 'reg = <0 0 0 0>;')}",
        cells="#address-cells = <2>; #size-cells = <2>;",
    )
    tree, src = tree_with(tmp_path, chosen, board=True)
    machine = Machine(tree)
    specs = guest_specs(tree)
    resolve_files(specs, str(src), {})
    load_modules(specs, Planner(machine), machine)
    address = specs[0].kernel.address
    assert address is not None and specs[0].kernel.node.get("reg").cells() == [0, address, 0, 100]  # type: ignore[union-attr]


def test_a_file_goes_where_reg_says(tmp_path: Path) -> None:
    """reg with a size gives the load address (as a U-Boot script); the size becomes the file's."""
    (tmp_path / "k").write_bytes(b"K" * 0x1234)
    (tmp_path / "r").write_bytes(b"R" * 0x10)
    body = (
        f"memory = <0x400>; {kernel_file('k', 'reg = <0x48000000 0x100000>;')}"
        ' rd@1 { compatible = "multiboot,ramdisk"; reg = <0x48100000 0x1>; armboot,file = "r"; };'
    )
    tree, src = tree_with(tmp_path, domain(body), board=True)
    machine = Machine(tree)
    specs = guest_specs(tree)
    resolve_files(specs, str(src), {})
    load_modules(specs, Planner(machine), machine)
    kern, rd = specs[0].kernel, specs[0].ramdisk
    assert rd is not None
    assert (kern.address, kern.size, rd.address, rd.size) == (0x48000000, 0x1234, 0x48100000, 0x10)
    assert kern.node.get("reg").cells() == [0x48000000, 0x1234]  # type: ignore[union-attr]
    assert machine.read(0x48000000, 0x1234) == b"K" * 0x1234 and machine.read(0x48100000, 0x10) == b"R" * 0x10


def test_files_at_reg_addresses_that_clash(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"K" * 0x2000)
    (tmp_path / "r").write_bytes(b"R")
    body = (
        f"memory = <0x400>; {kernel_file('k', 'reg = <0x48000000 0x1000>;')}"
        ' rd@1 { compatible = "multiboot,ramdisk"; reg = <0x48001000 0x1000>; armboot,file = "r"; };'
    )
    tree, src = tree_with(tmp_path, domain(body), board=True)
    machine = Machine(tree)
    specs = guest_specs(tree)
    resolve_files(specs, str(src), {})
    with pytest.raises(
        BootError,
        match=r"^ramdisk of guest domU1 \(.*/r\) at 0x48001000..0x48001001 overlaps kernel of guest domU1",
    ):
        load_modules(specs, Planner(machine), machine)
    outside = load_errors(tmp_path, f"memory = <0x400>; {kernel_file('k', 'reg = <0x3ffff000 0x1000>;')}", {})
    assert outside == "/chosen/domU1/module@0: reg 0x3ffff000..0x40001000 is not inside RAM"


def test_reg_added_when_missing_and_fit_checked() -> None:
    root, dom, mod = Node(""), Node("domU1"), Node("module")
    root.add_child(dom)
    dom.add_child(mod)
    set_reg(dom, mod, 0x48000000, 0x10)  # defaults: 2 address cells, 1 size cell
    assert mod.get("reg").cells() == [0, 0x48000000, 0x10]  # type: ignore[union-attr]
    dom.add_property(Property("#address-cells", cells_data(1)))
    with pytest.raises(
        Dom0lessError,
        match=r"^/domU1/module: 0x100000000 \(0x10 bytes\) does not fit #address-cells = 1, #size-cells = 1$",
    ):
        set_reg(dom, mod, 0x1_0000_0000, 0x10)


def load_errors(tmp_path: Path, body: str, files: dict[str, bytes]) -> str:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    tree, src = tree_with(tmp_path, domain(body), board=True)
    machine = Machine(tree)
    specs = guest_specs(tree)
    resolve_files(specs, str(src), {})
    with pytest.raises(Dom0lessError) as err:
        load_modules(specs, Planner(machine), machine)
    return str(err.value)


def test_load_errors(tmp_path: Path) -> None:
    missing = load_errors(tmp_path, f"memory = <0x400>; {kernel_file('nope.bin')}", {})
    assert (
        missing
        == f"/chosen/domU1/module@0: cannot read kernel {tmp_path / 'nope.bin'}: No such file or directory"
    )
    empty = load_errors(tmp_path, f"memory = <0x400>; {kernel_file('e')}", {"e": b""})
    assert empty == f"/chosen/domU1/module@0: kernel {tmp_path / 'e'} is empty"
    outside = load_errors(tmp_path, f"memory = <0x400>; {kernel(extra='reg = <0x8000000 0x1000>;')}", {})
    assert outside == "/chosen/domU1/module@0: reg 0x8000000..0x8001000 is not inside RAM"
    big = load_errors(tmp_path, f"memory = <0x1>; {kernel_file('k')}", {"k": b"k" * 1025})
    assert big == "/chosen/domU1: its modules take 0x401 bytes, more than its memory (0x400 bytes)"


def test_preloaded_module_overlapping_a_claim(tmp_path: Path) -> None:
    tree, src = tree_with(
        tmp_path, domain(f"memory = <0x400>; {kernel(extra='reg = <0x48000000 0x1000>;')}"), board=True
    )
    machine = Machine(tree)
    planner = Planner(machine)
    planner.claim(0x48000800, 0x100, "the initrd")
    specs = guest_specs(tree)
    resolve_files(specs, str(src), {})
    with pytest.raises(
        BootError,
        match=r"^kernel of guest domU1 \(/chosen/domU1/module@0\) at 0x48000000..0x48001000 overlaps the initrd at 0x48000800..0x48000900$",
    ):
        load_modules(specs, planner, machine)


def test_dataclasses_are_plain() -> None:
    node = Node("m")
    assert Module("kernel", node) == Module("kernel", node, None, None, None, None)
    spec = GuestSpec("g", node, 1024, 1, False, Module("kernel", node))
    assert spec.modules == [spec.kernel] and spec.bootargs is None


def test_committed_fragment_matches_its_source() -> None:
    from armboot.dtc.compiler import BuildOptions, compile_file

    tree = compile_file(str(FIX / "passthrough.dts"), BuildOptions(quiet=1)).tree
    assert to_dtb(tree)[0] == (FIX / "passthrough.dtb").read_bytes()
