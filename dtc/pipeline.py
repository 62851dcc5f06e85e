"""Reading many inputs fast: the C preprocessor runs ahead in worker threads (a separate
process, so it uses the second core) while the main thread parses with a shared cache."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from .compiler import BuildOptions, guess_input_format, load_dtb
from .errors import Diagnostic
from .frontend import Frontend, ParseCache
from .preprocess import Preprocessed, needs_cpp, preprocess, system_cpp
from .tree import DeviceTree


def preprocess_ahead(paths: list[str], opts: BuildOptions, jobs: int) -> Iterator[Future | None]:
    """One future per input (None when it needs no cpp, or when running ahead would not help)."""
    if len(paths) <= 1 or opts.cpp is False or opts.system_cpp is False or system_cpp() is None:
        yield from (None for _ in paths)
        return
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_maybe_cpp, path, opts) for path in paths]
        yield from futures


def _maybe_cpp(path: str, opts: BuildOptions) -> Preprocessed | None:
    if (opts.input_format or guess_input_format(path)) != "dts":
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if opts.cpp is True or (opts.cpp is None and needs_cpp(raw)):
        return preprocess(path, opts.include_dirs, opts.defines, opts.system_cpp)
    return None


def load_with(
    path: str, opts: BuildOptions, cache: ParseCache, pre: Future | None
) -> tuple[DeviceTree, list[str], list[Diagnostic]]:
    """Load one input, using its preprocessed text when it was made ahead (raises DtcError)."""
    if (opts.input_format or guess_input_format(path)) == "dtb":
        return load_dtb(path)
    fe = Frontend(opts, cache)
    preprocessed = pre.result() if pre is not None else None
    if preprocessed is None:
        return fe.load(path), fe.deps, fe.diagnostics
    fe.deps.extend(preprocessed.deps)
    fe.diagnostics.extend(preprocessed.warnings)
    return fe.load(path, preprocessed.text), fe.deps, fe.diagnostics
