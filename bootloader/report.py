"""The JSON report of a boot: what entered where, what the console said, how it ended."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from armboot.hyp.arch.cpu import Cpu

    from .session import Boot


def cpu_state(cpu: Cpu) -> str:
    if cpu.on:
        return "waiting" if cpu.waiting else "running"
    if cpu.stop_reason is None:
        return "off"
    return "stopped"


def build_report(boot: Boot) -> dict:
    machine = boot.machine
    result = boot.result
    runtime = boot.runtime
    traps: dict[str, int] = {}
    for cpu in machine.cpus:
        for kind, n in cpu.traps.counts.items():
            traps[kind] = traps.get(kind, 0) + n
    exit_info: dict = {"reason": result.reason if result else "not_run"}
    if machine.power_reason:
        exit_info["by"] = machine.power_reason
    faults = [c for c in machine.cpus if c.stop_reason and c.stop_reason.startswith("fault")]
    if faults:
        exit_info["cpu"] = faults[0].index
        exit_info["detail"] = faults[0].stop_reason
    return {
        "board": boot.opts.board,
        "payload": {"file": boot.payload.name, "kind": boot.payload.kind, "entry": f"0x{boot.payload.entry:x}"},
        "dtb_address": f"0x{boot.dtb_address:x}",
        "initrd": [f"0x{a:x}" for a in boot.initrd] if boot.initrd else None,
        "entry_el": boot.entry_el,
        "hyp_available": boot.hyp_available,
        "cpus": [
            {
                "index": cpu.index,
                "mpidr": f"0x{cpu.mpidr:x}",
                "state": cpu_state(cpu),
                "instructions": (result.per_cpu.get(cpu.index, 0) if result else 0),
                **({"stop_reason": cpu.stop_reason} if cpu.stop_reason else {}),
            }
            for cpu in machine.cpus
        ],
        "console": machine.console.decode("utf-8", "replace"),
        "exit": exit_info,
        "traps": dict(sorted(traps.items())),
        "instructions": result.instructions if result else 0,
        "virtual_s": round(result.virtual_s, 6) if result else 0.0,
        "wall_s": round(result.wall_s, 3) if result else 0.0,
        "unknown_devices": machine.notes.unknown_devices,
        **({"notes": boot.notes} if boot.notes else {}),
        **({"hypervisor": boot.opts.hypervisor, "vms": runtime.report(result.per_cpu if result else {})} if runtime else {}),
    }


def write_report(boot: Boot, path: str) -> None:
    from armboot.dtc.outputs import write_atomic

    write_atomic(path, (json.dumps(build_report(boot), indent=2) + "\n").encode())
