"""A real Linux kernel and a tiny user space for ``armboot boot --linux`` (issue 8).

``fetch`` takes the newest non-rt, non-cloud ``linux-image-*-arm64`` and ``busybox-static``
from the machine's Debian arm64 lists, extracts the kernel Image and /bin/busybox, and
writes an initramfs (armboot's own cpio writer) whose /init proves user space runs and
powers off.  Everything lives in ``$XDG_CACHE_HOME/armboot/linux``; ``manifest.json`` is
written last, so a cache is either complete or ignored, and a cached fetch never
touches apt or the network.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from armboot.dtc.outputs import write_atomic
from armboot.dtc.tree import DeviceTree, Node

from . import apt
from .cpio import NewcArchive
from .debfile import DebError, control, extract

FORMAT = 1
IMAGE_MAGIC = b"ARM\x64"
MARKER = "ARMBOOT-INITRAMFS-OK"
BUSYBOX_PACKAGE = "busybox-static"
APPLETS = ("sh", "mount", "echo", "uname", "head", "cat", "dmesg", "grep", "sleep", "poweroff", "setsid", "cttyhack")
MANIFEST = "manifest.json"
IMAGE_FILE, BUSYBOX_FILE, INITRD_FILE = "Image", "busybox", "initramfs.cpio.gz"

INIT_SCRIPT = f"""#!/bin/sh
# armboot's initramfs (bootloader/linux.py): show that user space runs, what the kernel
# sees of itself, then power off (PSCI SYSTEM_OFF), so a boot test ends on its own;
# with armboot.shell on the command line (armboot boot --linux --shell), a shell first.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo
echo {MARKER}
uname -a
head -n 8 /proc/cpuinfo
dmesg | grep -i "CPU: All CPU(s) started at" || echo "armboot: no 'CPU: All CPU(s) started at' line in dmesg"
if grep -q armboot.shell /proc/cmdline; then
    /bin/busybox --install -s /bin 2>/dev/null
    echo "armboot: a shell on the console (busybox); exit powers off"
    setsid cttyhack sh
fi
poweroff -f
sleep 5
echo "armboot: poweroff -f returned"
"""

Log = Callable[[str], None]


class LinuxFetchError(Exception):
    """The kernel or user space cannot be had; the message says what to do (exit status 1)."""


@dataclass(frozen=True)
class LinuxArtifacts:
    """Paths of the cached kernel Image and initramfs, and what they were made from."""

    image: str
    initrd: str
    version: str
    busybox_version: str
    package: str = ""
    release: str = ""
    busybox: str = ""
    cache_dir: str = ""


def _quiet(_msg: str) -> None:
    pass


def default_cache_dir() -> str:
    """$ARMBOOT_LINUX_CACHE, else $XDG_CACHE_HOME/armboot/linux (the override lets a test
    session with a private XDG_CACHE_HOME still find the kernel fetched before it)."""
    if os.environ.get("ARMBOOT_LINUX_CACHE"):
        return os.environ["ARMBOOT_LINUX_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "armboot", "linux")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def init_digest() -> str:
    """Identifies the initramfs recipe; a cached initramfs built from another is rebuilt."""
    return _sha256(f"{FORMAT}\n{' '.join(APPLETS)}\n{INIT_SCRIPT}".encode())


def _read_manifest(root: str) -> dict | None:
    try:
        with open(os.path.join(root, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


def _from_manifest(root: str, m: dict) -> LinuxArtifacts | None:
    try:
        arts = LinuxArtifacts(
            image=os.path.join(root, m["image"]),
            initrd=os.path.join(root, m["initrd"]),
            version=m["kernel"]["version"],
            busybox_version=m["busybox"]["version"],
            package=m["kernel"]["package"],
            release=m["kernel"]["release"],
            busybox=os.path.join(root, m["busybox_binary"]),
            cache_dir=root,
        )
    except (KeyError, TypeError):
        return None
    if not all(os.path.isfile(p) for p in (arts.image, arts.initrd, arts.busybox)):
        return None
    return arts


def artifacts(cache_dir: str | None = None) -> LinuxArtifacts | None:
    """The cached kernel and initramfs, or None when ``fetch`` has not completed here."""
    root = cache_dir or default_cache_dir()
    manifest = _read_manifest(root)
    return None if manifest is None else _from_manifest(root, manifest)


# ---- the kernel Image and busybox out of their packages


def normalise_image(data: bytes) -> bytes:
    """The arm64 Image (booting.rst header, "ARM\\x64" at 56) from a vmlinuz that may be
    gzip-compressed or an EFI zboot image (MZ ... "zimg", payload offset/size at 8/12)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise LinuxFetchError(f"the kernel's vmlinuz is damaged gzip: {e}") from None
    elif data[:2] == b"MZ" and data[4:8] == b"zimg":
        offset, size = struct.unpack_from("<II", data, 8)
        kind = data[24:56].split(b"\0")[0].decode("ascii", "replace")
        if kind != "gzip":
            raise LinuxFetchError(f"the kernel is an EFI zboot image compressed with {kind}: only gzip is read")
        return normalise_image(data[offset : offset + size])
    if len(data) < 64 or data[56:60] != IMAGE_MAGIC:
        raise LinuxFetchError("the kernel package's vmlinuz is not an arm64 Image (no 'ARM\\x64' at offset 56)")
    return data


