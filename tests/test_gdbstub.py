"""``armboot boot --gdb``: the remote protocol's packet layer, what GDB sees of the machine, whole sessions.

Packet bytes are checked against the GDB manual ("Remote Protocol": checksums,
binary escapes, run-length encoding, acknowledgments); register layout against
GDB's aarch64 target description; values against the architecture and the
boot protocol (x0 = the DTB's address, PC = the entry point, PSTATE.EL of the
entry level, 4-byte A64 instructions) and the payloads' own bytes.  Sessions
boot small payloads (hand-assembled below, or the committed SMP test payload)
under ``armboot boot --gdb 0`` and talk to the stub over a raw socket and, when
one is installed, through a real GDB in batch mode.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from armboot.bootloader.session import BootOptions, prepare
from armboot.hyp.arch import pstate as P
from armboot.hyp.core import gdb_target as T
from armboot.hyp.core.gdbstub import (
    Connection,
    PacketReader,
    checksum,
    escape,
    frame,
    rle_decode,
    rle_encode,
    unescape,
)
from elftools.elf.elffile import ELFFile
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
VIRT = ROOT / "boards" / "virt.dts"
SMP4 = ROOT / "tests" / "payloads" / "virt-smp4.dts"
SMP_ELF = ROOT / "tests" / "payloads" / "smp.elf"
LOAD = 0x4008_0000
FDT_MAGIC = 0xD00DFEED

# The payloads, assembled by hand (aarch64-linux-gnu-as gives the same words: test_payload_words).
CHECK = [  # prints one dot per loop, then G if x21 == x22 (X if a debugger made them differ), powers off
    ("_start", 0xD2800073, "mov x19, #3"),
    ("", 0xD2A12014, "movz x20, #0x900, lsl #16"),  # PL011 data register
    ("", 0xD2824695, "movz x21, #0x1234"),
    ("", 0xAA1503F6, "mov x22, x21"),
    ("dots", 0x528005C0, "mov w0, #'.'"),
    ("", 0xB9000280, "str w0, [x20]"),
    ("", 0xF1000673, "subs x19, x19, #1"),
    ("", 0x54FFFFA1, "b.ne dots"),
    ("check", 0xEB1602BF, "cmp x21, x22"),
    ("", 0x54000060, "b.eq good"),
    ("", 0x52800B00, "mov w0, #'X'"),
    ("", 0x14000002, "b out"),
    ("good", 0x528008E0, "mov w0, #'G'"),
    ("out", 0xB9000280, "str w0, [x20]"),
    ("", 0x52800140, "mov w0, #'\\n'"),
    ("", 0xB9000280, "str w0, [x20]"),
    ("", 0xD2B08000, "movz x0, #0x8400, lsl #16"),
    ("", 0xF2800100, "movk x0, #0x8"),  # PSCI SYSTEM_OFF
    ("", 0xD4000003, "smc #0"),
    ("", 0x14000000, "b ."),
]
SPIN = [  # waits for a debugger to set its flag, then prints F and powers off
    ("_start", 0x10000141, "adr x1, flag"),
    ("", 0xD2A12014, "movz x20, #0x900, lsl #16"),
    ("spin", 0xF9400020, "ldr x0, [x1]"),
    ("", 0xB4FFFFE0, "cbz x0, spin"),
    ("", 0x528008C0, "mov w0, #'F'"),
    ("", 0xB9000280, "str w0, [x20]"),
    ("", 0xD2B08000, "movz x0, #0x8400, lsl #16"),
    ("", 0xF2800100, "movk x0, #0x8"),
    ("", 0xD4000003, "smc #0"),
    ("", 0x14000000, "b ."),
    ("flag", 0, ".quad 0"),
    ("", 0, ""),
]
STORES = [  # stores 1, 2, 3 into array[0..2] (post-index), prints '0' + array[1], powers off
    ("_start", 0x10000201, "adr x1, array"),
    ("", 0xD2800002, "mov x2, #0"),
    ("loop", 0x91000442, "add x2, x2, #1"),
    ("store", 0xF8008422, "str x2, [x1], #8"),
    ("", 0xF1000C5F, "cmp x2, #3"),
    ("", 0x54FFFFA1, "b.ne loop"),
    ("", 0xD2A12014, "movz x20, #0x900, lsl #16"),
    ("", 0x10000123, "adr x3, array"),
    ("load", 0xF9400460, "ldr x0, [x3, #8]"),
    ("", 0x1100C000, "add w0, w0, #'0'"),
    ("", 0xB9000280, "str w0, [x20]"),
    ("", 0xD2B08000, "movz x0, #0x8400, lsl #16"),
    ("", 0xF2800100, "movk x0, #0x8"),
    ("", 0xD4000003, "smc #0"),
    ("", 0x14000000, "b ."),
    ("", 0xD503201F, "nop"),
    ("array", 0, ".quad 0"),
    ("", 0, ""),
    *[("", 0, ".quad 0"), ("", 0, "")] * 2,
]
FAULT = [  # a load from an address with nothing behind it, and no vectors to take the abort
    ("_start", 0xD2A40001, "movz x1, #0x2000, lsl #16"),
    ("", 0xF9400020, "ldr x0, [x1]"),
    ("", 0x14000000, "b ."),
]


def blob(words: list[tuple[str, int, str]]) -> bytes:
    return b"".join(w.to_bytes(4, "little") for _, w, _ in words)


def label(words: list[tuple[str, int, str]], name: str) -> int:
    return LOAD + 4 * next(i for i, (lab, _, _) in enumerate(words) if lab == name)


@pytest.fixture
def payload(tmp_path: Path):
    def make(words: list[tuple[str, int, str]]) -> Path:
        path = tmp_path / f"payload{len(list(tmp_path.iterdir()))}.bin"
        path.write_bytes(blob(words))
        return path

    return make


@pytest.mark.skipif(not (shutil.which("aarch64-linux-gnu-as") and shutil.which("aarch64-linux-gnu-ld")),
                    reason="no AArch64 cross binutils (apt-get install binutils-aarch64-linux-gnu)")  # fmt: skip
@pytest.mark.parametrize("words", [CHECK, SPIN, STORES, FAULT], ids=["check", "spin", "stores", "fault"])
def test_payload_words(words: list[tuple[str, int, str]], tmp_path: Path) -> None:
    """The hand-assembled words are what the assembler makes of the instructions beside them."""
    source = "".join((f"{lab}:\n" if lab else "") + (f"\t{asm}\n" if asm else "") for lab, _, asm in words)
    (tmp_path / "p.S").write_text("\t.text\n\t.globl _start\n" + source)
    subprocess.run(["aarch64-linux-gnu-as", "-o", tmp_path / "p.o", tmp_path / "p.S"], check=True)
    subprocess.run(["aarch64-linux-gnu-ld", f"-Ttext={LOAD:#x}", "-e", "_start", "--build-id=none",
                    "-o", tmp_path / "p.elf", tmp_path / "p.o"], check=True)  # fmt: skip
    with open(tmp_path / "p.elf", "rb") as f:
        assert ELFFile(f).get_section_by_name(".text").data() == blob(words)


# The packet layer


def test_frame_and_checksum() -> None:
    assert checksum(b"OK") == 0x9A and frame(b"OK") == b"$OK#9a"
    assert frame(b"") == b"$#00"
    assert frame(b"g") == b"$g#67"
    assert frame(b"qSupported") == b"$qSupported#37"


def test_binary_escapes() -> None:
    assert escape(b"#$}*") == b"}\x03}\x04}]}\x0a"
    every = bytes(range(256))
    escaped = escape(every)
    assert not set(escaped) & set(b"#$*") and unescape(escaped) == every
    with pytest.raises(ValueError):
        unescape(b"ab}")


def test_run_length_encoding() -> None:
    assert rle_decode(b"0* ") == b"0000"  # the manual's example: ' ' is 3 repeats
    assert rle_encode(b"0000") == b"0* "
    assert rle_encode(b"000") == b"000"  # too short to pay
    for n in (7, 8):  # 6 and 7 repeats would be '#' and '$'
        enc = rle_encode(b"a" * n)
        assert b"#" not in enc and b"$" not in enc and rle_decode(enc) == b"a" * n
    assert rle_decode(rle_encode(b"0" * 300)) == b"0" * 300


@given(st.text(alphabet="0123456789abcdefxOKE;:,", max_size=400))
def test_run_length_round_trip(text: str) -> None:
    data = text.encode()
    enc = rle_encode(data)
    assert rle_decode(enc) == data and len(enc) <= len(data)
    assert checksum(enc) == sum(enc) % 256 and b"#" not in enc and b"$" not in enc


def test_reader_reassembles_packets_and_sees_interrupts() -> None:
    r = PacketReader()
    stream = b"+$qSupported#37-\x03$m0,4#fd$g#00junk$X0,1:}]#"
    got = [r.feed(bytes([b])) for b in stream[: len(stream) - 1]]
    events = [e for batch in got for e in batch]
    events += r.feed(stream[-1:] + b"%02x" % checksum(b"X0,1:}]"))
    kinds = [(e.kind, e.data) for e in events]
    assert kinds == [
        ("ack", b""),
        ("packet", b"qSupported"),
        ("nak", b""),
        ("interrupt", b""),
        ("packet", b"m0,4"),
        ("bad", b"g"),
        ("packet", b"X0,1:}]"),
    ]
    assert unescape(events[-1].data.split(b":", 1)[1]) == b"}"


def test_connection_acks_retransmits_and_no_ack_mode() -> None:
    a, b = socket.socketpair()
    try:
        conn = Connection(a)
        conn.send("OK")
        assert b.recv(100) == b"$OK#9a"
        b.sendall(b"-")
        assert conn.poll(1.0) == [] and b.recv(100) == b"$OK#9a"  # a NAK: the same packet again
        b.sendall(b"$g#67$g#00")
        events = conn.poll(1.0)
        assert [e.data for e in events] == [b"g"] and b.recv(100) == b"+-"  # good one acked, bad one NAKed
        conn.no_ack = True
        b.sendall(b"$?#3f\x03")
        assert [e.kind for e in conn.poll(1.0)] == ["packet", "interrupt"]
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(100)  # nothing acknowledged in no-ack mode
        b.close()
        assert conn.poll(1.0) == [] and conn.closed
    finally:
        a.close()



# What GDB sees of the machine


def test_target_description_is_gdbs_aarch64_layout() -> None:
    root = ET.fromstring(T.target_xml())
    assert root.findtext("architecture") == "aarch64"
    regs = {f.get("name"): [(r.get("name"), int(r.get("regnum")), int(r.get("bitsize"))) for r in f.iter("reg")]
            for f in root.iter("feature")}  # fmt: skip
    core = [(f"x{n}", n, 64) for n in range(31)] + [("sp", 31, 64), ("pc", 32, 64), ("cpsr", 33, 32)]
    fpu = [(f"v{n}", 34 + n, 128) for n in range(32)] + [("fpsr", 66, 32), ("fpcr", 67, 32)]
    assert regs["org.gnu.gdb.aarch64.core"] == core
    assert regs["org.gnu.gdb.aarch64.fpu"] == fpu
    assert sum(r.bits for r in T.G_PACKET) // 8 == 31 * 8 + 8 + 8 + 4 + 32 * 16 + 4 + 4


def test_cpsr_is_the_payloads_view_of_el2(payload) -> None:
    boot = prepare(BootOptions(board=str(VIRT), kernel=str(payload(CHECK)), load_addr=LOAD, console=lambda _: None))
    cpu = boot.machine.cpus[0]
    assert cpu.pstate & P.M_MASK == P.EL1H  # unicorn runs the virtual EL2 at EL1
    cpsr = T.read_cpsr(cpu)
    assert cpsr & P.M_MASK == P.EL2H and cpsr & P.DAIF == P.DAIF  # the boot protocol: EL2h, DAIF masked
    assert T.write_cpsr(cpu, cpsr | P.N) and T.read_cpsr(cpu) == cpsr | P.N
    assert not T.write_cpsr(cpu, (cpsr & ~P.M_MASK) | P.EL1H)  # the mode is the payload's to switch


def test_memory_is_read_through_the_stage1_tables(payload) -> None:
    """A 4 KB-granule, 39-bit VA map built here (Arm ARM D8.3 descriptor formats): VA 0x12345000 -> the payload."""
    boot = prepare(BootOptions(board=str(VIRT), kernel=str(payload(CHECK)), load_addr=LOAD, hyp=False,
                               console=lambda _: None))  # fmt: skip
    machine, cpu = boot.machine, boot.machine.cpus[0]
    l1, l2, l3 = 0x4020_0000, 0x4020_1000, 0x4020_2000
    va = 0x1234_5000
    af, table, page = 1 << 10, 0b11, 0b11
    machine.write(l1 + 8 * ((va >> 30) & 0x1FF), (l2 | table).to_bytes(8, "little"))
    machine.write(l2 + 8 * ((va >> 21) & 0x1FF), (l3 | table).to_bytes(8, "little"))
    machine.write(l3 + 8 * ((va >> 12) & 0x1FF), (LOAD | af | 1 << 2 | page).to_bytes(8, "little"))
    cpu.set_sysreg("MAIR_EL1", 0xFF00)
    cpu.set_sysreg("TCR_EL1", 25 | 1 << 23 | 2 << 32)  # T0SZ 25, TG0 4 KB, EPD1, IPS 40 bits
    cpu.set_sysreg("TTBR0_EL1", l1)
    assert T.read_memory(machine, cpu, LOAD, 8) == blob(CHECK)[:8]  # MMU off: VA = PA
    assert T.read_memory(machine, cpu, va, 8) == b""  # nothing at that PA
    cpu.set_sysreg("SCTLR_EL1", cpu.sysreg("SCTLR_EL1") | 1)
    assert T.read_memory(machine, cpu, va + 8, 16) == blob(CHECK)[8:24]
    assert T.read_memory(machine, cpu, va + 0xFF8, 16) == machine.read(LOAD + 0xFF8, 8)  # next VA page unmapped
    assert T.read_memory(machine, cpu, LOAD, 8) == b""  # identity no longer mapped
    assert T.write_memory(machine, cpu, va + 4, b"\x01\x02\x03\x04")
    assert machine.read(LOAD + 4, 4) == b"\x01\x02\x03\x04"
    assert not T.write_memory(machine, cpu, va + 0xFFE, b"abcd")  # all or nothing
    assert machine.read(LOAD + 0xFFE, 2) == b"\0\0"


# Sessions over a raw socket


class Client:
    """A minimal GDB: frames, checks and acknowledges packets as GDB's remote.c does (its own parser)."""

    PACKET = re.compile(rb"\$([^#$]*)#([0-9a-f]{2})")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""
        self.no_ack = False

    def send(self, payload: str | bytes) -> None:
        data = payload.encode("latin-1") if isinstance(payload, str) else payload
        self.sock.sendall(b"$%s#%02x" % (data, sum(data) % 256))

    def recv(self) -> str:
        while True:
            m = self.PACKET.search(self.buf)
            if m:
                body, cks = m.group(1), int(m.group(2), 16)
                assert sum(body) % 256 == cks, self.buf
                assert self.buf[: m.start()].strip(b"+") == b"", self.buf  # only acks before a packet
                self.buf = self.buf[m.end() :]
                if not self.no_ack:
                    self.sock.sendall(b"+")
                return re.sub(rb"(.)\*(.)", lambda r: r[1] * (r[2][0] - 29 + 1), body).decode("latin-1")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk

    def ask(self, payload: str | bytes) -> str:
        self.send(payload)
        return self.recv()

    def reg(self, num: int) -> int:
        return int.from_bytes(bytes.fromhex(self.ask(f"p{num:x}")), "little")

    def close(self) -> None:
        self.sock.close()


