"""Read dtc's check table out of the installed, stripped dtc binary.

dtc keeps its checks as data: ``static struct check *check_table[]`` points at
``struct check {name, fn, data, warn, error, status, inprogress, num_prereqs,
prereq}`` records.  In a PIE every pointer in that data is written by an
R_X86_64_RELATIVE relocation, so the relocations tell pointers apart from
other bytes even without symbols.  Reading the binary (not a list typed from
memory) is what lets a test prove armboot's table equals the one dtc runs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

R_X86_64_RELATIVE = 8
CHECK_SIZE = 48  # x86-64 layout of struct check
NAME, FN, DATA, FLAGS, NUM_PREREQS, PREREQ = 0, 8, 16, 24, 36, 40


@dataclass(frozen=True)
class CheckRef:
    """Data that points at another check (1.6.1's interrupts_property passes &phandle_references)."""

    name: str


@dataclass(frozen=True)
class BinaryCheck:
    name: str
    warn: bool
    error: bool
    prereqs: tuple[str, ...]
    data: object  # a string, a provider (property, cells name, optional), a CheckRef, or None


class _Image:
    """The loaded view of an ELF file: bytes at virtual addresses plus relocated pointers."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf["e_machine"] != "EM_X86_64":
                raise ValueError(f"{path}: only x86-64 dtc binaries are understood")
            self.sections = {}
            for sec in elf.iter_sections():
                if sec["sh_addr"] and sec["sh_type"] != "SHT_NOBITS":
                    self.sections[sec.name] = (sec["sh_addr"], sec.data(), bool(sec["sh_flags"] & 0x4))
            self.pointers: dict[int, int] = {}
            for sec in elf.iter_sections():
                if isinstance(sec, RelocationSection) and sec.is_RELA():
                    for rel in sec.iter_relocations():
                        if rel["r_info_type"] == R_X86_64_RELATIVE:
                            self.pointers[rel["r_offset"]] = rel["r_addend"]

    def section_of(self, addr: int) -> str | None:
        for name, (start, data, _) in self.sections.items():
            if start <= addr < start + len(data):
                return name
        return None

    def read(self, addr: int, size: int) -> bytes:
        for start, data, _ in self.sections.values():
            if start <= addr and addr + size <= start + len(data):
                return data[addr - start : addr - start + size]
        raise ValueError(f"address 0x{addr:x} is not in a loaded section")

    def cstring(self, addr: int) -> str:
        out = bytearray()
        while (b := self.read(addr + len(out), 1)) != b"\0":
            out += b
        return out.decode("latin-1")

    def is_text(self, addr: int) -> bool:
        return any(start <= addr < start + len(data) for start, data, x in self.sections.values() if x)

    def is_identifier(self, addr: int) -> bool:
        if self.section_of(addr) != ".rodata":
            return False
        name = self.cstring(addr)
        return bool(name) and all(c.isalnum() or c == "_" for c in name)


def _looks_like_check(img: _Image, addr: int) -> bool:
    """A struct check: name -> identifier, fn -> code (or NULL), prereq -> a relocated pointer."""
    name = img.pointers.get(addr + NAME)
    if name is None or not img.is_identifier(name):
        return False
    fn = img.pointers.get(addr + FN)
    if fn is None and img.read(addr + FN, 8) != bytes(8):
        return False
    if fn is not None and not img.is_text(fn):
        return False
    warn, error = img.read(addr + FLAGS, 2)
    return warn in (0, 1) and error in (0, 1) and (addr + PREREQ) in img.pointers


def _data(img: _Image, addr: int, checks: set[int]) -> object:
    """A check's data: a string in .rodata, another check, a struct provider {char *, char *, bool}, or None."""
    ptr = img.pointers.get(addr + DATA)
    if ptr is None:
        return None
    if img.section_of(ptr) == ".rodata":
        return img.cstring(ptr)
    if ptr in checks:
        return CheckRef(img.cstring(img.pointers[ptr + NAME]))
    if ptr in img.pointers and ptr + 8 in img.pointers:
        return (img.cstring(img.pointers[ptr]), img.cstring(img.pointers[ptr + 8]), bool(img.read(ptr + 16, 1)[0]))
    return ptr


@cache
def read_check_table(path: str = "/usr/bin/dtc") -> list[BinaryCheck]:
    """dtc's check_table, in order: the longest run of pointers to struct check records."""
    img = _Image(path)
    checks = {p for p in set(img.pointers.values()) if _looks_like_check(img, p)}
    best: list[int] = []
    run: list[int] = []
    for slot in sorted(img.pointers):
        target = img.pointers[slot]
        if target in checks and (not run or slot == run[-1] + 8):
            run.append(slot)
        else:
            run = [slot] if target in checks else []
        if len(run) > len(best):
            best = list(run)
    table = [img.pointers[slot] for slot in best]

    def name_of(addr: int) -> str:
        return img.cstring(img.pointers[addr + NAME])

    out = []
    for addr in table:
        warn, error = img.read(addr + FLAGS, 2)
        (count,) = struct.unpack("<i", img.read(addr + NUM_PREREQS, 4))
        array = img.pointers[addr + PREREQ]
        prereqs = tuple(name_of(img.pointers[array + 8 * i]) for i in range(count))
        out.append(BinaryCheck(name_of(addr), bool(warn), bool(error), prereqs, _data(img, addr, checks)))
    return out


if __name__ == "__main__":
    for c in read_check_table():
        level = "error" if c.error else "warning" if c.warn else "off"
        print(f"{c.name:40} {level:8} {c.prereqs} {c.data!r}")
