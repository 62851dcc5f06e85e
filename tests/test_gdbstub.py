"""The GDB remote serial protocol's packet layer, checked byte for byte against the GDB manual.

("Remote Protocol": checksums, binary escapes, run-length encoding, acknowledgments.)
"""

from __future__ import annotations

import socket

import pytest
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
from hypothesis import given
from hypothesis import strategies as st

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