def image_header(data: bytes) -> dict[str, int]:
    """text_offset, image_size and flags of an arm64 Image (Documentation/arm64/booting.rst)."""
    text_offset, image_size, flags = struct.unpack_from("<QQQ", data, 8)
    return {"text_offset": text_offset, "image_size": image_size, "flags": flags}


def _check_package(deb: str, cand: apt.Candidate) -> None:
    try:
        fields = control(deb)
    except DebError as e:
        raise LinuxFetchError(str(e)) from None
    got = (fields.get("Package"), fields.get("Version"), fields.get("Architecture"))
    if got != (cand.package, cand.version, apt.ARCH):
        raise LinuxFetchError(f"{os.path.basename(deb)} holds {got}, not {cand.package} {cand.version} arm64")


def kernel_image(deb: str) -> tuple[str, bytes]:
    """(release, Image) from a linux-image package's /boot/vmlinuz-<release>."""
    try:
        files = extract(deb, lambda name: name.startswith("/boot/vmlinuz-"))
    except DebError as e:
        raise LinuxFetchError(str(e)) from None
    if len(files) != 1:
        raise LinuxFetchError(f"{os.path.basename(deb)}: expected one /boot/vmlinuz-*, found {sorted(files) or 'none'}")
    ((name, data),) = files.items()
    return name.removeprefix("/boot/vmlinuz-"), normalise_image(data)


def busybox_binary(deb: str) -> bytes:
    """/bin/busybox (or /usr/bin/busybox): a static AArch64 ELF, else the initramfs cannot run it."""
    try:
        files = extract(deb, lambda name: name in ("/bin/busybox", "/usr/bin/busybox"))
    except DebError as e:
        raise LinuxFetchError(str(e)) from None
    if not files:
        raise LinuxFetchError(f"{os.path.basename(deb)} has no /bin/busybox")
    data = next(iter(files.values()))
    if data[:4] != b"\x7fELF" or data[4] != 2 or struct.unpack_from("<H", data, 18)[0] != 183:
        raise LinuxFetchError(f"{os.path.basename(deb)}: busybox is not a 64-bit AArch64 ELF")
    if _has_interpreter(data):
        raise LinuxFetchError(f"{os.path.basename(deb)}: busybox is dynamically linked (use busybox-static)")
    return data


def _has_interpreter(elf: bytes) -> bool:
    from elftools.elf.elffile import ELFFile

    return any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(io.BytesIO(elf)).iter_segments())


# ---- the initramfs


def build_initramfs(busybox: bytes) -> bytes:
    """The gzip'd newc archive: /init, /bin/busybox and its applet links, /dev/console
    (init's stdio; the kernel opens it before devtmpfs exists), mount points."""
    archive = NewcArchive()
    for folder in ("bin", "dev", "proc", "sys", "tmp"):
        archive.directory(folder)
    archive.char_device("dev/console", 5, 1, 0o600)
    archive.char_device("dev/null", 1, 3, 0o666)
    archive.file("bin/busybox", busybox, 0o755)
    for applet in APPLETS:
        archive.symlink(f"bin/{applet}", "busybox")
    archive.file("init", INIT_SCRIPT.encode(), 0o755)
    return archive.to_gzip()