class Armboot:
    """``armboot boot ... --gdb 0``: the port comes from its stderr."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "armboot.cli", "boot", "--timeout", "30", *args, "--gdb", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stderr.readline()  # type: ignore[union-attr]
        m = re.search(r"localhost:(\d+)", line)
        assert m, line + self.proc.stderr.read()  # type: ignore[union-attr]
        self.port = int(m.group(1))

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


def stop_fields(reply: str) -> dict[str, str]:
    assert reply[0] == "T", reply
    fields = dict(f.split(":", 1) for f in reply[3:].split(";") if f)
    return {"signal": reply[1:3], **fields}


def test_raw_session_breakpoint_step_registers_memory(payload) -> None:
    run = Armboot(str(VIRT), "--kernel", str(payload(CHECK)), "--load-addr", hex(LOAD), "--gdb-wait")
    gdb = Client(run.port)
    features = gdb.ask("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")
    assert "PacketSize=" in features and "qXfer:features:read+" in features and "swbreak+" in features
    assert gdb.ask("vMustReplyEmpty") == ""  # unknown packets: the empty reply
    assert gdb.ask("QStartNoAckMode") == "OK"
    gdb.no_ack = True
    xml, offset = "", 0
    while True:  # qXfer in small pieces: 'm' more to come, 'l' the last
        piece = gdb.ask(f"qXfer:features:read:target.xml:{offset:x},40")
        xml += piece[1:]
        offset += len(piece) - 1
        if piece[0] == "l":
            break
        assert piece[0] == "m"
    assert xml.encode() == T.target_xml()
    assert gdb.ask("?") == "T05thread:1;"  # stopped before the first instruction, on the boot CPU
    assert gdb.ask("qfThreadInfo") == "m1,2" and gdb.ask("qsThreadInfo") == "l"
    assert gdb.ask("qAttached") == "1" and gdb.ask("qC") == "QC1"
    assert "[off]" in bytes.fromhex(gdb.ask("qThreadExtraInfo,2")).decode()
    regs = bytes.fromhex(gdb.ask("g"))
    assert len(regs) == sum(r.bits for r in T.G_PACKET) // 8
    x0, pc = int.from_bytes(regs[0:8], "little"), int.from_bytes(regs[256:264], "little")
    cpsr = int.from_bytes(regs[264:268], "little")
    assert pc == LOAD and cpsr & P.M_MASK == P.EL2H and all(b == 0 for b in regs[8:8 * 31])
    assert int.from_bytes(bytes.fromhex(gdb.ask(f"m{x0:x},4")), "big") == FDT_MAGIC  # x0 = the DTB (boot protocol)
    assert bytes.fromhex(gdb.ask(f"m{LOAD:x},{len(blob(CHECK)):x}")) == blob(CHECK)
    assert gdb.ask("m0,4") == "E14"  # no RAM there on virt
    assert gdb.ask("mzz,4") == "E01" and gdb.ask("p") == "E01"  # malformed: an error, and the stub lives on

    check, out = label(CHECK, "check"), label(CHECK, "out")
    assert gdb.ask(f"Z0,{check:x},4") == "OK"
    stop = stop_fields(gdb.ask("vCont;c"))
    assert stop == {"signal": "05", "thread": "1", "swbreak": ""}
    assert gdb.reg(32) == check  # stopped before the instruction at the breakpoint
    assert (gdb.reg(19), gdb.reg(20), gdb.reg(21), gdb.reg(22)) == (0, 0x0900_0000, 0x1234, 0x1234)
    assert gdb.reg(33) & (P.Z | P.C) == P.Z | P.C  # subs x19 reached 0: Z, and no borrow: C
    assert gdb.ask("P16=0500000000000000") == "OK"  # x22 = 5: the comparison will fail
    assert gdb.ask(f"z0,{check:x},4") == "OK"
    assert stop_fields(gdb.ask("vCont;s:1;c")) == {"signal": "05", "thread": "1"}
    assert gdb.reg(32) == check + 4 and gdb.reg(33) & P.Z == 0  # cmp ran: 0x1234 != 5
    assert gdb.ask(f"Z1,{out:x},4") == "OK"
    assert stop_fields(gdb.ask("c")) == {"signal": "05", "thread": "1", "hwbreak": ""}
    assert gdb.reg(32) == out and gdb.reg(0) == ord("X")
    assert gdb.ask("D") == "OK"
    gdb.close()
    code, console, _ = run.finish()
    assert (code, console) == (0, "...X\n")


def test_raw_attach_later_interrupt_write_memory(payload) -> None:
    run = Armboot(str(VIRT), "--kernel", str(payload(SPIN)), "--load-addr", hex(LOAD))
    time.sleep(0.3)  # let it spin a while before attaching
    gdb = Client(run.port)
    reply = gdb.ask("?")  # attaching stopped it, wherever it was
    assert stop_fields(reply)["thread"] == "1"
    spin = label(SPIN, "spin")
    assert gdb.reg(32) in (spin, spin + 4)
    gdb.send("vCont;c")
    time.sleep(0.2)
    gdb.sock.sendall(b"\x03")  # Ctrl-C
    assert stop_fields(gdb.recv()) == {"signal": "02", "thread": "1"}
    flag = label(SPIN, "flag")
    assert gdb.ask(f"m{flag:x},8") == "00" * 8
    assert gdb.ask(f"X{flag:x},8:".encode() + b"}\x03" + b"\0" * 7) == "OK"  # '#' sent escaped, as GDB does
    assert gdb.ask(f"m{flag:x},8") == "23" + "00" * 7
    assert gdb.ask("c") == "W00"  # the payload saw the flag and powered off
    code, console, _ = run.finish()
    assert (code, console) == (0, "F")


def test_raw_kill_ends_the_run(payload) -> None:
    run = Armboot(str(VIRT), "--kernel", str(payload(CHECK)), "--load-addr", hex(LOAD), "--gdb-wait")
    gdb = Client(run.port)
    assert gdb.ask("?").startswith("T05")
    gdb.send("k")
    code, console, err = run.finish()
    assert (code, console) == (8, "") and "killed" in err


def test_time_held_by_the_debugger_is_not_running_time(payload) -> None:
    """--timeout bounds the emulation's wall time: waiting for GDB and sitting stopped in it do not count."""
    run = Armboot(str(VIRT), "--kernel", str(payload(CHECK)), "--load-addr", hex(LOAD), "--gdb-wait", "--timeout", "0.5")
    time.sleep(0.8)
    gdb = Client(run.port)
    assert gdb.ask("?").startswith("T05")
    time.sleep(0.8)
    assert gdb.ask("c") == "W00"
    code, console, _ = run.finish()
    assert (code, console) == (0, "...G\n")


