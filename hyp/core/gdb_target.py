"""What GDB sees of the machine: registers in GDB's AArch64 layout, memory by virtual address, breakpoints.

Registers follow GDB's own target description (org.gnu.gdb.aarch64.core and
.fpu: x0-x30, sp, pc, cpsr, v0-v31, fpsr, fpcr), so a stock
``gdb-multiarch`` lays out the ``g`` packet the same way; a few system
registers follow in a "system" group, read through ``p``.  ``cpsr`` is the
PSTATE the payload believes in: EL2 while it runs in armboot's virtual EL2
(unicorn itself is at EL1 then).

Memory addresses are virtual, translated by the selected CPU's current
stage-1 regime (physical when its MMU is off); only RAM answers, so that a
debugger's read never has a device's side effect.

Breakpoints are unicorn code hooks limited to their own address, watchpoints
memory hooks limited to their range: no Python call elsewhere.  While a
breakpoint is set, unicorn calls its hook helper for every instruction
(measured: about half speed in a tight loop); with none set there is no hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_WRITE, Uc
from unicorn import arm64_const as A

from ..arch import pstate as P
from ..arch.cpu import EL1_MMU
from ..arch.stage1 import Fault, Stage1Regs, cpu_reader, walk
from ..arch.sysregs import BY_NAME

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from ..platform.board import Machine

SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11
CORE, FPU, SYSTEM = "org.gnu.gdb.aarch64.core", "org.gnu.gdb.aarch64.fpu", "org.armboot.gdb.aarch64.sysregs"
PAGE = 4096  # the smallest translation granule: one walk per 4 KB piece is always right


@dataclass(frozen=True)
class Register:
    name: str
    bits: int
    feature: str
    read: Callable[[Cpu], int | None]  # None: unavailable (e.g. EL2 registers without an EL2)
    write: Callable[[Cpu, int], bool] | None = None
    type: str = "int"
    group: str | None = None


def _uc_reg(reg: int) -> tuple[Callable[[Cpu], int], Callable[[Cpu, int], bool]]:
    def read(cpu: Cpu) -> int:
        return cpu.uc.reg_read(reg)

    def write(cpu: Cpu, value: int) -> bool:
        cpu.uc.reg_write(reg, value)
        return True

    return read, write


def _x(n: int) -> Register:
    def write(cpu: Cpu, value: int) -> bool:
        cpu.set_x(n, value)
        return True

    return Register(f"x{n}", 64, CORE, lambda cpu: cpu.x(n), write)


def _in_el2(cpu: Cpu) -> bool:
    return cpu.el2 is not None and cpu.el2.active


def read_cpsr(cpu: Cpu) -> int:
    """PSTATE as the payload sees it: in the virtual EL2, M says EL2h/EL2t (unicorn runs it at EL1)."""
    hw = cpu.pstate & 0xFFFFFFFF
    if _in_el2(cpu):
        return (hw & ~P.M_MASK) | (P.EL2T if P.uses_sp_el0(hw & P.M_MASK) else P.EL2H)
    return hw


def write_cpsr(cpu: Cpu, value: int) -> bool:
    """Flags, masks and the rest may change; the mode may not (the SP banks and EL2 are the payload's to switch)."""
    if (value ^ read_cpsr(cpu)) & P.M_MASK:
        return False
    cpu.pstate = (value & ~P.M_MASK & 0xFFFFFFFF) | (cpu.pstate & P.M_MASK)
    return True


def _el1_sysreg(name: str) -> Callable[[Cpu], int]:
    def read(cpu: Cpu) -> int:
        if _in_el2(cpu) and BY_NAME[name] in EL1_MMU:  # the hardware registers serve EL2 meanwhile
            return cpu.el2.shadow_read(BY_NAME[name])  # type: ignore[union-attr]
        return cpu.sysreg(name)

    return read


def _el2_sysreg(name: str) -> Callable[[Cpu], int | None]:
    return lambda cpu: cpu.el2.get(name) if cpu.el2 is not None else None


def _registers() -> list[Register]:
    regs = [_x(n) for n in range(31)]
    regs.append(Register("sp", 64, CORE, *_uc_reg(A.UC_ARM64_REG_SP), type="data_ptr"))
    regs.append(Register("pc", 64, CORE, *_uc_reg(A.UC_ARM64_REG_PC), type="code_ptr"))
    regs.append(Register("cpsr", 32, CORE, read_cpsr, write_cpsr, type="cpsr_flags"))
    for n in range(32):
        regs.append(Register(f"v{n}", 128, FPU, *_uc_reg(A.UC_ARM64_REG_V0 + n), type="aarch64v", group="vector"))
    regs.append(Register("fpsr", 32, FPU, *_uc_reg(A.UC_ARM64_REG_FPSR), group="float"))
    regs.append(Register("fpcr", 32, FPU, *_uc_reg(A.UC_ARM64_REG_FPCR), group="float"))
    for name in ("SCTLR_EL1", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1", "VBAR_EL1",
                 "ELR_EL1", "SPSR_EL1", "ESR_EL1", "FAR_EL1", "SP_EL0"):  # fmt: skip
        regs.append(Register(name.lower(), 64, SYSTEM, _el1_sysreg(name), group="system"))
    for name in ("HCR_EL2", "SCTLR_EL2", "VBAR_EL2", "ELR_EL2", "SPSR_EL2", "ESR_EL2", "FAR_EL2"):
        regs.append(Register(name.lower(), 64, SYSTEM, _el2_sysreg(name), group="system"))
    return regs


REGISTERS = _registers()
G_PACKET = [r for r in REGISTERS if r.feature != SYSTEM]  # what ``g``/``G`` carry; the rest go by ``p``/``P``

_CPSR_FIELDS = [("SP", 0, 0), ("EL", 2, 3), ("nRW", 4, 4), ("F", 6, 6), ("I", 7, 7), ("A", 8, 8), ("D", 9, 9),
                ("IL", 20, 20), ("SS", 21, 21), ("PAN", 22, 22), ("V", 28, 28), ("C", 29, 29), ("Z", 30, 30),
                ("N", 31, 31)]  # fmt: skip
_VECTOR_TYPES = """  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v2u" type="uint64" count="2"/>
  <vector id="v2i" type="int64" count="2"/>
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v4u" type="uint32" count="4"/>
  <vector id="v4i" type="int32" count="4"/>
  <vector id="v8u" type="uint16" count="8"/>
  <vector id="v8i" type="int16" count="8"/>
  <vector id="v16u" type="uint8" count="16"/>
  <vector id="v16i" type="int8" count="16"/>
  <vector id="v1u" type="uint128" count="1"/>
  <vector id="v1i" type="int128" count="1"/>
  <union id="vnd"><field name="f" type="v2d"/><field name="u" type="v2u"/><field name="s" type="v2i"/></union>
  <union id="vns"><field name="f" type="v4f"/><field name="u" type="v4u"/><field name="s" type="v4i"/></union>
  <union id="vnh"><field name="u" type="v8u"/><field name="s" type="v8i"/></union>
  <union id="vnb"><field name="u" type="v16u"/><field name="s" type="v16i"/></union>
  <union id="vnq"><field name="u" type="v1u"/><field name="s" type="v1i"/></union>
  <union id="aarch64v"><field name="d" type="vnd"/><field name="s" type="vns"/><field name="h" type="vnh"/><field name="b" type="vnb"/><field name="q" type="vnq"/></union>
"""


def target_xml() -> bytes:
    """The target description GDB asks for with ``qXfer:features:read:target.xml``."""
    out = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', "<target>",
           "  <architecture>aarch64</architecture>"]  # fmt: skip
    for feature in (CORE, FPU, SYSTEM):
        out.append(f'  <feature name="{feature}">')
        if feature == CORE:
            out.append('  <flags id="cpsr_flags" size="4">')
            out += [f'    <field name="{n}" start="{s}" end="{e}"/>' for n, s, e in _CPSR_FIELDS]
            out.append("  </flags>")
        if feature == FPU:
            out.append(_VECTOR_TYPES.rstrip("\n"))
        for num, r in enumerate(REGISTERS):
            if r.feature == feature:
                group = f' group="{r.group}"' if r.group else ""
                out.append(f'  <reg name="{r.name}" bitsize="{r.bits}" type="{r.type}" regnum="{num}"{group}/>')
        out.append("  </feature>")
    out.append("</target>")
    return ("\n".join(out) + "\n").encode()


