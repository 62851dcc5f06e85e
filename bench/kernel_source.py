#!/usr/bin/env python3
"""armboot build and check on a whole newer kernel's device trees, against cpp + dtc, side by side.

The trees come from Debian's newest linux-source package, extracted by
scripts/fetch-kernel-dts (6.12 here; ../shared holds v4.9 and v4.14).  For
each architecture folder (arm64, arm by default) every board is:

  reference  preprocessed with cpp and compiled by dtc -b 0 as the kernel's
             build does, one process pair per board; dtc's warnings kept
  armboot    `armboot build -b 0 --out-dir` in one batch from the raw .dts,
             then `armboot check --no-schemas --format json` in one batch

and the script prints: boards whose DTB is identical, boards both reject
(dtc 1.6.1 predates syntax some 6.x boards use, e.g. &{label/path}), boards
whose (check, node path) findings equal dtc's warnings, and the time ratio of
the build batch to cpp + dtc.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT = re.compile(r"^.*?: (?:Warning|ERROR) \((?P<check>[a-z0-9_]+)\): (?P<rest>.*)$")


def source_root() -> Path:
    out = subprocess.run([str(HERE.parent / "scripts" / "fetch-kernel-dts")], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"kernel_source: {out.stderr.strip() or 'scripts/fetch-kernel-dts failed'}")
    return Path(out.stdout.strip())


def reference(board: Path, prefixes: Path, out: Path) -> tuple[bool, set[tuple[str, str]]]:
    pp = out.with_suffix(".pp.dts")
    cpp = ["cpp", "-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp", "-P", "-I", board.parent, "-I", prefixes, "-o", pp, board]
    if subprocess.run(cpp, capture_output=True).returncode != 0:
        return False, set()
    run = subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-b", "0", "-i", board.parent, "-i", prefixes, "-o", out, pp],
                         capture_output=True, text=True)  # fmt: skip
    found = set()
    for line in run.stderr.splitlines():
        m = REPORT.match(line)
        if m:
            rest = m["rest"]
            found.add((m["check"], rest.partition(": ")[0].split(":")[0] if rest.startswith("/") else ""))
    return run.returncode == 0, found


def one_arch(root: Path, arch: str, jobs: int) -> None:
    boards = sorted((root / "arch" / arch / "boot" / "dts").rglob("*.dts"))
    prefixes = root / "scripts" / "dtc" / "include-prefixes"
    with tempfile.TemporaryDirectory(prefix="kernel-source-") as tmp:
        ref_dir, ours_dir = Path(tmp, "ref"), Path(tmp, "ours")
        ref_dir.mkdir()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(jobs) as pool:
            refs = list(pool.map(lambda b: reference(b, prefixes, ref_dir / (b.stem + ".dtb")), boards))
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(["armboot", "build", "-q", "--no-cache", "-b", "0", "--jobs", str(jobs), "-i", str(prefixes), "--out-dir", str(ours_dir),
                        *map(str, boards)], capture_output=True)  # fmt: skip
        t_ours = time.perf_counter() - t0
        checked = subprocess.run(["armboot", "check", "--no-schemas", "--format", "json", "-i", str(prefixes), *map(str, boards)],
                                 capture_output=True, text=True)  # fmt: skip
        findings: dict[str, set[tuple[str, str]]] = {}
        for f in json.loads(checked.stdout):
            findings.setdefault(f.get("input", f["file"]), set()).add((f["check"], f["path"]))
        same = both_reject = checks_same = 0
        for board, (ok, warnings) in zip(boards, refs, strict=True):
            ours = ours_dir / (board.stem + ".dtb")
            if not ok:
                both_reject += not ours.exists()
                checks_same += not ours.exists()
                if ours.exists():
                    print(f"MISMATCH {board}: dtc rejects it, armboot accepts it")
                continue
            if ours.exists() and ours.read_bytes() == (ref_dir / (board.stem + ".dtb")).read_bytes():
                same += 1
            else:
                print(f"MISMATCH {board}: DTB differs from dtc's")
            if findings.get(str(board), set()) == warnings:
                checks_same += 1
            else:
                print(f"MISMATCH {board}: checks differ from dtc's warnings")
    n = len(boards)
    print(f"{root.name} {arch}: {n} boards; identical DTBs {same}, both reject {both_reject} "
          f"({same + both_reject}/{n} agree); checks agree {checks_same}/{n}; "
          f"build: armboot {t_ours:.1f} s, cpp + dtc {t_ref:.1f} s (ratio {t_ours / t_ref:.2f}, {jobs} jobs each)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch", nargs="*", default=["arm64", "arm"])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    root = source_root()
    for arch in a.arch:
        one_arch(root, arch, a.jobs)


if __name__ == "__main__":
    main()
