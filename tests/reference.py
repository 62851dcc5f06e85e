"""Running the reference tools (Debian's dtc 1.6.1) and armboot side by side in tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

DTC = shutil.which("dtc")
needs_dtc = pytest.mark.skipif(DTC is None, reason="the reference dtc (device-tree-compiler) is not installed")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "linux-dts"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


@dataclass
class Run:
    rc: int
    out: bytes
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def dtc(*args: str | os.PathLike, cwd: str | os.PathLike | None = None, timeout: float = 20) -> Run:
    """Run the reference dtc; a crash or hang is reported as rc < 0."""
    assert DTC is not None
    try:
        p = subprocess.run([DTC, *map(str, args)], capture_output=True, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(-999, b"", "timeout")
    return Run(p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def armboot(*args: str | os.PathLike, cwd: str | os.PathLike | None = None, stdin: bytes | None = None) -> Run:
    """Run the armboot command line in a subprocess, exactly as a user would."""
    exe = shutil.which("armboot")
    cmd = [exe] if exe else ["python3", "-m", "armboot.cli"]
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    p = subprocess.run([*cmd, *map(str, args)], capture_output=True, cwd=cwd, input=stdin, env=env, timeout=120)
    return Run(p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def corpus_include_dirs(version: str) -> list[str]:
    root = CORPUS / version
    return [str(root / "include"), str(root), str(root / "arm64"), str(root / "arm")]


def preprocess_like_kernel(src: Path, version: str, out: Path) -> None:
    """cpp as the kernel's build runs it (the corpus README's command)."""
    cmd = ["cpp", "-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp", "-P"]
    for d in [str(src.parent), *corpus_include_dirs(version)]:
        cmd += ["-I", d]
    subprocess.run([*cmd, "-o", str(out), str(src)], check=True)
