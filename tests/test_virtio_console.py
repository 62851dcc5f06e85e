"""The kvm personality's virtio-mmio console against a driver written from the virtio 1.2 spec.

The driver below uses its own constants (§2.1 status, §4.2.2 registers,
§2.7 split rings, §5.3 console) rather than the model's, so a misreading of
the spec in the model shows up as a disagreement here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest
from armboot.hyp.core.vm import GuestMemoryError
from armboot.hyp.personalities.kvm.virtio_console import VirtioConsole
from armboot.hyp.personalities.kvm.virtio_mmio import GuestMemory
from hypothesis import given, settings
from hypothesis import strategies as st

# §4.2.2 MMIO device register layout (version 2)
R_MAGIC, R_VERSION, R_DEVICE_ID, R_VENDOR_ID = 0x000, 0x004, 0x008, 0x00C
R_DEV_FEAT, R_DEV_FEAT_SEL, R_DRV_FEAT, R_DRV_FEAT_SEL = 0x010, 0x014, 0x020, 0x024
R_QSEL, R_QNUM_MAX, R_QNUM, R_QREADY, R_QNOTIFY = 0x030, 0x034, 0x038, 0x044, 0x050
R_ISR, R_IACK, R_STATUS = 0x060, 0x064, 0x070
R_QDESC, R_QDRIVER, R_QDEVICE = 0x080, 0x090, 0x0A0  # low halves; high at +4
R_SHM_SEL, R_SHM_LEN = 0x0AC, 0x0B0
R_CFG_GEN, R_CONFIG = 0x0FC, 0x100
# §2.1 device status
S_ACK, S_DRIVER, S_DRIVER_OK, S_FEATURES_OK, S_NEEDS_RESET, S_FAILED = 1, 2, 4, 8, 64, 128
# §6 / §5.3.3 feature bits
F_VERSION_1, F_CONSOLE_SIZE, F_CONSOLE_MULTIPORT, F_CONSOLE_EMERG_WRITE = 32, 0, 1, 2
# §2.7 split virtqueue flags
D_NEXT, D_WRITE, D_INDIRECT = 1, 2, 4
AVAIL_NO_INTERRUPT = 1

RAM = 0x40000000
RAM_SIZE = 0x20000
QSIZE = 16


class FakeMemory:
    """A bytearray of guest RAM at IPA ``base``; outside it, what a Vm raises."""

    def __init__(self, base: int = RAM, size: int = RAM_SIZE) -> None:
        self.base = base
        self.buf = bytearray(size)

    def _off(self, ipa: int, n: int) -> int:
        off = ipa - self.base
        if off < 0 or off + n > len(self.buf):
            raise GuestMemoryError(f"IPA 0x{ipa:x}+{n} is not RAM")
        return off

    def read(self, ipa: int, n: int) -> bytes:
        off = self._off(ipa, n)
        return bytes(self.buf[off : off + n])

    def write(self, ipa: int, data: bytes) -> None:
        off = self._off(ipa, len(data))
        self.buf[off : off + len(data)] = data


@dataclass
class Ring:
    """The driver's side of one split virtqueue laid out in guest memory."""

    mem: GuestMemory
    index: int
    desc: int
    avail: int
    used: int
    num: int = QSIZE
    next_desc: int = 0
    avail_idx: int = 0
    last_used: int = 0
    heads: list[int] = field(default_factory=list)

    def set_desc(self, i: int, addr: int, length: int, flags: int, nxt: int = 0) -> None:
        self.mem.write(self.desc + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def add(self, bufs: list[tuple[int, int, bool]]) -> int:
        """Chain (addr, len, device-writable) buffers, make the chain available; its head."""
        ids = [(self.next_desc + k) % self.num for k in range(len(bufs))]
        self.next_desc = (self.next_desc + len(bufs)) % self.num
        for k, (addr, length, writable) in enumerate(bufs):
            last = k == len(bufs) - 1
            flags = (0 if last else D_NEXT) | (D_WRITE if writable else 0)
            self.set_desc(ids[k], addr, length, flags, 0 if last else ids[k + 1])
        self.publish(ids[0])
        return ids[0]

    def publish(self, head: int) -> None:
        self.mem.write(self.avail + 4 + 2 * (self.avail_idx % self.num), struct.pack("<H", head))
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.mem.write(self.avail + 2, struct.pack("<H", self.avail_idx))

    def set_avail_flags(self, flags: int) -> None:
        self.mem.write(self.avail, struct.pack("<H", flags))

    def used_idx(self) -> int:
        return int(struct.unpack("<H", self.mem.read(self.used + 2, 2))[0])

    def take_used(self) -> list[tuple[int, int]]:
        """The (id, len) elements the device returned since last asked."""
        out = []
        while self.last_used != self.used_idx():
            out.append(
                struct.unpack("<II", self.mem.read(self.used + 4 + 8 * (self.last_used % self.num), 8))
            )
            self.last_used = (self.last_used + 1) & 0xFFFF
        return out


class Driver:
    """A virtio-mmio driver following §3.1.1 (initialization) and §4.2.3 (MMIO specifics)."""

    def __init__(self, dev: VirtioConsole, mem: GuestMemory, base: int = RAM) -> None:
        self.dev, self.mem, self.base = dev, mem, base
        self.heap = base + 0x10000  # data buffers
        self.rings: dict[int, Ring] = {}

    def r(self, off: int, size: int = 4) -> int:
        return self.dev.read(0, off, size)

    def w(self, off: int, value: int, size: int = 4) -> None:
        self.dev.write(0, off, size, value)

    def status(self) -> int:
        return self.r(R_STATUS)

    def set_status(self, bits: int) -> None:
        self.w(R_STATUS, self.status() | bits)

    def device_features(self) -> int:
        self.w(R_DEV_FEAT_SEL, 0)
        low = self.r(R_DEV_FEAT)
        self.w(R_DEV_FEAT_SEL, 1)
        return low | self.r(R_DEV_FEAT) << 32

    def negotiate(self, features: int) -> bool:
        """Write the driver's features, set FEATURES_OK, re-read it (§3.1.1 steps 5 and 6)."""
        for sel in (0, 1):
            self.w(R_DRV_FEAT_SEL, sel)
            self.w(R_DRV_FEAT, (features >> (32 * sel)) & 0xFFFFFFFF)
        self.set_status(S_FEATURES_OK)
        return bool(self.status() & S_FEATURES_OK)

    def setup_queue(self, index: int, num: int = QSIZE) -> Ring:
        """§4.2.3.2: select, check it is free, size, place the three areas, ready."""
        self.w(R_QSEL, index)
        assert self.r(R_QREADY) == 0
        assert self.r(R_QNUM_MAX) >= num
        area = self.base + 0x1000 + 0x1000 * index
        ring = Ring(self.mem, index, desc=area, avail=area + 0x400, used=area + 0x800, num=num)
        self.mem.write(area, bytes(0x1000))
        self.w(R_QNUM, num)
        for reg, addr in ((R_QDESC, ring.desc), (R_QDRIVER, ring.avail), (R_QDEVICE, ring.used)):
            self.w(reg, addr & 0xFFFFFFFF)
            self.w(reg + 4, addr >> 32)
        self.w(R_QREADY, 1)
        self.rings[index] = ring
        return ring

    def init(self, features: int | None = None) -> None:
        """The whole §3.1.1 sequence, both console queues, DRIVER_OK."""
        assert self.r(R_MAGIC) == 0x74726976 and self.r(R_VERSION) == 2 and self.r(R_DEVICE_ID) == 3
        self.w(R_STATUS, 0)
        assert self.status() == 0
        self.set_status(S_ACK)
        self.set_status(S_DRIVER)
        wanted = self.device_features() if features is None else features
        assert self.negotiate(wanted)
        self.setup_queue(0)
        self.setup_queue(1)
        self.set_status(S_DRIVER_OK)

    def alloc(self, data: bytes | int) -> tuple[int, int]:
        """Room for a buffer (its bytes, or a size), 16-aligned in the data area: (addr, len)."""
        size = data if isinstance(data, int) else len(data)
        addr = self.heap
        self.heap += (size + 15) & ~15
        if not isinstance(data, int):
            self.mem.write(addr, data)
        return addr, size

    def send(self, *parts: bytes, kick: bool = True) -> int:
        """Output through the transmitq: one chain of device-readable buffers."""
        head = self.rings[1].add([(*self.alloc(p), False) for p in parts])
        if kick:
            self.w(R_QNOTIFY, 1)
        return head

    def post_rx(self, *sizes: int, kick: bool = True) -> list[tuple[int, int]]:
        """Receive buffers, one per chain; their (addr, len)."""
        bufs = [self.alloc(n) for n in sizes]
        for addr, n in bufs:
            self.rings[0].add([(addr, n, True)])
        if kick:
            self.w(R_QNOTIFY, 0)
        return bufs


class Harness:
    def __init__(self, mem: GuestMemory | None = None, base: int = RAM) -> None:
        self.mem = mem if mem is not None else FakeMemory()
        self.out = bytearray()
        self.writes: list[bytes] = []
        self.irq: list[bool] = []
        self.dev = VirtioConsole("virtio@a000000", self.mem, self._output, self.irq.append)
        self.drv = Driver(self.dev, self.mem, base)

    def _output(self, data: bytes) -> None:
        self.out += data
        self.writes.append(bytes(data))

    @property
    def line(self) -> bool:
        return self.irq[-1] if self.irq else False


@pytest.fixture
def h() -> Harness:
    return Harness()


@pytest.fixture
def up(h: Harness) -> Harness:
    h.drv.init()
    return h


# Identity and features


def test_identity_registers(h: Harness) -> None:
    d = h.drv
    assert d.r(R_MAGIC) == 0x74726976
    assert d.r(R_VERSION) == 2
    assert d.r(R_DEVICE_ID) == 3
    assert d.r(R_VENDOR_ID).to_bytes(4, "little") == b"ARMB"


def test_queues_and_their_maximum(h: Harness) -> None:
    d = h.drv
    for q in (0, 1):
        d.w(R_QSEL, q)
        assert d.r(R_QNUM_MAX) >= QSIZE and d.r(R_QREADY) == 0
    d.w(R_QSEL, 2)  # no multiport: no control queues
    assert d.r(R_QNUM_MAX) == 0


def test_offered_features(h: Harness) -> None:
    f = h.drv.device_features()
    assert f >> F_VERSION_1 & 1
    assert f >> F_CONSOLE_SIZE & 1 and f >> F_CONSOLE_EMERG_WRITE & 1
    assert not f >> F_CONSOLE_MULTIPORT & 1
    h.drv.w(R_DEV_FEAT_SEL, 2)
    assert h.drv.r(R_DEV_FEAT) == 0


def test_full_initialisation(up: Harness) -> None:
    assert up.drv.status() == S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK
    for q in (0, 1):
        up.drv.w(R_QSEL, q)
        assert up.drv.r(R_QREADY) == 1
    assert up.irq == []  # nothing to say yet


def test_a_driver_without_version_1_is_refused(h: Harness) -> None:
    d = h.drv
    d.set_status(S_ACK | S_DRIVER)
    assert not d.negotiate(d.device_features() & ~(1 << F_VERSION_1))
    assert d.status() == S_ACK | S_DRIVER


def test_features_that_were_not_offered_are_refused(h: Harness) -> None:
    d = h.drv
    d.set_status(S_ACK | S_DRIVER)
    assert not d.negotiate((1 << F_VERSION_1) | (1 << F_CONSOLE_MULTIPORT))


def test_features_are_fixed_once_accepted(h: Harness) -> None:
    d = h.drv
    d.set_status(S_ACK | S_DRIVER)
    assert d.negotiate(1 << F_VERSION_1)
    d.w(R_DRV_FEAT_SEL, 0)
    d.w(R_DRV_FEAT, 1 << F_CONSOLE_SIZE)
    assert h.dev.negotiated(F_VERSION_1) and not h.dev.negotiated(F_CONSOLE_SIZE)


def test_minimal_feature_set_works(h: Harness) -> None:
    h.drv.init(features=1 << F_VERSION_1)
    h.drv.send(b"ok")
    assert h.out == b"ok"


def test_register_widths_and_reserved_offsets(h: Harness) -> None:
    d = h.drv
    assert d.r(R_MAGIC, 1) == 0 and d.r(R_MAGIC, 2) == 0  # 32-bit registers only
    d.w(R_STATUS, S_ACK, size=1)
    assert d.status() == 0
    assert d.r(0x0F0) == 0 and d.r(R_QNOTIFY) == 0  # reserved; write-only
    d.w(R_SHM_SEL, 0)
    assert d.r(R_SHM_LEN) == 0xFFFFFFFF  # no shared memory regions


# Transmit


def test_transmit_a_single_buffer(up: Harness) -> None:
    head = up.drv.send(b"hello\n")
    assert up.out == b"hello\n"
    assert up.drv.rings[1].take_used() == [(head, 0)]  # len: bytes the device wrote, none
    assert up.drv.r(R_ISR) == 1 and up.line
    up.drv.w(R_IACK, 1)
    assert up.drv.r(R_ISR) == 0 and not up.line
    assert up.irq == [True, False]


def test_used_flags_are_zero(up: Harness) -> None:
    ring = up.drv.rings[1]
    up.mem.write(ring.used, b"\xff\xff")  # left-over garbage: the device owns this field
    up.drv.send(b"x")
    assert up.mem.read(ring.used, 2) == b"\0\0"  # the device never asks for no notifications


def test_transmit_a_chain(up: Harness) -> None:
    head = up.drv.send(b"Hel", b"lo, ", b"world")
    assert up.writes == [b"Hello, world"]  # a chain is one message
    assert up.drv.rings[1].take_used() == [(head, 0)]


def test_transmit_several_chains_in_one_notify(up: Harness) -> None:
    heads = [up.drv.send(p, kick=False) for p in (b"a", b"bc", b"def")]
    assert up.out == b""
    up.drv.w(R_QNOTIFY, 1)
    assert up.writes == [b"a", b"bc", b"def"]
    assert up.drv.rings[1].take_used() == [(h, 0) for h in heads]
    assert up.irq == [True]


def test_ring_positions_wrap_around_the_table(up: Harness) -> None:
    ring = up.drv.rings[1]
    for i in range(3 * QSIZE):
        up.drv.heap = RAM + 0x10000  # reuse the data area
        up.drv.send(bytes([0x41 + i % 26]))
        assert len(ring.take_used()) == 1
    assert len(up.out) == 3 * QSIZE and ring.used_idx() == 3 * QSIZE


def test_no_interrupt_is_respected(up: Harness) -> None:
    up.drv.rings[1].set_avail_flags(AVAIL_NO_INTERRUPT)
    head = up.drv.send(b"quiet")
    assert up.out == b"quiet" and up.drv.rings[1].take_used() == [(head, 0)]
    assert up.drv.r(R_ISR) == 0 and up.irq == []


def test_interrupt_stays_up_until_acknowledged(up: Harness) -> None:
    up.drv.send(b"1")
    up.drv.send(b"2")
    assert up.irq == [True]  # level: raised once, held
    up.drv.w(R_IACK, 1)
    up.drv.send(b"3")
    assert up.irq == [True, False, True]


def test_nothing_moves_before_driver_ok(h: Harness) -> None:
    d = h.drv
    d.set_status(S_ACK | S_DRIVER)
    assert d.negotiate(d.device_features())
    d.setup_queue(0)
    d.setup_queue(1)
    d.send(b"early")
    h.dev.feed(b"typed")
    d.post_rx(8)
    assert h.out == b"" and d.rings[1].used_idx() == 0 and d.rings[0].used_idx() == 0
    d.set_status(S_DRIVER_OK)  # what was queued before goes now
    assert h.out == b"early"
    assert d.rings[0].take_used()[0][1] == 5
    assert h.line


def test_a_queue_in_use_cannot_be_moved(up: Harness) -> None:
    up.drv.w(R_QSEL, 1)
    up.drv.w(R_QDESC, 0x1234)
    up.drv.w(R_QNUM, 2)
    up.drv.send(b"still here")
    assert up.out == b"still here"


# Receive


def test_receive_into_posted_buffers(up: Harness) -> None:
    (a, _), (b, _) = up.drv.post_rx(4, 4)
    up.dev.feed(b"abcdef")
    assert up.drv.rings[0].take_used() == [(0, 4), (1, 2)]
    assert up.mem.read(a, 4) == b"abcd" and up.mem.read(b, 2) == b"ef"
    assert up.drv.r(R_ISR) == 1 and up.line


def test_input_waits_for_buffers(up: Harness) -> None:
    up.dev.feed(b"early input")
    assert up.drv.rings[0].used_idx() == 0 and up.irq == []
    [(a, _)] = up.drv.post_rx(64)
    assert up.drv.rings[0].take_used() == [(0, 11)]
    assert up.mem.read(a, 11) == b"early input"


def test_receive_into_a_chain(up: Harness) -> None:
    a, b = up.drv.alloc(3), up.drv.alloc(5)
    head = up.drv.rings[0].add([(*a, True), (*b, True)])
    up.drv.w(R_QNOTIFY, 0)
    up.dev.feed(b"0123456789")
    assert up.drv.rings[0].take_used() == [(head, 8)]
    assert up.mem.read(a[0], 3) + up.mem.read(b[0], 5) == b"01234567"
    assert up.dev.pending == b"89"  # the rest waits for the next buffer


def test_input_is_bounded(up: Harness) -> None:
    up.dev.feed(bytes(100_000))
    assert len(up.dev.pending) == 64 * 1024 and up.dev.dropped == 100_000 - 64 * 1024


# Configuration


def test_console_config(up: Harness) -> None:
    d = up.drv
    assert d.r(R_CONFIG, 2) == 80 and d.r(R_CONFIG + 2, 2) == 25
    assert d.r(R_CONFIG, 4) == 80 | 25 << 16
    assert d.r(R_CONFIG + 3, 1) == 0 and d.r(R_CONFIG + 2, 1) == 25  # any width, byte by byte
    d.w(R_CONFIG, 132, size=2)  # cols is read-only
    assert d.r(R_CONFIG, 2) == 80


def test_resize_is_a_config_change(up: Harness) -> None:
    gen = up.drv.r(R_CFG_GEN)
    up.dev.resize(132, 43)
    assert up.drv.r(R_CFG_GEN) != gen
    assert up.drv.r(R_CONFIG, 2) == 132 and up.drv.r(R_CONFIG + 2, 2) == 43
    assert up.drv.r(R_ISR) == 2 and up.line
    up.drv.w(R_IACK, 2)
    assert not up.line


def test_emerg_wr_before_anything(h: Harness) -> None:
    for c in b"panic!":
        h.drv.w(R_CONFIG + 8, c)
    assert h.out == b"panic!"
    assert h.drv.r(R_CONFIG + 8) == 0  # write-only
    h.drv.w(R_CONFIG + 8, ord("x"), size=1)
    assert h.out == b"panic!x"


# Reset


def test_reset(up: Harness) -> None:
    up.drv.send(b"x")
    assert up.line
    up.drv.w(R_STATUS, 0)
    d = up.drv
    assert d.status() == 0 and d.r(R_ISR) == 0 and not up.line
    for q in (0, 1):
        d.w(R_QSEL, q)
        assert d.r(R_QREADY) == 0
    d.w(R_QNOTIFY, 1)  # a dead queue does nothing
    assert up.out == b"x"
    d.init()  # from scratch: the used idx starts again at 0
    head = d.send(b"again")
    assert d.rings[1].take_used() == [(head, 0)] and d.rings[1].used_idx() == 1
    assert up.out == b"xagain"


def test_failed_driver_stops_the_device(up: Harness) -> None:
    up.drv.set_status(S_FAILED)
    up.drv.send(b"ignored")
    assert up.out == b""


# Malformed rings: a device error, never an exception


def broken(h: Harness) -> None:
    assert h.drv.status() & S_NEEDS_RESET
    assert h.dev.error
    assert h.drv.r(R_ISR) & 2 and h.line  # configuration change: the driver should look at Status


def test_descriptor_outside_ram(up: Harness) -> None:
    up.drv.rings[1].add([(RAM + RAM_SIZE - 2, 8, False)])
    up.drv.w(R_QNOTIFY, 1)
    broken(up)
    assert up.out == b""
    up.drv.send(b"after")  # a broken device does nothing more
    assert up.out == b"" and up.drv.rings[1].used_idx() == 0


def test_receive_buffer_outside_ram(up: Harness) -> None:
    up.drv.rings[0].add([(0x1000, 8, True)])
    up.drv.w(R_QNOTIFY, 0)
    up.dev.feed(b"lost?")
    broken(up)
    assert up.dev.pending == b"lost?"  # kept for after the reset


def test_loop_in_a_chain(up: Harness) -> None:
    ring = up.drv.rings[1]
    a = up.drv.alloc(b"ab")
    ring.set_desc(0, *a, D_NEXT, 1)
    ring.set_desc(1, *a, D_NEXT, 0)
    ring.publish(0)
    up.drv.w(R_QNOTIFY, 1)
    broken(up)
    assert up.out == b""


def test_next_past_the_table(up: Harness) -> None:
    ring = up.drv.rings[1]
    ring.set_desc(0, *up.drv.alloc(b"ab"), D_NEXT, QSIZE)
    ring.publish(0)
    up.drv.w(R_QNOTIFY, 1)
    broken(up)


def test_head_past_the_table(up: Harness) -> None:
    up.drv.rings[1].publish(QSIZE + 3)
    up.drv.w(R_QNOTIFY, 1)
    broken(up)


def test_avail_idx_too_far_ahead(up: Harness) -> None:
    up.mem.write(up.drv.rings[1].avail + 2, struct.pack("<H", QSIZE + 1))
    up.drv.w(R_QNOTIFY, 1)
    broken(up)


def test_indirect_descriptor_not_negotiated(up: Harness) -> None:
    ring = up.drv.rings[1]
    ring.set_desc(0, *up.drv.alloc(32), D_INDIRECT)
    ring.publish(0)
    up.drv.w(R_QNOTIFY, 1)
    broken(up)


def test_readable_after_writable(up: Harness) -> None:
    up.drv.rings[1].add([(*up.drv.alloc(4), True), (*up.drv.alloc(b"late"), False)])
    up.drv.w(R_QNOTIFY, 1)
    broken(up)


def test_huge_descriptor(up: Harness) -> None:
    up.drv.rings[1].add([(RAM, 0xFFFFFFFF, False)])
    up.drv.w(R_QNOTIFY, 1)
    broken(up)


def test_rings_outside_ram(h: Harness) -> None:
    d = h.drv
    d.set_status(S_ACK | S_DRIVER)
    assert d.negotiate(d.device_features())
    d.setup_queue(0)
    d.w(R_QSEL, 1)
    d.w(R_QNUM, QSIZE)
    d.w(R_QDRIVER, 0x2000)  # avail ring below RAM
    d.w(R_QREADY, 1)
    d.set_status(S_DRIVER_OK)  # the device looks at its queues now
    broken(h)


def test_bad_queue_layout(h: Harness) -> None:
    d = h.drv
    d.set_status(S_ACK | S_DRIVER)
    d.w(R_QSEL, 0)
    d.w(R_QNUM, 4096)  # past QueueNumMax
    d.w(R_QREADY, 1)
    assert d.status() & S_NEEDS_RESET and d.r(R_QREADY) == 0
    assert not h.line  # no DRIVER_OK yet: nobody to tell


def test_chains_before_the_error_are_still_used(up: Harness) -> None:
    head = up.drv.send(b"good", kick=False)
    up.drv.rings[1].add([(0x10, 4, False)])
    up.drv.w(R_QNOTIFY, 1)
    assert up.out == b"good" and up.drv.rings[1].take_used() == [(head, 0)]
    assert up.drv.r(R_ISR) == 3
    broken(up)


def test_reset_recovers_from_an_error(up: Harness) -> None:
    up.drv.rings[1].add([(0x10, 4, False)])
    up.drv.w(R_QNOTIFY, 1)
    broken(up)
    up.drv.init()
    assert up.dev.error is None and not up.line
    up.drv.send(b"recovered")
    assert up.out == b"recovered"


descriptors = st.lists(
    st.tuples(
        st.sampled_from([RAM + 0x10000, RAM + RAM_SIZE - 4, RAM - 8, 0, 2**64 - 8])
        | st.integers(0, 2**64 - 1),
        st.sampled_from([0, 1, 16, 0x1000, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1),
        st.integers(0, 7),  # NEXT | WRITE | INDIRECT
        st.integers(0, QSIZE + 2),
    ),
    max_size=QSIZE,
)


@settings(max_examples=200, deadline=None)
@given(
    tx=descriptors,
    rx=descriptors,
    heads=st.lists(st.integers(0, QSIZE + 2), max_size=QSIZE),
    avail_idx=st.integers(0, 0xFFFF) | st.integers(0, QSIZE),
    fed=st.binary(max_size=64),
)
def test_garbage_rings_never_raise(
    tx: list[tuple[int, int, int, int]],
    rx: list[tuple[int, int, int, int]],
    heads: list[int],
    avail_idx: int,
    fed: bytes,
) -> None:
    """Whatever the guest leaves in its rings, the model answers with used buffers or a device error."""
    h = Harness()
    h.drv.init()
    for ring, table in ((h.drv.rings[1], tx), (h.drv.rings[0], rx)):
        for i, desc in enumerate(table):
            ring.set_desc(i, *desc)
        for i, head in enumerate(heads):
            h.mem.write(ring.avail + 4 + 2 * i, struct.pack("<H", head))
        h.mem.write(ring.avail + 2, struct.pack("<H", avail_idx))
    h.drv.w(R_QNOTIFY, 1)
    h.dev.feed(fed)
    h.drv.w(R_QNOTIFY, 0)
    status = h.drv.status()
    assert status & S_DRIVER_OK
    assert bool(status & S_NEEDS_RESET) == (h.dev.error is not None)


# The memory protocol against the real VM class


def test_with_a_real_vm() -> None:
    """A Vm is a GuestMemory: rings and buffers go through its stage 2 to the machine's RAM."""
    from pathlib import Path

    from armboot.bootloader.session import load_tree
    from armboot.hyp.arch.stage2 import Stage2Tables
    from armboot.hyp.core.vm import Vm
    from armboot.hyp.platform.board import Machine

    virt = Path(__file__).resolve().parent.parent / "boards" / "virt.dts"
    machine = Machine(load_tree(str(virt), []))
    region = machine.ram[0]
    tables_pa = region.base + region.size - 0x100000  # the top MB holds the stage-2 tables
    tables = memoryview(region.buffer)[tables_pa - region.base : region.size]
    vm = Vm("guest", 1, machine, Stage2Tables(tables, tables_pa, vmid=1))
    ram_pa = region.base + 0x8000000  # IPA 0x40000000 is not PA 0x40000000: translation matters
    vm.add_ram(RAM, ram_pa, 0x200000)
    memory: GuestMemory = vm

    h = Harness(memory)
    h.drv.init()
    h.drv.send(b"through ", b"stage 2")
    assert h.out == b"through stage 2"
    [(addr, _)] = h.drv.post_rx(16)
    h.dev.feed(b"typed")
    assert h.drv.rings[0].take_used() == [(0, 5)]
    assert machine.read(ram_pa + (addr - RAM), 5) == b"typed"  # landed in the right physical page

    h.drv.rings[1].add([(RAM + 0x200000, 4, False)])  # just past the VM's RAM: unmapped IPA
    h.drv.w(R_QNOTIFY, 1)
    broken(h)
    assert "not mapped" in (h.dev.error or "")
