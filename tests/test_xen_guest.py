"""The Xen-aware guest payload (boards/payloads/xenguest) under the runtime's xen personality, end to end.

The host payload runs as dom0 beside dom0less guests and serves their PV
consoles (host/xen_backend.c).  What a guest prints comes through
HYPERVISOR_console_io.  With a host that only powers itself off (no backend),
the line a guest leaves in its ring is read back through the personality's state.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from armboot.bootloader.report import build_report
from armboot.bootloader.session import Boot, BootOptions, boot_and_run
from armboot.hyp.personalities.xen import domain_of
from armboot.hyp.personalities.xen.console import ConsoleRing

pytest.importorskip("armboot.hyp.personalities.guest_board")  # being written alongside

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = ROOT / "boards" / "payloads"
XENGUEST = PAYLOADS / "xenguest" / "xenguest.bin"
HOST = PAYLOADS / "host" / "host.bin"
NO_BACKEND = ROOT / "bench" / "payloads" / "off.elf"  # a host that powers itself off at once
BUDGET = 60_000_000  # instructions: a stuck payload ends as "timeout", never hangs the suite


def domain(name: str, bootargs: str) -> str:
    return f"""
	{name} {{
		compatible = "xen,domain";
		#address-cells = <1>;
		#size-cells = <1>;
		memory = <0x0 0x4000>;
		cpus = <1>;
		module@0 {{
			compatible = "multiboot,kernel", "multiboot,module";
			reg = <0x0 0x0>;
			armboot,file = "{XENGUEST}";
			bootargs = "{bootargs}";
		}};
	}};
"""


def tree(tmp_path: Path, *guests: tuple[str, str]) -> Path:
    """virt.dts with one xenguest domain per (name, bootargs)."""
    dts = tmp_path / "xen.dts"
    body = "".join(domain(name, args) for name, args in guests)
    dts.write_text(f'/include/ "{ROOT / "boards" / "virt.dts"}"\n&{{/chosen}} {{{body}}};\n')
    return dts


def boot(dts: Path, hypervisor: str, host: Path = HOST) -> tuple[Boot, dict]:
    opts = BootOptions(board=str(dts), kernel=str(host), hypervisor=hypervisor, max_insns=BUDGET, timeout=60)
    result = boot_and_run(opts)
    report = build_report(result)
    return result, {vm["name"]: vm for vm in report["vms"]}


def test_xenguest_talks_to_xen(tmp_path: Path) -> None:
    result, vms = boot(tree(tmp_path, ("domU1", "name=domU1 wait=5")), "xen", NO_BACKEND)
    guest = vms["domU1"]
    assert guest["exit"] == {"reason": "shutdown", "shutdown": "poweroff"}, guest["console"]
    lines = guest["console"].splitlines()
    runtime = result.runtime
    assert runtime is not None
    vm = runtime.vms[1]
    d = domain_of(vm)
    assert d is not None and d.event_intid is not None
    assert (
        lines[0]
        == f"domU1: Xen 4.17.0-armboot at EL1, grant table at 0x38000000, events on intid {d.event_intid}"
    )
    assert lines[1].startswith("domU1: shared_info at 0x")
    assert (
        vm.translate(int(lines[1].rsplit(" ", 1)[1], 16)) == d.shared.pa
    )  # Xen's page where the guest asked
    assert lines[2] == "domU1: grant ref 0: flags 0x1, dom0 may map frame 0x39000"
    assert lines[3] == f"domU1: PV console: ring pfn 0x39000, event channel {d.params[18]}"
    assert (
        lines[4]
        == f"domU1: PV console: 33 bytes into the ring at 0x39000000, port {d.params[18]} notified (0)"
    )
    assert lines[5] == "domU1: PV console: no backend took the line in 5 ms (33 bytes wait in the ring)"
    assert lines[6:] == ["domU1: SCHEDOP_shutdown poweroff"]
    ring = ConsoleRing(vm.machine, vm.translate(0x39000000))
    assert ring.drain_out() == b"domU1: hello over the PV console\n"
    assert d.grants.gfns[0] == 0x38000  # grant frame 0 where /hypervisor's reg says
    assert vms["host"]["exit"]["reason"] == "system_off"


def test_xenguest_without_xen_says_so_and_powers_off(tmp_path: Path) -> None:
    """Under the kvm personality there is no /hypervisor: a line on the PL011, PSCI SYSTEM_OFF."""
    _, vms = boot(tree(tmp_path, ("domU1", "name=plain")), "kvm")
    guest = vms["domU1"]
    assert guest["console"] == 'plain: no /hypervisor node (compatible "xen,xen"): not running on Xen\n'
    assert guest["exit"]["reason"] == "system_off"


CROSS_GCC = shutil.which("aarch64-linux-gnu-gcc")
needs_cross = pytest.mark.skipif(
    CROSS_GCC is None or shutil.which("make") is None, reason="no aarch64-linux-gnu-gcc or make"
)


def test_dom0_backend_serves_every_guest_console(tmp_path: Path) -> None:
    result, vms = boot(tree(tmp_path, ("domU1", "name=domU1"), ("domU2", "name=domU2")), "xen")
    lines = [line for line in vms["host"]["console"].splitlines() if line.startswith("xen: ")]
    assert lines == [
        "xen: dom1 console: its port 1 bound as 1, ring mapped at 0x81000000",
        "xen: dom2 console: its port 1 bound as 2, ring mapped at 0x81001000",
        "xen: dom0 serves 2 guest consoles for up to 100 ms",
        "xen: dom1| domU1: hello over the PV console",
        "xen: dom2| domU2: hello over the PV console",
        "xen: 2 lines from 2 guests",
    ]
    for name in ("domU1", "domU2"):
        guest = vms[name]
        assert f"{name}: PV console: the backend took the line and said so (1 event)" in guest["console"]
        assert guest["exit"] == {"reason": "shutdown", "shutdown": "poweroff"}
    runtime = result.runtime
    assert runtime is not None
    d0 = domain_of(runtime.vms[0])
    assert d0 is not None and d0.grants.maptrack == {} and d0.ports.channels == {}  # unmapped and closed
    for vm in runtime.vms[1:]:
        d = domain_of(vm)
        entry = d.grants.entry(0) if d is not None else None
        assert entry is not None and entry.flags == 1  # GTF_permit_access, no longer reading/writing


@needs_cross
def test_xenguest_rebuilds_byte_identical(tmp_path: Path) -> None:
    """Built from a copy: it shares guest/'s start.S, common.c and payload.mk and the host payload's sources."""
    outputs = shutil.ignore_patterns("build", "*.elf", "*.bin")
    for folder in ("host", "guest", "xenguest"):
        shutil.copytree(PAYLOADS / folder, tmp_path / folder, ignore=outputs)
    run = subprocess.run(["make", "-C", str(tmp_path / "xenguest")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "warning" not in run.stderr
    for out in ("xenguest.elf", "xenguest.bin"):
        assert (tmp_path / "xenguest" / out).read_bytes() == (PAYLOADS / "xenguest" / out).read_bytes(), out
