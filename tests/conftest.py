"""Shared pytest set-up: the tests folder is importable (reference helpers), and a private build cache."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
# Tests never read or pollute a developer's build cache; subprocesses inherit this.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="armboot-test-cache-")
