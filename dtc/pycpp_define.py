"""``#define``: a macro's parameters and replacement list, checked as GCC checks them.

Parameters become ARG tokens, ``#param`` a STRINGIFY-flagged ARG, and ``a ## b``
a PASTE_LEFT flag on ``a`` (the expansion side is pycpp_macro).  In
assembler mode a ``#`` not followed by a parameter stays a ``#`` token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .pycpp_lex import ARG, BOL, EOF, NAME, OP, PASTE_LEFT, PREV_WHITE, STRINGIFY, Token, tokenize_text


@dataclass(eq=False)
class Macro:
    name: str
    body: list[Token] = field(default_factory=list)  # parameters are ARG tokens
    fun_like: bool = False
    params: list[str] = field(default_factory=list)
    variadic: bool = False
    builtin: str = ""  # the name of a built-in macro's handler, "" for user macros
    where: tuple[str, int, int] = ("", 0, 0)
    disabled: bool = False
    # An object-like macro's replacement text, tokenized on first use (most are never used):
    # (text, column where it starts on line where[1]).
    pending: tuple[str, int] | None = None

    def expansion(self) -> list[Token]:
        if self.pending is not None:
            text, col0 = self.pending
            self.pending = None
            self.body = tokenize_text(text)
            for tok in self.body:
                tok.line, tok.col, tok.file = self.where[1], tok.col + col0 - 1, self.where[0]
            if self.body:
                self.body[0].flags &= ~PREV_WHITE
        return self.body

    def same_as(self, other: Macro) -> bool:
        """Whether a redefinition is identical (C 6.10.3p2), which GCC accepts silently."""
        if (self.fun_like, self.params, self.variadic) != (other.fun_like, other.params, other.variadic):
            return False
        mine, theirs = self.expansion(), other.expansion()
        if len(mine) != len(theirs):
            return False
        return all(
            a.kind == b.kind and a.text == b.text and a.arg == b.arg and a.flags == b.flags
            for a, b in zip(mine, theirs, strict=True)
        )



class _Rejected(Exception):
    """A malformed definition: GCC's message, where it points, and where lexing resumes."""

    def __init__(self, message: str, where: Token, resume: int) -> None:
        super().__init__(message)
        self.where = where
        self.resume = resume


def define(name: Token, rest: list[Token], complain: Callable[[str, str, Token], None]) -> Macro | None:
    """Build a macro from the tokens after its name on a ``#define`` line (create_iso_definition).

    ``rest`` may end with the line's EOF token, where "end of line" errors point.
    ``complain(level, message, token)`` reports; None means the definition was rejected (the
    rest of the line is then lexed as libcpp lexes it, warning about ``__VA_ARGS__``).
    """
    end = rest[-1] if rest and rest[-1].kind == EOF else None
    if end is not None:
        rest = rest[:-1]
    try:
        return _define(name, rest, complain, end or (rest[-1] if rest else name))
    except _Rejected as e:
        complain("error", str(e), e.where)
        for tok in rest[e.resume :]:
            if tok.kind == NAME and tok.text in VA_MISUSE:
                complain("warning", VA_MISUSE[tok.text], tok)
        return None


