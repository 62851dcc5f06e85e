"""dtc's semantic checks: armboot reports what the installed dtc 1.6.1 reports.

Every check gets an input it passes and one it fails; each is compiled by the
reference dtc and by armboot, and the (check, node path, message) reports
must agree, in dtc's order.  The check table itself is read out of the dtc
binary, and the Linux corpus is compared board by board.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from armboot.dtc.checks import registry
from armboot.dtc.compiler import BuildOptions, compile_file
from armboot.dtc.errors import DtcError
from armboot.dtc.frontend import ParseCache
from dtc_check_table import BinaryCheck, CheckRef, read_check_table
from reference import CORPUS, DTC, corpus_include_dirs, dtc, needs_corpus, needs_dtc, preprocess_like_kernel

pytestmark = needs_dtc

REPORT = re.compile(r"^(?P<loc>.*?): (?P<level>Warning|ERROR) \((?P<check>[a-z0-9_]+)\): (?P<rest>.*)$")

Report = tuple[str, str, str, str]  # (check, node path or "", message, level)


def dtc_reports(stderr: str) -> list[Report]:
    """dtc's check messages: "file:pos: Warning (check): /path[:prop]: message"."""
    out = []
    for line in stderr.splitlines():
        m = REPORT.match(line)
        if m is None:
            continue
        rest = m["rest"]
        path = ""
        if rest.startswith("/"):
            head, _, rest = rest.partition(": ")
            path = head.split(":")[0]
        out.append((m["check"], path, rest, "error" if m["level"] == "ERROR" else "warning"))
    return out


def options(flags: Sequence[str]) -> list[tuple[str, str]]:
    return [(flag[1], flag[2:]) for flag in flags]


def reference_reports(path: Path, flags: Sequence[str], include_dirs: Sequence[str] = ()) -> list[Report]:
    includes = [arg for d in include_dirs for arg in ("-i", d)]
    run = dtc("-I", "dts", "-O", "dtb", "-o", "/dev/null", "-f", *flags, *includes, path)
    # 2: an error-level check failed (and -f forced the output); anything else is not a check result.
    assert run.rc in (0, 2), f"dtc failed unexpectedly ({run.rc}): {run.err}"
    return dtc_reports(run.err)


def armboot_reports(
    path: Path, flags: Sequence[str], include_dirs: Sequence[str] = (), cache: ParseCache | None = None, **kw: object
) -> list[Report]:
    opts = BuildOptions(include_dirs=list(include_dirs), force=True, checks=options(flags), **kw)
    compiled = compile_file(str(path), opts, cache)
    return [(d.check, d.path, d.message, d.level) for d in compiled.diagnostics if d.check]


def compare(tmp_path: Path, body: str, flags: Sequence[str] = (), name: str = "case") -> list[Report]:
    """Compile ``/dts-v1/; body`` with both; they must report the same; returns dtc's reports."""
    src = tmp_path / f"{name}.dts"
    src.write_text("/dts-v1/;\n" + body + "\n")
    expected = reference_reports(src, flags)
    assert armboot_reports(src, flags) == expected
    return expected


# ---------------------------------------------------------------------------
# The check table, read out of the binary


def test_table_matches_the_dtc_binary() -> None:
    """Names, order, default levels and prerequisites are dtc 1.6.1's own."""
    binary = read_check_table(DTC)
    ours = registry()
    assert [c.name for c in binary] == list(ours)
    assert [(c.name, c.warn, c.error, c.prereqs) for c in binary] == [
        (c.name, c.warn, c.error, c.prereqs) for c in ours.values()
    ]


