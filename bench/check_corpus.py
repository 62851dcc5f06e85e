#!/usr/bin/env python3
"""What checking costs next to building: the v4.14 arm64 corpus, measured side by side.

  build          armboot build --no-cache (cpp, parse, dtc's checks, DTB)
  check          armboot check --no-schemas (cpp, parse, dtc's checks)   target <= 2x build
  check+schemas  armboot check (the above plus dtschema binding validation)

Each is repeated --rounds times and the best kept; the ratios are what count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus" / "linux-dts"


def includes(version: str) -> list[str]:
    root = CORPUS / version
    args = []
    for d in (root / "include", root, root / "arm64", root / "arm"):
        args += ["-i", str(d)]
    return args


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="v4.14")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    files = [str(f) for f in sorted((CORPUS / a.version / "arm64").rglob("*.dts"))]
    exe = shutil.which("armboot") or "armboot"
    best = {"build": 1e9, "check": 1e9, "check+schemas": 1e9}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=str(Path(tmp) / "cache"))
        subprocess.run([exe, "check", "-q", files[0]], env=env, capture_output=True)  # process the schemas once
        for _ in range(a.rounds):
            best["build"] = min(best["build"], timed([exe, "build", "-q", "--no-cache", *includes(a.version), "--out-dir", str(Path(tmp) / "out"), *files], env))
            best["check"] = min(best["check"], timed([exe, "check", "--no-schemas", "--format", "json", *includes(a.version), *files], env))
            best["check+schemas"] = min(best["check+schemas"], timed([exe, "check", "--format", "json", *includes(a.version), *files], env))
    b = best["build"]
    print(f"{len(files)} boards ({a.version}), best of {a.rounds}")
    print(f"  build               {b:6.2f} s")
    print(f"  check --no-schemas  {best['check']:6.2f} s   ratio {best['check'] / b:5.2f}  (target <= 2)")
    print(f"  check (schemas)     {best['check+schemas']:6.2f} s   ratio {best['check+schemas'] / b:5.2f}")


if __name__ == "__main__":
    main()