def _define(name: Token, rest: list[Token], complain: Callable[[str, str, Token], None], end: Token) -> Macro:
    macro = Macro(name.text, where=("", name.line, name.col))
    i = 0
    header_end = name  # where libcpp reports problems with the replacement list
    if rest and rest[0].kind == OP and rest[0].text == "(" and not rest[0].flags & PREV_WHITE:
        macro.fun_like = True
        i = _parse_params(macro, rest, complain, end)
        header_end = rest[i - 1]
    elif rest and not rest[0].flags & PREV_WHITE:
        complain("warning", "missing whitespace after the macro name", name)
    params = {p: n for n, p in enumerate(macro.params)}
    va_ok = macro.variadic and "__VA_ARGS__" in params
    vaopt = _VaOptSyntax() if macro.variadic else None
    body: list[Token] = []
    following_paste = False
    for k in range(i, len(rest)):
        tok = rest[k]
        if tok.kind == NAME:
            if tok.text in params:
                tok = tok.copy()
                tok.kind, tok.arg = ARG, params[tok.text]
            elif tok.text in VA_MISUSE and not va_ok:
                complain("warning", VA_MISUSE[tok.text], tok)
        after_hash = body and body[-1].kind == OP and body[-1].text == "#" and macro.fun_like
        if after_hash and (tok.kind == ARG or (vaopt is not None and tok.kind == NAME and tok.text == "__VA_OPT__")):
            hash_tok = body.pop()
            tok = tok.copy()
            tok.flags = (tok.flags & ~PREV_WHITE) | STRINGIFY | (hash_tok.flags & PREV_WHITE)
        if tok.kind == OP and tok.text == "##":
            if not body:
                raise _Rejected("'##' cannot appear at either end of a macro expansion", header_end, k + 1)
            if not following_paste:
                body[-1] = body[-1].copy(body[-1].flags | PASTE_LEFT)
            following_paste = True
        else:
            following_paste = False
            body.append(tok if tok.kind == ARG or tok.flags & STRINGIFY else tok.copy())
        if vaopt is not None:
            problem = vaopt.update(tok)
            if problem:
                raise _Rejected(problem[0], problem[1], k + 1)
    if following_paste:
        raise _Rejected("'##' cannot appear at either end of a macro expansion", header_end, len(rest))
    if vaopt is not None and vaopt.state:
        raise _Rejected("unterminated __VA_OPT__", vaopt.where, len(rest))
    if body:
        body[0].flags &= ~PREV_WHITE
    for tok in body:
        tok.flags &= ~BOL
    macro.body = body
    return macro


VA_MISUSE = {
    "__VA_ARGS__": "__VA_ARGS__ can only appear in the expansion of a C99 variadic macro",
    "__VA_OPT__": "__VA_OPT__ can only appear in the expansion of a C++20 variadic macro",
}


class _VaOptSyntax:
    """The checks vaopt_state makes while a variadic macro is defined."""

    def __init__(self) -> None:
        self.state = 0  # 0 outside, 1 after __VA_OPT__, 2 after "(", 3+ inside (paren depth)
        self.where = Token(EOF, "")
        self.last_was_paste = False

    def update(self, tok: Token) -> tuple[str, Token] | None:
        if tok.kind == NAME and tok.text == "__VA_OPT__":
            if self.state:
                return "__VA_OPT__ may not appear in a __VA_OPT__", tok
            self.state, self.where = 1, tok
        elif self.state == 1:
            if not tok.is_op("("):
                return "__VA_OPT__ must be followed by an open parenthesis", self.where
            self.state = 2
        elif self.state >= 2:
            paste = tok.is_op("##")
            if self.state == 2:
                if paste:
                    return "'##' cannot appear at either end of __VA_OPT__", tok
                self.state = 3
            was_paste, self.last_was_paste = self.last_was_paste, paste
            if tok.is_op("("):
                self.state += 1
            elif tok.is_op(")"):
                self.state -= 1
                if self.state == 2:
                    self.state = 0
                    if was_paste:
                        return "'##' cannot appear at either end of __VA_OPT__", tok
        return None


def _parse_params(macro: Macro, rest: list[Token], complain: Callable[[str, str, Token], None], end: Token) -> int:
    """Read ``(a, b, ...)``; returns the index after ``)``."""
    prev_ident = False
    i = 1
    while True:
        tok = rest[i] if i < len(rest) else None
        i += 1
        if tok is not None and tok.kind == NAME and not prev_ident and not macro.variadic:
            if tok.text in macro.params:
                raise _Rejected(f'duplicate macro parameter "{tok.text}"', tok, i)
            if tok.text == "__VA_ARGS__":
                complain("warning", "__VA_ARGS__ can only appear in the expansion of a C99 variadic macro", tok)
            macro.params.append(tok.text)
            prev_ident = True
            continue
        if tok is not None and tok.kind == OP:
            if tok.text == ")" and (prev_ident or not macro.params or macro.variadic):
                return i
            if tok.text == "," and prev_ident and not macro.variadic:
                prev_ident = False
                continue
            if tok.text == "..." and not macro.variadic:
                if not prev_ident:
                    macro.params.append("__VA_ARGS__")
                macro.variadic = True
                continue
        if macro.variadic:
            message = "expected ')' after \"...\""
        elif tok is None:
            message = "expected ')' before end of line" if prev_ident else "expected parameter name before end of line"
        elif prev_ident:
            message = f"expected ',' or ')', found \"{tok.text}\""
        else:
            message = f'expected parameter name, found "{tok.text}"'
        raise _Rejected(message, tok or end, i)
