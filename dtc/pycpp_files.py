"""Finding and reading ``#include`` files the way GCC's cpp does.

Paths are spelled as GCC spells them (``dir/name``, no normalisation), since
they appear in linemarkers and so in every diagnostic; they are kept as one
character per byte, like all of cpp's text.  Like libcpp, a file
is known by how it was asked for (the name as written and where the search
started), not by its path: an include guard or ``#pragma once`` learnt
through ``"x.h"`` from one folder does not stop ``<dir/x.h>`` from entering
the same file again, and cpp then prints its linemarkers.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from .pycpp_lex import SourceText

CHAIN_START = ("chain", 0)  # where an angle-bracket search starts: the first -I folder
MAX_FILE_SIZE = 64 << 20


@dataclass(eq=False)
class FileData:
    path: str
    text: str  # decoded as latin-1: every byte is one character
    mtime: float
    size: int


@dataclass(eq=False)
class FileEntry:
    """libcpp's _cpp_file: one file as reached by one way of naming it."""

    path: str
    data: FileData
    found_in: int  # index of the -I folder it was found in, -1 otherwise
    guard: str | None = None  # the macro whose definition makes including it again a no-op
    once_only: bool = False
    stacked: int = 0

    def source(self) -> SourceText:
        return SourceText.from_file_text(self.data.text)


def dir_of(path: str) -> str:
    """The directory part of a path, with its trailing slash (GCC's dir_name_of_file)."""
    return path[: path.rfind("/") + 1]


def join(directory: str, name: str) -> str:
    """append_file_to_dir: a slash between the two unless the directory ends in one."""
    if directory and not directory.endswith("/"):
        return f"{directory}/{name}"
    return directory + name


def as_bytes_text(path: str) -> str:
    """A path as cpp sees it: its bytes, one character each (how cpp's output is decoded)."""
    return os.fsencode(path).decode("latin-1")


def _fs(path: str) -> bytes:
    return path.encode("latin-1")


def include_chain(dirs: list[str]) -> list[str]:
    """The ``-I`` folders cpp keeps: existing directories, later duplicates (same inode) dropped."""
    chain: list[str] = []
    seen: set[tuple[int, int]] = set()
    for d in map(as_bytes_text, dirs):
        try:
            st = os.stat(_fs(d))
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        key = (st.st_dev, st.st_ino)
        if key not in seen:
            seen.add(key)
            chain.append(d)
    return chain


class FileCache:
    """File contents by path (read at most once) and files by lookup."""

    def __init__(self, chain: list[str]) -> None:
        self.chain = chain
        self.contents: dict[str, FileData | None] = {}
        self.entries: dict[tuple[str, tuple[str, object]], FileEntry] = {}
        self.lines: dict[str, list[str]] = {}  # files reread for diagnostics, by name
        self.entered: set[str] = set()  # paths read so far
        self.entries_count = 0  # files entered, repeats included
        self.seen_once_only = False

    def read(self, path: str) -> FileData | None:
        """The file at ``path``; None when it does not exist or is a directory (cpp keeps searching).

        Raises OSError for a file that exists but cannot be read.
        """
        if path in self.contents:
            return self.contents[path]
        data: FileData | None = None
        try:
            st = os.stat(_fs(path))
        except OSError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            with open(_fs(path), "rb") as f:
                raw = f.read(MAX_FILE_SIZE + 1)
            if len(raw) > MAX_FILE_SIZE:  # (/dev/zero would never end)
                raise OSError(errno.EFBIG, f"larger than {MAX_FILE_SIZE >> 20} MB")
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            data = FileData(path, raw.decode("latin-1"), st.st_mtime, st.st_size)
        self.contents[path] = data
        return data

    def given_file(self, name: str, raw: bytes) -> FileEntry:
        """A main file whose text was handed over (standard input)."""
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        return FileEntry(name, FileData(name, raw.decode("latin-1"), 0.0, len(raw)), -1)

    def display_column(self, name: str, line: int, col: int) -> int:
        """The column GCC prints for byte column ``col``: it rereads line ``line`` of the file
        *named* ``name`` (so after ``#line`` another file, or none) and counts tabs up to the
        next multiple of 8 and a UTF-8 character as one column."""
        lines = self.lines.get(name)
        if lines is None:
            try:
                data = self.read(name)
            except OSError:
                data = None
            lines = [] if data is None else data.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            self.lines[name] = lines
        if not 0 < line <= len(lines) or col < 1:
            return col
        text = lines[line - 1]
        prefix = text[:col]
        if "\t" not in prefix and prefix.isascii():
            return col
        width = 0
        for ch in prefix.encode("latin-1").decode("utf-8", "replace"):
            width = (width // 8 + 1) * 8 if ch == "\t" else width + 1
        return width + max(0, col - len(text))

    def main_file(self, path: str) -> FileEntry | None:
        data = self.read(path)
        return None if data is None else FileEntry(path, data, -1)

    def find(self, name: str, start: tuple[str, object]) -> FileEntry | None:
        """_cpp_find_file: search from ``start`` (("dir", folder), ("chain", index) or ("abs", ""))."""
        key = (name, start)
        if key in self.entries:
            return self.entries[key]
        candidates: list[tuple[str, int]] = []
        if start[0] == "abs":
            candidates = [("", -1)]
        else:
            first = 0
            if start[0] == "dir":
                candidates.append((str(start[1]), -1))
            else:
                first = int(start[1])  # type: ignore[call-overload]
            candidates += [(d, i) for i, d in enumerate(self.chain) if i >= first]
        entry: FileEntry | None = None
        passed_chain_start = False
        for directory, index in candidates:
            if index == 0 and start != CHAIN_START:
                passed_chain_start = True
                shared = self.entries.get((name, CHAIN_START))
                if shared is not None:
                    entry = shared
                    break
            path = join(directory, name) if start[0] != "abs" else name
            data = self.read(path)
            if data is not None:
                entry = FileEntry(path, data, index)
                break
        if entry is None:
            return None
        self.entries[key] = entry
        if passed_chain_start:
            self.entries.setdefault((name, CHAIN_START), entry)
        return entry

    def duplicate_of_once_only(self, entry: FileEntry) -> bool:
        """GCC skips a file whose contents equal those of an included #pragma once file."""
        if not self.seen_once_only:
            return False
        for other in set(self.entries.values()):
            if other is entry or not other.once_only or not other.stacked:
                continue
            a, b = other.data, entry.data
            if a.mtime == b.mtime and a.size == b.size and a.text == b.text:
                return True
        return False
