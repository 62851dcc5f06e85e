"""Debian's arm64 packages through apt: which kernel is newest, and downloading a .deb.

armboot runs on an amd64 (or any) Debian machine and boots an arm64 kernel, so the
packages come from apt's arm64 lists (``dpkg --add-architecture arm64``).  Only apt's
own clients are used (apt-cache, apt-get download), with apt's hash checks, so the
machine's sources, proxies and keys apply as they do for every other package.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import total_ordering

from .debfile import parse_control

ARCH = "arm64"
KERNEL_NAME = re.compile(r"^linux-image-(\d+\.\d+\.\d+\S*)-arm64$")
UNWANTED_FLAVOURS = ("-rt", "-cloud")
Log = Callable[[str], None]


class AptError(Exception):
    """apt cannot give us a package; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Candidate:
    """A package version apt would download (its Packages paragraph)."""

    package: str
    version: str
    size: int
    sha256: str
    filename: str


def _quiet(_msg: str) -> None:
    pass


def require_tools() -> None:
    missing = [tool for tool in ("apt-get", "apt-cache", "dpkg") if shutil.which(tool) is None]
    if missing:
        raise AptError(
            f"{', '.join(missing)} not found on PATH: armboot linux fetch gets the kernel with Debian's "
            "package tools; run it on a Debian or Ubuntu machine (or copy its cache folder from one)"
        )


def _run(args: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, cwd=cwd, check=False)
    except OSError as e:
        raise AptError(f"cannot run {args[0]}: {e.strerror}") from None


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " / ".join(lines[-n:]) or "no message"


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def update(log: Log = _quiet) -> None:
    """``apt-get update`` (root only): new lists show newer kernels and replace dead links."""
    log("apt-get update")
    out = _run(["apt-get", "update", "-q"])
    if out.returncode:
        raise AptError(
            f"apt-get update failed ({_last_lines(out.stderr)}): check network access to the apt "
            "sources (deb.debian.org)"
        )


def ensure_arch(log: Log = _quiet) -> bool:
    """Make apt see arm64 packages; True when the lists were just updated."""
    out = _run(["dpkg", "--print-foreign-architectures"])
    if ARCH in out.stdout.split() or _run(["dpkg", "--print-architecture"]).stdout.strip() == ARCH:
        return False
    if not is_root():
        raise AptError(
            "apt has no arm64 package lists: run 'sudo dpkg --add-architecture arm64 && "
            "sudo apt-get update', then armboot linux fetch again"
        )
    log("dpkg --add-architecture arm64")
    added = _run(["dpkg", "--add-architecture", ARCH])
    if added.returncode:
        raise AptError(f"dpkg --add-architecture arm64 failed: {_last_lines(added.stderr)}")
    update(log)
    return True


def paragraphs(text: str) -> list[dict[str, str]]:
    return [parse_control(chunk) for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def candidates(packages: list[str]) -> list[Candidate]:
    """The versions apt would download (one ``apt-cache show`` for all names)."""
    if not packages:
        return []
    out = _run(["apt-cache", "show", "--no-all-versions", *(f"{p}:{ARCH}" for p in packages)])
    found = []
    for para in paragraphs(out.stdout):
        if para.get("Architecture") not in (ARCH, "all") or "Package" not in para:
            continue
        try:
            size = int(para.get("Size", "0"))
        except ValueError:
            size = 0
        found.append(Candidate(para["Package"], para.get("Version", ""), size,
                               para.get("SHA256", "").lower(), para.get("Filename", "")))
    return found


def kernel_names(names: list[str]) -> list[str]:
    """linux-image-<abi>-arm64 packages that hold a kernel (not meta packages, -rt or -cloud)."""
    out = []
    for name in names:
        m = KERNEL_NAME.match(name)
        if m and not m.group(1).endswith(UNWANTED_FLAVOURS):
            out.append(name)
    return sorted(set(out))


def newest_kernel() -> Candidate | None:
    names = _run(["apt-cache", "pkgnames", "linux-image-"]).stdout.split()
    found = candidates(kernel_names(names))
    if not found:
        return None
    return max(found, key=lambda c: (VersionKey(c.version), c.package))


def download(cand: Candidate, dest_dir: str, log: Log = _quiet) -> str:
    """``apt-get download pkg:arm64=version`` into a scratch folder, then renamed into
    ``dest_dir``, so an interrupted download never looks like a cached package."""
    os.makedirs(dest_dir, exist_ok=True)
    spec = f"{cand.package}:{ARCH}={cand.version}"
    log(f"downloading {cand.package} {cand.version} ({cand.size / 1e6:.1f} MB)")
    args = ["apt-get", "download", "-q", spec]
    if is_root():  # root's downloads would otherwise go through the _apt user and warn
        args[1:1] = ["-o", "APT::Sandbox::User=root"]
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest_dir) as scratch:
        out = _run(args, cwd=scratch)
        debs = glob.glob(os.path.join(scratch, "*.deb"))
        if out.returncode or len(debs) != 1:
            raise AptError(
                f"apt-get download {spec} failed ({_last_lines(out.stderr or out.stdout)}): check network "
                "access to the apt sources (deb.debian.org) and run apt-get update"
            )
        target = os.path.join(dest_dir, os.path.basename(debs[0]))
        os.replace(debs[0], target)
    return target


@total_ordering
class VersionKey:
    """Debian version ordering (deb-version(7)): epoch, upstream, revision; '~' sorts first."""

    def __init__(self, version: str) -> None:
        epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        self.parts = (int(epoch) if epoch.isdigit() else 0, upstream, revision)

    def _cmp(self, other: VersionKey) -> int:
        if self.parts[0] != other.parts[0]:
            return self.parts[0] - other.parts[0]
        return _verrevcmp(self.parts[1], other.parts[1]) or _verrevcmp(self.parts[2], other.parts[2])

    def __lt__(self, other: VersionKey) -> bool:
        return self._cmp(other) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionKey) and self._cmp(other) == 0

    def __hash__(self) -> int:
        return hash(self.parts)


def _order(c: str) -> int:
    if c == "" or c.isdigit():
        return 0
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternating non-digit runs (by _order) and numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac, bc = _order(a[i] if i < len(a) else ""), _order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        si = i
        while i < len(a) and a[i].isdigit():
            i += 1
        sj = j
        while j < len(b) and b[j].isdigit():
            j += 1
        na, nb = int(a[si:i] or 0), int(b[sj:j] or 0)
        if na != nb:
            return -1 if na < nb else 1
    return 0
