"""The live console of a hypervisor run: each VM's lines with its name, and a summary table at the end."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

COLOURS = ("green", "cyan", "magenta", "yellow", "blue", "red", "bright_green", "bright_cyan")


class VmConsole:
    """Line-buffers each VM's output and prints complete lines prefixed with the VM's name."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.pending: dict[str, bytearray] = {}
        self.colours: dict[str, str] = {}

    def __call__(self, name: str, data: bytes) -> None:
        buf = self.pending.setdefault(name, bytearray())
        buf += data
        while (nl := buf.find(b"\n")) >= 0:
            self._line(name, bytes(buf[:nl]).rstrip(b"\r"))
            del buf[: nl + 1]

    def _line(self, name: str, raw: bytes) -> None:
        colour = self.colours.setdefault(name, COLOURS[len(self.colours) % len(COLOURS)])
        line = Text(f"{name:>8} │ ", style=colour)
        line.append(raw.decode("utf-8", "replace"))
        self.out.print(line, highlight=False, soft_wrap=True)

    def flush(self) -> None:
        for name, buf in self.pending.items():
            if buf:
                self._line(name, bytes(buf))
                buf.clear()


def summary(vms: list[dict]) -> Table:
    """One row per VM: how it ended and what it cost the hypervisor."""
    table = Table(title="VMs (exits by kind)", title_justify="left", show_edge=False, pad_edge=False, box=None)
    for col in ("VM", "id", "cpus", "exit", "hvc", "smc", "mmio", "wfi", "s2", "irq", "vIRQs", "insns"):
        table.add_column(col, justify="left" if col in ("VM", "exit") else "right", no_wrap=True)
    for vm in vms:
        exits = vm["exits"]
        reason = vm["exit"]["reason"]
        style = "green" if reason in ("system_off", "shutdown") else "red"
        table.add_row(
            vm["name"], str(vm["vmid"]), str(vm["cpus"]), Text(reason, style=style),
            *(str(exits.get(k, 0)) for k in ("hvc", "smc", "mmio", "wfi", "stage2_fault", "irq")),
            str(vm["injected_irqs"]), _short(vm["instructions"]),
        )  # fmt: skip
    return table


def _short(n: int) -> str:
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)
