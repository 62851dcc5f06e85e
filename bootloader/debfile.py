"""Reading Debian .deb files with Python's own ar and tar support, so extracting a kernel
needs neither dpkg-deb nor root (deb(5): an ar archive of debian-binary, control.tar.*
and data.tar.*).  zstd members (not readable by Python 3.11's tarfile) go through
``dpkg-deb --fsys-tarfile`` when it is installed.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from typing import BinaryIO

AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60


class DebError(Exception):
    """A .deb that cannot be read, or lacks what was asked for."""


class _Slice(io.RawIOBase):
    """A read-only window onto one ar member, so tarfile streams it without a copy."""

    def __init__(self, f: BinaryIO, offset: int, size: int) -> None:
        self._f, self._pos, self._end = f, offset, offset + size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._end - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._pos)
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def ar_members(f: BinaryIO) -> dict[str, tuple[int, int]]:
    """Member name -> (data offset, size) of an ar archive (common and GNU "name/" forms)."""
    f.seek(0)
    if f.read(len(AR_MAGIC)) != AR_MAGIC:
        raise DebError("not an ar archive (a .deb starts with '!<arch>')")
    members: dict[str, tuple[int, int]] = {}
    pos = len(AR_MAGIC)
    while True:
        f.seek(pos)
        head = f.read(AR_HEADER)
        if not head:
            return members
        if len(head) < AR_HEADER or head[58:60] != b"`\n":
            raise DebError(f"damaged ar header at byte {pos}")
        name = head[:16].decode("ascii", "replace").rstrip().removesuffix("/")
        try:
            size = int(head[48:58].decode("ascii").strip())
        except ValueError:
            raise DebError(f"bad ar member size at byte {pos}") from None
        members[name] = (pos + AR_HEADER, size)
        pos += AR_HEADER + size + (size & 1)


def _tar_member(f: BinaryIO, members: dict[str, tuple[int, int]], stem: str) -> tuple[str, BinaryIO]:
    for name, (offset, size) in members.items():
        if name == stem or name.startswith(stem + "."):
            return name, io.BufferedReader(_Slice(f, offset, size), 1 << 20)
    raise DebError(f"no {stem}.* member (members: {', '.join(members)})")


def _open_tar(path: str, stem: str, f: BinaryIO) -> tarfile.TarFile:
    name, stream = _tar_member(f, ar_members(f), stem)
    if name.endswith(".zst"):
        return _zstd_tar(path, stem)
    try:
        return tarfile.open(fileobj=stream, mode="r|*")
    except tarfile.TarError as e:
        raise DebError(f"{os.path.basename(path)}: cannot read {name}: {e}") from None


def _zstd_tar(path: str, stem: str) -> tarfile.TarFile:
    """Python 3.11 has no zstd: ask dpkg-deb for the plain tar."""
    if shutil.which("dpkg-deb") is None:
        raise DebError(f"{os.path.basename(path)} is zstd-compressed: install dpkg (dpkg-deb) to read it")
    flag = "--ctrl-tarfile" if stem == "control.tar" else "--fsys-tarfile"
    out = subprocess.run(["dpkg-deb", flag, path], capture_output=True, check=False)
    if out.returncode:
        raise DebError(f"dpkg-deb {flag} {path}: {out.stderr.decode(errors='replace').strip()}")
    return tarfile.open(fileobj=io.BytesIO(out.stdout), mode="r:")


def control(path: str) -> dict[str, str]:
    """The package's control fields (Package, Version, Architecture...)."""
    with open(path, "rb") as f, _open_tar(path, "control.tar", f) as tar:
        for member in tar:
            if member.isfile() and _clean(member.name) == "control":
                handle = tar.extractfile(member)
                assert handle is not None
                return parse_control(handle.read().decode("utf-8", "replace"))
    raise DebError(f"{os.path.basename(path)}: no control file")


def _clean(name: str) -> str:
    """A tar member name without its leading "./" or "/" (dpkg-deb writes "./boot/...")."""
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name


def parse_control(text: str) -> dict[str, str]:
    """One deb822 paragraph; continuation lines are joined with newlines."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return fields


def extract(path: str, want: Callable[[str], bool]) -> dict[str, bytes]:
    """Regular files of data.tar whose path ("/boot/vmlinuz-...") ``want`` accepts.
    The tar is streamed, so a 90 MB kernel package is never held in memory whole."""
    found: dict[str, bytes] = {}
    with open(path, "rb") as f, _open_tar(path, "data.tar", f) as tar:
        try:
            for member in tar:
                name = "/" + _clean(member.name)
                if member.isfile() and want(name):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    found[name] = handle.read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DebError(f"{os.path.basename(path)}: damaged data.tar: {e}") from None
    return found