# ---- fetch


def _deb_name(cand: apt.Candidate) -> str:
    """apt-get download's own name for the file (an epoch's ':' is written %3a)."""
    return f"{cand.package}_{cand.version.replace(':', '%3a')}_{apt.ARCH}.deb"


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _get_deb(cand: apt.Candidate, debs: str, log: Log, updated: list[bool]) -> str:
    """A cached .deb whose hash matches apt's, or a download (after one apt-get update
    when the first try fails: stale lists name files the mirror no longer has)."""
    path = os.path.join(debs, _deb_name(cand))
    if os.path.isfile(path) and (not cand.sha256 or _file_sha256(path) == cand.sha256):
        log(f"using cached {os.path.basename(path)}")
        return path
    try:
        got = apt.download(cand, debs, log)
    except apt.AptError:
        if updated[0] or not apt.is_root():
            raise
        apt.update(log)
        updated[0] = True
        got = apt.download(cand, debs, log)
    os.replace(got, path)
    _check_package(path, cand)
    return path


def _resolve(log: Log, refresh: bool) -> tuple[apt.Candidate, apt.Candidate, list[bool]]:
    apt.require_tools()
    updated = [apt.ensure_arch(log)]
    if refresh and not updated[0] and apt.is_root():
        apt.update(log)
        updated[0] = True
    for attempt in range(2):
        kernel = apt.newest_kernel()
        found = apt.candidates([BUSYBOX_PACKAGE])
        if (kernel is not None and found) or attempt or updated[0] or not apt.is_root():
            break
        apt.update(log)
        updated[0] = True
    if kernel is None:
        raise LinuxFetchError(
            "no linux-image-*-arm64 package (other than -rt and -cloud) in apt's arm64 lists: "
            "run apt-get update (the sources need Debian's main component, e.g. deb.debian.org)"
        )
    if not found:
        raise LinuxFetchError(f"no {BUSYBOX_PACKAGE}:arm64 in apt's lists: run apt-get update")
    return kernel, found[0], updated


def fetch(cache_dir: str | None = None, refresh: bool = False, log: Log = _quiet) -> LinuxArtifacts:
    """The newest kernel and an initramfs, from the cache when present (no apt, no network);
    ``refresh`` asks apt again (after apt-get update when root) and rebuilds."""
    root = cache_dir or default_cache_dir()
    try:
        return _fetch(root, refresh, log)
    except OSError as e:
        raise LinuxFetchError(
            f"cannot use the cache folder: {e.filename or root}: {e.strerror} (choose another with --cache-dir)"
        ) from None