# core.py's node_name_chars allows '*', '#' and '?' (property characters) in node names; dtc does not.


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param(c, id=c.name)
        for c in read_check_table(DTC) if not isinstance(c.data, CheckRef)
    ]
    if DTC
    else [],
)
def test_check_parameters_match_the_dtc_binary(ref: BinaryCheck) -> None:
    """The property names, character sets and providers checks are given.

    (1.6.1 passes interrupts_property a pointer to phandle_references as data,
    which the check never reads: that one is left out.)
    """
    mine = registry()[ref.name]
    if isinstance(ref.data, tuple):  # a provider: (property, #cells property, optional)
        assert (mine.data.prop_name, mine.data.cell_name, mine.data.optional) == ref.data
    else:
        assert mine.data == ref.data


def test_every_check_runs_a_function() -> None:
    assert all(c.fn is not None for c in registry().values())


# ---------------------------------------------------------------------------
# One passing and one failing input per check

CELLS = "#address-cells = <1>; #size-cells = <1>;"

# check -> (input it passes, input it fails, extra dtc flags)
CASES: dict[str, tuple[str, str, list[str]]] = {
    "duplicate_node_names": ("/ { a {}; b {}; };", "/ { a {}; a {}; };", []),
    "duplicate_property_names": ("/ { x = <1>; y = <1>; };", "/ { x = <1>; x = <2>; };", []),
    "node_name_chars": ("/ { a-b {}; };", "/ { a#b {}; };", []),
    "node_name_format": ("/ { a@1 {}; };", "/ { a@1@2 {}; };", []),
    "property_name_chars": ("/ { a-b = <1>; };", "/ { a@b = <1>; };", []),
    "name_is_string": ('/ { n { name = "n"; }; };', "/ { n { name = <1>; }; };", []),
    "name_properties": ('/ { n { name = "n"; }; };', '/ { n { name = "m"; }; };', []),
    "node_name_vs_property_name": ("/ { foo = <1>; bar {}; };", "/ { foo = <1>; foo {}; };", []),
    "duplicate_label": ("/ { l: a {}; m: b {}; };", "/ { l: a {}; l: b {}; };", []),
    "explicit_phandles": ("/ { a { phandle = <1>; }; };", "/ { a { phandle = <0>; }; };", []),
    "phandle_references": ("/ { l: a {}; b { x = <&l>; }; };", "/ { b { x = <&nope>; }; };", []),
    "path_references": ("/ { l: a {}; b { x = &l; }; };", "/ { b { x = &nope; }; };", []),
    # Never fails by itself: only through a failed prerequisite, which must not be an error
    # (after an error dtc runs no more checks).
    "omit_unused_nodes": (
        "/ { /omit-if-no-ref/ a {}; };",
        "/ { b { x = <&nope>; }; };",
        ["-Eno-phandle_references", "-Womit_unused_nodes"],
    ),
    "address_cells_is_cell": ("/ { #address-cells = <1>; };", "/ { #address-cells = <1 2>; };", []),
    "size_cells_is_cell": ("/ { #size-cells = <1>; };", "/ { #size-cells = [01]; };", []),
    "device_type_is_string": ('/ { a { device_type = "x"; }; };', "/ { a { device_type = <1>; }; };", []),
    "model_is_string": ('/ { model = "m"; };', '/ { model = "a", "b"; };', []),
    "status_is_string": ('/ { a { status = "okay"; }; };', "/ { a { status; }; };", []),
    "label_is_string": ('/ { a { label = "x"; }; };', "/ { a { label = <1>; }; };", []),
    "compatible_is_string_list": ('/ { compatible = "a", "b"; };', '/ { compatible = "a", <1>; };', []),
    "names_is_string_list": ('/ { a { clock-names = "x", "y"; }; };', "/ { a { clock-names = <1>; }; };", []),
    "property_name_chars_strict": (
        "/ { a-b = <1>; #x = <1>; v,#y = <1>; device_type = <1>; };",
        "/ { a_b = <1>; c#d = <1>; };",
        ["-Wproperty_name_chars_strict"],
    ),
    "node_name_chars_strict": (
        "/ { a-b@1_2 { reg = <1>; }; };",
        "/ { a_b {}; };",
        ["-Wnode_name_chars_strict"],
    ),
    # Never fails by itself: only through a failed prerequisite.
    "addr_size_cells": ("/ { #address-cells = <1>; };", "/ { a { #size-cells = <1 2>; }; };", []),
    "reg_format": (
        f"/ {{ {CELLS} a@1 {{ reg = <1 2 3 4>; }}; }};",
        f"/ {{ {CELLS} a@1 {{ reg = <1 2 3>; }}; b@1 {{ reg; }}; }};",
        [],
    ),
    "ranges_format": (
        f"/ {{ {CELLS} b {{ {CELLS} ranges; }}; c {{ {CELLS} ranges = <0 1 2>; }}; }};",
        f"/ {{ {CELLS} ranges; b {{ #size-cells = <2>; ranges; }}; c {{ {CELLS} ranges = <0 1>; }}; }};",
        [],
    ),
    "dma_ranges_format": (
        f"/ {{ {CELLS} b {{ {CELLS} dma-ranges = <0 1 2>; }}; }};",
        f"/ {{ {CELLS} b {{ #address-cells = <2>; dma-ranges; }}; c {{ {CELLS} dma-ranges = <1>; }}; }};",
        [],
    ),
    "unit_address_vs_reg": (
        f"/ {{ {CELLS} a@1 {{ reg = <1 1>; }}; b {{}}; c {{ ranges; }}; f@0 {{ __overlay__ {{}}; }}; }};",
        f"/ {{ {CELLS} a@1 {{}}; b {{ reg = <1 1>; }}; c@2 {{ ranges; }}; }};",
        [],
    ),
    "unit_address_format": (
        f"/ {{ {CELLS} a@10 {{ reg = <0x10 1>; }}; b@0 {{ reg = <0 1>; }}; }};",
        f"/ {{ {CELLS} a@0x10 {{ reg = <0x10 1>; }}; b@010 {{ reg = <0x10 1>; }}; c@0x01 {{ reg = <1 1>; }}; }};",
        [],
    ),
    "pci_bridge": (
        '/ { #address-cells = <2>; #size-cells = <2>; pci@0 { device_type = "pci"; reg = <0 0 0 1>; '
        "#address-cells = <3>; #size-cells = <2>; ranges; bus-range = <0 1>; }; };",
        '/ { #address-cells = <2>; #size-cells = <2>; bridge@0 { device_type = "pci"; reg = <0 0 0 1>; '
        "bus-range = <2 0x100>; }; pcie@1 { device_type = \"pci\"; reg = <0 1 0 1>; bus-range = <1>; }; };",
        [],
    ),
    "pci_device_reg": (
        '/ { #address-cells = <2>; #size-cells = <2>; pci@0 { device_type = "pci"; reg = <0 0 0 1>; '
        "#address-cells = <3>; #size-cells = <2>; ranges; dev@1 { reg = <0x800 0 0 0 0>; }; "
        "dev@2,1 { reg = <0x1100 0 0 0 0>; }; };  };",
        '/ { #address-cells = <2>; #size-cells = <2>; pci@0 { device_type = "pci"; reg = <0 0 0 1>; '
        "#address-cells = <3>; #size-cells = <2>; ranges; dev@1 { reg = <0x1000801 1 0 0 0>; }; "
        "dev@2 { reg = <0x1100 0 0 0 0>; }; };  };",
        [],
    ),
    "pci_device_bus_num": (
        '/ { #address-cells = <2>; #size-cells = <2>; pci@0 { device_type = "pci"; reg = <0 0 0 1>; '
        "#address-cells = <3>; #size-cells = <2>; ranges; bus-range = <1 2>; dev@1 { reg = <0x10800 0 0 0 0>; }; };  };",
        '/ { #address-cells = <2>; #size-cells = <2>; pci@0 { device_type = "pci"; reg = <0 0 0 1>; '
        "#address-cells = <3>; #size-cells = <2>; ranges; dev@1 { reg = <0x30800 0 0 0 0>; }; }; "
        'pci@1 { device_type = "pci"; reg = <0 1 0 1>; #address-cells = <3>; #size-cells = <2>; ranges; '
        "bus-range = <4 5>; dev@1 { reg = <0x30800 0 0 0 0>; }; }; };",
        [],
    ),
    # Never fails by itself: only through a failed prerequisite.
    "simple_bus_bridge": ('/ { compatible = "simple-bus"; };', "/ { compatible = <1>; };", []),
    "simple_bus_reg": (
        f'/ {{ {CELLS} bus@0 {{ compatible = "simple-bus"; reg = <0 1>; {CELLS} ranges; a@10 {{ reg = <0x10 1>; }}; '
        f'b@20 {{ {CELLS} ranges = <0 0x20 1>; }}; sub {{ compatible = "simple-bus"; }}; }}; }};',
        f'/ {{ {CELLS} bus@0 {{ compatible = "simple-bus"; reg = <0 1>; {CELLS} ranges; a@11 {{ reg = <0x10 1>; }}; '
        f"b@20 {{ {CELLS} ranges = <0 0x21 1>; }}; c {{ }}; }}; }};",
        [],
    ),
    "i2c_bus_bridge": (
        f"/ {{ {CELLS} i2c@1 {{ reg = <1 1>; #address-cells = <1>; #size-cells = <0>; d@50 {{ reg = <0x50>; }}; }}; }};",
        f"/ {{ {CELLS} i2c@1 {{ reg = <1 1>; #address-cells = <2>; d {{ }}; }}; i2c-arb {{ e {{ }}; }}; }};",
        [],
    ),
    "i2c_bus_reg": (
        f"/ {{ {CELLS} i2c@1 {{ reg = <1 1>; #address-cells = <1>; #size-cells = <0>; "
        "d@50 { reg = <0x40000050 0x50>; }; }; };",
        f"/ {{ {CELLS} i2c@1 {{ reg = <1 1>; #address-cells = <1>; #size-cells = <0>; "
        "d@50 { reg = <0x51 0x80 0x80000400 0x800003ff>; }; e { }; }; };",
        [],
    ),
    "spi_bus_bridge": (
        f"/ {{ {CELLS} spi@1 {{ reg = <1 1>; #address-cells = <1>; #size-cells = <0>; d@0 {{ reg = <0>; }}; }}; "
        "ctl { #address-cells = <1>; #size-cells = <0>; d@0 { reg = <0>; spi-cpha; }; }; };",
        f"/ {{ {CELLS} spi@1 {{ reg = <1 1>; d {{ }}; }}; ctl@2 {{ reg = <2 1>; #address-cells = <1>; "
        "#size-cells = <0>; d@0 { reg = <0>; spi-cpha; }; }; };",
        [],
    ),
    "spi_bus_reg": (
        f"/ {{ {CELLS} spi@1 {{ reg = <1 1>; #address-cells = <1>; #size-cells = <0>; d@3 {{ reg = <3>; }}; }}; "
        "spi@2 { reg = <2 1>; spi-slave; #address-cells = <0>; #size-cells = <0>; s { }; }; };",
        f"/ {{ {CELLS} spi@1 {{ reg = <1 1>; #address-cells = <1>; #size-cells = <0>; d@3 {{ reg = <4>; }}; "
        "e { }; }; };",
        [],
    ),
    "avoid_default_addr_size": (f"/ {{ {CELLS} a@1 {{ reg = <1 1>; }}; }};", "/ { a@1 { reg = <1 1 1>; }; };", []),
    "avoid_unnecessary_addr_size": (
        f"/ {{ {CELLS} a {{ {CELLS} b@1 {{ reg = <1 1>; }}; }}; c {{ {CELLS} ranges; }}; d {{ {CELLS} }}; }};",
        f"/ {{ {CELLS} a {{ {CELLS} b {{ }}; }}; c {{ {CELLS} dma-ranges; e {{ }}; }}; }};",
        [],
    ),
    "unique_unit_address": (
        f"/ {{ {CELLS} a@1 {{ reg = <1 1>; }}; b@2 {{ reg = <2 1>; }}; }};",
        f"/ {{ {CELLS} a@1 {{ reg = <1 1>; }}; b@1 {{ reg = <1 1>; }}; c@1 {{ reg = <1 1>; }}; }};",
        [],
    ),
    "unique_unit_address_if_enabled": (
        f'/ {{ {CELLS} a@1 {{ reg = <1 1>; status = "disabled"; }}; b@1 {{ reg = <1 1>; }}; }};',
        f'/ {{ {CELLS} a@1 {{ reg = <1 1>; }}; b@1 {{ reg = <1 1>; status = "disabled"; }}; c@1 {{ reg = <1 1>; }}; }};',
        ["-Wunique_unit_address_if_enabled"],
    ),
    "obsolete_chosen_interrupt_controller": (
        "/ { chosen { }; a { interrupt-controller; #interrupt-cells = <1>; #address-cells = <0>; }; };",
        "/ { chosen { interrupt-controller; }; };",
        [],
    ),
    "chosen_node_is_root": ("/ { chosen { }; };", "/ { a { chosen { }; }; };", []),
    "chosen_node_bootargs": ('/ { chosen { bootargs = "console=ttyS0"; }; };', "/ { chosen { bootargs = <1>; }; };", []),
    "chosen_node_stdout_path": (
        '/ { chosen { stdout-path = "/a:115200"; }; a { }; };',
        '/ { chosen { linux,stdout-path = "/a", "b"; }; a { }; x { chosen { stdout-path = <1>; }; }; };',
        [],
    ),
    "deprecated_gpio_property": (
        "/ { g: gpio { #gpio-cells = <1>; }; a { reset-gpios = <&g 1>; }; };",
        "/ { g: gpio { #gpio-cells = <1>; }; a { reset-gpio = <&g 1>; gpio = <&g 2>; }; };",
        ["-Wdeprecated_gpio_property"],
    ),
    "gpios_property": (
        "/ { g: gpio { #gpio-cells = <1>; }; a { reset-gpios = <&g 1 &g 2>, <0>; vendor,nr-gpios = <3>; }; "
        "h { gpio-hog; gpios = <1 2>; }; };",
        "/ { g: gpio { #gpio-cells = <1>; }; n: nocells { }; a { reset-gpios = <&g>; gpio = <&n 1>; "
        "x-gpio = <1 2>; gpios = <&g 1>, [00]; }; };",
        [],
    ),
    "interrupts_property": (
        "/ { interrupt-parent = <&ic>; ic: ic { interrupt-controller; #interrupt-cells = <2>; "
        "#address-cells = <0>; }; a { interrupts = <1 2 3 4>; }; };",
        "/ { ic: ic { interrupt-controller; #interrupt-cells = <2>; #address-cells = <0>; }; "
        "a { interrupts = <1>; }; b { interrupt-parent = <&ic>; interrupts = <1 2 3>; }; "
        "c { interrupt-parent = <&nc>; interrupts = <1>; }; nc: nc { }; d { interrupt-parent = <0>; interrupts = <1>; }; "
        "e { interrupt-parent = <0x777>; interrupts = [01 02 03 04 05]; }; };",
        [],
    ),
    "interrupt_provider": (
        "/ { ic { interrupt-controller; #interrupt-cells = <2>; #address-cells = <0>; }; };",
        "/ { ic { interrupt-controller; }; map { interrupt-map = <1>; #interrupt-cells = <1>; }; };",
        [],
    ),
    "alias_paths": (
        '/ { aliases { serial0 = "/a"; eth-0 = &l; }; l: a { }; };',
        '/ { aliases { serial0 = "/b"; Eth0 = "/a"; empty; }; a { }; };',
        [],
    ),
    "graph_child_address": (
        "/ { a { port { ea: endpoint { remote-endpoint = <&eb>; }; }; }; "
        "b { port { eb: endpoint { remote-endpoint = <&ea>; }; }; }; };",
        "/ { a { port { #address-cells = <1>; #size-cells = <0>; ea: endpoint@0 { reg = <0>; "
        "remote-endpoint = <&eb>; }; }; }; b { port { eb: endpoint { remote-endpoint = <&ea>; }; }; }; };",
        [],
    ),
    "graph_port": (
        "/ { a { ports { #address-cells = <1>; #size-cells = <0>; port@1 { reg = <1>; "
        "ea: endpoint { remote-endpoint = <&eb>; }; }; port@2 { reg = <2>; e: endpoint { }; }; }; }; "
        "b { port { eb: endpoint { remote-endpoint = <&ea>; }; }; }; };",
        "/ { a { ports { #address-cells = <1>; #size-cells = <1>; prt@1 { reg = <2>; "
        "ea: endpoint { remote-endpoint = <&eb>; }; }; port@3 { reg = [03]; e: endpoint { }; }; }; }; "
        "b { port { eb: endpoint { remote-endpoint = <&ea>; }; }; }; };",
        [],
    ),
    "graph_endpoint": (
        "/ { a { port { ea: endpoint { remote-endpoint = <&eb>; }; }; }; "
        "b { port { eb: endpoint { remote-endpoint = <&ea>; }; }; }; };",
        "/ { a { port { ea: ep { remote-endpoint = <&eb>; }; }; }; "
        "bn: b { port { eb: endpoint { remote-endpoint = <&bn>; }; }; }; "
        "c { port { endpoint { remote-endpoint = <0x999>; }; }; }; };",
        [],
    ),
}


