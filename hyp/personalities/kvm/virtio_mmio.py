"""virtio-mmio transport, version 2 only (virtio 1.2 §4.2), and split virtqueues (§2.7).

Under KVM these models live in QEMU; in armboot the runtime is the VMM, so a
guest's accesses to the device window trap here (an ``mmio`` exit) and the
device's DMA is guest memory read and written through the VM's stage 2
(``GuestMemory``: a ``Vm`` or, in tests, a bytearray-backed fake).

The guest owns the rings, so nothing in them is trusted: a descriptor outside
guest RAM, a loop in a chain, an index past the queue size... is a *device
error*: the device sets DEVICE_NEEDS_RESET, tells the driver with a
configuration-change interrupt (once DRIVER_OK is set) and processes nothing
more until the driver resets it.  No exception from a guest's mistake leaves
the model.

A device type subclasses ``VirtioMmio`` and overrides the hooks
(``config_read``, ``config_write``, ``queue_notify``, ``device_ready``,
``device_reset``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Registers (§4.2.2, version 2 layout); offsets in the device window
MAGIC_VALUE = 0x000
VERSION = 0x004
DEVICE_ID = 0x008
VENDOR_ID = 0x00C
DEVICE_FEATURES = 0x010
DEVICE_FEATURES_SEL = 0x014
DRIVER_FEATURES = 0x020
DRIVER_FEATURES_SEL = 0x024
QUEUE_SEL = 0x030
QUEUE_NUM_MAX = 0x034
QUEUE_NUM = 0x038
QUEUE_READY = 0x044
QUEUE_NOTIFY = 0x050
INTERRUPT_STATUS = 0x060
INTERRUPT_ACK = 0x064
STATUS = 0x070
QUEUE_DESC_LOW, QUEUE_DESC_HIGH = 0x080, 0x084
QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH = 0x090, 0x094
QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH = 0x0A0, 0x0A4
SHM_SEL = 0x0AC
SHM_LEN_LOW, SHM_LEN_HIGH = 0x0B0, 0x0B4
SHM_BASE_LOW, SHM_BASE_HIGH = 0x0B8, 0x0BC
CONFIG_GENERATION = 0x0FC
CONFIG = 0x100
WINDOW_SIZE = 0x200  # what a tree's virtio,mmio node usually gives

MAGIC = 0x74726976  # "virt", little-endian
TRANSPORT_VERSION = 2  # modern; legacy (1) is not offered
# "ARMB" as the guest reads it (bytes 'A' 'R' 'M' 'B' little-endian); QEMU's is "QEMU".
# Drivers do not match on it: it only tells a curious guest who emulates the device.
VENDOR = int.from_bytes(b"ARMB", "little")

# Device status (§2.1)
ACKNOWLEDGE = 1
DRIVER = 2
DRIVER_OK = 4
FEATURES_OK = 8
DEVICE_NEEDS_RESET = 64
FAILED = 128

# Reserved feature bits (§6)
VIRTIO_F_INDIRECT_DESC = 28
VIRTIO_F_EVENT_IDX = 29
VIRTIO_F_VERSION_1 = 32

# InterruptStatus bits (§4.2.2)
INT_USED_BUFFER = 1
INT_CONFIG_CHANGE = 2

# Split virtqueue layout (§2.7)
DESC_SIZE = 16
VIRTQ_DESC_F_NEXT = 1
VIRTQ_DESC_F_WRITE = 2
VIRTQ_DESC_F_INDIRECT = 4
VIRTQ_AVAIL_F_NO_INTERRUPT = 1

# A chain's bytes are copied through Python: bound them so a guest's 4 GB descriptor
# is a device error, not the runtime reading (and holding) all of guest RAM.
MAX_CHAIN_BYTES = 1 << 20


class GuestMemory(Protocol):
    """The guest memory a device reaches by DMA, addressed by IPA: ``Vm`` is one.

    Out-of-RAM addresses raise (``Vm`` raises ``GuestMemoryError``); the model
    turns any such failure, or a short read, into a device error.
    """

    def read(self, ipa: int, size: int, /) -> bytes: ...

    def write(self, ipa: int, data: bytes, /) -> None: ...


class DeviceError(Exception):
    """The driver broke a ring rule or pointed outside RAM: the device needs a reset."""


@dataclass(frozen=True)
class Buffer:
    """One descriptor of a chain: ``length`` bytes at IPA ``addr``."""

    addr: int
    length: int


@dataclass
class Chain:
    """A descriptor chain taken from the available ring (device-readable part, then device-writable)."""

    head: int
    readable: list[Buffer] = field(default_factory=list)
    writable: list[Buffer] = field(default_factory=list)


class Virtqueue:
    """The device side of one split virtqueue: the guest's rings, read and written through ``memory``."""

    def __init__(self, index: int, num_max: int, memory: GuestMemory) -> None:
        self.index = index
        self.num_max = num_max
        self.memory = memory
        self.reset()

    def reset(self) -> None:
        self.num = self.num_max  # QueueNum's value until the driver writes one
        self.ready = False
        self.desc = self.driver = self.device = 0  # descriptor table, available ring, used ring
        self.last_avail = 0  # the next available-ring entry to take (free-running u16)
        self.used_idx = 0  # the used ring's idx as the device last wrote it
        self.pushed = 0  # used entries written since the driver was last interrupted for them

    def validate(self) -> None:
        """The layout QueueReady commits to: size within QueueNumMax, areas aligned as §2.7 asks."""
        if not 0 < self.num <= self.num_max:
            raise DeviceError(f"queue {self.index}: size {self.num} (max {self.num_max})")
        if self.desc % 16 or self.driver % 2 or self.device % 4:
            raise DeviceError(f"queue {self.index}: misaligned rings")

    # Guest memory, failures made device errors

    def _read(self, ipa: int, size: int) -> bytes:
        try:
            data = self.memory.read(ipa, size)
        except Exception as e:  # whatever the backend raises for a bad address: a guest error
            raise DeviceError(f"queue {self.index}: read of 0x{ipa:x}+{size}: {e}") from e
        if len(data) != size:
            raise DeviceError(f"queue {self.index}: read of 0x{ipa:x}+{size} is outside RAM")
        return data

    def _write(self, ipa: int, data: bytes) -> None:
        try:
            self.memory.write(ipa, data)
        except Exception as e:
            raise DeviceError(f"queue {self.index}: write of 0x{ipa:x}+{len(data)}: {e}") from e

    def _u16(self, ipa: int) -> int:
        return int.from_bytes(self._read(ipa, 2), "little")

    # The available ring

    def avail_flags(self) -> int:
        return self._u16(self.driver)

    def available(self) -> int:
        """How many chains the driver has made available and the device not yet taken."""
        pending = (self._u16(self.driver + 2) - self.last_avail) & 0xFFFF
        if pending > self.num:
            raise DeviceError(
                f"queue {self.index}: avail idx is {pending} entries ahead of a {self.num}-entry ring"
            )
        return pending

    def pop(self) -> Chain | None:
        """Take the next available chain (None if there is none) and walk its descriptors."""
        if not self.available():
            return None
        head = self._u16(self.driver + 4 + 2 * (self.last_avail % self.num))
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        return self._walk(head)

    def _walk(self, head: int) -> Chain:
        chain = Chain(head)
        index, total = head, 0
        for _ in range(self.num):  # a chain longer than the table must revisit a descriptor: a loop
            if index >= self.num:
                raise DeviceError(f"queue {self.index}: descriptor {index} past a {self.num}-entry table")
            raw = self._read(self.desc + DESC_SIZE * index, DESC_SIZE)
            addr = int.from_bytes(raw[0:8], "little")
            length = int.from_bytes(raw[8:12], "little")
            flags = int.from_bytes(raw[12:14], "little")
            following = int.from_bytes(raw[14:16], "little")
            if flags & VIRTQ_DESC_F_INDIRECT:
                raise DeviceError(
                    f"queue {self.index}: indirect descriptor (VIRTIO_F_INDIRECT_DESC not offered)"
                )
            total += length
            if total > MAX_CHAIN_BYTES:
                raise DeviceError(f"queue {self.index}: chain longer than {MAX_CHAIN_BYTES} bytes")
            if flags & VIRTQ_DESC_F_WRITE:
                chain.writable.append(Buffer(addr, length))
            elif chain.writable:
                raise DeviceError(f"queue {self.index}: device-readable descriptor after a writable one")
            else:
                chain.readable.append(Buffer(addr, length))
            if not flags & VIRTQ_DESC_F_NEXT:
                return chain
            index = following
        raise DeviceError(f"queue {self.index}: descriptor chain from {head} loops")

    def read_chain(self, chain: Chain) -> bytes:
        """The device-readable bytes of a chain, in order."""
        return b"".join(self._read(b.addr, b.length) for b in chain.readable)

    def fill_chain(self, chain: Chain, data: bytes) -> int:
        """Write ``data`` into the chain's device-writable buffers, in order; how many bytes fit."""
        done = 0
        for b in chain.writable:
            if done == len(data):
                break
            part = data[done : done + b.length]
            self._write(b.addr, part)
            done += len(part)
        return done

    # The used ring

    def push(self, head: int, written: int) -> None:
        """Return a chain: its element (id, bytes written to it), then the used idx the driver polls.

        The used ring's flags go with idx as 0: the device never asks the driver
        not to notify (VIRTQ_USED_F_NO_NOTIFY), and the driver may not have zeroed them.
        """
        elem = head.to_bytes(4, "little") + written.to_bytes(4, "little")
        self._write(self.device + 4 + 8 * (self.used_idx % self.num), elem)
        self.used_idx = (self.used_idx + 1) & 0xFFFF
        self._write(self.device, bytes(2) + self.used_idx.to_bytes(2, "little"))
        self.pushed += 1


