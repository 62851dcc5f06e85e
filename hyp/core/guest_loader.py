"""Putting a guest into its RAM: kernel, ramdisk and its own device tree, as Xen does for dom0less.

The bootloader loaded the guest's modules into host RAM (and wrote their
``reg``); the runtime copies them into the guest's RAM through the guest's
stage 2, builds the guest's device tree for its personality's board, and
returns the entry point and the DTB's IPA (the guest's x0).  The layout
follows the arm64 boot protocol: an Image at a 2 MB-aligned base plus
text_offset, the DTB in the last 2 MB of guest RAM, the ramdisk below it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from armboot.bootloader.errors import BootError
from armboot.bootloader.payload import parse_payload

from .vm import Vm

if TYPE_CHECKING:
    from armboot.bootloader.dom0less import GuestSpec
    from armboot.hyp.personalities.guest_board import GuestBoard

    from .runtime import Runtime

SZ_2M = 2 << 20
PAGE = 0x1000


def _module_bytes(runtime: Runtime, what: str, address: int | None, size: int | None) -> bytes:
    if address is None or size is None:
        raise BootError(f"{what}: not loaded (no file and no reg)")
    return runtime.machine.read(address, size)


def load_guest(runtime: Runtime, vm: Vm, spec: GuestSpec, board: GuestBoard) -> tuple[int, int]:
    from armboot.hyp.personalities.guest_board import guest_dtb

    ram = vm.ram[0]
    base, end = ram.ipa, ram.ipa + ram.size
    runtime.machine.write(ram.pa, bytes(ram.size))  # a fresh VM (and a restarted one) starts from zeroed RAM
    kernel = spec.kernel
    name = f"guest {spec.name}: kernel {kernel.path or hex(kernel.address or 0)}"
    payload = parse_payload(_module_bytes(runtime, name, kernel.address, kernel.size), name, load_address=base)
    if payload.header is not None:
        hdr = payload.header
        load = base + hdr.text_offset
        if load + max(hdr.image_size, len(payload.blob)) > end - SZ_2M:
            raise BootError(f"{name}: 0x{hdr.image_size:x} bytes do not fit the guest's 0x{ram.size:x} bytes of RAM")
        payload.segments, payload.entry = [(load, payload.blob)], load
    for address, data in payload.segments:
        if not (base <= address and address + len(data) <= end - SZ_2M):
            raise BootError(
                f"{name}: a segment at 0x{address:x}..0x{address + len(data):x} lies outside the guest's RAM "
                f"0x{base:x}..0x{end - SZ_2M:x} (the last 2 MB hold its device tree)"
            )
        vm.write(address, data)
    dtb_ipa = end - SZ_2M
    initrd = None
    if spec.ramdisk is not None:
        blob = _module_bytes(runtime, f"guest {spec.name}: ramdisk", spec.ramdisk.address, spec.ramdisk.size)
        start = (dtb_ipa - len(blob)) & ~(PAGE - 1)
        top = max((a + len(d) for a, d in payload.segments), default=base)
        if start < top:
            raise BootError(f"guest {spec.name}: the ramdisk (0x{len(blob):x} bytes) does not fit beside the kernel")
        vm.write(start, blob)
        initrd = (start, start + len(blob))
    dtb = guest_dtb(spec, board, initrd)
    if len(dtb) > SZ_2M:
        raise BootError(f"guest {spec.name}: its device tree is larger than 2 MB")
    vm.write(dtb_ipa, dtb)
    return payload.entry, dtb_ipa
