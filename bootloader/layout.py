"""Where things go in RAM: the payload, the initrd, the DTB, modules — never overlapping each
other, /memreserve/ entries, or /reserved-memory regions."""

from __future__ import annotations

from dataclasses import dataclass, field

from armboot.dtc.tree import DeviceTree
from armboot.hyp.platform.board import Machine
from armboot.hyp.platform.resolve import TreeError, reg_entries

from .errors import BootError
from .payload import SZ_2M, Payload

DTB_MAX = SZ_2M


def align_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


@dataclass
class Claim:
    start: int
    end: int
    what: str


@dataclass
class Planner:
    machine: Machine
    claims: list[Claim] = field(default_factory=list)

    def __post_init__(self) -> None:
        tree = self.machine.tree
        for entry in tree.reserves:
            if entry.size:
                self.claims.append(Claim(entry.address, entry.address + entry.size, "a /memreserve/ entry"))
        for start, size, path in reserved_memory(tree):
            self.claims.append(Claim(start, start + size, path))

    def _conflict(self, start: int, end: int) -> Claim | None:
        for c in self.claims:
            if start < c.end and c.start < end:
                return c
        return None

    def claim(self, start: int, size: int, what: str) -> None:
        end = start + size
        if self.machine.region_at(start, max(size, 1)) is None:
            raise BootError(f"{what} at 0x{start:x}..0x{end:x} is not inside RAM ({self._ram()})")
        clash = self._conflict(start, end)
        if clash is not None:
            raise BootError(f"{what} at 0x{start:x}..0x{end:x} overlaps {clash.what} at 0x{clash.start:x}..0x{clash.end:x}")
        self.claims.append(Claim(start, end, what))

    def _ram(self) -> str:
        return ", ".join(f"0x{r.base:x}..0x{r.base + r.size:x}" for r in self.machine.ram)

    def place_payload(self, payload: Payload) -> None:
        """ELF/raw segments where they say; an Image at the first free 2 MB-aligned base + text_offset."""
        if payload.header is None:
            for addr, data in payload.segments:
                self.claim(addr, len(data), f"payload {payload.name}")
            return
        hdr = payload.header
        for region in self.machine.ram:
            base = align_up(region.base, SZ_2M)
            while base + hdr.text_offset + hdr.image_size <= region.base + region.size:
                load = base + hdr.text_offset
                if self._conflict(load, load + hdr.image_size) is None:
                    self.claim(load, hdr.image_size, f"kernel {payload.name}")
                    payload.segments = [(load, payload.blob)]
                    payload.entry = load
                    return
                if not hdr.anywhere and base - region.base >= 64 * SZ_2M:
                    break
                base += SZ_2M
        raise BootError(
            f"kernel {payload.name}: no free 2 MB-aligned place for 0x{hdr.image_size:x} bytes in RAM ({self._ram()})"
        )

    def place(self, size: int, align: int, what: str, top_down: bool = False) -> int:
        """The lowest (or highest) free, aligned place for ``size`` bytes."""
        regions = sorted(self.machine.ram, key=lambda r: r.base, reverse=top_down)
        for region in regions:
            lo, hi = region.base, region.base + region.size
            candidates = range(align_up(lo, align), hi - size + 1, align)
            for start in reversed(candidates) if top_down else candidates:
                clash = self._conflict(start, start + size)
                if clash is None:
                    self.claim(start, size, what)
                    return start
        raise BootError(f"no room in RAM for {what} (0x{size:x} bytes; RAM {self._ram()})")

    def place_dtb(self, size: int) -> int:
        """At the start of a free 2 MB block: 8-byte aligned and never crossing a 2 MB boundary."""
        if size > DTB_MAX:
            raise BootError(f"the DTB is 0x{size:x} bytes; the boot protocol allows at most 2 MB")
        return self.place(SZ_2M, SZ_2M, "the device tree blob", top_down=True)


def reserved_memory(tree: DeviceTree) -> list[tuple[int, int, str]]:
    rm = tree.find("/reserved-memory")
    out = []
    if rm is None:
        return out
    for child in rm.nodes:
        try:
            for start, size in reg_entries(child):
                if size:
                    out.append((start, size, child.path))
        except TreeError:
            continue
    return out
