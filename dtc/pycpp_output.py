"""cpp's output text: tokens with GCC's spacing, blank lines and linemarkers.

This follows GCC's c-ppoutput (scan_translation_unit, maybe_print_line,
cb_line_change): a line's first token is put back in its column, one space
stands for any white space, a space is added where two tokens would otherwise
lex as one, up to 8 skipped lines are kept as blank lines and a bigger jump is
a ``# line "file"`` marker.  Matching it byte for byte keeps file:line of
every diagnostic identical to a build that used the system cpp.
"""

from __future__ import annotations

from .pycpp_lex import OP, PADDING, PREV_WHITE, Token, avoid_paste, quote


class Printer:
    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.src_line = 0
        self.src_file = ""
        self.printed = False  # something is on the current output line
        self.prev: Token | None = None  # last token printed on this line
        self.source: Token | None = None  # whose white space a run of padding stands for
        self.avoid_paste = False

    def text(self) -> str:
        if self.printed:
            self.chunks.append("\n")
            self.printed = False
        return "".join(self.chunks)

    def start(self, main: str) -> None:
        """The markers GCC prints before the first line of the main file."""
        name = quote(main)
        self.chunks.append(f'# 0 "{name}"\n# 0 "<built-in>"\n# 0 "<command-line>"\n# 1 "{name}"\n')
        self.src_line, self.src_file = 1, main

    def marker(self, line: int, file: str, flags: str = "") -> None:
        """print_line: end the current line, then ``# line "file" flags``."""
        if self.printed:
            self.chunks.append("\n")
        self.printed = False
        self.src_line, self.src_file = line, file
        self.chunks.append(f'# {line} "{quote(file)}"{flags}\n')

    def move_to(self, line: int, file: str) -> None:
        """maybe_print_line: reach ``line`` with newlines when close, else with a marker."""
        if self.printed:
            self.chunks.append("\n")
            self.src_line += 1
            self.printed = False
        if file == self.src_file and self.src_line <= line < self.src_line + 8:
            if line > self.src_line:
                self.chunks.append("\n" * (line - self.src_line))
                self.src_line = line
        else:
            self.marker(line, file)

    def line_change(self, line: int, col: int, file: str) -> None:
        """A new source line starts with a token at ``col``: indent like it (cb_line_change)."""
        self.move_to(line, file)
        self.prev = self.source = None
        if col > 2:
            self.chunks.append(" " * (col - 2))
        self.printed = True

    def plain_line(self, line: int, col: int, file: str, text: str) -> None:
        """A whole line of tokens that need no macro expansion, spacing already normalised."""
        self.line_change(line, col, file)
        self.chunks.append(" " + text if col > 1 else text)
        self.avoid_paste = False
        self.prev = _SOME_TOKEN

    def token(self, tok: Token) -> None:
        if tok.kind == PADDING:
            self.avoid_paste = True
            src = self.source
            if src is None or (not (src.flags & PREV_WHITE) and tok.source is None):
                self.source = tok.source
            return
        out = self.chunks
        if self.avoid_paste:
            src = self.source or tok
            prev = self.prev
            if (
                src.flags & PREV_WHITE
                or (prev is not None and avoid_paste(prev, tok))
                or (prev is None and tok.kind == OP and tok.text == "#")
            ):
                out.append(" ")
            self.avoid_paste = False
        elif tok.flags & PREV_WHITE:
            out.append(" ")
        self.source = None
        self.prev = tok
        out.append(tok.text)
        self.printed = True


_SOME_TOKEN = Token(PADDING, "")