# Memory


def translate(cpu: Cpu, va: int) -> int | None:
    """The physical address of ``va`` in the CPU's current stage-1 regime (permissions aside: a debugger may write code)."""
    w = walk(Stage1Regs.of(cpu), va & ((1 << 64) - 1), cpu_reader(cpu))
    return None if isinstance(w, Fault) else w.pa


def _pieces(machine: Machine, cpu: Cpu, va: int, length: int) -> list[tuple[int, int]]:
    """(pa, length) pieces of RAM behind ``va``..``va+length``, stopping at the first hole."""
    out: list[tuple[int, int]] = []
    while length > 0:
        n = min(length, PAGE - (va & (PAGE - 1)))
        pa = translate(cpu, va)
        region = machine.region_at(pa) if pa is not None else None
        if pa is None or region is None:
            break
        n = min(n, region.base + region.size - pa)
        out.append((pa, n))
        va, length = va + n, length - n
    return out


def read_memory(machine: Machine, cpu: Cpu, va: int, length: int) -> bytes:
    """As many bytes as can be read from ``va`` on (GDB accepts a short read; empty means none)."""
    return b"".join(machine.read(pa, n) for pa, n in _pieces(machine, cpu, va, length))


def write_memory(machine: Machine, cpu: Cpu, va: int, data: bytes) -> bool:
    """All or nothing; every CPU drops its translated code, which may have been patched."""
    pieces = _pieces(machine, cpu, va, len(data))
    if sum(n for _, n in pieces) != len(data):
        return False
    offset = 0
    for pa, n in pieces:
        machine.write(pa, data[offset : offset + n])
        offset += n
    if data:
        for c in machine.cpus:
            c.uc.ctl_flush_tb()
    return True