class VirtioMmio:
    """A virtio-mmio (version 2) device: the register file, status and feature negotiation, queues, interrupt.

    Plugs into a ``Window`` (``read(cpu, offset, size)``, ``write(cpu, offset,
    size, value)``).  ``set_irq(level)`` drives the device's level-sensitive
    interrupt line (the runtime wires it to an SPI of the VM's vGIC); it is
    called when the level changes.  Registers below 0x100 are 32-bit, as
    §4.2.2 requires: other widths read 0 and writes are ignored.
    """

    device_id = 0  # the device type (§5); a subclass sets it

    def __init__(
        self,
        name: str,
        memory: GuestMemory,
        set_irq: Callable[[bool], None],
        features: int,
        queue_sizes: Sequence[int],
    ) -> None:
        self.name = name
        self.memory = memory
        self.set_irq = set_irq
        self.device_features = features | (1 << VIRTIO_F_VERSION_1)
        self.queues = [Virtqueue(i, n, memory) for i, n in enumerate(queue_sizes)]
        self.config_generation = 0
        self.irq_level = False
        self.error: str | None = None  # why the device last needed a reset
        self._clear()

    def _clear(self) -> None:
        self.status = 0
        self.driver_features = 0
        self.device_features_sel = self.driver_features_sel = 0
        self.queue_sel = 0
        self.shm_sel = 0
        self.interrupt_status = 0
        for q in self.queues:
            q.reset()

    # State

    @property
    def live(self) -> bool:
        """Whether the device may use its queues: the driver is up (§3.1) and nothing broke."""
        return self.status & (DRIVER_OK | FEATURES_OK) == DRIVER_OK | FEATURES_OK and not self.status & (
            DEVICE_NEEDS_RESET | FAILED
        )

    def negotiated(self, bit: int) -> bool:
        return bool(self.status & FEATURES_OK and self.driver_features >> bit & 1)

    def reset(self) -> None:
        """Device reset (Status written 0): back to the state the driver first found; the line drops."""
        self._clear()
        self.error = None
        self.device_reset()
        self._update_irq()

    def _features_acceptable(self) -> bool:
        """FEATURES_OK only for a subset of what was offered that includes VERSION_1 (no legacy mode)."""
        return not self.driver_features & ~self.device_features and bool(
            self.driver_features >> VIRTIO_F_VERSION_1 & 1
        )

    # Interrupts and errors

    def _update_irq(self) -> None:
        level = bool(self.interrupt_status)
        if level != self.irq_level:
            self.irq_level = level
            self.set_irq(level)

    def _used_notify(self, q: Virtqueue) -> None:
        """Interrupt for the used buffers just returned, unless the driver suppressed it."""
        if q.pushed:
            q.pushed = 0
            if not q.avail_flags() & VIRTQ_AVAIL_F_NO_INTERRUPT:
                self.interrupt_status |= INT_USED_BUFFER

    def config_changed(self) -> None:
        """The device's configuration changed: new generation, and an interrupt once the driver is up."""
        self.config_generation = (self.config_generation + 1) & 0xFFFFFFFF
        if self.status & DRIVER_OK:
            self.interrupt_status |= INT_CONFIG_CHANGE
            self._update_irq()

    def fail(self, reason: str) -> None:
        """A device error (§2.1.2): DEVICE_NEEDS_RESET, a config-change interrupt if the driver is up."""
        if self.status & DEVICE_NEEDS_RESET:
            return
        self.error = f"{self.name}: {reason}"
        self.status |= DEVICE_NEEDS_RESET
        if self.status & DRIVER_OK:
            self.interrupt_status |= INT_CONFIG_CHANGE
        self._update_irq()

    def run(self, work: Callable[[], None]) -> None:
        """Do queue work if the device is live; a device error stops it; interrupt for what was used."""
        if not self.live:
            return
        try:
            work()
            for q in self.queues:
                self._used_notify(q)
        except DeviceError as e:
            for q in self.queues:
                if q.pushed:  # what was returned before the error is still the driver's to see
                    q.pushed = 0
                    self.interrupt_status |= INT_USED_BUFFER
            self.fail(str(e))
        self._update_irq()

    # Hooks for the device type

    def config_read(self, offset: int, size: int) -> int:
        """Read ``size`` bytes of device configuration at ``offset`` (from 0x100)."""
        return 0

    def config_write(self, offset: int, size: int, value: int) -> None:
        """Write device configuration."""

    def queue_notify(self, q: Virtqueue) -> None:
        """The driver made buffers available in ``q`` (called only while live; in ``run``)."""

    def device_ready(self) -> None:
        """DRIVER_OK was just set: work the driver queued before it may start (in ``run``)."""

    def device_reset(self) -> None:
        """The device was reset: drop device-type state that belonged to the driver."""

    # The register window

    def _queue(self) -> Virtqueue | None:
        return self.queues[self.queue_sel] if self.queue_sel < len(self.queues) else None

    def read(self, cpu: int, offset: int, size: int) -> int:
        if offset >= CONFIG:
            return self.config_read(offset - CONFIG, size)
        if size != 4 or offset % 4:
            return 0
        q = self._queue()
        if offset == MAGIC_VALUE:
            return MAGIC
        if offset == VERSION:
            return TRANSPORT_VERSION
        if offset == DEVICE_ID:
            return self.device_id
        if offset == VENDOR_ID:
            return VENDOR
        if offset == DEVICE_FEATURES:
            return (
                (self.device_features >> (32 * self.device_features_sel)) & 0xFFFFFFFF
                if self.device_features_sel < 2
                else 0
            )
        if offset == QUEUE_NUM_MAX:
            return q.num_max if q else 0
        if offset == QUEUE_READY:
            return int(q.ready) if q else 0
        if offset == INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == STATUS:
            return self.status
        if offset in (SHM_LEN_LOW, SHM_LEN_HIGH, SHM_BASE_LOW, SHM_BASE_HIGH):
            return 0xFFFFFFFF  # no shared memory regions: every SHMSel reads as absent (-1)
        if offset == CONFIG_GENERATION:
            return self.config_generation
        if q is not None and offset in _QUEUE_ADDRESS:
            attr, high = _QUEUE_ADDRESS[offset]
            address: int = getattr(q, attr)
            return (address >> (32 if high else 0)) & 0xFFFFFFFF
        return 0  # write-only and reserved registers

    def write(self, cpu: int, offset: int, size: int, value: int) -> None:
        if offset >= CONFIG:
            self.config_write(offset - CONFIG, size, value)
            return
        if size != 4 or offset % 4:
            return
        value &= 0xFFFFFFFF
        q = self._queue()
        if offset == DEVICE_FEATURES_SEL:
            self.device_features_sel = value
        elif offset == DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == DRIVER_FEATURES:
            if self.driver_features_sel < 2 and not self.status & FEATURES_OK:  # fixed once accepted
                shift = 32 * self.driver_features_sel
                self.driver_features = (self.driver_features & ~(0xFFFFFFFF << shift)) | (value << shift)
        elif offset == QUEUE_SEL:
            self.queue_sel = value
        elif offset == QUEUE_NOTIFY:
            if value < len(self.queues) and self.queues[value].ready:
                target = self.queues[value]
                self.run(lambda: self.queue_notify(target))
        elif offset == INTERRUPT_ACK:
            self.interrupt_status &= ~value
            self._update_irq()
        elif offset == STATUS:
            self._write_status(value)
        elif offset == SHM_SEL:
            self.shm_sel = value
        elif q is not None and not q.ready:  # a queue in use cannot be resized or moved
            if offset == QUEUE_NUM:
                q.num = value
            elif offset == QUEUE_READY and value & 1:
                try:
                    q.validate()
                except DeviceError as e:
                    self.fail(str(e))
                    return
                q.ready = True
            elif offset in _QUEUE_ADDRESS:
                attr, high = _QUEUE_ADDRESS[offset]
                old: int = getattr(q, attr)
                new = (old & 0xFFFFFFFF) | (value << 32) if high else (old & ~0xFFFFFFFF) | value
                setattr(q, attr, new)
        elif q is not None and offset == QUEUE_READY and not value & 1:
            q.ready = False

    def _write_status(self, value: int) -> None:
        """Status: 0 resets; bits the driver sets accumulate; FEATURES_OK only for acceptable features."""
        if value == 0:
            self.reset()
            return
        added = value & 0xFF & ~self.status
        if added & FEATURES_OK and not self._features_acceptable():
            added &= ~FEATURES_OK
        was_live = self.live
        self.status |= added
        if self.live and not was_live:
            self.run(self.device_ready)


_QUEUE_ADDRESS = {
    QUEUE_DESC_LOW: ("desc", False),
    QUEUE_DESC_HIGH: ("desc", True),
    QUEUE_DRIVER_LOW: ("driver", False),
    QUEUE_DRIVER_HIGH: ("driver", True),
    QUEUE_DEVICE_LOW: ("device", False),
    QUEUE_DEVICE_HIGH: ("device", True),
}