def provider_cases() -> dict[str, tuple[str, str, list[str]]]:
    """The <x>_property/<x>_is_cell pairs, built from the binary's own table of providers."""
    cases: dict[str, tuple[str, str, list[str]]] = {}
    for c in read_check_table(DTC) if DTC else []:
        if not isinstance(c.data, tuple):
            continue
        prop, cells, optional = c.data
        stem = c.name.removesuffix("_property")
        good = f"/ {{ p: p {{ {cells} = <1>; }}; z: z {{ {cells} = <0>; }}; c {{ {prop} = <&p 1 &z>, <0>; }}; }};"
        bad = (
            f"/ {{ p: p {{ {cells} = <2>; }}; n: n {{ }}; c {{ {prop} = <&p 1>; }}; "
            f"d {{ {prop} = <1 &n>; }}; e {{ {prop} = <0x999>; }}; f {{ {prop} = [00 01]; }}; }};"
        )
        if optional:  # a provider without the cells property takes no arguments
            bad = f"/ {{ n: n {{ }}; c {{ {prop} = <&n 1>; }}; d {{ {prop} = <1 &n>; }}; }};"
        cases[c.name] = (good, bad, [])
        cases[f"{stem}_is_cell"] = (good, f"/ {{ p {{ {cells} = <1 2>; }}; }};", [])
    return cases


