"""Running CPUs round-robin on virtual time.

Every runnable CPU runs one slice of a fixed number of instructions per
round; virtual time advances by one slice per round (the CPUs run "in
parallel"), and when every CPU waits in WFI time jumps to the next timer
deadline.  Pending interrupts are taken at slice boundaries, so a run is a
function of its inputs only: the same console text every time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from ..arch.cpu import Cpu
from ..arch.timer import Clock

DEFAULT_SLICE = 20_000


class Platform(Protocol):
    """What the scheduler drives: the bare machine, or the hypervisor's VMs."""

    clock: Clock

    @property
    def runnable(self) -> list[Cpu]: ...

    def irq_pending(self, cpu: Cpu) -> bool: ...

    def deliver_irq(self, cpu: Cpu) -> None: ...

    def update_timers(self) -> None: ...

    def next_deadline(self) -> int | None: ...

    def finished(self) -> str | None: ...


class Debugger(Protocol):
    """A debugger served between slices (``armboot boot --gdb``); it may hold the run while it is stopped."""

    paused_s: float  # wall time held: not counted against ``Limits.timeout_s``

    def between_slices(self, cpu: Cpu | None) -> str | None:
        """Before the first slice (``cpu`` None) and after each; a reason (e.g. ``killed``) ends the run."""
        ...


@dataclass
class Limits:
    slice_insns: int = DEFAULT_SLICE
    max_insns: int | None = None  # deterministic limit, in instructions (all CPUs)
    timeout_s: float | None = None  # wall-clock safety net


@dataclass
class RunResult:
    reason: str
    instructions: int
    wall_s: float
    per_cpu: dict[int, int] = field(default_factory=dict)
    virtual_s: float = 0.0


def run(platform: Platform, limits: Limits, debugger: Debugger | None = None) -> RunResult:
    clock = platform.clock
    slice_insns = limits.slice_insns
    per_cpu: dict[int, int] = {}
    total = 0
    t0 = time.monotonic()
    after_slice = getattr(platform, "after_slice", None)  # a hypervisor counts how each slice ended
    slice_for = getattr(platform, "slice_for", None)  # ... and shortens the slices of vCPUs spinning in WFE
    poll_input, wait_input = getattr(platform, "poll_input", None), getattr(platform, "wait_input", None)
    reason = debugger.between_slices(None) if debugger is not None else None
    while reason is None:
        ran = False
        for cpu in platform.runnable:
            pending = platform.irq_pending(cpu)
            if cpu.waiting:
                if not pending:
                    continue
                cpu.waiting = False
            if pending:
                platform.deliver_irq(cpu)
            budget = slice_for(cpu) if slice_for is not None else slice_insns
            cpu.run(budget)
            if after_slice is not None:
                after_slice(cpu, not cpu.waiting and cpu.on)
            per_cpu[cpu.index] = per_cpu.get(cpu.index, 0) + budget
            total += budget
            ran = True
            reason = platform.finished()
            if reason is None and debugger is not None:
                reason = debugger.between_slices(cpu)
            if reason is not None:
                break
        if reason is not None:
            break
        if ran:
            clock.insns += slice_insns
        else:
            if not platform.runnable:
                reason = "all_cpus_off"
                break
            deadline = platform.next_deadline()
            if deadline is None:
                if wait_input is not None and wait_input():
                    continue  # typed input woke the console UART
                reason = "idle"  # every CPU waits and nothing will wake them
                break
            clock.advance_to_counter(deadline)
        platform.update_timers()
        if poll_input is not None:
            poll_input()
        reason = platform.finished()
        if reason is None and limits.max_insns is not None and total >= limits.max_insns:
            reason = "timeout"
        if reason is None and limits.timeout_s is not None:
            held = debugger.paused_s if debugger is not None else 0.0
            if time.monotonic() - t0 - held > limits.timeout_s:
                reason = "timeout"
    return RunResult(reason, total, time.monotonic() - t0, per_cpu, clock.seconds())