def test_raw_watchpoints_stop_before_the_access(payload) -> None:
    """As the architecture's watchpoints: PC on the access, the memory not yet written, base writeback not done."""
    run = Armboot(str(VIRT), "--kernel", str(payload(STORES)), "--load-addr", hex(LOAD), "--gdb-wait")
    gdb = Client(run.port)
    store, load, array = label(STORES, "store"), label(STORES, "load"), label(STORES, "array")
    assert gdb.ask(f"Z2,{array + 8:x},8") == "OK"
    assert stop_fields(gdb.ask("c")) == {"signal": "05", "thread": "1", "watch": f"{array + 8:x}"}
    assert (gdb.reg(32), gdb.reg(2), gdb.reg(1)) == (store, 2, array + 8)  # the second store, x1 not yet advanced
    assert gdb.ask(f"m{array:x},10") == "01" + "00" * 15  # array[1] still 0
    assert stop_fields(gdb.ask("s")) == {"signal": "05", "thread": "1", "watch": f"{array + 8:x}"}  # still watched
    assert gdb.ask(f"z2,{array + 8:x},8") == "OK"
    assert stop_fields(gdb.ask("s")) == {"signal": "05", "thread": "1"}  # GDB steps over with the watchpoint out
    assert (gdb.reg(32), gdb.reg(1)) == (store + 4, array + 16)
    assert gdb.ask(f"m{array:x},10") == "01" + "00" * 7 + "02" + "00" * 7  # now it is written, once
    assert gdb.ask(f"Z3,{array + 12:x},2") == "OK"  # read watch on bytes an 8-byte load overlaps
    assert stop_fields(gdb.ask("c")) == {"signal": "05", "thread": "1", "rwatch": f"{array + 12:x}"}
    assert gdb.reg(32) == load
    assert gdb.ask(f"z3,{array + 12:x},2") == "OK" and gdb.ask(f"Z4,{array:x},8") == "OK"
    assert gdb.ask("Z2,9000000,4") == "OK"  # the UART's data register: devices are not watched
    assert gdb.ask("c") == "W00"  # nothing touches array[0] again, and the UART write went through once
    code, console, _ = run.finish()
    assert (code, console) == (0, "2")


