"""Many inputs over worker processes: parsing and checking are Python, so one process uses one core.

Inputs are split by folder (the boards of one SoC share their .dtsi, so each
worker parses a shared file once for all of them), workers are spawned (the
parent may run threads, e.g. a progress bar, which fork would copy half-way),
and results stream back as each input finishes.  A worker that dies loses only
its unfinished inputs, which come back as ``None``: the caller reports them.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Iterator
from typing import Any

MIN_INPUTS_PER_WORKER = 12  # below this, starting a process costs more than it saves

Group = list[tuple[int, str]]  # (index in the caller's list, input path)


def worker_count(jobs: int, inputs: int) -> int:
    """How many processes are worth starting for ``inputs`` inputs (``jobs`` 0: the cores)."""
    wanted = jobs or min(8, os.cpu_count() or 1)
    return max(1, min(wanted, inputs // MIN_INPUTS_PER_WORKER))


def by_folder(paths: list[str], workers: int) -> list[Group]:
    """Whole folders to each worker, largest first onto the least loaded."""
    folders: dict[str, Group] = {}
    for i, path in enumerate(paths):
        folders.setdefault(os.path.dirname(os.path.abspath(path)), []).append((i, path))
    groups: list[Group] = [[] for _ in range(workers)]
    for members in sorted(folders.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [g for g in groups if g]


def run(target: Callable[..., None], setup: Any, paths: list[str], workers: int) -> Iterator[tuple[int, Any]]:
    """(index, result) as workers finish inputs; (index, None) for inputs a dead worker left.

    ``target(setup, group, results)`` runs in each process and puts ``(index, result)``
    on ``results`` for every input of its group.
    """
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(setup, group, results), daemon=True) for group in by_folder(paths, workers)]
    for proc in procs:
        proc.start()
    done: set[int] = set()
    while len(done) < len(paths):
        try:
            index, result = results.get(timeout=1.0)
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                break
            continue
        done.add(index)
        yield index, result
    for proc in procs:
        proc.join(timeout=5)
    for index in range(len(paths)):
        if index not in done:
            yield index, None
