"""The C preprocessor step, as the kernel's build runs it before dtc.

``cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp``: ``-undef`` keeps
``linux`` from expanding to 1 (``linux,phandle`` must survive); linemarkers
are kept so that diagnostics point into the files the user wrote.  The system
``cpp`` is used when present, armboot's own preprocessor otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from .errors import Diagnostic, DtcError
from .source import Location

DIRECTIVE = re.compile(
    rb"^[ \t]*#[ \t]*(?:include|include_next|define|undef|if|ifdef|ifndef|elif|else|endif|error|warning|pragma)\b",
    re.MULTILINE,
)
_CPP_DIAG = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:(?P<col>\d+):)?\s*(?P<level>fatal error|error|warning):\s*(?P<msg>.*)$")

CPP_TIMEOUT = 120
CPP_FLAGS = ["-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp"]


def needs_cpp(raw: bytes) -> bool:
    """True when a source has a preprocessor directive at the start of a line."""
    return DIRECTIVE.search(raw) is not None


@dataclass
class Preprocessed:
    text: str
    deps: list[str] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def system_cpp() -> str | None:
    return shutil.which("cpp")


def search_dirs(path: str, include_dirs: list[str]) -> list[str]:
    """The file's own folder, then the -i folders that exist, in order."""
    dirs = [os.path.dirname(path) or "."]
    dirs += [d for d in include_dirs if os.path.isdir(d)]
    return dirs


def preprocess(
    path: str, include_dirs: list[str], defines: list[str], use_system: bool | None = None, data: bytes | None = None
) -> Preprocessed:
    """Run the C preprocessor on ``path`` (or on ``data`` given as stdin, when path is "-").

    Raises DtcError with cpp's own diagnostics.
    """
    dirs = search_dirs(path, include_dirs)
    cpp = system_cpp() if use_system is not False else None
    if cpp is None:
        from .pycpp import preprocess_file  # the pure-Python fallback

        return preprocess_file(path, dirs, defines, data)
    cmd = [cpp, *CPP_FLAGS]
    for d in dirs:
        cmd += ["-I", d]
    for d in defines:
        cmd += ["-D", d]
    with tempfile.TemporaryDirectory(prefix="armboot-cpp-") as tmp:
        depfile = os.path.join(tmp, "deps.mk")
        cmd += ["-MD", "-MF", depfile, "-MT", "x", path]
        try:
            proc = subprocess.run(cmd, capture_output=True, input=data if path == "-" else None, timeout=CPP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DtcError(
                Diagnostic("error", f"the C preprocessor did not finish within {CPP_TIMEOUT} s (a macro bomb?)", file=path)
            ) from None
        deps = _read_depfile(depfile, path)
    stderr = proc.stderr.decode("utf-8", "replace")
    diags = _parse_cpp_stderr(stderr)
    if proc.returncode != 0:
        if not any(d.level == "error" for d in diags):
            diags.append(Diagnostic("error", f"the C preprocessor failed: {stderr.strip() or proc.returncode}", file=path))
        raise DtcError(diags)
    text = proc.stdout.decode("latin-1")
    return Preprocessed(text, deps, [d for d in diags if d.level == "warning"])


def _parse_cpp_stderr(stderr: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for line in stderr.splitlines():
        m = _CPP_DIAG.match(line)
        if m:
            level = "warning" if m.group("level") == "warning" else "error"
            loc = Location(m.group("file"), int(m.group("line")), int(m.group("col") or 1))
            out.append(Diagnostic(level, m.group("msg"), loc, check="cpp"))
        elif line.startswith("cc1: "):  # errors about the command line or the input itself, without a place
            level = "warning" if line.startswith("cc1: warning") else "error"
            out.append(Diagnostic(level, line[5:].split(": ", 1)[-1], check="cpp"))
    return out


def _read_depfile(depfile: str, main: str) -> list[str]:
    """The files cpp read, from its own make rule (-MD): exact, unlike reading back linemarkers."""
    try:
        with open(depfile, encoding="latin-1") as f:
            text = f.read()
    except OSError:
        return [main]
    body = text.split(":", 1)[1] if ":" in text else ""
    words = re.findall(r"(?:\\ |[^\s\\])+", body.replace("\\\n", " "))
    deps = [main] + [w.replace("\\ ", " ") for w in words]
    return list(dict.fromkeys(d for d in deps if d != "-"))
