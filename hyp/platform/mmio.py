"""Device register windows as unicorn needs them: page-aligned regions.

Trees put small devices side by side (a 0x200-byte virtio window, several
in one 4 KB page); unicorn maps MMIO only in whole pages.  Windows are grouped
into page-aligned regions and each access is dispatched to the window it
falls in; bytes of a page no device claims read as zero and ignore writes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from .devices import Window

PAGE = 0x1000


@dataclass
class Region:
    base: int
    size: int
    windows: list[Window] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)

    def find(self, address: int) -> Window | None:
        i = bisect.bisect_right(self.starts, address) - 1
        if i >= 0:
            w = self.windows[i]
            if address < w.base + w.size:
                return w
        return None

    def reader(self, cpu: int) -> Callable[[int, int], int]:
        base = self.base
        if len(self.windows) == 1 and self.windows[0].base == base:
            w = self.windows[0]
            return lambda offset, size: w.read(cpu, offset, size)

        def read(offset: int, size: int) -> int:
            address = base + offset
            w = self.find(address)
            return w.read(cpu, address - w.base, size) if w is not None else 0

        return read

    def writer(self, cpu: int) -> Callable[[int, int, int], None]:
        base = self.base
        if len(self.windows) == 1 and self.windows[0].base == base:
            w = self.windows[0]
            return lambda offset, size, value: w.write(cpu, offset, size, value)

        def write(offset: int, size: int, value: int) -> None:
            address = base + offset
            w = self.find(address)
            if w is not None:
                w.write(cpu, address - w.base, size, value)

        return write


def page_regions(windows: list[Window]) -> list[Region]:
    """Merge windows whose pages touch into page-aligned regions."""
    regions: list[Region] = []
    for w in sorted(windows, key=lambda w: w.base):
        lo = w.base & ~(PAGE - 1)
        hi = (w.base + w.size + PAGE - 1) & ~(PAGE - 1)
        if regions and lo < regions[-1].base + regions[-1].size:
            last = regions[-1]
            last.size = max(last.size, hi - last.base)
        else:
            regions.append(Region(lo, hi - lo))
        regions[-1].windows.append(w)
        regions[-1].starts.append(w.base)
    return regions
