"""Writing results: atomically (a failed run never leaves a truncated file) and make-style depfiles."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

EXTENSIONS = {"dtb": ".dtb", "dts": ".dts", "yaml": ".yaml"}


def write_atomic(path: str, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".armboot-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        with contextlib.suppress(OSError):
            mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_umask()
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def depfile_text(target: str, deps: list[str]) -> str:
    """dtc's -d format: ``target: dep dep ...`` on one line."""
    return target + ":" + "".join(" " + d for d in deps) + "\n"


def default_output(input_path: str, fmt: str) -> str:
    stem, _ = os.path.splitext(input_path)
    return stem + EXTENSIONS[fmt]