def test_raw_fault_shown_as_sigsegv(payload) -> None:
    run = Armboot(str(VIRT), "--kernel", str(payload(FAULT)), "--load-addr", hex(LOAD), "--no-hyp", "--gdb-wait")
    gdb = Client(run.port)
    assert gdb.ask("?").startswith("T05")
    stop = stop_fields(gdb.ask("c"))
    assert stop == {"signal": "0b", "thread": "1"}
    assert gdb.reg(1) == 0x2000_0000  # the registers of the faulting CPU stay readable
    assert gdb.ask("c") == "W05"
    code, _, err = run.finish()
    assert code == 5 and "exception vector" in err


def smp_symbols() -> dict[str, int]:
    with open(SMP_ELF, "rb") as f:
        return {s.name: s["st_value"] for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols() if s.name}


def test_raw_threads_on_four_cpus() -> None:
    run = Armboot(str(SMP4), "--kernel", str(SMP_ELF), "--gdb-wait", "--report", "/dev/null")
    gdb = Client(run.port)
    assert gdb.ask("qfThreadInfo") == "m1,2,3,4"
    secondary = smp_symbols()["secondary"]
    # CPU 1 is off: stepping it runs the machine until it executes something: its PSCI CPU_ON entry.
    assert stop_fields(gdb.ask("vCont;s:2;c")) == {"signal": "05", "thread": "2"}
    assert gdb.ask("Hg2") == "OK"
    assert (gdb.reg(32), gdb.reg(0)) == (secondary, 0x101)  # entry point and context_id (PSCI CPU_ON)
    assert gdb.reg(33) & P.M_MASK == P.EL2H  # PSCI enters at the highest non-secure EL, as the boot CPU was
    assert gdb.ask(f"Z0,{secondary + 4:x},4") == "OK"
    assert stop_fields(gdb.ask("vCont;c")) == {"signal": "05", "thread": "2", "swbreak": ""}
    assert gdb.ask(f"z0,{secondary + 4:x},4") == "OK"
    assert gdb.ask(f"Z0,{secondary:x},4") == "OK"
    assert stop_fields(gdb.ask("vCont;c")) == {"signal": "05", "thread": "3", "swbreak": ""}
    assert gdb.ask("qC") == "QC3" and gdb.reg(0) == 0x102  # Hg follows the thread that stopped
    assert gdb.ask("Hg1") == "OK" and gdb.reg(32) != secondary
    assert "CPU 2 MPIDR 0x2" in bytes.fromhex(gdb.ask("qThreadExtraInfo,3")).decode()
    assert gdb.ask("D") == "OK"
    code, console, _ = run.finish()
    assert code == 0 and "smp: done" in console


