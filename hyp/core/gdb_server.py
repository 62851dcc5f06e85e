"""``armboot boot --gdb PORT``: a GDB remote stub the scheduler serves between slices.

All-stop, like QEMU's ``-s -S``: every CPU is a thread (thread id = CPU index
+ 1); when one stops (a breakpoint, a step, Ctrl-C, GDB attaching) they all
stop, and the scheduler is held inside ``between_slices`` while GDB talks, so
virtual time does not move.  With no debugger attached the only cost is a
non-blocking poll of the listening socket, at most 50 times a second (wall time),
and nothing touches the CPUs: the run is the run without ``--gdb``.

A step runs one instruction of the chosen CPU at once (interrupts and time
held); a CPU waiting in WFI, or not yet started, cannot step on its own, so
the machine runs until that CPU executes something and stops before it.  A
breakpoint ends its CPU's slice early, charged in full like a WFI: a run whose
breakpoints were hit is another interleaving, reproducible in its turn.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from . import gdb_target as T
from .gdbstub import Connection, Event, escape, from_hex_le, hex_le, unescape

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from ..platform.board import Machine
    from .scheduler import Platform

PACKET_SIZE = 0x4000
POLL_S = 0.02  # how often a running machine looks at the socket (wall time)
# GDB's exit status for each way a run ends: the same numbers ``armboot boot`` exits with.
EXIT_STATUS = {"system_off": 0, "timeout": 4, "fault": 5, "system_reset": 6}


class GdbServer:
    """The debugger of one machine: a listening socket, at most one GDB, the stop state."""

    def __init__(self, machine: Machine, platform: Platform, port: int, wait: bool = False, host: str = "127.0.0.1") -> None:
        self.machine = machine
        self.platform = platform
        self.cpus = machine.cpus
        self.wait = wait
        self.listener = socket.create_server((host, port))
        self.port: int = self.listener.getsockname()[1]
        self.listener.setblocking(False)
        self.conn: Connection | None = None
        self.bp = T.Breakpoints(self.cpus, lambda pa, n: machine.region_at(pa, n) is not None)
        self.paused_s = 0.0  # wall time held by the debugger: not counted against --timeout
        self.stop = T.Stop(self.cpus[0])
        self.g_cpu = self.c_cpu = self.cpus[0]  # Hg (registers, memory) and Hc (legacy c/s) threads
        self._last_cpu = self.cpus[0]
        self._next_poll = 0.0
        self._killed = False
        self._early: list[Event] = []  # what arrived with the packet that resumed the run

    # The scheduler's side

    def between_slices(self, cpu: Cpu | None) -> str | None:
        """Called before the first slice (``cpu`` None) and after each; a reason ends the run (``killed``)."""
        if cpu is None:
            if not self.wait:
                return None
            t0 = time.monotonic()
            self._accept(block=True)
            self.paused_s += time.monotonic() - t0  # waiting for GDB is not running time either
            return self._halt(T.Stop(self.cpus[0]), announce=False)
        self._last_cpu = cpu
        stop = self.bp.take_hit()
        if stop is not None:
            return self._halt(stop, announce=True)
        now = time.monotonic()
        if now < self._next_poll:
            return None
        self._next_poll = now + POLL_S
        if self.conn is None:
            if self._accept(block=False):  # attaching stops the machine where it is, as QEMU does
                return self._halt(T.Stop(cpu), announce=False)
            return None
        events, self._early = self._early + self.conn.poll(), []
        if self.conn.closed:
            self._detach()
            return None
        if any(e.kind == "interrupt" for e in events):
            return self._halt(T.Stop(cpu, T.SIGINT), announce=True)
        return None

    def finish(self, reason: str) -> None:
        """The run is over: a fault is shown to GDB first (SIGSEGV, registers readable), then the exit status."""
        if self.conn is not None and not self._killed:
            if reason == "fault":
                faulted = next((c for c in self.cpus if (c.stop_reason or "").startswith("fault")), self._last_cpu)
                self._halt(T.Stop(faulted, T.SIGSEGV), announce=True, final=True)
            if self.conn is not None:
                self.conn.send(f"W{EXIT_STATUS.get(reason, 7):02x}")
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.listener.close()

    # Attaching and stopping

    def _accept(self, block: bool) -> bool:
        self.listener.setblocking(block)
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return False
        finally:
            self.listener.setblocking(False)
        sock.setblocking(True)
        self.conn = Connection(sock)
        return True

    def _detach(self) -> None:
        """GDB left (``D`` or a closed socket): breakpoints go, the run goes on as if it had never come."""
        self.bp.clear()
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _halt(self, stop: T.Stop, announce: bool, final: bool = False) -> str | None:
        """Serve GDB with every CPU stopped until it resumes, detaches or kills; the wall time is set aside."""
        t0 = time.monotonic()
        try:
            self._stopped(stop, announce)
            while self.conn is not None:
                events = self.conn.poll(None)
                if self.conn.closed:
                    self._detach()
                    return None
                for i, ev in enumerate(events):
                    if ev.kind != "packet":
                        continue  # Ctrl-C while stopped: nothing to interrupt
                    try:
                        action = self._command(ev.data, final)
                    except (ValueError, IndexError):  # a malformed packet: an error reply, never a dead run
                        if self.conn is not None:
                            self.conn.send("E01")
                        continue
                    if action is not None:
                        self._early = events[i + 1 :]  # e.g. a Ctrl-C right behind the continue
                        return action or None
            return None
        finally:
            self.paused_s += time.monotonic() - t0

    def _stopped(self, stop: T.Stop, announce: bool) -> None:
        self.stop = stop
        self.g_cpu = self.c_cpu = stop.cpu
        if announce and self.conn is not None:
            self.conn.send(self._stop_reply())

    def _stop_reply(self) -> str:
        s = self.stop
        reason = f"{s.reason};" if s.reason else ""
        return f"T{s.signal:02x}thread:{s.cpu.index + 1:x};{reason}"

    # Commands: each returns None (stay stopped), "" (resume the run) or a reason to end it

    def _command(self, pkt: bytes, final: bool) -> str | None:
        conn = self.conn
        assert conn is not None
        text = pkt.decode("latin-1")
        head = text[:1]
        if head in ("c", "s", "C", "S") or text.startswith("vCont;"):
            if final:
                return ""  # the run is over: nothing to resume, finish() sends the exit status
            return self._resume(text)
        if head == "k" or text.startswith("vKill"):
            if text.startswith("vKill"):
                conn.send("OK")
            self._killed = True
            self.close()
            return "killed"
        if head == "D":
            conn.send("OK")
            self._detach()
            return ""
        if text == "QStartNoAckMode":
            conn.send("OK")  # the last packet GDB acknowledges
            conn.no_ack = True
            return None
        reply = self._query(text, pkt)
        conn.send(reply)
        return None

    def _query(self, text: str, pkt: bytes) -> str:
        """Everything answered without running: registers, memory, breakpoints, threads, features."""
        head = text[:1]
        cpu = self.g_cpu
        if head == "?":
            return self._stop_reply()
        if head == "g":
            return "".join(hex_le(r.read(cpu) or 0, r.bits // 8) for r in T.G_PACKET)
        if head == "G":
            return self._write_all(cpu, text[1:])
        if head == "p":
            return self._read_reg(cpu, int(text[1:], 16))
        if head == "P":
            num, _, value = text[1:].partition("=")
            return self._write_reg(cpu, int(num, 16), from_hex_le(value))
        if head == "m":
            addr, length = (int(x, 16) for x in text[1:].split(","))
            data = T.read_memory(self.machine, cpu, addr, min(length, PACKET_SIZE // 2 - 8))
            return data.hex() if data or not length else "E14"
        if head in ("M", "X"):
            spec, _, data = pkt[1:].partition(b":")
            addr, length = (int(x, 16) for x in spec.decode().split(","))
            raw = bytes.fromhex(data.decode()) if head == "M" else unescape(data)
            ok = len(raw) == length and T.write_memory(self.machine, cpu, addr, raw)
            return "OK" if ok else "E14"
        if head in ("Z", "z"):
            return self._breakpoint(text)
        if head == "H":
            target = self._thread(text[2:])
            if target is not None:
                if text[1] == "g":
                    self.g_cpu = target
                else:
                    self.c_cpu = target
            return "OK" if target is not None else "E22"
        if head == "T":
            return "OK" if self._thread(text[1:]) is not None else "E22"
        if head == "q":
            return self._q(text)
        if text == "vCont?":
            return "vCont;c;C;s;S"
        return ""  # not supported: the empty reply, as the protocol prescribes

    def _q(self, text: str) -> str:
        if text.startswith("qSupported"):
            return f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+"
        if text.startswith("qXfer:features:read:"):
            annex, _, span = text[len("qXfer:features:read:") :].partition(":")
            if annex != "target.xml":
                return "E00"
            offset, length = (int(x, 16) for x in span.split(","))
            doc = T.target_xml()
            chunk = doc[offset : offset + length]
            return ("l" if offset + length >= len(doc) else "m") + escape(chunk).decode("latin-1")
        if text == "qfThreadInfo":
            return "m" + ",".join(f"{c.index + 1:x}" for c in self.cpus)
        if text == "qsThreadInfo":
            return "l"
        if text == "qC":
            return f"QC{self.g_cpu.index + 1:x}"
        if text.startswith("qAttached"):
            return "1"  # an existing machine: GDB detaches on quit, and the run goes on
        if text.startswith("qThreadExtraInfo,"):
            c = self._thread(text.split(",", 1)[1])
            return self._describe(c).encode().hex() if c is not None else "E22"
        if text.startswith("qSymbol"):
            return "OK"
        return ""

    def _describe(self, cpu: Cpu) -> str:
        if not cpu.on:
            state = "stopped: " + cpu.stop_reason if cpu.stop_reason else "off"
        else:
            state = ("WFI, " if cpu.waiting else "") + f"EL{cpu.el}"
        return f"CPU {cpu.index} MPIDR 0x{cpu.mpidr:x} [{state}]"

    # Registers

    def _read_reg(self, cpu: Cpu, num: int) -> str:
        if not 0 <= num < len(T.REGISTERS):
            return "E45"
        r = T.REGISTERS[num]
        value = r.read(cpu)
        return "xx" * (r.bits // 8) if value is None else hex_le(value, r.bits // 8)

    def _write_reg(self, cpu: Cpu, num: int, value: int) -> str:
        if not 0 <= num < len(T.REGISTERS):
            return "E45"
        r = T.REGISTERS[num]
        return "OK" if r.write is not None and r.write(cpu, value) else "E01"

    def _write_all(self, cpu: Cpu, data: str) -> str:
        pos, ok = 0, True
        for r in T.G_PACKET:
            width = r.bits // 4
            if pos + width > len(data):
                break
            field = data[pos : pos + width]
            pos += width
            if "x" in field or r.write is None:
                continue
            value = from_hex_le(field)
            if r.read(cpu) != value:  # GDB writes everything back: only what changed is applied
                ok = r.write(cpu, value) and ok
        return "OK" if ok else "E01"

    # Breakpoints, threads, running

    def _breakpoint(self, text: str) -> str:
        """``Z/z type,addr,kind``: kind is the breakpoint's size (4 on A64) or the watched length."""
        ztype, addr, kind = (int(x, 16) for x in text[1:].split(";")[0].split(",")[:3])
        if ztype > 4 or (ztype >= 2 and kind == 0):
            return ""  # not a type we know: the empty reply
        if text[0] == "Z":
            self.bp.insert(ztype, addr, kind)
        else:
            self.bp.remove(ztype, addr, kind)
        return "OK"

    def _thread(self, spec: str) -> Cpu | None:
        """A thread id: hex CPU index + 1, ``0`` (any: the stopped CPU), ``-1`` (all); ``pP.T`` taken too."""
        spec = spec.split(".")[-1] if spec.startswith("p") else spec
        if spec in ("0", "-1", ""):
            return self.stop.cpu
        try:
            index = int(spec, 16) - 1
        except ValueError:
            return None
        return self.cpus[index] if 0 <= index < len(self.cpus) else None

    def _resume(self, text: str) -> str | None:
        """``c``/``s`` (optionally at an address), ``C``/``S`` (signal ignored), ``vCont``: step one CPU or continue all."""
        step: Cpu | None = None
        if text.startswith("vCont;"):
            for action in text[6:].split(";"):
                verb, _, thread = action.partition(":")
                if verb[:1] in ("s", "S"):
                    step = self._thread(thread) if thread else self.c_cpu
                    if step is None:
                        assert self.conn is not None
                        self.conn.send("E22")
                        return None
                    break
        else:
            parts = text[1:].split(";")
            arg = parts[1] if text[0] in "CS" and len(parts) > 1 else text[1:] if text[0] in "cs" else ""
            target = self.c_cpu
            if arg:
                target.pc = int(arg, 16)
            if text[0] in "sS":
                step = target
        if step is None:
            return ""
        if step.on and not step.waiting:
            stop = self.bp.step(step)
            reason = self.platform.finished()
            if reason is not None:
                return reason  # the step powered the machine off: finish() tells GDB
            self._stopped(stop, announce=True)
            return None
        self.bp.watch_next(step)
        return ""
