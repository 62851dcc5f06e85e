#!/usr/bin/env python3
"""Exits per second through armboot's hypervisor runtime, and guest speed, side by side in one run.

The board is bench/hyp-bench.dts: virt with one guest whose kernel is given
per measurement (--module); the host powers itself off at once, so the guest
runs alone on the runtime:
  hvc_guest.elf   100 000 x PSCI_VERSION over hvc #0: an exit to the runtime and back each
  mmio_guest.elf  100 000 reads of its PL011's flag register: a trapped MMIO access each,
                  decoded from the ESR_EL2 syndrome and run on the device model
  loop.elf        600 M instructions of arithmetic (the guest's own speed)
Raw unicorn baselines, measured in the same run: the same hvc loop with a hook
that returns at once, the same MMIO loop on an mmio_map callback returning 0,
and the loop sliced as armboot slices.  Best of --rounds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from armboot.bootloader.session import BootOptions, boot_and_run
from armboot.hyp.arch.sysregs import BY_NAME, cp_reg
from unicorn import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM, UC_PROT_ALL, Uc
from unicorn import arm64_const as A

HERE = Path(__file__).resolve().parent
PAYLOADS = HERE / "payloads"
BOARD = HERE / "hyp-bench.dts"
CALLS = 100_000
SLICE = 20_000


def runtime_run(guest: str) -> tuple[float, dict[str, int], int]:
    """Wall seconds the guest ran, its exits, its instructions."""
    opts = BootOptions(
        board=str(BOARD), kernel=str(PAYLOADS / "off.elf"), modules={"bench": str(PAYLOADS / guest)},
        console=lambda _b: None, vm_console=lambda _n, _b: None, timeout=600,
    )  # fmt: skip
    boot = boot_and_run(opts)
    assert boot.result is not None and boot.runtime is not None
    vm = boot.runtime.vms[1]
    assert vm.exit is not None and vm.exit.reason == "system_off", vm.exit
    return boot.result.wall_s, dict(vm.exits), sum(boot.result.per_cpu.get(c.index, 0) for c in vm.vcpus)


def _raw(elf: str) -> tuple[Uc, int]:
    from elftools.elf.elffile import ELFFile

    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM64_A72)
    uc.mem_map(0x4000_0000, 0x100_0000, UC_PROT_ALL)
    with (PAYLOADS / elf).open("rb") as f:
        e = ELFFile(f)
        for seg in e.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                uc.mem_write(seg["p_paddr"], seg.data())
        entry = e.header["e_entry"]
    uc.reg_write(A.UC_ARM64_REG_CP_REG, cp_reg(BY_NAME["SCR_EL3"], 0x531))
    return uc, entry


def raw_hvc() -> float:
    uc, entry = _raw("hvc_guest.elf")

    def on_intr(engine: Uc, _intno: int, _ud: object) -> None:
        if engine.reg_read(A.UC_ARM64_REG_X0) == 0x84000008:
            engine.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_intr)
    t0 = time.perf_counter()
    uc.emu_start(entry, 0xFFFFFFFFFFFFFFFF)
    return time.perf_counter() - t0


def raw_mmio() -> float:
    uc, entry = _raw("mmio_guest.elf")
    uc.mmio_map(0x0900_0000, 0x1000, lambda *_a: 0, None, lambda *_a: None, None)
    uc.hook_add(UC_HOOK_INTR, lambda engine, _i, _u: engine.emu_stop())
    t0 = time.perf_counter()
    uc.emu_start(entry, 0xFFFFFFFFFFFFFFFF)
    return time.perf_counter() - t0


def raw_loop_sliced() -> tuple[int, float]:
    uc, entry = _raw("loop.elf")
    done = False

    def on_intr(engine: Uc, _intno: int, _ud: object) -> None:
        nonlocal done
        done = True
        engine.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_intr)
    pc, t0 = entry, time.perf_counter()
    while not done:
        uc.emu_start(pc, 0xFFFFFFFFFFFFFFFF, count=SLICE)
        pc = uc.reg_read(A.UC_ARM64_REG_PC)
    return 3 * uc.reg_read(A.UC_ARM64_REG_X1) + 4, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    hvc, mmio, loop, r_hvc, r_mmio, r_loop = [], [], [], [], [], []
    for _ in range(args.rounds):
        wall, exits, _ = runtime_run("hvc_guest.elf")
        assert exits["hvc"] >= CALLS, exits
        hvc.append(wall)
        wall, exits, _ = runtime_run("mmio_guest.elf")
        assert exits["mmio"] >= CALLS, exits
        mmio.append(wall)
        wall, _, insns = runtime_run("loop.elf")
        loop.append((insns, wall))
        r_hvc.append(raw_hvc())
        r_mmio.append(raw_mmio())
        r_loop.append(raw_loop_sliced())
    a_hvc, a_mmio = CALLS / min(hvc), CALLS / min(mmio)
    b_hvc, b_mmio = CALLS / min(r_hvc), CALLS / min(r_mmio)
    print(f"exits through the runtime (guest alone, best of {args.rounds}):")
    print(f"  hvc   {a_hvc:10,.0f} /s   raw unicorn hook only {b_hvc:10,.0f} /s   ({a_hvc / b_hvc:.0%})")
    print(f"  mmio  {a_mmio:10,.0f} /s   raw unicorn callback  {b_mmio:10,.0f} /s   ({a_mmio / b_mmio:.0%})")
    n, w = min(loop, key=lambda r: r[1])
    rn, rw = min(r_loop, key=lambda r: r[1])
    g, r = n / w / 1e6, rn / rw / 1e6
    print(f"guest instructions: {g:.1f} M/s under the runtime, raw unicorn sliced the same way {r:.1f} M/s ({g / r:.0%})")


if __name__ == "__main__":
    main()
