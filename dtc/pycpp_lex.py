"""Tokens of GCC's C preprocessor in ``-x assembler-with-cpp`` mode.

cpp's output spacing depends on token kinds and on whether white space came
before a token, so armboot's preprocessor works on the tokens libcpp makes in
assembler mode: no digraphs, no ``::``, ``$`` is not part of names, only the
``L`` prefix makes wide literals, and an unterminated quote is one "other"
token running to the end of the line (so ``'`` in prose is harmless).

A source file is read once: lines are spliced (backslash-newline, also with
blanks before the newline), and a logical line is handed out with the
physical line and column of each of its tokens.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

# Token kinds.  STRING/CHAR and their wide (L-prefixed) forms matter to
# cpp_avoid_paste and to stringification; OP tokens are told apart by text.
NAME, NUMBER, CHAR, WCHAR, STRING, WSTRING, OTHER, OP, HEADER, EOF, PADDING, ARG = range(12)

# Token flags (libcpp's names).
PREV_WHITE, BOL, NO_EXPAND, PASTE_LEFT, STRINGIFY = 1, 2, 4, 8, 16


class Token:
    """One preprocessing token; PADDING tokens carry the token whose spacing they stand for."""

    __slots__ = ("arg", "col", "file", "flags", "kind", "line", "source", "text")

    def __init__(self, kind: int, text: str, flags: int = 0, line: int = 0, col: int = 0) -> None:
        self.kind = kind
        self.text = text
        self.flags = flags
        self.line = line
        self.col = col
        self.source: Token | None = None
        self.arg = 0
        self.file: str | None = None  # where a macro's replacement token was written (None: the current file)

    def copy(self, flags: int | None = None) -> Token:
        t = Token(self.kind, self.text, self.flags if flags is None else flags, self.line, self.col)
        t.source = self.source
        t.arg = self.arg
        t.file = self.file
        return t

    def is_op(self, text: str) -> bool:
        return self.kind == OP and self.text == text

    def __repr__(self) -> str:  # for test failure messages
        return f"Token({self.kind}, {self.text!r}, {self.flags})"


def padding(source: Token | None) -> Token:
    t = Token(PADDING, "")
    t.source = source
    return t


AVOID_PASTE = padding(None)  # libcpp's pfile->avoid_paste: "maybe a space here"

_TOKEN = re.compile(
    r"""(?P<ws>(?:[ \t\f\v\0]+|/\*.*?\*/|/\*.*|//[^\n]*)+)
    |(?P<str>L?"(?:[^"\\\n]|\\[^\n])*")
    |(?P<chr>L?'(?:[^'\\\n]|\\[^\n])*')
    |(?P<bad>L?["'][^\n]*)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<num>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*)
    |(?P<op>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&^|]=|\#\#|[{}\[\]\#()<>%:;.?*+\-/^&|~!=,@])
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL | re.ASCII,
)
_KINDS = {"str": STRING, "chr": CHAR, "bad": OTHER, "name": NAME, "num": NUMBER, "op": OP, "other": OTHER}
_WIDE = {STRING: WSTRING, CHAR: WCHAR}
# What may make a line longer than up to its newline: a block comment.
_LINE_SCAN = re.compile(
    r"""L?"(?:[^"\\\n]|\\[^\n])*"?|L?'(?:[^'\\\n]|\\[^\n])*'?|//[^\n]*|/\*.*?\*/|(?P<open>/\*)|(?P<nl>\n)|[^"'/\n]+|/""",
    re.DOTALL,
)
_SPLICE = re.compile(r"\\[ \t\f\v\0]*\n")
LEADING_BLANKS = re.compile(r"(?:[ \t\f\v\0]+|/\*.*?\*/|/\*.*|//[^\n]*)*", re.DOTALL)


@dataclass
class Line:
    """A logical line: text[start:end] of its file, starting at physical line ``line``."""

    start: int
    end: int
    line: int
    simple: bool  # one physical line: every token is on ``line``
    open_comment: int = -1  # offset of a ``/*`` that the file never closes


@dataclass
class SourceText:
    """A file's text after line splicing, read one logical line at a time."""

    text: str
    splices: list[int] = field(default_factory=list)  # offsets where a spliced physical line begins
    raw: str = ""  # the text before splicing (only kept when there are splices)
    backslashes: list[int] = field(default_factory=list)  # offset in ``raw`` of each splice's backslash
    spaced: set[int] = field(default_factory=set)  # splices with blanks between backslash and newline
    eof_splice: int = -1  # the file ends in a splice: the first splice of its last spliced line
    pos: int = 0
    line: int = 1
    last: Line | None = None  # the line read last

    @classmethod
    def from_file_text(cls, raw: str) -> SourceText:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
        if "\\" not in raw:
            return cls(raw if not raw or raw.endswith("\n") else raw + "\n")
        pieces: list[str] = []
        splices: list[int] = []
        backslashes: list[int] = []
        spaced: set[int] = set()
        last = length = 0
        for m in _SPLICE.finditer(raw):
            pieces.append(raw[last : m.start()])
            length += m.start() - last
            if m.end() - m.start() > 2:
                spaced.add(len(splices))
            splices.append(length)
            backslashes.append(m.start())
            last = m.end()
        pieces.append(raw[last:])
        text = "".join(pieces)
        if text and not text.endswith("\n"):
            text += "\n"  # (a backslash at the very end, with no newline after it, is no splice)
        eof_splice = -1
        if backslashes and last == len(raw):
            eof_splice = len(backslashes) - 1
            while eof_splice and "\n" not in raw[raw.index("\n", backslashes[eof_splice - 1]) + 1 : backslashes[eof_splice]]:
                eof_splice -= 1
        return cls(text, splices, raw, backslashes, spaced, eof_splice)

    def splice_notes(self, line: Line) -> list[tuple[str, int, int]]:
        """What cpp warns about the splices of a logical line: (kind, offset, backslash index).

        "space" for blanks between backslash and newline, "eof" when the file ends in a
        splice (libcpp notices it at the first splice of the last spliced line).
        """
        if not self.splices:
            return []
        first = bisect.bisect_left(self.splices, line.start)
        stop = bisect.bisect_right(self.splices, line.end)
        notes = [("space", self.splices[k], k) for k in range(first, stop) if k in self.spaced]
        if first <= self.eof_splice < stop or (self.eof_splice >= 0 and self.splices[self.eof_splice] >= len(self.text)):
            notes.append(("eof", self.splices[self.eof_splice], self.eof_splice))
            self.eof_splice = -1  # said once
        return notes

    def backslash_position(self, index: int) -> tuple[int, int]:
        """Physical (line, column) of a splice's backslash."""
        at = self.backslashes[index]
        return self.raw.count("\n", 0, at) + 1, at - self.raw.rfind("\n", 0, at)

    def read_line(self) -> Line:
        """The next logical line (an unterminated comment runs to the end of the file)."""
        text, start = self.text, self.pos
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        multiline, open_comment = False, -1
        if text.find("/*", start, end) >= 0:
            end, multiline, open_comment = self._scan_to_end(start)
        newlines = text.count("\n", start, end) if multiline else 0
        splices = 0
        if self.splices:
            splices = bisect.bisect_right(self.splices, end) - bisect.bisect_left(self.splices, start)
        line = self.last = Line(start, end, self.line, not newlines and not splices, open_comment)
        self.pos = end + 1
        self.line += 1 + newlines + splices
        return line

    def _scan_to_end(self, start: int) -> tuple[int, bool, int]:
        """Where a line holding ``/*`` ends: (end, spans several lines, unclosed comment offset)."""
        multiline = False
        for m in _LINE_SCAN.finditer(self.text, start):
            if m.lastgroup == "nl":
                return m.start(), multiline, -1
            if m.lastgroup == "open":
                end = max(len(self.text) - 1, m.start())
                return end, True, m.start()
            if m.group().startswith("/*") and "\n" in m.group():
                multiline = True
        return len(self.text), multiline, -1

    def where(self, line: Line, offset: int) -> tuple[int, int]:
        """Physical (line, column) of an offset inside a logical line."""
        if line.simple:
            return line.line, offset - line.start + 1
        text = self.text
        nl = text.count("\n", line.start, offset)
        k0 = bisect.bisect_left(self.splices, line.start)
        k1 = bisect.bisect_right(self.splices, offset)
        begin = max(text.rfind("\n", line.start, offset) + 1, line.start)
        if k1 > k0:
            begin = max(begin, self.splices[k1 - 1])
        return line.line + nl + (k1 - k0), offset - begin + 1


def tokenize(src: SourceText, line: Line, delta: int = 0) -> list[Token]:
    """The tokens of one logical line, with PREV_WHITE, lines (physical + ``delta``) and columns."""
    text, pos, end = src.text, line.start, line.end
    out: list[Token] = []
    flags = 0
    match = _TOKEN.match
    simple, lno, start = line.simple, line.line + delta, line.start
    while pos < end:
        m = match(text, pos, end)
        kind_name = m.lastgroup  # type: ignore[union-attr]
        nxt = m.end()  # type: ignore[union-attr]
        if kind_name == "ws":
            flags = PREV_WHITE
            pos = nxt
            continue
        kind = _KINDS[kind_name]  # type: ignore[index]
        value = text[pos:nxt]
        if value[0] == "L" and kind in _WIDE:
            kind = _WIDE[kind]
        if simple:
            out.append(Token(kind, value, flags, lno, pos - start + 1))
        else:
            ln, col = src.where(line, pos)
            out.append(Token(kind, value, flags, ln + delta, col))
        flags = 0
        pos = nxt
    return out


def tokenize_text(text: str) -> list[Token]:
    """Tokens of a string that is known to be one line (pasting, stringified parameters)."""
    src = SourceText(text)
    return tokenize(src, Line(0, len(text), 1, True))


def quote(text: str) -> str:
    """libcpp's cpp_quote_string: escape backslashes, double quotes and newlines."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# -- spacing --

_EQ_PASTERS = frozenset(["=", "!", ">", "<", "+", "-", "*", "/", "%", "&", "|", "^", ">>", "<<"])
_PASTES_WITH = {  # operator -> first characters of what must not follow it directly
    ">": ">",
    "<": "<%:",
    "+": "+",
    "-": "->",
    "/": "/*",
    "%": ":>",
    "&": "&",
    "|": "|",
    ":": ":>",
    "->": "*",
    ".": ".%",
    "#": "#%",
    "<=": ">",
}
_IDENT_CHARS = re.compile(r"[A-Za-z0-9_]+")


def avoid_paste(a: Token, b: Token) -> bool:
    """cpp_avoid_paste: whether ``a`` directly followed by ``b`` would lex differently."""
    c = b.text[0] if b.kind == OP else ""
    if a.kind == OP:
        ta = a.text
        if c == "=" and ta in _EQ_PASTERS:
            return True
        if ta == "." and b.kind == NUMBER:
            return True
        return c != "" and c in _PASTES_WITH.get(ta, "")
    if a.kind == NAME:
        return b.kind in (NAME, CHAR, STRING) or (b.kind == NUMBER and _IDENT_CHARS.fullmatch(b.text) is not None)
    if a.kind == NUMBER:
        return b.kind in (NUMBER, NAME, CHAR) or c in (".", "+", "-")
    if a.kind == OTHER:
        return a.text[0] == "\\" and b.kind == NAME
    return False


def unescape(body: str) -> str:
    """The characters of a string literal's body (escapes interpreted), for #line and pragmas."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":
                j = i + 1
                while j < min(i + 4, len(body)) and body[j] in "01234567":
                    j += 1
                out.append(chr(int(body[i + 1 : j], 8) & 0xFF))
                i = j
                continue
            out.append({"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
