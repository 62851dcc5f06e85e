"""The generic timer's system registers on a CPU (unicorn drops writes to them).

Counter reads come from the machine's virtual clock; CTL/CVAL/TVAL of the
physical and virtual EL1 timers are kept in the TimerChannel objects.
"""

from __future__ import annotations

from collections.abc import Callable

from .cpu import Cpu
from .sysregs import BY_NAME
from .timer import Clock, GenericTimer, TimerChannel


def install_timer(cpu: Cpu, timer: GenericTimer, clock: Clock, changed: Callable[[], None]) -> None:
    rd, wr = cpu.sysreg_read, cpu.sysreg_write

    def virt_offset() -> int:
        return cpu.el2.counter_offset() if cpu.el2 is not None else 0

    def physical_counter(c: Cpu) -> int | None:
        if c.el2 is not None and c.el2.el1_timer_trapped(physical_counter=True) and c.el < 2:
            return None  # declined: unicorn raises the trap to EL2 (CNTHCTL_EL2 is mirrored)
        return clock.counter()

    rd[BY_NAME["CNTFRQ_EL0"]] = lambda c: clock.frequency
    rd[BY_NAME["CNTPCT_EL0"]] = physical_counter
    rd[BY_NAME["CNTPCTSS_EL0"]] = physical_counter
    rd[BY_NAME["CNTVCT_EL0"]] = lambda c: (clock.counter() - virt_offset()) & (2**64 - 1)
    rd[BY_NAME["CNTVCTSS_EL0"]] = lambda c: (clock.counter() - virt_offset()) & (2**64 - 1)
    for prefix, channel in (("CNTP", timer.phys), ("CNTV", timer.virt)):
        _channel_regs(cpu, prefix, channel, clock, changed)
    wr[BY_NAME["CNTFRQ_EL0"]] = lambda c, v: None  # firmware's register; the tree decides


def _channel_regs(cpu: Cpu, prefix: str, ch: TimerChannel, clock: Clock, changed: Callable[[], None]) -> None:
    rd, wr = cpu.sysreg_read, cpu.sysreg_write
    physical = prefix == "CNTP"

    def trapped(c: Cpu) -> bool:
        return physical and c.el2 is not None and c.el < 2 and c.el2.el1_timer_trapped(physical_counter=False)

    def write_ctl(c: Cpu, value: int) -> bool:
        if trapped(c):
            return False
        ch.ctl = value & 3
        changed()
        return True

    def write_cval(c: Cpu, value: int) -> bool:
        if trapped(c):
            return False
        ch.cval = value
        changed()
        return True

    def write_tval(c: Cpu, value: int) -> bool:
        if trapped(c):
            return False
        ch.write_tval(clock, value)
        changed()
        return True

    rd[BY_NAME[f"{prefix}_CTL_EL0"]] = lambda c: None if trapped(c) else ch.read_ctl(clock)
    rd[BY_NAME[f"{prefix}_CVAL_EL0"]] = lambda c: None if trapped(c) else ch.cval
    rd[BY_NAME[f"{prefix}_TVAL_EL0"]] = lambda c: None if trapped(c) else ch.read_tval(clock)
    wr[BY_NAME[f"{prefix}_CTL_EL0"]] = write_ctl
    wr[BY_NAME[f"{prefix}_CVAL_EL0"]] = write_cval
    wr[BY_NAME[f"{prefix}_TVAL_EL0"]] = write_tval
