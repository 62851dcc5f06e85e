"""Payload formats: the arm64 Linux ``Image`` (Documentation/arm64/booting.rst), ELF, raw binary.

A payload becomes a list of (physical address, bytes) segments plus an entry
point; for an Image the load address is chosen by the layout (2 MB-aligned
base + text_offset), so it is returned unplaced.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from .errors import BootError

IMAGE_MAGIC = 0x644D5241  # "ARM\x64"
ELF_MAGIC = b"\x7fELF"
DEFAULT_TEXT_OFFSET = 0x80000
SZ_2M = 2 << 20


@dataclass
class ImageHeader:
    text_offset: int
    image_size: int
    flags: int

    @property
    def big_endian(self) -> bool:
        return bool(self.flags & 1)

    @property
    def page_size(self) -> int:
        return {0: 0, 1: 4096, 2: 16384, 3: 65536}[(self.flags >> 1) & 3]

    @property
    def anywhere(self) -> bool:
        """Bit 3: the image may sit at any 2 MB-aligned base, not only near the start of DRAM."""
        return bool(self.flags & 8)


@dataclass
class Payload:
    name: str
    kind: str  # "image" | "elf" | "raw"
    segments: list[tuple[int, bytes]] = field(default_factory=list)  # placed (elf, raw)
    blob: bytes = b""  # unplaced (image)
    header: ImageHeader | None = None
    entry: int = 0

    @property
    def span(self) -> tuple[int, int]:
        """(start, end) of the memory it occupies once placed."""
        lo = min(a for a, _ in self.segments)
        hi = max(a + len(d) for a, d in self.segments)
        if self.header is not None:
            hi = max(hi, lo + self.header.image_size)
        return lo, hi


def parse_image_header(blob: bytes, name: str) -> ImageHeader:
    if len(blob) < 64:
        raise BootError(f"{name}: {len(blob)} bytes is too short for an arm64 Image header (64 bytes)")
    text_offset, image_size, flags = struct.unpack_from("<QQQ", blob, 8)
    magic = struct.unpack_from("<I", blob, 56)[0]
    if magic != IMAGE_MAGIC:
        raise BootError(f"{name}: bad arm64 Image magic 0x{magic:08x} at offset 56 (expected 0x{IMAGE_MAGIC:08x}, 'ARM\\x64')")
    if image_size == 0:  # kernels before 3.17: text_offset is 0x80000 whatever the field says
        text_offset, image_size = DEFAULT_TEXT_OFFSET, len(blob)
    header = ImageHeader(text_offset, image_size, flags)
    if header.big_endian:
        raise BootError(f"{name}: a big-endian kernel (flags bit 0); armboot's boards are little-endian")
    if text_offset % 4096 or text_offset >= SZ_2M:
        raise BootError(f"{name}: text_offset 0x{text_offset:x} is not a 4 KB multiple below 2 MB")
    if image_size < len(blob):
        raise BootError(f"{name}: image_size 0x{image_size:x} is smaller than the file (0x{len(blob):x} bytes)")
    return header


def load_payload(path: str, load_address: int | None = None) -> Payload:
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise BootError(f"cannot read payload {path}: {e.strerror}") from None
    return parse_payload(blob, path, load_address)


def parse_payload(blob: bytes, path: str, load_address: int | None = None) -> Payload:
    """An arm64 Image, ELF or raw binary from its bytes (``path`` names it in errors)."""
    if not blob:
        raise BootError(f"{path}: the payload is empty")
    if blob.startswith(ELF_MAGIC):
        return _load_elf(path, blob)
    if len(blob) >= 64 and struct.unpack_from("<I", blob, 56)[0] == IMAGE_MAGIC:
        header = parse_image_header(blob, path)
        return Payload(path, "image", blob=blob, header=header)
    if blob[:2] == b"MZ" or blob[:2] == b"\x1f\x8b":
        raise BootError(f"{path}: a compressed or EFI-stub-only kernel; armboot needs the uncompressed arm64 Image")
    if load_address is None:
        raise BootError(f"{path}: not an arm64 Image or ELF; a raw binary needs --load-addr")
    return Payload(path, "raw", segments=[(load_address, blob)], entry=load_address)


def _load_elf(path: str, blob: bytes) -> Payload:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(blob))
        if elf["e_machine"] != "EM_AARCH64":
            raise BootError(f"{path}: an ELF for {elf['e_machine']}, not AArch64")
        if elf.little_endian is False:
            raise BootError(f"{path}: a big-endian ELF; armboot's boards are little-endian")
        segments = []
        entry = elf["e_entry"]
        entry_phys = None
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            data = seg.data() + b"\0" * (seg["p_memsz"] - seg["p_filesz"])
            segments.append((seg["p_paddr"], data))
            if seg["p_vaddr"] <= entry < seg["p_vaddr"] + seg["p_memsz"]:
                entry_phys = seg["p_paddr"] + (entry - seg["p_vaddr"])
    except ELFError as e:
        raise BootError(f"{path}: not a valid ELF file: {e}") from None
    if not segments:
        raise BootError(f"{path}: the ELF has no PT_LOAD segment")
    return Payload(path, "elf", segments=segments, entry=entry_phys if entry_phys is not None else entry)