ALL_CASES = {**CASES, **provider_cases()}


def test_every_check_has_cases() -> None:
    # graph_nodes fails only where dtc 1.6.1 crashes: see test_graph_root_endpoints.
    assert set(ALL_CASES) | {"graph_nodes", "always_fail"} == set(registry())


@pytest.mark.parametrize(
    "name", sorted(ALL_CASES)
)
def test_check_agrees_with_dtc(tmp_path: Path, name: str) -> None:
    good, bad, flags = ALL_CASES[name]
    passed = compare(tmp_path, good, flags, "good")
    assert name not in {check for check, *_ in passed}
    failed = compare(tmp_path, bad, flags, "bad")
    assert name in {check for check, *_ in failed}


def test_always_fail(tmp_path: Path) -> None:
    """Off by default; on, it fails on every node."""
    assert compare(tmp_path, "/ { a { b { }; }; };") == []
    assert [path for _, path, *_ in compare(tmp_path, "/ { a { b { }; }; };", ["-Walways_fail"])] == ["/", "/a", "/a/b"]


# ---------------------------------------------------------------------------
# Where dtc 1.6.1 crashes or hangs, armboot finishes as dtc 1.8.1 does

GRAPH_ROOT_CASES = {
    "remote-endpoint on a child of the root": (
        "/ { foo { remote-endpoint = <0xdeadbeef>; }; };",
        [("graph_nodes", "/", "root node contains endpoint node 'foo', potentially misplaced remote-endpoint property")],
    ),
    "endpoint node under the root": (
        "/ { endpoint { }; };",
        [("graph_nodes", "/", "root node contains endpoint node 'endpoint', potentially misplaced remote-endpoint property")],
    ),
    "a port's peer endpoint under the root": (
        "/ { b { port { be: endpoint { remote-endpoint = <&fe>; }; }; }; fe: endpoint { remote-endpoint = <&be>; }; };",
        [("graph_nodes", "/", "root node contains endpoint node 'endpoint', potentially misplaced remote-endpoint property")],
    ),
}


