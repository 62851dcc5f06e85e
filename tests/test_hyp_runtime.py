"""armboot's hypervisor runtime end to end: a host and guests from the tree, under both personalities.

Each test boots a tree with dom0less guest nodes and checks the report's
per-VM view (VMIDs, consoles, how each VM ended, exits) against what the
payloads print and what the architecture says a guest must get.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from armboot.bootloader.report import build_report
from armboot.bootloader.session import BootOptions, boot_and_run

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "boards" / "virt-demo.dts"
PROBE = ROOT / "tests" / "hyp" / "probe.dts"
EIGHT = ROOT / "tests" / "hyp" / "eight.dts"
CLEAN = ("system_off", "shutdown")


def run(board: Path, hypervisor: str = "kvm", hyp: bool = True, max_insns: int = 50_000_000) -> dict:
    boot = boot_and_run(
        BootOptions(board=str(board), hyp=hyp, hypervisor=hypervisor, max_insns=max_insns, timeout=120, console=lambda _b: None)
    )
    return build_report(boot)


def vms(report: dict) -> dict[str, dict]:
    return {vm["name"]: vm for vm in report["vms"]}


@pytest.mark.parametrize("personality", ["kvm", "xen"])
def test_demo_boots_host_and_two_guests(personality: str) -> None:
    report = run(DEMO, personality)
    assert report["exit"]["reason"] == "system_off"
    assert report["entry_el"] == 1 and report["hyp_available"] is False  # the runtime keeps EL2
    by_name = vms(report)
    assert list(by_name) == ["host", "domU1", "domU2"]
    assert sorted(vm["vmid"] for vm in by_name.values()) == [0, 1, 2]
    for vm in by_name.values():
        assert vm["exit"]["reason"] in CLEAN, vm
    host = by_name["host"]["console"]
    assert "entry: EL1" in host and "hyp mode available: no" in host and "power: PSCI SYSTEM_OFF" in host
    layout = {"kvm": ("0x9000000", "0x8000000"), "xen": ("0x22000000", "0x3001000")}[personality]
    domu1 = by_name["domU1"]
    console = domu1["console"]
    assert "domU1: guest payload at EL1" in console
    assert f"domU1: console pl011 at {layout[0]}" in console  # the personality's guest board
    assert f"domU1: gic v2 distributor {layout[1]}" in console
    assert "domU1: tick 3" in console and "domU1: 2 of 2 cpus up" in console
    assert domu1["cpus"] == 2 and domu1["injected_irqs"] >= 3  # the virtual timer's ticks
    assert domu1["exits"]["mmio"] > 0 and domu1["exits"]["hvc"] >= 1
    domu2 = by_name["domU2"]
    if personality == "kvm":  # the Xen-aware guest finds no /hypervisor on the virt guest board
        assert "domU2: no /hypervisor node" in domu2["console"]
        assert domu2["exit"]["reason"] == "system_off"
    else:  # ... and under xen talks to dom0 over its PV console, then shuts down
        assert "domU2: Xen 4.17" in domu2["console"] and "events on intid 16" in domu2["console"]
        assert "xen: dom2| domU2: hello over the PV console" in host
        assert "domU2: PV console: the backend took the line" in domu2["console"]
        assert domu2["exit"] == {"reason": "shutdown", "shutdown": "poweroff"}
        assert domu2["injected_irqs"] >= 1  # the event channel's upcall
    # guest RAM is carved from the board's RAM, disjoint, and outside the host's map
    host_ram = [(int(r["pa"], 16), int(r["size"], 16)) for r in by_name["host"]["memory"]]
    for name in ("domU1", "domU2"):
        (ram,) = by_name[name]["memory"]
        assert ram["ipa"] == "0x40000000"
        pa, size = int(ram["pa"], 16), int(ram["size"], 16)
        assert all(pa + size <= h or h + s <= pa for h, s in host_ram)


def test_isolation_probe_gets_aborts_and_undef_and_others_finish() -> None:
    report = run(PROBE)
    by_name = vms(report)
    probe = by_name["probe"]
    console = probe["console"]
    foreign = [0x48000000, 0x4DE00000, 0x4FE00000, 0x1C090000]
    # the addresses are what the probe claims: host RAM, domU1's RAM, the runtime's pool, a host device
    host_ram = [(int(r["pa"], 16), int(r["size"], 16)) for r in by_name["host"]["memory"]]
    assert any(pa <= foreign[0] < pa + size for pa, size in host_ram)
    assert by_name["domU1"]["memory"][0]["pa"] == hex(foreign[1])
    assert not any(pa <= foreign[2] < pa + size for pa, size in host_ram)
    for address in foreign:
        assert f"read 0x{address:x}: data abort, EC 0x25, DFSC 0x10, FAR 0x{address:x}" in console
    for access in ("mrs x0, hcr_el2", "msr vbar_el2, x0", "mrs x0, vttbr_el2"):
        assert f"probe: {access}: UNDEF (EC 0x0)" in console
    assert "4/4 foreign reads aborted, 3/3 EL2 accesses UNDEF, hvc NOT_SUPPORTED" in console
    assert probe["exits"]["stage2_fault"] == 4
    faults = probe["stage2_faults"]
    assert [int(f["ipa"], 16) for f in faults] == foreign
    for f in faults:  # ESR_EL2: a data abort from a lower EL (EC 0x24), a translation fault; HPFAR = IPA[47:12] << 4
        esr = int(f["esr_el2"], 16)
        assert esr >> 26 == 0x24 and (esr & 0x3C) == 0x04
        assert int(f["hpfar_el2"], 16) == (int(f["ipa"], 16) >> 12) << 4
    for vm in by_name.values():
        assert vm["exit"]["reason"] in CLEAN, vm["name"]
    assert "domU1: SYSTEM_OFF over hvc" in by_name["domU1"]["console"]


def test_eight_guests_complete_beside_a_runaway() -> None:
    report = run(EIGHT, max_insns=100_000_000)
    by_name = vms(report)
    assert len(by_name) == 10 and len({vm["vmid"] for vm in by_name.values()}) == 10
    runaway = by_name.pop("runaway")
    for name, vm in by_name.items():
        assert vm["exit"]["reason"] in CLEAN, name
        if name != "host":
            assert f"{name}: SYSTEM_OFF over hvc" in vm["console"]
    assert runaway["exit"]["reason"] == "timeout"  # it never stops; the run's limit ends it alone
    assert report["exit"]["reason"] == "timeout"


def test_guests_need_el2() -> None:
    report = run(DEMO, hyp=False)
    assert "vms" not in report
    assert any("guests need EL2" in n for n in report["notes"])
    assert report["exit"]["reason"] == "system_off"
    assert "hyp mode available: no" in report["console"]


def test_same_tree_same_console_every_run() -> None:
    first, second = run(DEMO), run(DEMO)
    assert [vm["console"] for vm in first["vms"]] == [vm["console"] for vm in second["vms"]]
    assert [vm["instructions"] for vm in first["vms"]] == [vm["instructions"] for vm in second["vms"]]


def test_a_vcpu_spinning_in_wfe_yields() -> None:
    """WFE does nothing on unicorn: the runtime notices the loop around it and shortens that vCPU's slices."""
    boot = boot_and_run(BootOptions(board=str(ROOT / "tests" / "hyp" / "spin.dts"), max_insns=50_000_000, console=lambda _b: None))
    assert boot.result is not None and boot.runtime is not None
    vm = boot.runtime.vms[1]
    assert vm.exit is not None and vm.exit.reason == "system_off"
    worker, spinner = (boot.result.per_cpu[c.index] for c in vm.vcpus)
    assert vm.exits["wfe"] > 0
    # the worker ran 2M iterations of 2 instructions; a spinner given full slices would have run as long
    assert worker >= 4_000_000 and spinner * 8 < worker


def test_system_reset_restarts_that_vm_only() -> None:
    report = run(ROOT / "tests" / "hyp" / "reset.dts")
    by_name = vms(report)
    rebooter = by_name["rebooter"]
    assert rebooter["console"] == "reset boot\n" * 4  # booted, then restarted three times
    assert rebooter["exit"] == {"reason": "reset", "restarts": 3}
    assert by_name["domU1"]["exit"]["reason"] == "system_off" and by_name["host"]["exit"]["reason"] == "system_off"
    assert report["exit"]["reason"] == "system_reset"
