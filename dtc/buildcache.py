"""An on-disk build cache, like ccache's direct mode.

The key is the content of the input plus everything that shapes the output
(options, include folders, the armboot code itself); the entry records every
file the build read with its content hash, the output bytes and the
diagnostics to replay.  A rebuild of an unchanged board hashes a few files and
copies bytes; nothing is parsed.  Lives in ``$XDG_CACHE_HOME/armboot``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SCHEMA = "armboot-build-1"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "armboot" / "build"


@cache
def code_fingerprint() -> str:
    """A hash of the compiler's own sources, so a changed armboot never reuses old results."""
    h = hashlib.sha256(SCHEMA.encode())
    root = Path(__file__).parent
    for p in sorted(root.rglob("*")):
        if p.suffix in (".py", ".lark") and p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


class FileHasher:
    """Content hashes, computed once per run (headers are shared by many boards)."""

    def __init__(self) -> None:
        self._seen: dict[str, str | None] = {}

    def __call__(self, path: str) -> str | None:
        if path not in self._seen:
            try:
                with open(path, "rb") as f:
                    self._seen[path] = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                self._seen[path] = None
        return self._seen[path]


@dataclass
class Entry:
    output: bytes
    deps: list[str]
    diagnostics: list[dict]


class BuildCache:
    def __init__(self, root: Path | None = None, enabled: bool = True) -> None:
        self.root = root or cache_dir()
        self.enabled = enabled
        self.hash = FileHasher()

    def key(self, input_path: str, settings: dict) -> str | None:
        """The manifest key for one build, or None when the input cannot be read."""
        content = self.hash(input_path)
        if content is None:
            return None
        blob = json.dumps(
            {"code": code_fingerprint(), "input": os.path.abspath(input_path), "content": content, "settings": settings},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.json", d / f"{key}.out"

    def get(self, key: str) -> Entry | None:
        if not self.enabled:
            return None
        meta_path, out_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
            for _shown, dep, digest in meta["deps"]:
                if self.hash(dep) != digest:
                    return None
            output = out_path.read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if hashlib.sha256(output).hexdigest() != meta.get("output"):
            return None
        return Entry(output, [shown for shown, _, _ in meta["deps"]], meta.get("diagnostics", []))

    def put(self, key: str, output: bytes, deps: list[str], diagnostics: list[dict]) -> None:
        if not self.enabled:
            return
        digests = []
        for dep in deps:
            full = os.path.abspath(dep)
            digest = self.hash(full)
            if digest is None:
                return  # something read could not be hashed: do not cache
            digests.append([dep, full, digest])
        meta = {"deps": digests, "output": hashlib.sha256(output).hexdigest(), "diagnostics": diagnostics}
        meta_path, out_path = self._paths(key)
        with contextlib.suppress(OSError):
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            _write(out_path, output)
            _write(meta_path, json.dumps(meta).encode())


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
