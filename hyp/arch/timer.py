"""The generic timer on virtual time.

Time is counted in guest instructions, so that a run is the same on every
machine and every repetition: the system counter is instructions scaled to
CNTFRQ at a nominal instruction rate.  ``--realtime`` swaps in the wall clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

NOMINAL_RATE = 1_000_000_000  # virtual instructions per second (1 per nanosecond)
MASK64 = (1 << 64) - 1


class Clock:
    """The system counter, shared by all CPUs of a machine."""

    def __init__(self, frequency: int, realtime: bool = False, rate: int = NOMINAL_RATE) -> None:
        self.frequency = frequency
        self.rate = rate
        self.realtime = realtime
        self.insns = 0  # virtual time, in instructions
        self._t0 = time.monotonic()

    def counter(self) -> int:
        if self.realtime:
            return int((time.monotonic() - self._t0) * self.frequency)
        return self.insns * self.frequency // self.rate

    def insns_until(self, count: int) -> int:
        """Instructions of virtual time until the counter reaches ``count`` (0 if already there)."""
        if self.realtime:
            return 0
        target = -(-count * self.rate // self.frequency)  # ceiling
        return max(0, target - self.insns)

    def advance_to_counter(self, count: int) -> None:
        self.insns += self.insns_until(count)

    def seconds(self) -> float:
        return self.insns / self.rate


CTL_ENABLE, CTL_IMASK, CTL_ISTATUS = 1, 2, 4


@dataclass
class TimerChannel:
    """One timer (EL1 physical, EL1 virtual, EL2 physical): CTL and CVAL."""

    name: str
    intid: int
    ctl: int = 0
    cval: int = 0
    offset_fn: object = None  # callable returning the counter offset (CNTVOFF) for virtual timers

    def now(self, clock: Clock) -> int:
        off = self.offset_fn() if callable(self.offset_fn) else 0
        return (clock.counter() - off) & MASK64

    def status(self, clock: Clock) -> bool:
        return bool(self.ctl & CTL_ENABLE) and self.now(clock) >= self.cval

    def asserted(self, clock: Clock) -> bool:
        """The interrupt output: enabled, condition met, not masked."""
        return self.status(clock) and not (self.ctl & CTL_IMASK)

    def read_ctl(self, clock: Clock) -> int:
        return (self.ctl & 3) | (CTL_ISTATUS if self.status(clock) else 0)

    def read_tval(self, clock: Clock) -> int:
        return (self.cval - self.now(clock)) & 0xFFFFFFFF

    def write_tval(self, clock: Clock, value: int) -> None:
        value &= 0xFFFFFFFF
        signed = value - (1 << 32) if value & 0x80000000 else value
        self.cval = (self.now(clock) + signed) & MASK64

    def deadline(self, clock: Clock) -> int | None:
        """The system-counter value at which this timer fires, if it will."""
        if not (self.ctl & CTL_ENABLE) or self.ctl & CTL_IMASK:
            return None
        off = self.offset_fn() if callable(self.offset_fn) else 0
        return (self.cval + off) & MASK64


@dataclass
class GenericTimer:
    """A CPU's timers; the machine connects ``intid``s to the interrupt controller."""

    phys: TimerChannel
    virt: TimerChannel
    hyp: TimerChannel
    kctl: int = 0
    channels: list[TimerChannel] = field(init=False)

    def __post_init__(self) -> None:
        self.channels = [self.phys, self.virt, self.hyp]

    def next_deadline(self, clock: Clock) -> int | None:
        deadlines = [d for c in self.channels if (d := c.deadline(clock)) is not None]
        return min(deadlines) if deadlines else None