def crashes_dtc(path: Path, timeout: float = 20) -> bool:
    return dtc("-I", "dts", "-O", "dtb", "-o", "/dev/null", path, timeout=timeout).rc < 0


@pytest.mark.parametrize("case", sorted(GRAPH_ROOT_CASES))
def test_graph_root_endpoints(tmp_path: Path, case: str) -> None:
    body, reports = GRAPH_ROOT_CASES[case]
    src = tmp_path / "root.dts"
    src.write_text("/dts-v1/;\n" + body + "\n")
    assert crashes_dtc(src)  # why there is no reference to compare with
    got = [(check, path, message) for check, path, message, _ in armboot_reports(src, [])]
    failed_prereq = [(c, "", "Failed prerequisite 'graph_nodes'") for c in ("graph_child_address", "graph_port", "graph_endpoint")]
    assert got == reports + failed_prereq


def test_graph_reg_with_two_cells(tmp_path: Path) -> None:
    """dtc 1.6.1 aborts reading a two-cell reg as a port's address; the malformed reg is reported."""
    src = tmp_path / "cells.dts"
    src.write_text(
        "/dts-v1/;\n/ { bar { ports { #address-cells = <1>; #size-cells = <1>; port@1 { reg = <1 2>; "
        "bc: endpoint { remote-endpoint = <&fc>; }; }; }; }; foo { port { #address-cells = <1>; #size-cells = <1>; "
        "fc: endpoint@1 { reg = <1 2>; remote-endpoint = <&bc>; }; }; }; };\n"
    )
    assert crashes_dtc(src)
    got = [(check, path, message) for check, path, message, _ in armboot_reports(src, [])]
    assert got == [
        ("graph_port", "/bar/ports/port@1", "graph node malformed 'reg' property"),
        ("graph_endpoint", "/foo/port/endpoint@1", "graph node malformed 'reg' property"),
    ]


