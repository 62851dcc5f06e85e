"""The stack of open files: ``#include``, file ends, ``#line`` and what cpp prints for them.

An included file is announced with ``# 1 "path" 1`` after bringing the
output to the line of the ``#include``, and left with ``# N "includer" 2``.
A file whose include guard is defined, or that is ``#pragma once``, is not
entered at all (no markers), exactly as libcpp skips it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Diagnostic, DtcError
from .pycpp_directives import Cond, Directives
from .pycpp_files import CHAIN_START, FileCache, FileEntry, dir_of
from .pycpp_lex import EOF, HEADER, OP, PREV_WHITE, STRING, SourceText, Token

MAX_INCLUDE_DEPTH = 200  # GCC's -fmax-include-depth default
MAX_INCLUDES = 50_000  # files entered in one run; a kernel board enters a few dozen


@dataclass(eq=False)
class Buffer:
    """A file being read: its text, #line state and open conditionals."""

    entry: FileEntry
    src: SourceText
    name: str = ""  # the name cpp reports (changed by #line)
    delta: int = 0  # reported line = physical line + delta
    conds: list[Cond] = field(default_factory=list)


class Includes(Directives):
    """File handling for the preprocessor; ``stack[-1]`` is the file being read."""

    main: str  # as cpp names it
    main_arg: str  # as the caller named it (the first of the deps)
    data: bytes | None
    cache: FileCache
    stack: list[Buffer]
    deps: list[str]
    toks: list[Token]
    ti: int

    def fatal(self, message: str, tok: Token | None) -> DtcError:
        raise NotImplementedError

    def open_main(self) -> FileEntry:
        if self.data is not None:
            return self.cache.given_file(self.main, self.data)
        try:
            entry = self.cache.main_file(self.main)
        except OSError as e:
            raise DtcError(Diagnostic("error", f"{self.main}: {e.strerror}", check="cpp", file=self.main)) from None
        if entry is None:
            raise DtcError(Diagnostic("error", f"{self.main}: No such file or directory", check="cpp", file=self.main))
        return entry

    def push_buffer(self, entry: FileEntry, announce: bool = True) -> None:
        if entry.path not in self.cache.entered:
            self.cache.entered.add(entry.path)
            self.deps.append(entry.path if announce else self.main_arg)
        self.cache.entries_count += 1
        entry.stacked += 1
        self.stack.append(Buffer(entry, entry.source(), entry.path))
        self.toks, self.ti = [], 0
        self.mi_valid, self.mi_cmacro = True, None
        if announce:
            self.printer.marker(1, entry.path, " 1")

    def pop_buffer(self) -> bool:
        """End of the current file: False for the main file (the end of input)."""
        buf = self.stack[-1]
        for cond in reversed(buf.conds):
            self.complain("error", f"unterminated #{cond.kind}", Token(EOF, "", 0, cond.line, 0))
        buf.conds.clear()
        self.skipping = False
        if len(self.stack) == 1:
            return False
        if self.mi_valid and buf.entry.guard is None:
            buf.entry.guard = self.mi_cmacro
        self.mi_valid = False
        self.stack.pop()
        parent = self.stack[-1]
        self.toks, self.ti = [], 0
        self.printer.marker(parent.src.line + parent.delta, parent.name, " 2")
        return True

    def find_include(self, name: str, angle: bool, next_dir: bool) -> FileEntry | None:
        """Search as cpp does: the includer's folder first for "name", then the -I folders."""
        entry = self.stack[-1].entry
        if name.startswith("/"):
            start: tuple[str, object] = ("abs", "")
        elif next_dir:
            start = ("chain", entry.found_in + 1)
        elif angle:
            start = CHAIN_START
        else:
            start = ("dir", dir_of(entry.path))
        return self.cache.find(name, start)

    def has_include(self, name: str, angle: bool, next_dir: bool) -> bool:
        try:
            return self.find_include(name, angle, next_dir) is not None
        except OSError:
            return True

    def do_include(self, dname: Token) -> None:
        kind = dname.text
        if kind == "include_next" and self.in_main_file():
            self.complain("warning", "#include_next in primary source file", dname)
            kind = "include"
        elif kind == "import":
            self.complain("warning", "#import is a deprecated GCC extension [-Wdeprecated]", dname)
        self.directive_wants_padding = True
        tok = self.get_nonpadding()
        header = self.header_name(tok)
        if header is None:
            self.complain("error", f'#{dname.text} expects "FILENAME" or <FILENAME>', tok)
            return
        name, angle = header
        self.check_eol(dname.text, expand=True)
        if not name:
            self.complain("error", f"empty filename in #{dname.text}", tok)
            return
        if self.cache.entries_count >= MAX_INCLUDES:
            raise self.fatal(f"more than {MAX_INCLUDES} files included (an include bomb?)", None)
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise self.fatal(
                f"#include nested depth {len(self.stack)} exceeds maximum of {MAX_INCLUDE_DEPTH}"
                " (use -fmax-include-depth=DEPTH to increase the maximum)",
                None,
            )
        self.end_directive(True)
        try:
            found = self.find_include(name, angle, kind == "include_next")
        except OSError as e:
            raise self.fatal(f"{name}: {e.strerror}", tok) from None
        if found is None:
            raise self.fatal(f"{name}: No such file or directory", tok)
        entry = found
        if entry.once_only:
            return
        if kind == "import":
            self.mark_entry_once_only(entry)
            if entry.stacked:
                return
        if (entry.guard is not None and entry.guard in self.macros) or self.cache.duplicate_of_once_only(entry):
            return
        self.printer.move_to(self.directive_line, self.location_name())
        self.push_buffer(entry)

    do_include_next = do_import = do_include

    def header_name(self, tok: Token) -> tuple[str, bool] | None:
        """(name, angle brackets) from a header-name, a string or ``<`` tokens ``>``."""
        if tok.kind == HEADER:
            return tok.text[1:-1], True
        if tok.kind == STRING:
            return tok.text[1:-1], False
        if tok.kind == OP and tok.text == "<":
            parts: list[str] = []
            while True:
                t = self.get_nonpadding()
                if t.kind == OP and t.text == ">":
                    break
                if t.kind == EOF:
                    self.complain("error", "missing terminating > character", t)
                    break
                if t.flags & PREV_WHITE:
                    parts.append(" ")
                parts.append(t.text)
            return "".join(parts), True
        return None

    def mark_entry_once_only(self, entry: FileEntry) -> None:
        entry.once_only = True
        self.cache.seen_once_only = True

    def mark_once_only(self) -> None:
        self.mark_entry_once_only(self.stack[-1].entry)

    # -- what the directives ask about --

    def conditions(self) -> list[Cond]:
        return self.stack[-1].conds

    def in_main_file(self) -> bool:
        return len(self.stack) == 1

    def location_name(self) -> str:
        return self.stack[-1].name if self.stack else self.main

    def set_line(self, line: int, name: str) -> None:
        buf = self.stack[-1]
        buf.name = name
        buf.delta = line - buf.src.line
        self.printer.marker(line, name)