def _fetch(root: str, refresh: bool, log: Log) -> LinuxArtifacts:
    manifest = _read_manifest(root)
    if manifest is not None and not refresh:
        cached = _from_manifest(root, manifest)
        if cached is not None and manifest.get("init_sha256") == init_digest():
            return cached
        if cached is not None:  # only the initramfs recipe changed: rebuild it offline
            with open(cached.busybox, "rb") as f:
                return _finish(root, manifest, f.read(), log)
    try:
        kernel, busybox, updated = _resolve(log, refresh)
        log(f"newest kernel: {kernel.package} {kernel.version}; {busybox.package} {busybox.version}")
        debs = os.path.join(root, "debs")
        kernel_deb = _get_deb(kernel, debs, log, updated)
        busybox_deb = _get_deb(busybox, debs, log, updated)
    except apt.AptError as e:
        raise LinuxFetchError(str(e)) from None
    release, image = kernel_image(kernel_deb)
    bb = busybox_binary(busybox_deb)
    write_atomic(os.path.join(root, IMAGE_FILE), image)
    write_atomic(os.path.join(root, BUSYBOX_FILE), bb)
    manifest = {
        "format": FORMAT,
        "kernel": {"package": kernel.package, "version": kernel.version, "release": release,
                   "deb": os.path.relpath(kernel_deb, root), "deb_size": os.path.getsize(kernel_deb),
                   "image_bytes": len(image), "image_sha256": _sha256(image), **image_header(image)},
        "busybox": {"package": busybox.package, "version": busybox.version,
                    "deb": os.path.relpath(busybox_deb, root), "size": len(bb)},
        "image": IMAGE_FILE,
        "busybox_binary": BUSYBOX_FILE,
        "initrd": INITRD_FILE,
        "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    arts = _finish(root, manifest, bb, log)
    _prune(os.path.join(root, "debs"), {kernel_deb, busybox_deb})
    return arts


def _finish(root: str, manifest: dict, busybox: bytes, log: Log) -> LinuxArtifacts:
    """Write the initramfs, then the manifest that makes the cache count."""
    initrd = build_initramfs(busybox)
    write_atomic(os.path.join(root, INITRD_FILE), initrd)
    log(f"initramfs: {len(initrd):,} bytes")
    manifest = {**manifest, "init_sha256": init_digest(), "initrd_size": len(initrd)}
    write_atomic(os.path.join(root, MANIFEST), (json.dumps(manifest, indent=2) + "\n").encode())
    arts = _from_manifest(root, manifest)
    assert arts is not None
    return arts


def _prune(debs: str, keep: set[str]) -> None:
    """Old kernels' packages go once a newer one is in place (each is ~90 MB)."""
    for name in os.listdir(debs):
        path = os.path.join(debs, name)
        if name.endswith(".deb") and path not in keep:
            with contextlib.suppress(OSError):
                os.unlink(path)


def manifest(cache_dir: str | None = None) -> dict | None:
    """What ``armboot linux info`` shows: the manifest of a complete cache."""
    root = cache_dir or default_cache_dir()
    m = _read_manifest(root)
    return m if m is not None and _from_manifest(root, m) is not None else None


# ---- booting it


def _is_pl011(node: Node) -> bool:
    compat, status = node.get("compatible"), node.get("status")
    enabled = status is None or status.string() in ("okay", "ok")
    return compat is not None and "arm,pl011" in compat.strings() and enabled and not node.deleted


def pl011_address(tree: DeviceTree) -> int | None:
    """The console UART: /chosen/stdout-path (a path or an alias, ":options" dropped) when
    it is a PL011, else the first enabled arm,pl011 node; its CPU physical address."""
    from armboot.hyp.platform.resolve import TreeError, mmio_regions, stdout_node

    chosen = stdout_node(tree)
    for node in [*([chosen] if chosen is not None else []), *tree.walk()]:
        if _is_pl011(node):
            with contextlib.suppress(TreeError):
                regions = mmio_regions(node)
                if regions:
                    return regions[0][0]
    return None


def bootargs_for(tree: DeviceTree) -> str:
    """console on the PL011, earlycon at its address, init from the initramfs, and
    panic=-1 so a kernel panic resets the board instead of hanging until the timeout."""
    args = ["console=ttyAMA0"]
    address = pl011_address(tree)
    if address is not None:
        args.append(f"earlycon=pl011,{address:#x}")
    return " ".join([*args, "rdinit=/init", "panic=-1"])


def boot_options(board: str, include_dirs: list[str], kernel: str | None, initrd: str | None,
                 bootargs: str | None, shell: bool = False) -> tuple[str, str, str]:
    """``armboot boot --linux``: the cached kernel, initramfs and a console command line,
    each overridden by an explicit --kernel / --initrd / --bootargs; ``shell`` asks the
    initramfs for a shell on the console before it powers off."""
    root = default_cache_dir()
    cached = _read_manifest(root)
    arts = None if cached is None else _from_manifest(root, cached)
    if arts is None and (kernel is None or initrd is None):
        raise LinuxFetchError("the Linux kernel and initramfs are not fetched yet: run armboot linux fetch first")
    if arts is not None and initrd is None and cached.get("init_sha256") != init_digest():  # type: ignore[union-attr]
        arts = fetch()  # an initramfs of an older recipe: rebuilt offline from the cached busybox
    if bootargs is None and os.path.exists(board):  # a missing board is the boot's own error
        from .session import load_tree

        bootargs = bootargs_for(load_tree(board, include_dirs))
    if shell:
        bootargs = f"{bootargs or ''} armboot.shell".strip()
    return kernel or arts.image, initrd or arts.initrd, bootargs  # type: ignore[union-attr]
