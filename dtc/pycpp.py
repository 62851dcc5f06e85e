"""armboot's own C preprocessor, for machines without ``cpp``.

It behaves like ``cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp``
(GCC 12's libcpp, as the kernel's dts build runs it) and prints the same
text, linemarkers included, so a board compiles to the same DTB and every
diagnostic names the same file and line as with the system cpp.

The work is split by job: pycpp_lex (tokens and lines), pycpp_define and
pycpp_macro (macros), pycpp_expr (#if arithmetic), pycpp_directives,
pycpp_pragma, pycpp_include and pycpp_files (included files) and
pycpp_output (GCC's spacing and linemarkers).  This module is the lexer that
ties them together: it reads files line by line, and most device-tree lines,
holding no macro, are printed straight from their text; the rest go through
the token machinery, as do directives.
"""

from __future__ import annotations

import os
import platform
import re
import time

from .errors import Diagnostic, DtcError
from .preprocess import Preprocessed
from .pycpp_define import VA_MISUSE, Macro, define
from .pycpp_directives import COND, DIRECTIVES, IF_COND
from .pycpp_files import FileCache, as_bytes_text, include_chain
from .pycpp_include import Buffer, Includes
from .pycpp_lex import (
    BOL,
    EOF,
    HEADER,
    LEADING_BLANKS,
    NAME,
    OP,
    PREV_WHITE,
    Line,
    SourceText,
    Token,
    quote,
    tokenize,
    tokenize_text,
)
from .pycpp_output import Printer
from .pycpp_pragma import Pragmas
from .source import Location

# A runaway (exponential) expansion becomes an error, not a hang.  The kernel boards need at
# most ~1200 expansions and a few thousand tokens; these allow a thousand times that.
MAX_EXPANSIONS = 1_000_000
MAX_EXPANDED_TOKENS = 5_000_000
_BUILTINS = (
    "__FILE__", "__LINE__", "__INCLUDE_LEVEL__", "__COUNTER__", "__BASE_FILE__", "__FILE_NAME__",
    "__DATE__", "__TIME__", "__TIMESTAMP__", "_Pragma", "__has_include", "__has_include_next",
)  # fmt: skip
_PREDEFINED = ("__STDC__ 1", "__STDC_HOSTED__ 1", "__ASSEMBLER__ 1")
_INCLUDES = {"include": "include", "include_next": "include_next", "import": "import"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"<[^>\n]*>")
_PLAIN_DEFINE = re.compile(r"#[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*)((?:[ \t].*)?)$")
_NOT_MACRO_NAMES = frozenset(["defined", "__has_include", "__has_include_next"])
_BLANKS = re.compile(r"(?:[ \t\f\v\0]|/\*.*?\*/|//.*)+")
_BLANKS_OR_LITERAL = re.compile(r"""(L?"(?:[^"\\\n]|\\.)*"|L?'(?:[^'\\\n]|\\.)*')|(?:[ \t\f\v\0]|/\*.*?\*/|//.*)+|(["'])""")
_COMMENT = re.compile(r"""L?"(?:[^"\\\n]|\\.)*"?|L?'(?:[^'\\\n]|\\.)*'?|(//[^\n]*|/\*.*?(?:\*/|\Z))|[^"'/]+|/""", re.DOTALL)
_UNSIGNED_CHAR_MACHINES = ("aarch64", "arm", "ppc", "powerpc", "s390", "riscv")


class _Unterminated(Exception):
    """A line with an unterminated quote: leave it to the token machinery."""


def _keep_literal(m: re.Match[str]) -> str:
    if m.group(1):
        return m.group(1)
    if m.group(2):
        raise _Unterminated
    return " "


def plain_text(text: str, start: int, end: int) -> str | None:
    """A macro-free line as cpp prints it: each run of blanks and comments becomes one space."""
    seg = text[start:end]
    if '"' in seg or "'" in seg:
        try:
            seg = _BLANKS_OR_LITERAL.sub(_keep_literal, seg)
        except _Unterminated:
            return None
    elif "/" in seg or "\t" in seg or "  " in seg or "\f" in seg or "\v" in seg or "\0" in seg:
        seg = _BLANKS.sub(" ", seg)
    return seg.rstrip(" ")


