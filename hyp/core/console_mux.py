"""Typed console input shared by the VMs, as Xen's serial console shares it.

One physical console, several VMs with a console that can receive: input goes
to one of them at a time (the host first) and Ctrl-a typed three times in a
row moves it to the next running one.  Those three Ctrl-a are eaten; fewer
than three followed by another key reach the VM, so a shell's own Ctrl-a
still works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SWITCH_CHAR = 0x01  # Ctrl-a
SWITCH_COUNT = 3


@dataclass
class InputTarget:
    name: str
    feed: Callable[[bytes], None]
    running: Callable[[], bool]


class ConsoleMux:
    """Routes typed bytes to the focused target; ``notice`` hears where input goes after each switch."""

    def __init__(self, notice: Callable[[str], None] | None = None) -> None:
        self.targets: list[InputTarget] = []
        self.focus = 0
        self.notice = notice
        self._switches = 0  # Ctrl-a seen in a row, not yet passed on

    def add(self, name: str, feed: Callable[[bytes], None], running: Callable[[], bool]) -> None:
        self.targets.append(InputTarget(name, feed, running))

    @property
    def focused(self) -> InputTarget | None:
        self._keep_focus_running()
        return self.targets[self.focus] if self.targets else None

    def announce(self) -> None:
        """Say where input goes, when there is a choice to make."""
        target = self.focused
        if target is not None and len(self.targets) > 1 and self.notice is not None:
            self.notice(f"console input goes to {target.name} (type Ctrl-a three times to switch)")

    def route(self, data: bytes) -> None:
        out = bytearray()
        for byte in data:
            if byte == SWITCH_CHAR:
                self._switches += 1
                if self._switches == SWITCH_COUNT:
                    self._switches = 0
                    self._deliver(bytes(out))
                    out.clear()
                    self.switch()
                continue
            out += bytes([SWITCH_CHAR]) * self._switches
            self._switches = 0
            out.append(byte)
        self._deliver(bytes(out))

    def switch(self) -> None:
        """Move input to the next running target (wrapping around)."""
        for step in range(1, len(self.targets) + 1):
            candidate = (self.focus + step) % len(self.targets)
            if self.targets[candidate].running():
                self.focus = candidate
                break
        self.announce()

    def _deliver(self, data: bytes) -> None:
        target = self.focused
        if data and target is not None and target.running():
            target.feed(data)

    def _keep_focus_running(self) -> None:
        """A target that stopped gives the input back to the next one still running."""
        if self.targets and not self.targets[self.focus].running():
            for step in range(1, len(self.targets)):
                candidate = (self.focus + step) % len(self.targets)
                if self.targets[candidate].running():
                    self.focus = candidate
                    self.announce()
                    return
