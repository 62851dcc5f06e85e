#!/usr/bin/env python3
"""armboot abi on the real history: every arm64 board of Linux v4.9 that v4.14 still has, diffed.

Prints three measurements (each in a fresh process, best of --rounds):

  one diff      two v4.14 boards read from source (cpp, parse, checks), normalised and
                diffed, timed inside the process (target <= 0.5 s); and the same as
                `armboot abi diff` from the shell, start-up included
  history       the whole v4.9 -> v4.14 history (target <= 30 s)

then the findings per rule and class.  --write FILE makes the Markdown page
(docs/abi/history.md): the counts per rule, per class and per board.

--equivalence checks, on every board of both versions, that a tree compares equal
to its own .dtb, and to itself with every phandle renumbered and every node and
property reordered (as source and as .dtb): any finding there is a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus" / "linux-dts"
PAIR = ("rockchip/rk3399-gru-kevin.dts", "rockchip/rk3399-firefly.dts")  # two big v4.14 boards of one SoC


def one_diff() -> None:
    """Child process: time reading and diffing two v4.14 boards, from a cold start."""
    t0 = time.perf_counter()
    from armboot.dtc.abi import diff
    from armboot.dtc.abi.corpus import kernel_options
    from armboot.dtc.abi.inputs import Board, Reader

    root = CORPUS / "v4.14"
    reader = Reader(kernel_options(root))
    old, new = (reader.record(Board(p, str(root / "arm64" / p))) for p in PAIR)
    findings = diff(old, new)
    print(json.dumps({"seconds": time.perf_counter() - t0, "findings": len(findings)}))


def history() -> None:
    """Child process: the whole history, timed, with every comparison's counts."""
    t0 = time.perf_counter()
    from armboot.dtc.abi.corpus import common_boards, compare_versions

    old_root, new_root = CORPUS / "v4.9", CORPUS / "v4.14"
    boards = common_boards(old_root, new_root)
    rows, rules, errors = [], Counter(), []
    for c in compare_versions(old_root, new_root, boards):
        if isinstance(c, tuple):
            errors.append(f"{c[0]}: {c[1]}")
            continue
        rows.append([c.board, c.count("breaking"), c.count("compatible"), c.count("info")])
        rules.update(f"{f.rule}\t{f.cls}" for f in c.findings)
    print(json.dumps({"seconds": time.perf_counter() - t0, "boards": rows, "rules": rules, "errors": errors}))


def equivalence() -> None:
    """Every corpus board against its .dtb and its renumbered, reordered self: no finding expected."""
    from armboot.dtc.abi import diff, normalise
    from armboot.dtc.abi.corpus import kernel_options
    from armboot.dtc.abi.inputs import QUIET_CHECKS
    from armboot.dtc.compiler import emit, load, process
    from armboot.dtc.fdtread import parse_dtb
    from armboot.dtc.frontend import ParseCache
    from armboot.dtc.tree import renumber_phandles

    t0 = time.perf_counter()
    boards = comparisons = 0
    bad: list[str] = []
    for version in ("v4.9", "v4.14"):
        opts = kernel_options(CORPUS / version)
        opts.checks = list(QUIET_CHECKS)
        cache = ParseCache()
        for path in sorted((CORPUS / version / "arm64").rglob("*.dts")):
            tree, _, _ = load(str(path), opts, cache)
            process(tree, opts)
            source = normalise(tree)
            blob = normalise(parse_dtb(emit(tree, "dtb", opts)[0])[0])
            for node in tree.walk():
                node.children.reverse()
                node.props.reverse()
            renumber_phandles(tree, 1000)
            shuffled = normalise(tree)
            shuffled_blob = normalise(parse_dtb(emit(tree, "dtb", opts)[0])[0])
            boards += 1
            for name, (a, b) in {"dts/dtb": (source, blob), "renumbered": (source, shuffled),
                                 "renumbered dtb": (blob, shuffled_blob), "dts/renumbered dtb": (source, shuffled_blob),
                                 "renumbered dtb/dts": (shuffled_blob, source)}.items():  # fmt: skip
                comparisons += 1
                found = diff(a, b)
                if found:
                    bad.append(f"{version}/{path.relative_to(CORPUS / version)} {name}: {found[0].rule} {found[0].path}")
    print(f"{boards} boards, {comparisons} comparisons, {len(bad)} with findings (expected 0), {time.perf_counter() - t0:.1f} s")
    print(*bad, sep="\n")


