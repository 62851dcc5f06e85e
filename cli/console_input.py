"""Typed input for the emulated console UART: stdin, read by a thread so the machine never blocks on it.

A terminal is switched to cbreak mode for the run (keys arrive one by one,
without local echo; Ctrl-C still interrupts) and restored afterwards.  Input
from a pipe or a file works the same way; a process in the background of an
interactive shell does not touch the terminal at all.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import termios
import threading
import tty
from collections.abc import Iterator


class StdinInput:
    """``poll`` returns what has arrived; ``wait`` blocks until something does (False at end of input)."""

    def __init__(self, fd: int, interactive: bool = False) -> None:
        self.fd = fd
        self.interactive = interactive  # a person types at a terminal (not a pipe or a file)
        self.chunks: queue.Queue[bytes | None] = queue.Queue()
        self.pending = b""
        self.eof = False
        threading.Thread(target=self._reader, name="armboot-stdin", daemon=True).start()

    def _reader(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                data = b""
            self.chunks.put(data or None)
            if not data:
                return

    def poll(self) -> bytes:
        out, self.pending = self.pending, b""
        while True:
            try:
                chunk = self.chunks.get_nowait()
            except queue.Empty:
                return out
            if chunk is None:
                self.eof = True
                return out
            out += chunk

    def wait(self) -> bool:
        if self.pending:
            return True
        if self.eof:
            return False
        chunk = self.chunks.get()
        if chunk is None:
            self.eof = True
            return False
        self.pending = chunk
        return True


def _foreground(fd: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


@contextlib.contextmanager
def stdin_input(enabled: bool = True) -> Iterator[StdinInput | None]:
    """stdin as console input for the length of a run (None when disabled or not ours to read)."""
    if not enabled:
        yield None
        return
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        yield None
        return
    if not os.isatty(fd):
        yield StdinInput(fd)
        return
    if not _foreground(fd):
        yield None  # a background job reading the terminal would be stopped (SIGTTIN)
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield StdinInput(fd, interactive=True)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