class Preprocessor(Includes, Pragmas):
    def __init__(self, main: str, search_dirs: list[str], defines: list[str], data: bytes | None = None) -> None:
        super().__init__()
        self.main = "<stdin>" if main == "-" else as_bytes_text(main)
        self.main_arg = main
        self.data = data
        self.cache = FileCache(include_chain(search_dirs))
        self.printer = Printer()
        self.stack: list[Buffer] = []
        self.toks: list[Token] = []
        self.ti = 0
        self.lookahead: list[Token] = []
        self.last = Token(EOF, "")  # the token read last, where libcpp reports by default
        self.eol = (0, 0)  # where the current line ends (line, column)
        self.bol_col = 1
        self.skipping = False
        self.mi_cmacro = None
        self.mi_ind_cmacro = None
        self.directive_line = 0
        self.pushed_macros = {}
        self.poisoned = set()
        self.assertions = {}
        self.watched = set(VA_MISUSE)  # names the lexer complains about: __VA_ARGS__ in text, poisoned ones
        self.diagnostics: list[Diagnostic] = []
        self.deps: list[str] = []
        self.counter = 0
        self.expansions = 0
        self.expanded_tokens = 0
        self.no_fast = False
        self.char_signed = not platform.machine().lower().startswith(_UNSIGNED_CHAR_MACHINES)
        self.now = time.gmtime(int(os.environ["SOURCE_DATE_EPOCH"])) if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit() else time.localtime()
        for name in _BUILTINS:
            self.macros[name] = Macro(name, builtin="__has_include" if name.startswith("__has_include") else name)
        for text in _PREDEFINED:
            self.define_text(text, "<built-in>")
        for d in ["__DTS__", *defines]:
            name, eq, value = d.partition("=")
            self.define_text(f"{name} {value if eq else '1'}", "<command-line>")

    # -- running --

    def run(self) -> Preprocessed:
        entry = self.open_main()
        self.printer.start(self.main)
        self.push_buffer(entry, announce=False)
        printer_token = self.printer.token
        get = self.get_token
        while True:
            tok = get()
            if tok.kind == EOF:
                break
            printer_token(tok)
        if any(d.level == "error" for d in self.diagnostics):
            raise DtcError(self.diagnostics)
        warnings = [d for d in self.diagnostics if d.level == "warning"]
        return Preprocessed(self.printer.text(), self.deps, warnings)

    def define_text(self, text: str, origin: str) -> None:
        """A -D option: ``NAME VALUE`` as on a #define line."""
        toks = tokenize_text(text)
        if not toks or toks[0].kind != NAME:
            self.diagnostics.append(Diagnostic("error", "macro names must be identifiers", Location(origin, 1, 1), check="cpp"))
            return
        macro = define(toks[0], toks[1:], lambda level, msg, tok: self.diagnostics.append(Diagnostic(level, msg, Location(origin, 1, 1), check="cpp")))
        if macro is not None:
            macro.where = (origin, 0, 0)
            self.macros[macro.name] = macro

    # -- diagnostics --

    def complain(self, level: str, message: str, tok: Token | None) -> None:
        """Record a diagnostic at ``tok``, or at the last token read (libcpp's default place)."""
        if tok is None:
            tok = self.last
        name = tok.file or self.location_name()
        col = self.cache.display_column(name, tok.line, tok.col)
        self.diagnostics.append(Diagnostic(level, message, Location(name, tok.line, col or 1), check="cpp"))

    def fatal(self, message: str, tok: Token | None) -> DtcError:
        self.complain("error", message, tok)
        return DtcError(self.diagnostics)

    # -- files --

    def rest_of_line(self) -> list[Token]:
        rest = [*reversed(self.lookahead), *self.toks[self.ti :]]
        self.lookahead.clear()
        self.ti = len(self.toks)
        return rest

    # -- the base lexer --

    def unlex(self, tok: Token) -> None:
        self.lookahead.append(tok)

    def lex_token(self) -> Token:
        """_cpp_lex_token: the next token of the current file, directives and skipped groups handled."""
        while True:
            fresh = not self.lookahead
            tok = self.lex_direct() if fresh else self.lookahead.pop()
            self.last = tok
            if tok.flags & BOL:
                if tok.kind == OP and tok.text == "#" and self.parsing_args != 1 and self.handle_directive(tok):
                    continue
                if not self.skipping and not self.parsing_args and tok.kind != EOF:
                    self.printer.line_change(tok.line, tok.col, self.stack[-1].name)
            if fresh and tok.kind == NAME and tok.text in self.watched and not self.skipping:
                self.diagnose_name(tok.text, tok)
            if self.in_directive:
                return tok
            self.mi_valid = False
            if not self.skipping or tok.kind == EOF:
                return tok

    def diagnose_name(self, name: str, where: Token) -> None:
        """libcpp's lexer warns about __VA_ARGS__ outside variadic macros and rejects poisoned names."""
        if name in VA_MISUSE:
            self.complain("warning", VA_MISUSE[name], where)
        else:
            self.complain("error", f'attempt to use poisoned "{name}"', where)

    def pasted(self, tok: Token) -> None:
        if tok.kind == NAME and tok.text in self.watched:
            self.diagnose_name(tok.text, Token(EOF, "", 0, self.last.line, 1))

    def handle_directive(self, hash_tok: Token) -> bool:
        """A line starting with ``#``: True when it was a directive (consumed), False to print it."""
        was_parsing_args = self.parsing_args
        if was_parsing_args:
            self.parsing_args = 0
            self.prevent_expansion = 0
        self.in_directive = True
        self.directive_line = hash_tok.line
        dname = self.lex_token()
        skip = True
        handler = None
        if dname.kind == NAME and dname.text in DIRECTIVES:
            flags = DIRECTIVES[dname.text]
            if not flags & IF_COND:
                self.mi_valid = False
            if not self.skipping or flags & COND:
                handler = getattr(self, "do_" + dname.text)
        elif dname.kind != EOF:
            skip = False
        if handler is not None:
            handler(dname)
        elif not skip:
            self.unlex(dname)
        self.end_directive(skip)
        if was_parsing_args:
            self.parsing_args = 2
            self.prevent_expansion = 1
        return skip

    def end_directive(self, skip: bool) -> None:
        if skip and self.in_directive:
            while self.contexts:
                self.pop_context()
            self.lookahead.clear()
            self.ti = len(self.toks)
        self.in_directive = False
        self.directive_wants_padding = False

    def lex_direct(self) -> Token:
        if self.ti < len(self.toks):
            tok = self.toks[self.ti]
            self.ti += 1
            return tok
        if self.in_directive:
            return Token(EOF, "", 0, *self.eol)
        while True:
            buf = self.stack[-1]
            src = buf.src
            text = src.text
            if src.pos >= len(text):
                if src.eof_splice >= 0 and src.last is not None:
                    self.splice_warnings(buf, src.last)
                if self.parsing_args:
                    return self.end_of_file_token(buf)
                if not self.pop_buffer():
                    tok = self.end_of_file_token(buf)
                    tok.flags = BOL
                    return tok
                continue
            line = src.read_line()
            if line.open_comment >= 0:
                self.unterminated_comment(buf, line)
            if src.spaced or src.eof_splice >= 0:
                self.splice_warnings(buf, line)
            p = LEADING_BLANKS.match(text, line.start, line.end).end()  # type: ignore[union-attr]
            if p >= line.end:
                continue
            if text[p] == "#":
                if line.simple and not self.skipping and self.fast_path_open() and self.define_lazily(text, p, line):
                    continue
            else:
                if self.skipping:
                    continue
                if line.simple and line.open_comment < 0 and self.fast_path_open():
                    names = _NAME.findall(text, p, line.end)
                    if self.macros.keys().isdisjoint(names) and self.watched.isdisjoint(names):
                        out = plain_text(text, p, line.end)
                        if out is not None:
                            self.printer.plain_line(line.line + buf.delta, p - line.start + 1, buf.name, out)
                            self.mi_valid = False
                            continue
            toks = tokenize(src, line, buf.delta)
            if not toks:
                continue
            self.eol = (line.line + buf.delta, line.end - line.start + 1) if line.simple else self._end_of(src, line, buf.delta)
            if text[p] == "#" and len(toks) > 2 and line.simple:
                toks = self.header_token(toks, text, line)
            first = toks[0]
            first.flags |= BOL
            self.bol_col = first.col
            if self.parsing_args == 2:
                first.flags |= PREV_WHITE
            self.toks, self.ti = toks, 1
            return first

    def define_lazily(self, text: str, p: int, line: Line) -> bool:
        """``#define NAME text`` of the plainest kind, kept as text until NAME is used.

        dt-bindings headers define hundreds of constants a board never uses; anything that
        could draw a diagnostic (a ``#``, ``__VA_ARGS__``, a redefinition) takes the full path.
        """
        m = _PLAIN_DEFINE.match(text, p, line.end)
        if m is None:
            return False
        name, body = m.group(1), m.group(2)
        if name in self.macros or name in self.watched or name in _NOT_MACRO_NAMES or "#" in body or "__VA_" in body:
            return False
        buf = self.stack[-1]
        where = (buf.name, line.line + buf.delta, m.start(1) - line.start + 1)
        self.macros[name] = Macro(name, where=where, pending=(body, m.start(2) - line.start + 1))
        self.mi_valid = False
        return True

    def fast_path_open(self) -> bool:
        """Whether a line may be printed straight: nothing is pending in the expander."""
        return not (self.parsing_args or self.contexts or self.prevent_expansion or self.no_fast)

    @staticmethod
    def _end_of(src: SourceText, line: Line, delta: int) -> tuple[int, int]:
        ln, col = src.where(line, line.end)
        return ln + delta, col

    @staticmethod
    def header_token(toks: list[Token], text: str, line: Line) -> list[Token]:
        """In ``#include <...>`` the bracketed name is one token, spelled as written."""
        second, third = toks[1], toks[2]
        if not (second.kind == NAME and second.text in _INCLUDES and third.kind == OP and third.text == "<"):
            return toks
        m = _HEADER.match(text, line.start + third.col - 1, line.end)
        if m is None:
            return toks
        k = 3
        while k < len(toks) and line.start + toks[k].col - 1 < m.end():
            k += 1
        header = Token(HEADER, m.group(), third.flags, third.line, third.col)
        return [*toks[:2], header, *toks[k:]]

    def end_of_file_token(self, buf: Buffer) -> Token:
        """EOF sits at the end of the file's last physical line."""
        last = buf.src.last
        ln, col = (1, 1) if last is None else buf.src.where(last, last.end)
        return Token(EOF, "", 0, ln + buf.delta, col)

    def splice_warnings(self, buf: Buffer, line: Line) -> None:
        """What libcpp says about a backslash-newline: blanks in between (outside comments), or at the end."""
        notes = buf.src.splice_notes(line)
        if not notes:
            return
        comments = [(m.start(), m.end()) for m in _COMMENT.finditer(buf.src.text, line.start, line.end) if m.group(1)]
        for kind, offset, index in notes:
            ln, col = buf.src.backslash_position(index)
            where = Token(EOF, "", 0, ln + buf.delta, col)
            if kind == "eof":
                self.complain("warning", "backslash-newline at end of file", where)
            elif not any(a < offset < b for a, b in comments):
                self.complain("warning", "backslash and newline separated by space", where)

    def unterminated_comment(self, buf: Buffer, line: Line) -> None:
        ln, col = buf.src.where(line, line.open_comment)
        self.complain("error", "unterminated comment", Token(EOF, "", 0, ln + buf.delta, col))

    # -- built-in macros --

    def enter_macro(self, macro: Macro, tok: Token, line: int) -> bool:
        self.expansions += 1
        entered = super().enter_macro(macro, tok, line)
        if entered and not macro.builtin:
            self.expanded_tokens += len(self.contexts[-1].tokens)
        if self.expansions > MAX_EXPANSIONS or self.expanded_tokens > MAX_EXPANDED_TOKENS:
            limit = f"{MAX_EXPANSIONS} expansions" if self.expansions > MAX_EXPANSIONS else f"{MAX_EXPANDED_TOKENS} tokens"
            where = Token(EOF, "", 0, line, 0)  # the outermost invocation
            raise self.fatal(f'macro expansion too large (over {limit}) while expanding "{macro.name}"', where)
        return entered

    def builtin_text(self, name: str, line: int) -> str:
        buf = self.stack[-1]
        if name == "__LINE__":
            return str(line)
        if name == "__FILE__":
            return f'"{quote(buf.name)}"'
        if name == "__FILE_NAME__":
            return f'"{quote(os.path.basename(buf.name))}"'
        if name == "__BASE_FILE__":
            return f'"{quote(self.main)}"'
        if name == "__INCLUDE_LEVEL__":
            return str(len(self.stack) - 1)
        if name == "__COUNTER__":
            self.counter += 1
            return str(self.counter - 1)
        if name == "__DATE__":
            return time.strftime('"%b ', self.now) + f"{self.now.tm_mday:2d}" + time.strftime(' %Y"', self.now)
        if name == "__TIME__":
            return time.strftime('"%H:%M:%S"', self.now)
        mtime = time.localtime(buf.entry.data.mtime)
        return f'"{time.asctime(mtime)}"'


def preprocess_file(path: str, search_dirs: list[str], defines: list[str], data: bytes | None = None) -> Preprocessed:
    """Preprocess ``path`` like ``cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp``.

    ``search_dirs`` are the -I directories in order (the file's own folder
    first, as preprocess.search_dirs gives them); ``defines`` are NAME or
    NAME=VALUE; ``data`` is the text when it does not come from ``path``
    (path "-" is standard input, named "<stdin>" as cpp names it).  Raises
    DtcError with cpp's messages and file:line:col.
    """
    try:
        return Preprocessor(path, search_dirs, defines, data).run()
    except RecursionError:
        raise DtcError(Diagnostic("error", "macro arguments nested too deeply", check="cpp", file=path)) from None
