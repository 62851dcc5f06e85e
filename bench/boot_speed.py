#!/usr/bin/env python3
"""Guest speed under `armboot boot` against raw unicorn, side by side in one run.

Two payloads from bench/payloads (committed ELFs):
  loop.elf  600 M instructions of register arithmetic, then PSCI SYSTEM_OFF
  hvc.elf   installs EL2 vectors whose sync handler only ERETs, drops to EL1
            and executes 100 000 `hvc #0`: each is a trap round trip through
            the payload's own (virtual) EL2

Measured, best of --rounds:
  raw free      unicorn alone, one emu_start for the whole loop
  raw sliced    unicorn alone, emu_start(count=SLICE) repeatedly, as armboot slices
  armboot       `armboot boot boards/virt.dts --kernel loop.elf` (--hyp and --no-hyp)
  raw hvc       unicorn alone, the same hvc loop at EL1 with an interrupt hook
                that returns at once (the floor: what a trap costs unicorn itself)
  armboot hvc   hvc.elf under --hyp, round trips through the virtual EL2
Only ratios measured in the same run mean anything on these machines.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from armboot.bootloader.session import BootOptions, boot_and_run
from armboot.hyp.arch.sysregs import BY_NAME, cp_reg
from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM, UC_PROT_ALL, Uc
from unicorn import arm64_const as A

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAYLOADS = HERE / "payloads"
BOARD = ROOT / "boards" / "virt.dts"
RAM_BASE, RAM_SIZE = 0x4000_0000, 0x800_0000
SLICE = 20_000
HVC_CALLS = 100_000
SCR_HCE = 0x100


def _load(uc: Uc, elf_path: Path) -> tuple[int, dict[str, int]]:
    with elf_path.open("rb") as f:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                uc.mem_write(seg["p_paddr"], seg.data())
        symtab = elf.get_section_by_name(".symtab")
        symbols = {s.name: s["st_value"] for s in symtab.iter_symbols()} if symtab else {}
        return elf.header["e_entry"], symbols


def _raw_engine(elf_path: Path) -> tuple[Uc, int, dict[str, int]]:
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM64_A72)
    uc.mem_map(RAM_BASE, RAM_SIZE, UC_PROT_ALL)
    entry, symbols = _load(uc, elf_path)
    return uc, entry, symbols


def raw_loop(sliced: bool) -> tuple[int, float]:
    """Instructions executed and wall seconds for loop.elf on bare unicorn."""
    uc, entry, _ = _raw_engine(PAYLOADS / "loop.elf")
    done = False
    executed = 0

    def on_intr(engine: Uc, intno: int, _ud: object) -> None:  # the final SMC
        nonlocal done
        done = True
        engine.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_intr)
    pc = entry
    t0 = time.perf_counter()
    if sliced:
        while not done:
            uc.emu_start(pc, 0xFFFFFFFFFFFFFFFF, count=SLICE)
            pc = uc.reg_read(A.UC_ARM64_REG_PC)
            executed += SLICE
    else:
        uc.emu_start(pc, 0xFFFFFFFFFFFFFFFF)
    wall = time.perf_counter() - t0
    # x1 holds the iteration count; the body is 3 instructions, plus 2 before and 2 after
    iterations = uc.reg_read(A.UC_ARM64_REG_X1)
    return 3 * iterations + 4, wall


def raw_hvc() -> float:
    """Wall seconds for HVC_CALLS hvc traps on bare unicorn (hook returns at once)."""
    uc, _, symbols = _raw_engine(PAYLOADS / "hvc.elf")
    uc.reg_write(A.UC_ARM64_REG_CP_REG, cp_reg(BY_NAME["SCR_EL3"], 0x431 | SCR_HCE))

    def on_intr(engine: Uc, intno: int, _ud: object) -> None:
        if engine.reg_read(A.UC_ARM64_REG_X0) == 0x84000008:
            engine.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_intr)
    uc.reg_write(A.UC_ARM64_REG_X0, 0)
    t0 = time.perf_counter()
    uc.emu_start(symbols["el1"], 0xFFFFFFFFFFFFFFFF)
    wall = time.perf_counter() - t0
    assert uc.reg_read(A.UC_ARM64_REG_X2) == HVC_CALLS
    return wall


def armboot_run(payload: str, hyp: bool) -> tuple[int, float, dict[str, int]]:
    opts = BootOptions(board=str(BOARD), kernel=str(PAYLOADS / payload), hyp=hyp, console=lambda _b: None, timeout=600)
    boot = boot_and_run(opts)
    result = boot.result
    assert result is not None and result.reason == "system_off", result
    traps = dict(boot.machine.cpus[0].traps.counts)
    return result.instructions, result.wall_s, traps


def best(runs: list[tuple[int, float]]) -> tuple[int, float]:
    return min(runs, key=lambda r: r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    free, sliced, hyp, nohyp, rhvc, ahvc = [], [], [], [], [], []
    for _ in range(args.rounds):  # interleaved, so drift in machine speed hits every column alike
        free.append(raw_loop(sliced=False))
        sliced.append(raw_loop(sliced=True))
        n, wall, _ = armboot_run("loop.elf", hyp=True)
        hyp.append((n, wall))
        n, wall, _ = armboot_run("loop.elf", hyp=False)
        nohyp.append((n, wall))
        rhvc.append(raw_hvc())
        _, wall, traps = armboot_run("hvc.elf", hyp=True)
        assert traps.get("hvc", 0) >= HVC_CALLS, traps
        ahvc.append(wall)

    def rate(r: tuple[int, float]) -> float:
        return r[0] / r[1] / 1e6

    f, s, h, nh = (rate(best(x)) for x in (free, sliced, hyp, nohyp))
    print(f"guest loop (600 M instructions, slice {SLICE}), best of {args.rounds}:")
    print(f"  raw unicorn, free-running   {f:8.1f} M insn/s")
    print(f"  raw unicorn, sliced         {s:8.1f} M insn/s")
    print(f"  armboot boot --hyp          {h:8.1f} M insn/s   {h / s:6.1%} of raw sliced, {h / f:6.1%} of free-running")
    print(f"  armboot boot --no-hyp       {nh:8.1f} M insn/s   {nh / s:6.1%} of raw sliced, {nh / f:6.1%} of free-running")
    r, a = HVC_CALLS / min(rhvc), HVC_CALLS / min(ahvc)
    print(f"hvc round trips ({HVC_CALLS}):")
    print(f"  raw unicorn, hook only      {r:10.0f} /s")
    print(f"  armboot, payload EL2 vectors{a:10.0f} /s   {a / r:6.1%} of raw")


if __name__ == "__main__":
    main()