def test_no_debugger_no_difference(tmp_path: Path) -> None:
    """Listening, or attached and stopped at the start, changes nothing in the run: the same console and times."""
    def report(*extra: str) -> dict:
        path = tmp_path / f"r{len(extra)}.json"
        args = [str(SMP4), "--kernel", str(SMP_ELF), "--report", str(path), *extra]
        if extra:
            run = Armboot(*args)
            if "--gdb-wait" in extra:
                gdb = Client(run.port)
                gdb.ask("?")
                time.sleep(0.5)  # wall time passes; virtual time does not
                gdb.send("c")
                assert gdb.recv() == "W00"
            run.finish()
        else:
            subprocess.run([sys.executable, "-m", "armboot.cli", "boot", *args], check=True, capture_output=True)
        r = json.loads(path.read_text())
        return {k: r[k] for k in ("console", "instructions", "virtual_s", "cpus", "traps", "exit")}

    plain = report()
    assert report("-q") == plain  # listening only (the console is in the report either way)
    assert report("--gdb-wait") == plain


# Sessions with a real GDB


def find_gdb() -> str | None:
    for name in ("gdb-multiarch", "aarch64-linux-gnu-gdb", "aarch64-none-elf-gdb"):
        if shutil.which(name):
            return name
    return None


GDB = find_gdb()
needs_gdb = pytest.mark.skipif(GDB is None, reason="no AArch64 GDB (apt-get install gdb-multiarch)")