@pytest.mark.parametrize("cells", ["0xffffffff", "0xfffffffe"])
def test_huge_provider_cells_end(tmp_path: Path, cells: str) -> None:
    """A #clock-cells that wraps dtc 1.6.1's walk back onto itself: it loops forever, armboot warns."""
    src = tmp_path / "overflow.dts"
    src.write_text(f"/dts-v1/;\n/ {{ c: clk {{ #clock-cells = <{cells}>; }}; d {{ clocks = <0 &c &c>; }}; }};\n")
    assert crashes_dtc(src, timeout=1)
    got = [(check, path, message) for check, path, message, _ in armboot_reports(src, [])]
    assert got == [("clocks_property", "/d", f"property size (12) too small for cell size {int(cells, 16)}")]


def test_deep_interrupt_searches(tmp_path: Path) -> None:
    """Every level of a deep chain looks up its interrupt parent: same reports, without a quadratic walk."""
    depth = 1000
    body = "/ { top: t {" + " n { interrupts = <1>;" * depth + " };" * depth + " }; };"
    assert len(compare(tmp_path, body)) == depth


def test_huge_address_cells_on_a_simple_bus(tmp_path: Path) -> None:
    """dtc 1.6.1 reads 2^28 cells of a child's ranges (and crashes); armboot reads what is there."""
    src = tmp_path / "wide.dts"
    src.write_text(
        "/dts-v1/;\n/ { #address-cells = <1>; #size-cells = <1>; bus { compatible = \"simple-bus\"; "
        "#address-cells = <0x10000000>; #size-cells = <1>; ranges; c@0 { #address-cells = <1>; "
        "#size-cells = <1>; ranges = <0 1 2>; }; }; };\n"
    )
    assert crashes_dtc(src)
    assert [(check, path) for check, path, *_ in armboot_reports(src, [])] == [
        ("ranges_format", "/bus"),
        ("ranges_format", "/bus/c@0"),
    ]


