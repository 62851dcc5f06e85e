"""Shared pytest set-up: the tests folder is importable (reference helpers), and a private build cache."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
# The Linux kernel and initramfs that `armboot linux fetch` cached (in .ci/run, before the tests) stay
# visible: the variable names where they are before the build cache below moves.
os.environ.setdefault(
    "ARMBOOT_LINUX_CACHE",
    os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "armboot", "linux"),
)
# Likewise the newer kernel's device trees scripts/fetch-kernel-dts extracted (tests/test_kernel_source.py).
os.environ.setdefault(
    "ARMBOOT_KERNEL_SRC",
    os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "armboot", "kernel-src"),
)
# Tests never read or pollute a developer's build cache; subprocesses inherit this.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="armboot-test-cache-")
