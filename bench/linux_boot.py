#!/usr/bin/env python3
"""Debian's arm64 kernel to user space on armboot: wall time and guest MIPS, three ways in one run.

  bare     --no-hyp on virt: the kernel at EL1, EL2 disabled (target: under 60 s here)
  el2      --hyp on virt: entered at EL2, runs its own EL2 set-up and KVM's nVHE init
  guest    as a guest of armboot's hypervisor (kvm personality) beside the host payload
Each run ends at the initramfs's poweroff; "to user space" is the instruction
count and wall time until the marker line, taken from the console as it is
written.  Needs `armboot linux fetch` first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from armboot.bootloader.linux import artifacts, bootargs_for
from armboot.bootloader.session import BootOptions, boot_and_run, load_tree

ROOT = Path(__file__).resolve().parents[1]
VIRT = ROOT / "boards" / "virt.dts"
GUEST = ROOT / "tests" / "linux" / "guest.dts"
MARKER = b"ARMBOOT-INITRAMFS-OK"


def measure(kind: str) -> dict[str, float | str]:
    linux = artifacts()
    assert linux is not None
    seen = bytearray()
    marker_at: list[float] = []
    t0 = time.perf_counter()

    def console(data: bytes, *_: object) -> None:
        seen.extend(data if isinstance(data, bytes) else b"")
        if not marker_at and MARKER in seen:
            marker_at.append(time.perf_counter() - t0)

    if kind == "guest":
        opts = BootOptions(
            board=str(GUEST), modules={"linux": str(linux.image), "linux:ramdisk": str(linux.initrd)},
            console=lambda _b: None, vm_console=lambda name, data: console(data) if name == "linux" else None,
            timeout=900,
        )  # fmt: skip
    else:
        opts = BootOptions(
            board=str(VIRT), kernel=str(linux.image), initrd=str(linux.initrd),
            bootargs=bootargs_for(load_tree(str(VIRT), [])), hyp=kind == "el2", console=console, timeout=900,
        )  # fmt: skip
    boot = boot_and_run(opts)
    result = boot.result
    assert result is not None
    if kind == "guest":
        assert boot.runtime is not None
        vm = boot.runtime.vms[1]
        insns = sum(result.per_cpu.get(c.index, 0) for c in vm.vcpus)
        reason = vm.exit.reason if vm.exit else "?"
    else:
        insns, reason = result.instructions, result.reason
    tail = seen.decode("utf-8", "replace").strip().splitlines()[-3:]
    return {
        "kind": kind, "reason": reason, "wall_s": result.wall_s, "to_user_s": marker_at[0] if marker_at else float("nan"),
        "minsns": insns / 1e6, "mips": insns / result.wall_s / 1e6, "tail": " | ".join(tail),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kinds", nargs="*", default=["bare", "el2", "guest"])
    args = ap.parse_args()
    if artifacts() is None:
        sys.exit("no cached kernel: run `armboot linux fetch` first")
    print(f"{'case':6} {'end':10} {'to user space':>14} {'to power-off':>13} {'M insns':>9} {'MIPS':>7}")
    for kind in args.kinds:
        r = measure(kind)
        print(f"{r['kind']:6} {r['reason']:10} {r['to_user_s']:13.1f}s {r['wall_s']:12.1f}s {r['minsns']:9.0f} {r['mips']:7.1f}")
        print(f"       console tail: {r['tail']}")


if __name__ == "__main__":
    main()