# ---------------------------------------------------------------------------
# -W / -E

LEVELS_INPUT = (
    f"/ {{ {CELLS} a@1 {{ }}; b@2 {{ reg = <2 1 3>; }}; "
    f'bus@3 {{ compatible = "simple-bus"; reg = <3 1>; {CELLS} ranges; c {{ }}; }}; }};'
)


@pytest.mark.parametrize(
    "flags",
    [
        ["-Walways_fail"],  # an off-by-default check, on
        ["-Wno-unit_address_vs_reg"],  # a default warning, off
        ["-Wno_unit_address_vs_reg"],
        ["-Eunit_address_vs_reg"],  # a warning made an error
        ["-Wno-reg_format"],  # off, and so everything needing it
        ["-Eno-reg_format"],
        ["-Ealways_fail", "-Wno-always_fail"],
        ["-Wno-addr_size_cells", "-Wsimple_bus_reg"],  # on again, with its prerequisites
        ["-Eno-phandle_references"],
        ["-Wno-duplicate_node_names"],
    ],
)
def test_levels_agree_with_dtc(tmp_path: Path, flags: list[str]) -> None:
    compare(tmp_path, LEVELS_INPUT, flags)


def test_unknown_check_name_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "a.dts"
    src.write_text("/dts-v1/;\n/ { };\n")
    run = dtc("-I", "dts", "-O", "dtb", "-o", "/dev/null", "-Wno-unknown", src)
    assert run.rc != 0 and 'Unrecognized check name "unknown"' in run.err
    with pytest.raises(DtcError, match='Unrecognized check name "unknown"'):
        armboot_reports(src, ["-Wno-unknown"])


# ---------------------------------------------------------------------------
# The Linux corpus


@needs_corpus
def test_corpus_agrees_with_dtc(tmp_path: Path) -> None:
    """Every arm64 board of v4.14 and v4.9, preprocessed as the kernel does: the same reports."""
    boards = [
        (version, src)
        for version in ("v4.14", "v4.9")
        for src in sorted((CORPUS / version / "arm64").rglob("*.dts"))
    ]

    def reference(job: tuple[str, Path]) -> tuple[Path, list[str], list[Report]]:
        version, src = job
        pp = tmp_path / f"{version}-{src.name}"
        preprocess_like_kernel(src, version, pp)
        includes = [str(src.parent), *corpus_include_dirs(version)]
        return pp, includes, reference_reports(pp, ["-b", "0"], includes)

    cache = ParseCache()
    mismatches = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for pp, includes, expected in pool.map(reference, boards):
            got = armboot_reports(pp, [], includes, cache, cpp=False, boot_cpuid=0)
            if got != expected:
                mismatches.append(pp.name)
    assert len(boards) > 200
    assert mismatches == []
