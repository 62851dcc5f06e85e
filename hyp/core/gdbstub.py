"""The GDB remote serial protocol's packet layer: framing, checksums, escaping, run-length encoding.

Kept apart from the machine so that it can be checked byte for byte against the
protocol (GDB manual, "Remote Protocol": Overview, Binary Data) and reused by
the tests' own client.  ``PacketReader`` turns a byte stream into events (a
packet, an interrupt, an ack); ``Connection`` adds a socket, the ack
handshake, no-ack mode and retransmission on ``-``.
"""

from __future__ import annotations

import contextlib
import select
import socket
from dataclasses import dataclass

INTERRUPT = 0x03  # Ctrl-C: a lone byte outside any packet
ESCAPE = 0x7D  # '}': the next byte is XORed with 0x20
_MUST_ESCAPE = frozenset(b"#$}*")
RLE_MIN, RLE_MAX = 3, 97  # shorter runs do not pay; 97 + 29 = '~', the last printable count
_RLE_FORBIDDEN = {6, 7}  # counts whose character would be '#' or '$'


def checksum(data: bytes) -> int:
    """The modulo-256 sum of the packet's bytes, as both sides compute it."""
    return sum(data) & 0xFF


def frame(payload: bytes) -> bytes:
    """``$payload#cc``; the payload must already be escaped (and may be run-length encoded)."""
    return b"$" + payload + b"#" + b"%02x" % checksum(payload)


def escape(data: bytes) -> bytes:
    """Binary data in a packet: ``#``, ``$``, ``}`` and ``*`` become ``}`` and the byte XOR 0x20."""
    out = bytearray()
    for b in data:
        if b in _MUST_ESCAPE:
            out += bytes((ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESCAPE:
            nxt = next(it, None)
            if nxt is None:
                raise ValueError("escape character at the end of binary data")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def rle_encode(data: bytes) -> bytes:
    """Runs as ``c*N``: the character then ``*`` and chr(repeats + 29), never ``#`` or ``$``."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        run = 1
        while i + run < n and data[i + run] == b and run - 1 < RLE_MAX:
            run += 1
        repeats = run - 1
        while repeats in _RLE_FORBIDDEN:
            repeats -= 1
        if repeats >= RLE_MIN:
            out += bytes((b, 0x2A, repeats + 29))
            i += repeats + 1
        else:
            out.append(b)
            i += 1
    return bytes(out)


def rle_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x2A:  # '*'
            if not out or i + 1 >= len(data):
                raise ValueError("run-length marker without a character to repeat")
            out += bytes((out[-1],)) * (data[i + 1] - 29)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def hex_le(value: int, nbytes: int) -> str:
    """A register value as the protocol sends it: target byte order (little-endian), two digits a byte."""
    return (value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little").hex()


def from_hex_le(text: str | bytes) -> int:
    return int.from_bytes(bytes.fromhex(text.decode() if isinstance(text, bytes) else text), "little")


@dataclass(frozen=True)
class Event:
    """What arrived: ``packet`` (checked, RLE-expanded payload), ``interrupt``, ``ack``, ``nak`` or ``bad`` (checksum)."""

    kind: str
    data: bytes = b""


class PacketReader:
    """Incremental parser: feed it whatever the socket gave, get whole events back."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        buf = self._buf
        while buf:
            b = buf[0]
            if b == ord("$"):
                end = buf.find(b"#")
                if end < 0 or len(buf) < end + 3:
                    break  # incomplete: wait for the rest
                body, digits = bytes(buf[1:end]), bytes(buf[end + 1 : end + 3])
                del buf[: end + 3]
                try:
                    good = int(digits, 16) == checksum(body)
                except ValueError:
                    good = False
                if not good:
                    events.append(Event("bad", body))
                    continue
                try:
                    events.append(Event("packet", rle_decode(body)))
                except ValueError:
                    events.append(Event("bad", body))
                continue
            del buf[0]
            if b == INTERRUPT:
                events.append(Event("interrupt"))
            elif b == ord("+"):
                events.append(Event("ack"))
            elif b == ord("-"):
                events.append(Event("nak"))
            # anything else between packets is line noise: dropped, as GDB drops it
        return events


class Connection:
    """One GDB client on a socket: acknowledges packets (until no-ack mode), resends on ``-``."""

    def __init__(self, sock: socket.socket, rle: bool = True) -> None:
        self.sock = sock
        with contextlib.suppress(OSError):  # small packets go out at once (not on a socketpair)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = PacketReader()
        self.no_ack = False
        self.rle = rle
        self.closed = False
        self._last = b""

    def send(self, payload: bytes | str) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self._last = frame(rle_encode(data) if self.rle else data)
        self._write(self._last)

    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        """Events that have arrived; waits up to ``timeout`` seconds (None: until something comes)."""
        if self.closed:
            return []
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return []
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return []
        out = []
        for ev in self.reader.feed(data):
            if ev.kind == "packet":
                if not self.no_ack:
                    self._write(b"+")
                out.append(ev)
            elif ev.kind == "bad":
                if not self.no_ack:
                    self._write(b"-")
            elif ev.kind == "nak":
                self._write(self._last)
            elif ev.kind == "interrupt":
                out.append(ev)
        return out

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
