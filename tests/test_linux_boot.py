"""Debian's arm64 kernel on armboot, end to end: bare at EL1, entered at EL2, with two CPUs, as a guest.

The kernel and initramfs are the ones `armboot linux fetch` cached (.ci/run
fetches them before the tests); without them these tests skip, saying why.
Each boot runs the initramfs's /init, which prints ARMBOOT-INITRAMFS-OK, the
kernel's view of itself and dmesg's CPU boot-mode line, then powers off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from armboot.bootloader.linux import artifacts, bootargs_for
from armboot.bootloader.report import build_report
from armboot.bootloader.session import BootOptions, boot_and_run, load_tree
from reference import armboot

ROOT = Path(__file__).resolve().parents[1]
VIRT = ROOT / "boards" / "virt.dts"
GUEST = ROOT / "tests" / "linux" / "guest.dts"
MARKER = "ARMBOOT-INITRAMFS-OK"
BUDGET = 4_000_000_000  # instructions: a kernel that hangs ends as "timeout", never hangs the suite

LINUX = artifacts()
pytestmark = pytest.mark.skipif(LINUX is None, reason="no cached kernel: run `armboot linux fetch` first")


def boot_linux(hyp: bool, cpus: int | None = None) -> dict:
    assert LINUX is not None
    opts = BootOptions(
        board=str(VIRT), kernel=str(LINUX.image), initrd=str(LINUX.initrd), bootargs=bootargs_for(load_tree(str(VIRT), [])),
        hyp=hyp, cpus=cpus, max_insns=BUDGET, timeout=600, console=lambda _b: None,
    )  # fmt: skip
    return build_report(boot_and_run(opts))


def reached_user_space(console: str, el: int, ncpus: int) -> None:
    assert MARKER in console, console[-2000:]
    assert f"CPU: All CPU(s) started at EL{el}" in console
    assert f"SMP: Total of {ncpus} processors activated" in console
    assert "Linux (none) " in console and "aarch64 GNU/Linux" in console  # uname -a
    assert "reboot: Power down" in console


def test_bare_at_el1_two_cpus_same_console_every_run() -> None:
    report = boot_linux(hyp=False, cpus=2)
    assert report["exit"] == {"reason": "system_off", "by": "PSCI SYSTEM_OFF"}, report["console"][-2000:]
    assert report["entry_el"] == 1
    reached_user_space(report["console"], 1, 2)
    again = boot_linux(hyp=False, cpus=2)  # virtual time: a run is a function of its inputs
    assert again["console"] == report["console"] and again["instructions"] == report["instructions"]


def test_bare_at_el1_one_cpu() -> None:
    report = boot_linux(hyp=False, cpus=1)
    assert report["exit"]["reason"] == "system_off"
    reached_user_space(report["console"], 1, 1)


def test_entered_at_el2() -> None:
    report = boot_linux(hyp=True)
    assert report["exit"] == {"reason": "system_off", "by": "PSCI SYSTEM_OFF"}, report["console"][-3000:]
    assert report["entry_el"] == 2 and report["hyp_available"] is True
    reached_user_space(report["console"], 2, 2)


def test_as_a_guest_of_the_hypervisor() -> None:
    assert LINUX is not None
    opts = BootOptions(
        board=str(GUEST), modules={"linux": str(LINUX.image), "linux:ramdisk": str(LINUX.initrd)},
        max_insns=BUDGET, timeout=600, console=lambda _b: None,
    )  # fmt: skip
    report = build_report(boot_and_run(opts))
    vms = {vm["name"]: vm for vm in report["vms"]}
    guest = vms["linux"]
    assert guest["exit"]["reason"] == "system_off", guest["console"][-2000:]
    reached_user_space(guest["console"], 1, 2)  # two vCPUs: CPU_ON over hvc, IPIs through the vGIC
    assert "smccc: KVM: hypervisor services detected" in guest["console"]  # the kvm personality's vendor UID
    assert guest["exits"]["mmio"] > 0 and guest["injected_irqs"] > 0
    assert vms["host"]["exit"]["reason"] == "system_off" and "power: PSCI SYSTEM_OFF" in vms["host"]["console"]
    assert report["exit"]["reason"] == "system_off"


def test_a_shell_on_the_console_reads_typed_input() -> None:
    """`--linux --shell`: busybox's shell on ttyAMA0 runs what is typed (stdin through the PL011), exit powers off.

    Linux drains the UART's receive FIFO when it opens the port, as on hardware, so the
    commands come after a hundred newlines typed ahead (the shell just prints prompts for them).
    """
    typed = b"\n" * 100 + b"echo shell-$((6*7))\nuname -m\nexit\n"
    run = armboot("boot", "virt", "--no-hyp", "--linux", "--shell", "--max-insns", str(BUDGET), stdin=typed)
    assert run.rc == 0, run.err[-2000:]
    console = run.out.decode("utf-8", "replace")
    assert MARKER in console and "armboot: a shell on the console" in console
    assert "$((6*7))\r\nshell-42\r\n" in console, console[-1500:]  # the tty echoes the line, then sh runs it
    assert "uname -m\r\naarch64\r\n" in console and "reboot: Power down" in console


def test_foundation_v8_spin_table_and_vexpress_power_off() -> None:
    """Arm's Foundation model tree: CPUs released through spin-table, and no PSCI, so the kernel
    powers off through the motherboard's configuration bus (vexpress-poweroff -> SYS_CFGCTRL)."""
    assert LINUX is not None
    board = ROOT / "boards" / "foundation-v8" / "foundation-v8.dts"
    opts = BootOptions(
        board=str(board), kernel=str(LINUX.image), initrd=str(LINUX.initrd), bootargs=bootargs_for(load_tree(str(board), [])),
        hyp=False, max_insns=BUDGET, timeout=600, console=lambda _b: None,
    )  # fmt: skip
    report = build_report(boot_and_run(opts))
    assert report["exit"] == {"reason": "system_off", "by": "vexpress SYS_CFGCTRL shutdown"}, report["console"][-2000:]
    ncpus = len(report["cpus"])
    assert ncpus >= 2 and "smp: Brought up 1 node, " in report["console"]
    reached_user_space(report["console"], 1, ncpus)


def test_virt_gicv3_entered_at_el2() -> None:
    """The GICv3 board: the kernel drives the distributor, redistributors and ICC_* system registers
    armboot emulates, and KVM initialises on the virtual EL2 there too."""
    assert LINUX is not None
    board = ROOT / "boards" / "virt-gicv3.dts"
    opts = BootOptions(
        board=str(board), kernel=str(LINUX.image), initrd=str(LINUX.initrd), bootargs=bootargs_for(load_tree(str(board), [])),
        hyp=True, max_insns=BUDGET, timeout=600, console=lambda _b: None,
    )  # fmt: skip
    report = build_report(boot_and_run(opts))
    console = report["console"]
    assert report["exit"]["reason"] == "system_off", console[-2000:]
    assert "GICv3: CPU1: found redistributor 1" in console and "GIC system register CPU interface" in console
    assert "kvm [1]: Hyp nVHE mode initialized successfully" in console
    reached_user_space(console, 2, 2)