def gdb_batch(port: int, *commands: str, program: Path | None = None) -> str:
    args = [GDB or "gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    if program is not None:
        args.append(str(program))
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def gdb_register(output: str, name: str) -> int:
    m = re.search(rf"^{name}\s+(0x[0-9a-f]+)", output, re.M)
    assert m, output
    return int(m.group(1), 16)


@needs_gdb
def test_gdb_breakpoints_registers_step_memory_detach(payload) -> None:
    run = Armboot(str(VIRT), "--kernel", str(payload(CHECK)), "--load-addr", hex(LOAD), "--gdb-wait")
    check, out = label(CHECK, "check"), label(CHECK, "out")
    text = gdb_batch(
        run.port,
        "info threads",
        f"break *{check:#x}",
        "continue",
        "info registers x19 x20 x21 x22 pc cpsr",
        "set $x22 = 5",
        "stepi",
        "printf \"after-step %#x\\n\", $pc",
        f"x/{len(CHECK)}xw {LOAD:#x}",
        f"hbreak *{out:#x}",
        "continue",
        "printf \"x0 %#x\\n\", $x0",
        "detach",
    )
    assert re.search(r"^\s*2\s+Thread 2 \(CPU 1 MPIDR 0x1 \[off\]\)", text, re.M), text
    assert re.search(rf"Thread 1 hit Breakpoint 1, 0x0*{check:x} in", text), text
    assert [gdb_register(text, r) for r in ("x19", "x20", "x21", "x22", "pc")] == [0, 0x0900_0000, 0x1234, 0x1234, check]
    assert re.search(r"^cpsr\s+0x[0-9a-f]+\s+\[ SP EL=2 .*\]", text, re.M), text  # EL2h: the entry level
    assert f"after-step {check + 4:#x}" in text
    words = [int(w, 16) for line in re.findall(r"^0x4008[0-9a-f]+:\s+(.*)$", text, re.M) for w in line.split()]
    assert words == [w for _, w, _ in CHECK]
    assert re.search(rf"Thread 1 hit Breakpoint 2, 0x0*{out:x} in", text) and "x0 0x58" in text, text  # 'X'
    assert "detached" in text
    code, console, _ = run.finish()
    assert (code, console) == (0, "...X\n")


@needs_gdb
def test_gdb_watchpoint(payload) -> None:
    run = Armboot(str(VIRT), "--kernel", str(payload(STORES)), "--load-addr", hex(LOAD), "--gdb-wait")
    array, store = label(STORES, "array"), label(STORES, "store")
    text = gdb_batch(run.port, f"watch *(long *){array + 8:#x}", "continue", "printf \"pc %#x\\n\", $pc", "delete",
                     "detach")  # fmt: skip
    assert re.search(r"Hardware watchpoint 1: \*\(long \*\)0x[0-9a-f]+\s+Old value = 0\s+New value = 2", text), text
    assert f"pc {store + 4:#x}" in text  # GDB stepped over the store it was told about
    code, console, _ = run.finish()
    assert (code, console) == (0, "2")


@needs_gdb
def test_gdb_sees_every_cpu_as_a_thread() -> None:
    run = Armboot(str(SMP4), "--kernel", str(SMP_ELF), "--gdb-wait")
    text = gdb_batch(
        run.port,
        "break *secondary",
        "continue",
        "info threads",
        "printf \"context %#x\\n\", $x0",
        "thread 1",
        "printf \"boot pc %#x\\n\", $pc",
        "delete",
        "detach",
        program=SMP_ELF,
    )
    assert re.search(r"Thread 2 hit Breakpoint 1, 0x[0-9a-f]+ in secondary \(\)", text), text
    threads = re.findall(r"^\*?\s+(\d)\s+Thread \d \(CPU (\d) MPIDR 0x(\d)", text, re.M)
    assert threads == [(str(n + 1), str(n), str(n)) for n in range(4)], text
    assert "context 0x101" in text  # CPU_ON's context_id in x0
    boot_pc = int(re.search(r"boot pc (0x[0-9a-f]+)", text).group(1), 16)  # type: ignore[union-attr]
    assert boot_pc != smp_symbols()["secondary"]
    code, console, _ = run.finish()
    assert code == 0 and "smp: done" in console