def child(mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def cli_seconds() -> float:
    root = CORPUS / "v4.14"
    exe = shutil.which("armboot") or "armboot"
    args = [f"-i{d}" for d in (root / "include", root, root / "arm64", root / "arm")]
    t0 = time.perf_counter()
    subprocess.run([exe, "abi", "diff", "--format", "json", *args, *(str(root / "arm64" / p) for p in PAIR)],
                   capture_output=True, check=False)  # fmt: skip
    return time.perf_counter() - t0


def page(result: dict, one: float, cli: float) -> str:
    """The Markdown page of the history."""
    from armboot.dtc.abi.rules import RULES

    rules = Counter({tuple(k.split("\t")): v for k, v in result["rules"].items()})
    by_class = Counter()
    for (_rule, cls), n in rules.items():
        by_class[cls] += n
    lines = [
        "# The v4.9 -> v4.14 device tree history, as `armboot abi` sees it",
        "",
        "Every arm64 board of Linux v4.9 that v4.14 still has (same path below `arm64/`, or the same file",
        f"name after a move): {len(result['boards'])} boards, from `../shared/corpus/linux-dts`, each built",
        "with the kernel's include folders and diffed old -> new with the default rules",
        "(`armboot abi rules`). Made by `python3 bench/abi_history.py --write docs/abi/history.md`;",
        "tests/test_abi_history.py recomputes a sample of the rows and checks fourteen breaking",
        "findings against both versions' sources.",
        "",
        f"Time: the whole history {result['seconds']:.1f} s; one diff of two v4.14 boards {one:.2f} s in process",
        f"({cli:.2f} s as `armboot abi diff` from the shell, start-up included).",
        "",
        "## Findings per class",
        "",
        "| class | findings |",
        "|---|---|",
        *(f"| {cls} | {by_class[cls]} |" for cls in ("breaking", "compatible", "info")),
        "",
        "## Findings per rule",
        "",
        "| rule | class | findings |",
        "|---|---|---|",
    ]
    order = {r.id: i for i, r in enumerate(RULES)}
    for (rule, cls), n in sorted(rules.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        lines.append(f"| {rule} | {cls} | {n} |")
    lines += ["", "## Per board", "", "| board | breaking | compatible | info |", "|---|---|---|---|"]
    lines += [f"| {b} | {br} | {co} | {info} |" for b, br, co, info in result["boards"]]
    if result["errors"]:
        lines += ["", "## Boards that could not be read", "", *(f"- {e}" for e in result["errors"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", choices=("one-diff", "history"), help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", metavar="FILE", help="write the Markdown page of the history here")
    ap.add_argument("--equivalence", action="store_true", help="check the trees that must compare equal, and stop")
    a = ap.parse_args()
    if a.equivalence:
        return equivalence()
    if a.mode == "one-diff":
        return one_diff()
    if a.mode == "history":
        return history()
    one = min(child("one-diff")["seconds"] for _ in range(a.rounds))
    cli = min(cli_seconds() for _ in range(a.rounds))
    runs = [child("history") for _ in range(a.rounds)]
    best = min(runs, key=lambda r: r["seconds"])
    print(f"one diff of two v4.14 boards ({PAIR[0]} -> {PAIR[1]}), best of {a.rounds}")
    print(f"  in process            {one:6.2f} s   (target <= 0.5 s)")
    print(f"  armboot abi diff      {cli:6.2f} s   (start-up included)")
    print(f"whole v4.9 -> v4.14 history, {len(best['boards'])} boards, best of {a.rounds}")
    print(f"  in process            {best['seconds']:6.2f} s   (target <= 30 s)")
    for key, n in sorted(best["rules"].items(), key=lambda kv: -kv[1]):
        rule, cls = key.split("\t")
        print(f"  {n:5d}  {rule} ({cls})")
    if best["errors"]:
        print("could not read:", *best["errors"], sep="\n  ")
    if a.write:
        from armboot.dtc.outputs import write_atomic

        os.makedirs(os.path.dirname(os.path.abspath(a.write)), exist_ok=True)
        write_atomic(a.write, page(best, one, cli).encode())
        print(f"wrote {a.write}")


if __name__ == "__main__":
    main()
