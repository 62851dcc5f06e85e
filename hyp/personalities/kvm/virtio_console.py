"""The virtio console (virtio 1.2 §5.3) over virtio-mmio: what QEMU's virtconsole is to a KVM guest.

One port, no multiport control queues: queue 0 (receiveq) carries host input
to the guest, queue 1 (transmitq) the guest's output to the VM's console.
Offered: VIRTIO_CONSOLE_F_SIZE (cols/rows in the configuration, changed with
``resize``) and VIRTIO_CONSOLE_F_EMERG_WRITE (a write to ``emerg_wr`` prints
its character at once, even before the driver set the device up, which is
what early-boot code wants).
"""

from __future__ import annotations

from collections.abc import Callable

from .virtio_mmio import GuestMemory, VirtioMmio, Virtqueue

VIRTIO_ID_CONSOLE = 3
VIRTIO_CONSOLE_F_SIZE = 0
VIRTIO_CONSOLE_F_MULTIPORT = 1
VIRTIO_CONSOLE_F_EMERG_WRITE = 2

RECEIVEQ, TRANSMITQ = 0, 1
QUEUE_SIZE = 128
# struct virtio_console_config: le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr
CFG_COLS, CFG_ROWS, CFG_MAX_NR_PORTS, CFG_EMERG_WR, CFG_SIZE = 0, 2, 4, 8, 12
# Input waiting for receive buffers; beyond this it is dropped (counted in ``dropped``)
MAX_PENDING = 64 * 1024


class VirtioConsole(VirtioMmio):
    """A virtio-mmio console: ``output`` gets what the guest writes, ``feed`` queues what it reads."""

    device_id = VIRTIO_ID_CONSOLE

    def __init__(
        self,
        name: str,
        memory: GuestMemory,
        output: Callable[[bytes], None],
        set_irq: Callable[[bool], None],
        cols: int = 80,
        rows: int = 25,
    ) -> None:
        self.output = output
        self.cols, self.rows = cols, rows
        self.pending = bytearray()  # host input not yet in a guest buffer; kept across resets
        self.dropped = 0
        super().__init__(
            name,
            memory,
            set_irq,
            features=(1 << VIRTIO_CONSOLE_F_SIZE) | (1 << VIRTIO_CONSOLE_F_EMERG_WRITE),
            queue_sizes=(QUEUE_SIZE, QUEUE_SIZE),
        )

    # Host side

    def feed(self, data: bytes) -> None:
        """Characters typed at the console: into posted receive buffers now, or when the guest posts some."""
        room = MAX_PENDING - len(self.pending)
        self.pending += data[:room]
        self.dropped += max(0, len(data) - room)
        self.run(self._receive)

    def resize(self, cols: int, rows: int) -> None:
        """The console's size changed: new cols/rows and a configuration-change interrupt."""
        self.cols, self.rows = cols & 0xFFFF, rows & 0xFFFF
        self.config_changed()

    # Queues

    def _receive(self) -> None:
        rx = self.queues[RECEIVEQ]
        while self.pending and rx.ready and (chain := rx.pop()) is not None:
            written = rx.fill_chain(chain, bytes(self.pending))
            rx.push(chain.head, written)
            del self.pending[:written]

    def _transmit(self) -> None:
        tx = self.queues[TRANSMITQ]
        while tx.ready and (chain := tx.pop()) is not None:
            data = tx.read_chain(chain)
            tx.push(chain.head, 0)  # used len counts bytes the device wrote: none, for output
            if data:
                self.output(data)

    # Hooks

    def queue_notify(self, q: Virtqueue) -> None:
        if q.index == RECEIVEQ:
            self._receive()
        elif q.index == TRANSMITQ:
            self._transmit()

    def device_ready(self) -> None:
        self._transmit()
        self._receive()

    def config_read(self, offset: int, size: int) -> int:
        config = (
            self.cols.to_bytes(2, "little")
            + self.rows.to_bytes(2, "little")
            + (1).to_bytes(4, "little")  # one port (max_nr_ports only matters with MULTIPORT)
            + bytes(4)  # emerg_wr is write-only
        )
        return int.from_bytes(config[offset : offset + size].ljust(size, b"\0"), "little") if size > 0 else 0

    def config_write(self, offset: int, size: int, value: int) -> None:
        if offset == CFG_EMERG_WR and size > 0:  # other fields are read-only
            self.output(bytes([value & 0xFF]))