# Breakpoints, watchpoints and stepping


@dataclass
class Stop:
    """Why the machine stopped, for the stop reply: the CPU, the signal, and e.g. ``swbreak:`` or ``watch:ADDR``."""

    cpu: Cpu
    signal: int = SIGTRAP
    reason: str = ""


WATCH_KINDS = {2: "watch", 3: "rwatch", 4: "awatch"}  # Z2 write, Z3 read, Z4 access
WIDEST_ACCESS = 64  # DC ZVA: a watch hook's range starts this far early, to see accesses that overlap it


class Breakpoints:
    """Z0/Z1 breakpoints as code hooks, Z2-Z4 watchpoints as memory hooks, on every CPU; the first hit stops the run.

    A watchpoint stops before the access, as the architecture's do: unicorn
    calls the hook before the access and, asked to stop, leaves the
    instruction unfinished with PC on it; the bytes a store already wrote are
    put back, so the instruction runs again, whole, when GDB steps over it.
    Only RAM is watched: a device's access could not be taken back.
    """

    def __init__(self, cpus: list[Cpu], is_ram: Callable[[int, int], bool]) -> None:
        self.cpus = cpus
        self.is_ram = is_ram
        self.kinds: dict[int, set[int]] = {}  # address -> Z types (0 software, 1 hardware) set there
        self._hooks: dict[tuple[int, int, int], list[tuple[Cpu, int]]] = {}  # (type, address, length) -> hooks
        self._next: list[tuple[Cpu, int]] = []
        self.hit: Stop | None = None
        self._undo: tuple[Cpu, int, int, bytes] | None = None  # (cpu, pc, pa, old bytes) of a watched store
        self.skip: tuple[int, int] | None = None  # (cpu, address) let through once: stepping off a breakpoint

    def insert(self, ztype: int, address: int, length: int) -> None:
        if ztype in (0, 1):
            self.kinds.setdefault(address, set()).add(ztype)
            key = (0, address, 0)  # software and hardware breakpoints share one hook
        else:
            key = (ztype, address, length)
        if key in self._hooks:
            return
        hooks = []
        for cpu in self.cpus:
            if ztype in (0, 1):
                hooks.append((cpu, cpu.uc.hook_add(UC_HOOK_CODE, self._on_code, cpu, address, address)))
                continue
            types = {2: UC_HOOK_MEM_WRITE, 3: UC_HOOK_MEM_READ, 4: UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}[ztype]
            low = max(0, address - WIDEST_ACCESS + 1)
            hooks.append((cpu, cpu.uc.hook_add(types, self._on_memory, (cpu, ztype, address, length), low,
                                               address + length - 1)))  # fmt: skip
        self._hooks[key] = hooks
        self._flush()

    def remove(self, ztype: int, address: int, length: int) -> None:
        if ztype in (0, 1):
            kinds = self.kinds.get(address, set())
            kinds.discard(ztype)
            if kinds:
                return
            self.kinds.pop(address, None)
            key = (0, address, 0)
        else:
            key = (ztype, address, length)
        for cpu, hook in self._hooks.pop(key, []):
            cpu.uc.hook_del(hook)
        self._flush()

    def clear(self) -> None:
        for cpu, hook in (h for hooks in self._hooks.values() for h in hooks):
            cpu.uc.hook_del(hook)
        self._hooks.clear()
        self.kinds.clear()
        self._flush()
        self.end_watch()
        self.hit = self._undo = None

    def _flush(self) -> None:
        """Hooks change which code calls back: translated blocks are dropped to take them in."""
        for cpu in self.cpus:
            cpu.uc.ctl_flush_tb()

    def _on_code(self, uc: Uc, address: int, size: int, cpu: Cpu) -> None:
        if self.skip == (cpu.index, address):
            self.skip = None
            return
        if self.hit is None:
            kinds = self.kinds.get(address, set())
            self.hit = Stop(cpu, SIGTRAP, "swbreak:" if 0 in kinds else "hwbreak:")
        cpu.request_exit()  # stops before the instruction executes; the slice is charged in full, like a WFI

    def _on_memory(self, uc: Uc, access: int, address: int, size: int, value: int, ud: tuple) -> None:
        cpu, ztype, start, length = ud
        if self.hit is not None or address + size <= start or address >= start + length:
            return  # the hook's range starts early: this access does not overlap the watched bytes
        pa = translate(cpu, address)
        if pa is None or not self.is_ram(pa, size):
            return  # a device access cannot be undone and re-run without a second side effect: RAM only
        if access == UC_MEM_WRITE:
            self._undo = (cpu, cpu.pc, pa, bytes(uc.mem_read(pa, size)))
        self.hit = Stop(cpu, SIGTRAP, f"{WATCH_KINDS[ztype]}:{max(address, start):x}")
        cpu.request_exit()

    def take_hit(self) -> Stop | None:
        """The stop a slice ended with, if any, with a watched store's bytes put back (the store re-runs)."""
        stop, self.hit = self.hit, None
        if stop is None:
            return None
        if self._undo is not None:
            cpu, pc, pa, old = self._undo
            self._undo = None
            if cpu.pc == pc:  # the instruction was left unfinished, as expected
                cpu.uc.mem_write(pa, old)
        self.end_watch()
        return stop

    def step(self, cpu: Cpu) -> Stop:
        """One instruction of a running CPU, now, with virtual time and interrupts held (QEMU's default too).

        A breakpoint where it starts is stepped over; a watchpoint it touches stops it before the access."""
        self.skip = (cpu.index, cpu.pc)
        try:
            cpu.run(1)
            el2 = cpu.el2
            if self.hit is None and cpu.on and el2 is not None and el2.active and cpu.pc == el2.trampoline:
                cpu.run(1)  # an ERET in EL2 lands on armboot's trampoline: its BRK finishes that ERET
        finally:
            self.skip = None
        stop = self.take_hit()
        return stop if stop is not None and stop.reason.startswith(tuple(WATCH_KINDS.values())) else Stop(cpu)

    def watch_next(self, cpu: Cpu) -> None:
        """Stop before the next instruction this CPU runs (it waits in WFI or is off: the others run meanwhile)."""
        self._next.append((cpu, cpu.uc.hook_add(UC_HOOK_CODE, self._on_next, cpu, 1, 0)))
        cpu.uc.ctl_flush_tb()

    def _on_next(self, uc: Uc, address: int, size: int, cpu: Cpu) -> None:
        if self.hit is None:
            self.hit = Stop(cpu, SIGTRAP)
        cpu.request_exit()

    def end_watch(self) -> None:
        for cpu, hook in self._next:
            cpu.uc.hook_del(hook)
            cpu.uc.ctl_flush_tb()
        self._next = []
