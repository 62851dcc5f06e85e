"""A newc ("070701") cpio writer for initramfs images, so armboot needs no cpio tool or root.

The format is the one the kernel unpacks (init/initramfs.c, Documentation/driver-api/
early-userspace/buffer-format.rst): a 110-byte ASCII header of thirteen 8-digit hex
fields, the NUL-terminated name padded to 4 bytes, the data padded to 4 bytes, and a
``TRAILER!!!`` entry.  Writing the archive ourselves lets it hold a /dev/console device
node (the kernel opens it for init's stdio) without mknod, and makes it reproducible:
fixed mtimes, owner root, inode numbers in order.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass

MAGIC = b"070701"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"
_MAX_FIELD = 0xFFFFFFFF


@dataclass(frozen=True)
class Entry:
    """One archive member; ``mode`` carries the file type bits (stat.S_IFREG | 0o755...)."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)
    uid: int = 0
    gid: int = 0


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def header(ino: int, mode: int, uid: int, gid: int, nlink: int, mtime: int, filesize: int,
           rdev: tuple[int, int], namesize: int) -> bytes:
    """The 110-byte newc header; device major/minor of the archive's own file system are 0."""
    fields = (ino, mode, uid, gid, nlink, mtime, filesize, 0, 0, rdev[0], rdev[1], namesize, 0)
    for value in fields:
        if not 0 <= value <= _MAX_FIELD:
            raise ValueError(f"cpio newc field out of range: {value}")
    return MAGIC + b"".join(b"%08X" % v for v in fields)


def _member(name: str, ino: int, mode: int, uid: int, gid: int, nlink: int, mtime: int,
            data: bytes, rdev: tuple[int, int]) -> bytes:
    encoded = name.encode() + b"\0"
    head = header(ino, mode, uid, gid, nlink, mtime, len(data), rdev, len(encoded))
    return head + encoded + _pad4(HEADER_SIZE + len(encoded)) + data + _pad4(len(data))


def _normalise(path: str) -> str:
    """Archive names are relative ("bin/busybox"), as gen_init_cpio writes them."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any("\0" in p for p in parts):
        raise ValueError(f"bad archive path: {path!r}")
    return "/".join(parts)


class NewcArchive:
    """Members in order; parents are added before their children (the kernel creates
    each entry as it reads it, so a file before its folder would fail to unpack)."""

    def __init__(self, mtime: int = 0) -> None:
        self.mtime = mtime
        self.entries: list[Entry] = []
        self._names: dict[str, int] = {}

    def _add(self, entry: Entry) -> None:
        name = _normalise(entry.name)
        if name in self._names:
            raise ValueError(f"duplicate archive path: {name}")
        parent = name.rpartition("/")[0]
        if parent and parent not in self._names:
            self.directory(parent)
        elif parent and not stat.S_ISDIR(self.entries[self._names[parent]].mode):
            raise ValueError(f"{name}: parent {parent} is not a directory")
        self._names[name] = len(self.entries)
        self.entries.append(Entry(name, entry.mode, entry.data, entry.rdev, entry.uid, entry.gid))

    def directory(self, path: str, mode: int = 0o755) -> None:
        self._add(Entry(path, stat.S_IFDIR | (mode & 0o7777)))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._add(Entry(path, stat.S_IFREG | (mode & 0o7777), bytes(data)))

    def symlink(self, path: str, target: str) -> None:
        self._add(Entry(path, stat.S_IFLNK | 0o777, target.encode()))

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._add(Entry(path, stat.S_IFCHR | (mode & 0o7777), rdev=(major, minor)))

    def __contains__(self, path: str) -> bool:
        return _normalise(path) in self._names

    def to_bytes(self) -> bytes:
        """The uncompressed archive.  Every member has its own inode number and nlink 1
        (2 for folders): the kernel links regular files sharing (ino, nlink >= 2)."""
        out = bytearray()
        for ino, e in enumerate(self.entries, start=1):
            nlink = 2 if stat.S_ISDIR(e.mode) else 1
            out += _member(e.name, ino, e.mode, e.uid, e.gid, nlink, self.mtime, e.data, e.rdev)
        out += _member(TRAILER, 0, 0, 0, 0, 1, 0, b"", (0, 0))
        return bytes(out)

    def to_gzip(self) -> bytes:
        """gzip with no name and mtime 0, so equal archives give equal bytes (CONFIG_RD_GZIP)."""
        return gzip.compress(self.to_bytes(), compresslevel=9, mtime=0)
