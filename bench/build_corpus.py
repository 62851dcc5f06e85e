#!/usr/bin/env python3
"""Build the v4.14 arm64 corpus with cpp + dtc and with armboot, side by side in one run.

Prints the wall time of each and the ratios (this machine is noisy: only the
ratios measured in the same run mean anything):
  cold      armboot with an empty build cache (everything parsed)
  rebuild   armboot again with nothing changed (served from the cache)
  reference cpp + dtc, one process pair per board, as the kernel's build runs them
Each is repeated --rounds times and the best time is kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus" / "linux-dts"


def include_dirs(version: str) -> list[str]:
    root = CORPUS / version
    return [str(root / "include"), str(root), str(root / "arm64"), str(root / "arm")]


def reference(files: list[Path], version: str, out: Path) -> float:
    t0 = time.perf_counter()
    for f in files:
        pp = out / (f.stem + ".pp")
        cmd = ["cpp", "-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp", "-P"]
        for d in [str(f.parent), *include_dirs(version)]:
            cmd += ["-I", d]
        subprocess.run([*cmd, "-o", str(pp), str(f)], check=True)
        subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-b", "0", "-i", str(f.parent),
                        "-o", str(out / (f.stem + ".dtb")), str(pp)], check=True)  # fmt: skip
    return time.perf_counter() - t0


def armboot(files: list[Path], version: str, out: Path, cache: Path) -> float:
    exe = shutil.which("armboot") or "armboot"
    cmd = [exe, "build", "-q", "-b", "0", "--out-dir", str(out)]
    for d in include_dirs(version):
        cmd += ["-i", d]
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    t0 = time.perf_counter()
    subprocess.run([*cmd, *map(str, files)], check=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="v4.14")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    files = sorted((CORPUS / a.version / "arm64").rglob("*.dts"))
    if not files:
        sys.exit(f"no corpus at {CORPUS / a.version}")
    best = {"reference": 1e9, "cold": 1e9, "rebuild": 1e9}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for r in range(a.rounds):
            ref_out, arm_out, cache = tmpdir / f"ref{r}", tmpdir / f"arm{r}", tmpdir / f"cache{r}"
            ref_out.mkdir()
            best["reference"] = min(best["reference"], reference(files, a.version, ref_out))
            best["cold"] = min(best["cold"], armboot(files, a.version, arm_out, cache))
            best["rebuild"] = min(best["rebuild"], armboot(files, a.version, arm_out, cache))
            same = sum((ref_out / (f.stem + ".dtb")).read_bytes() == (arm_out / (f.stem + ".dtb")).read_bytes() for f in files)
    ref = best["reference"]
    print(f"{len(files)} boards ({a.version}), best of {a.rounds}; identical outputs {same}/{len(files)}")
    print(f"  cpp + dtc          {ref:6.2f} s")
    print(f"  armboot cold       {best['cold']:6.2f} s   ratio {best['cold'] / ref:5.2f}  (target <= 3)")
    print(f"  armboot unchanged  {best['rebuild']:6.2f} s   ratio {best['rebuild'] / ref:5.2f}  (target < 1)")


if __name__ == "__main__":
    main()
