"""armboot's newc cpio writer (bootloader/cpio.py) against GNU cpio and an independent
reader that follows the kernel's unpacker (init/initramfs.c)."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import stat
import subprocess

import pytest
from armboot.bootloader import cpio

# ---- an independent newc reader (the kernel's rules: init/initramfs.c)

FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
          "rdevmajor", "rdevminor", "namesize", "check")


def _align(n: int) -> int:
    return (n + 3) & ~3


def parse_newc(blob: bytes) -> list[dict]:
    entries, pos = [], 0
    while True:
        assert pos % 4 == 0 and blob[pos : pos + 6] == b"070701", f"no newc header at {pos}"
        head = blob[pos : pos + 110]
        e = {k: int(head[6 + 8 * i : 14 + 8 * i], 16) for i, k in enumerate(FIELDS)}
        name_end = pos + 110 + e["namesize"]
        raw = blob[pos + 110 : name_end]
        assert raw.endswith(b"\0") and b"\0" not in raw[:-1]
        start = _align(name_end)
        assert blob[name_end:start] == b"\0" * (start - name_end)
        e["name"], e["data"] = raw[:-1].decode(), blob[start : start + e["filesize"]]
        pos = _align(start + e["filesize"])
        assert blob[start + e["filesize"] : pos].strip(b"\0") == b""
        if e["name"] == "TRAILER!!!":
            assert blob[pos:].strip(b"\0") == b""
            return entries
        entries.append(e)


def sample_archive() -> cpio.NewcArchive:
    a = cpio.NewcArchive()
    a.directory("bin")
    a.file("bin/tool", b"\x7fELF" + bytes(range(256)) * 3 + b"odd", 0o755)
    a.file("/etc/deep/nested/config.txt", b"key=value\n")  # parents made, leading / dropped
    a.file("empty", b"")
    a.file("a-name-of-odd-length-x", b"123")
    a.symlink("bin/sh", "tool")
    a.symlink("abs-link", "/bin/tool")
    a.char_device("dev/console", 5, 1, 0o600)
    a.file("init", b"#!/bin/sh\necho hi\n", 0o755)
    return a


@pytest.fixture(scope="module")
def cpio_tool() -> str:
    """GNU cpio, installed from Debian when missing and we may (root with apt-get)."""
    found = shutil.which("cpio")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "cpio"], env=env, capture_output=True, check=False)
        found = shutil.which("cpio")
    if found is None:
        pytest.skip("GNU cpio is not installed (apt-get install cpio)")
    return found


def test_newc_layout_follows_the_kernel_rules() -> None:
    entries = parse_newc(sample_archive().to_bytes())
    names = [e["name"] for e in entries]
    assert names == ["bin", "bin/tool", "etc", "etc/deep", "etc/deep/nested", "etc/deep/nested/config.txt",
                     "empty", "a-name-of-odd-length-x", "bin/sh", "abs-link", "dev", "dev/console", "init"]
    assert len({e["ino"] for e in entries}) == len(entries) and all(e["ino"] for e in entries)
    by = {e["name"]: e for e in entries}
    assert stat.S_ISDIR(by["etc/deep"]["mode"]) and by["etc/deep"]["nlink"] == 2
    assert by["bin/tool"]["mode"] == stat.S_IFREG | 0o755 and by["bin/tool"]["nlink"] == 1
    assert by["bin/sh"]["mode"] == stat.S_IFLNK | 0o777 and by["bin/sh"]["data"] == b"tool"
    dev = by["dev/console"]
    assert stat.S_ISCHR(dev["mode"]) and (dev["rdevmajor"], dev["rdevminor"]) == (5, 1) and dev["filesize"] == 0
    assert all(e["uid"] == e["gid"] == e["check"] == 0 for e in entries)


def test_gzip_is_reproducible() -> None:
    a, b = sample_archive(), sample_archive()
    assert a.to_gzip() == b.to_gzip()
    assert gzip.decompress(a.to_gzip()) == a.to_bytes()


@pytest.mark.parametrize("path", ["", "/", "a/../b", "x\0y"])
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        cpio.NewcArchive().file(path, b"")


def test_duplicates_and_files_as_folders_are_refused() -> None:
    a = cpio.NewcArchive()
    a.file("f", b"")
    with pytest.raises(ValueError, match="duplicate"):
        a.file("/f", b"")
    with pytest.raises(ValueError, match="not a directory"):
        a.file("f/g", b"")


_LISTING = re.compile(r"^(\S{10})\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+(?:,\s*\d+)?)\s+\w{3}\s+\d+\s+[\d:]+\s+(.*)$")


def test_gnu_cpio_lists_what_we_wrote(cpio_tool: str) -> None:
    archive = sample_archive()
    out = subprocess.run([cpio_tool, "-itv", "--quiet"], input=archive.to_bytes(), capture_output=True, check=True)
    assert out.stderr == b""
    listed = []
    for line in out.stdout.decode().splitlines():
        m = _LISTING.match(line)
        assert m, line
        listed.append(m.groups())
    assert len(listed) == len(archive.entries)
    for (perms, nlink, owner, group, size, name), entry in zip(listed, archive.entries, strict=True):
        assert perms == stat.filemode(entry.mode)
        assert (owner, group) == ("root", "root")
        assert int(nlink) == (2 if stat.S_ISDIR(entry.mode) else 1)
        if stat.S_ISLNK(entry.mode):
            assert name == f"{entry.name} -> {entry.data.decode()}"
        else:
            assert name == entry.name
        if stat.S_ISCHR(entry.mode):
            assert re.sub(r"\s", "", size) == f"{entry.rdev[0]},{entry.rdev[1]}"
        else:
            assert int(size) == len(entry.data)


def test_gnu_cpio_extracts_what_we_wrote_and_agrees_with_our_reader(cpio_tool: str, tmp_path) -> None:
    archive = sample_archive()
    root = tmp_path / "x"
    root.mkdir()
    # device nodes need CAP_MKNOD: they are checked in the listing test instead
    subprocess.run([cpio_tool, "-idm", "--quiet", "--no-absolute-filenames", "-f", "dev/*"],
                   input=archive.to_bytes(), cwd=root, capture_output=True, check=True)
    for e in archive.entries:
        path = root / e.name
        if stat.S_ISREG(e.mode):
            assert path.read_bytes() == e.data and stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(e.mode)
        elif stat.S_ISLNK(e.mode):
            assert os.readlink(path) == e.data.decode()
        elif stat.S_ISDIR(e.mode):
            assert path.is_dir()
    # the reader, tried on GNU cpio's own newc output of the same tree
    names = "\n".join(e.name for e in archive.entries if not e.name.startswith("dev/")) + "\n"
    made = subprocess.run([cpio_tool, "-o", "-H", "newc", "--quiet"], input=names.encode(), cwd=root,
                          capture_output=True, check=True).stdout
    theirs = {e["name"]: e for e in parse_newc(made)}
    for e in archive.entries:
        if e.name in theirs:
            assert theirs[e.name]["mode"] == e.mode
            assert theirs[e.name]["data"] == e.data
