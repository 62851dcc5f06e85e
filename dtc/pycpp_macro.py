"""Macro expansion, the way GCC's libcpp (macro.cc) does it.

Expansion is a stack of token contexts read by ``get_token``.  A macro is
disabled while its context is on the stack, and a name read in that state is
marked NO_EXPAND for good ("painted blue"), so self-reference terminates.
PADDING tokens record where white space came from; the printer turns them
into GCC's exact spacing.  Arguments are collected unexpanded, expanded
once on first use, stringified with ``#`` and glued with ``##`` (a paste
that does not form one token is silently two tokens in assembler mode).
"""

from __future__ import annotations

from .pycpp_define import Macro
from .pycpp_lex import (
    ARG,
    AVOID_PASTE,
    BOL,
    CHAR,
    EOF,
    NAME,
    NO_EXPAND,
    OP,
    OTHER,
    PADDING,
    PASTE_LEFT,
    PREV_WHITE,
    STRING,
    STRINGIFY,
    WCHAR,
    WSTRING,
    Token,
    padding,
    quote,
    tokenize_text,
)

RESOLVED = 32  # token flag: ``line`` already is the line of its outermost expansion point
ARG_END = Token(EOF, "")  # ends a macro argument being pre-expanded (libcpp's pfile->eof)



MAX_CONTEXTS = 400  # expansion contexts open at once (nested macro arguments)

class MacroArg:
    __slots__ = ("expanded", "omitted", "stringified", "tokens")

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.expanded: list[Token] | None = None
        self.stringified: Token | None = None
        self.omitted = False  # a variadic argument left out entirely: ``, ## __VA_ARGS__`` drops the comma


class Context:
    __slots__ = ("line", "macro", "pos", "tokens")

    def __init__(self, macro: Macro | None, tokens: list[Token], line: int = 0) -> None:
        self.macro = macro
        self.tokens = tokens
        self.pos = 0
        self.line = line  # expansion point of a macro context, 0 for others


class Expander:
    """The macro-expanding token stream (cpp_get_token) over a base lexer given by a subclass."""

    def __init__(self) -> None:
        self.macros: dict[str, Macro] = {}
        self.contexts: list[Context] = []
        self.prevent_expansion = 0
        self.parsing_args = 0  # 1: looking for '(', 2: inside the arguments
        self.in_directive = False
        self.directive_wants_padding = False
        self.mi_valid = False  # include-guard detection: nothing but conditionals seen yet

    # -- provided by the preprocessor --

    def lex_token(self) -> Token:
        raise NotImplementedError

    def unlex(self, tok: Token) -> None:
        """Give a token back to the base lexer (a one-token lookahead)."""
        raise NotImplementedError

    def complain(self, level: str, message: str, tok: Token | None) -> None:
        raise NotImplementedError

    def builtin_text(self, name: str, line: int) -> str:
        raise NotImplementedError

    def pragma_operator(self, tok: Token, line: int) -> bool:
        raise NotImplementedError

    # -- the token stream --

    def get_token(self) -> Token:
        contexts = self.contexts
        while True:
            ctx = contexts[-1] if contexts else None
            if ctx is None:
                tok = self.lex_token()
            elif ctx.pos < len(ctx.tokens):
                tok = ctx.tokens[ctx.pos]
                ctx.pos += 1
                if tok.flags & PASTE_LEFT:
                    self.paste_all(tok)
                    if self.in_directive:
                        continue
                    return padding(tok)
            else:
                self.pop_context()
                if self.in_directive:
                    continue
                return AVOID_PASTE
            if tok.kind != NAME or tok.flags & NO_EXPAND:
                return tok
            macro = self.macros.get(tok.text)
            if macro is None:
                return tok
            if macro.disabled:
                return tok.copy(tok.flags | NO_EXPAND)
            if self.prevent_expansion:
                if ctx is not None and ctx.line and not tok.flags & RESOLVED:
                    tok = tok.copy(tok.flags | RESOLVED)
                    tok.line, tok.file = ctx.line, None
                return tok
            line = ctx.line if (ctx is not None and ctx.line and not tok.flags & RESOLVED) else tok.line
            entered = self.enter_macro(macro, tok, line)
            if entered:
                if self.in_directive:
                    continue
                return padding(tok)
            return tok

    def get_nonpadding(self) -> Token:
        while True:
            tok = self.get_token()
            if tok.kind != PADDING:
                return tok

    def pop_context(self) -> None:
        ctx = self.contexts.pop()
        if ctx.macro is not None:
            ctx.macro.disabled = False

    def backup(self, tok: Token) -> None:
        """_cpp_backup_tokens for one token."""
        if self.contexts:
            self.contexts[-1].pos -= 1
        else:
            self.unlex(tok)

    # -- entering a macro --

    def enter_macro(self, macro: Macro, tok: Token, line: int) -> bool:
        self.mi_valid = False
        if macro.builtin:
            return self.expand_builtin(macro, tok, line)
        if macro.fun_like:
            self.prevent_expansion += 1
            self.parsing_args = 1
            args = self.funlike_invocation(macro, tok)
            self.parsing_args = 0
            self.prevent_expansion -= 1
            if args is None:
                return False
            tokens = self.replace_args(macro, args) if macro.params else macro.expansion()
        else:
            tokens = macro.expansion()
        macro.disabled = True
        self.contexts.append(Context(macro, tokens, line))
        return True

    def funlike_invocation(self, macro: Macro, name: Token) -> list[MacroArg] | None:
        pad: Token | None = None
        while True:
            tok = self.get_token()
            if tok.kind != PADDING:
                break
            if pad is None or pad.source is None or (not pad.source.flags & PREV_WHITE and tok.source is None):
                pad = tok
        if tok.kind == OP and tok.text == "(":
            self.parsing_args = 2
            return self.collect_args(macro, name)
        if tok.kind != EOF or tok is ARG_END:
            self.backup(tok)
            if pad is not None:
                self.contexts.append(Context(None, [pad]))
        return None

    def collect_args(self, macro: Macro, name: Token) -> list[MacroArg] | None:
        nparams = len(macro.params)
        args: list[MacroArg] = []
        count = 0
        while True:
            count += 1
            depth = 0
            toks: list[Token] = []
            while True:
                tok = self.get_token()
                kind = tok.kind
                if kind == PADDING:
                    if not toks:
                        continue
                elif kind == OP:
                    t = tok.text
                    if t == "(":
                        depth += 1
                    elif t == ")":
                        if depth == 0:
                            break
                        depth -= 1
                    elif t == ",":
                        if depth == 0 and not (macro.variadic and count == nparams):
                            break
                    elif t == "#" and tok.flags & BOL:
                        break
                elif kind == EOF:
                    break
                toks.append(tok)
            while toks and toks[-1].kind == PADDING:
                toks.pop()
            if count <= max(nparams, 1):
                args.append(MacroArg(toks))
            else:
                args[-1] = MacroArg(toks)
            if tok.kind == EOF or (tok.kind == OP and tok.text == ")"):
                break
        if tok.kind == EOF:
            if self.contexts or self.in_directive:
                self.backup(tok)
            self.complain("error", f'unterminated argument list invoking macro "{macro.name}"', tok)
            return None
        if count == 1 and nparams == 0 and not args[0].tokens:
            count = 0
        if count != nparams:
            if count < nparams and count + 1 == nparams and macro.variadic:
                args.append(MacroArg([]))
                args[-1].omitted = True
            else:
                if count < nparams:
                    message = f'macro "{macro.name}" requires {nparams} arguments, but only {count} given'
                else:
                    message = f'macro "{macro.name}" passed {count} arguments, but takes just {nparams}'
                self.complain("error", message, tok)
                return None
        elif macro.variadic and count == 1 and not args[0].tokens:
            args[0].omitted = True  # GNU: a lone empty variadic argument also drops ", ##"
        return args

    def expand_arg(self, arg: MacroArg) -> list[Token]:
        """Macro-expand an argument on its own, ending at ARG_END (expand_arg)."""
        if len(self.contexts) > MAX_CONTEXTS:
            # Each level of nested macro arguments costs Python stack; stop before the interpreter does,
            # whatever recursion limit the process runs with.
            raise RecursionError("macro arguments nested too deeply")
        self.contexts.append(Context(None, [*arg.tokens, ARG_END]))
        out: list[Token] = []
        while True:
            tok = self.get_token()
            if tok.kind == EOF:
                break
            out.append(tok)
        self.pop_context()
        arg.expanded = out
        return out

    def replace_args(self, macro: Macro, args: list[MacroArg]) -> list[Token]:
        """The replacement list with arguments substituted, plus GCC's padding tokens."""
        out: list[Token] = []
        body = macro.expansion()
        nparams = len(macro.params)
        in_directive = self.in_directive
        vaopt = _VaOpt(self, macro, args[-1] if macro.variadic else None)
        for i, src in enumerate(body):
            state = vaopt.update(src)
            if state != _INCLUDE:
                if state == _BEGIN:
                    if i and not body[i - 1].flags & PASTE_LEFT:
                        out.append(padding(src))
                    vaopt.start = len(out)
                elif state == _END:
                    start, vaopt.start = vaopt.start, -1
                    if vaopt.stringify:
                        text = self.stringify(out[start:])
                        del out[start:]
                        out.append(text.copy(text.flags | (src.flags & PASTE_LEFT)))
                    elif src.flags & PASTE_LEFT:
                        while len(out) > start and out[-1] is AVOID_PASTE:
                            out.pop()
                        if out and out[-1].kind != PADDING:
                            out[-1] = out[-1].copy(out[-1].flags | PASTE_LEFT)
                    else:
                        out.append(AVOID_PASTE)
                continue
            if src.kind != ARG:
                out.append(src)
                continue
            arg = args[src.arg]
            flag_at = -1
            at_vaopt_start = vaopt.start >= 0 and len(out) == vaopt.start
            pasted_to_prev = i > 0 and body[i - 1].flags & PASTE_LEFT
            if src.flags & STRINGIFY:
                if arg.stringified is None:
                    arg.stringified = self.stringify(arg.tokens)
                from_tokens = [arg.stringified]
            elif src.flags & PASTE_LEFT:
                from_tokens = arg.tokens
            elif pasted_to_prev:
                from_tokens = arg.tokens
                if out:
                    last = out[-1]
                    if last.kind == OP and last.text == "," and macro.variadic and src.arg == nparams - 1:
                        if arg.omitted:
                            out.pop()
                        else:
                            flag_at = len(out) - 1
                    elif not from_tokens:
                        flag_at = len(out) - 1
            else:
                from_tokens = arg.expanded if arg.expanded is not None else self.expand_arg(arg)
                if at_vaopt_start:
                    k = 0
                    while k < len(from_tokens) and from_tokens[k].kind == PADDING:
                        k += 1
                    from_tokens = from_tokens[k:]
            if (not in_directive or self.directive_wants_padding) and i > 0 and not pasted_to_prev and not at_vaopt_start:
                out.append(padding(src))
            if from_tokens:
                out.extend(from_tokens)
                if src.flags & PASTE_LEFT:
                    flag_at = len(out) - 1
            if not in_directive and not src.flags & PASTE_LEFT:
                out.append(AVOID_PASTE)
            if flag_at >= 0:
                tok = out[flag_at]
                flags = tok.flags | PASTE_LEFT if src.flags & PASTE_LEFT else tok.flags & ~PASTE_LEFT
                out[flag_at] = tok.copy(flags)
        return out

    def stringify(self, tokens: list[Token]) -> Token:
        """``#param``: the argument's spelling as a string literal (stringify_arg)."""
        parts: list[str] = []
        source: Token | None = None
        backslashes = 0
        for tok in tokens:
            if tok.kind == PADDING:
                if source is None or (not source.flags & PREV_WHITE and tok.source is None):
                    source = tok.source
                continue
            if parts:
                if source is None:
                    source = tok
                if source.flags & PREV_WHITE:
                    parts.append(" ")
            source = None
            escape = tok.kind in (STRING, WSTRING, CHAR, WCHAR)
            parts.append(quote(tok.text) if escape else tok.text)
            backslashes = backslashes + 1 if tok.kind == OTHER and tok.text[0] == "\\" else 0
        text = "".join(parts)
        if backslashes & 1:
            self.complain("warning", "invalid string literal, ignoring final '\\'", None)
            text = text[:-1]
        return Token(STRING, f'"{text}"')

    def paste_all(self, lhs: Token) -> None:
        """Glue ``lhs ## rhs [## ...]`` from the current context; the result gets a context of its own."""
        ctx = self.contexts[-1]
        tokens = ctx.tokens
        while ctx.pos < len(tokens):
            rhs = tokens[ctx.pos]
            ctx.pos += 1
            if rhs.kind == PADDING:
                lhs = lhs.copy(lhs.flags & ~PASTE_LEFT)
                break
            pasted = self.paste_tokens(lhs, rhs)
            if pasted is None:
                ctx.pos -= 1
                lhs = lhs.copy(lhs.flags & ~PASTE_LEFT)
                break
            lhs = pasted
            if not rhs.flags & PASTE_LEFT:
                break
        else:
            lhs = lhs.copy(lhs.flags & ~PASTE_LEFT)
        self.contexts.append(Context(None, [lhs], ctx.line))

    def pasted(self, tok: Token) -> None:
        """A token made by ``##`` has just been lexed (libcpp's lexer may warn about it)."""

    def paste_tokens(self, lhs: Token, rhs: Token) -> Token | None:
        text = lhs.text
        if lhs.kind == OP and lhs.text == "/" and not (rhs.kind == OP and rhs.text == "="):
            text += " "  # never glue a comment opener
        text += rhs.text
        toks = tokenize_text(text)
        if toks:
            self.pasted(toks[0])
        if len(toks) != 1 or len(toks[0].text) != len(text):
            return None
        tok = toks[0]
        tok.flags = lhs.flags & (PREV_WHITE | RESOLVED)
        tok.line, tok.col = lhs.line, lhs.col
        return tok

    # -- built-in macros --

    def expand_builtin(self, macro: Macro, tok: Token, line: int) -> bool:
        if macro.builtin == "_Pragma":
            if self.in_directive:
                return False
            return self.pragma_operator(tok, line)
        if macro.builtin == "__has_include":
            return False  # only meaningful in #if, where the expression reader handles it
        text = self.builtin_text(macro.name, line)
        new = tokenize_text(text)[0]
        new.flags, new.line, new.col = 0, tok.line, tok.col
        self.contexts.append(Context(None, [new]))
        return True


_INCLUDE, _DROP, _BEGIN, _END = range(4)


class _VaOpt:
    """__VA_OPT__(...) in a variadic macro's replacement list (vaopt_state)."""

    def __init__(self, expander: Expander, macro: Macro, arg: MacroArg | None) -> None:
        self.expander = expander
        self.variadic = macro.variadic
        self.arg = arg
        self.state = 0  # 0 outside, 1 after __VA_OPT__, 2+ paren depth inside
        self.keep: int | None = None
        self.start = -1  # where in the output the __VA_OPT__ group began
        self.stringify = False  # the group is ``#__VA_OPT__(...)``

    def update(self, tok: Token) -> int:
        if not self.variadic:
            return _INCLUDE
        if tok.kind == NAME and tok.text == "__VA_OPT__" and self.state == 0:
            self.state = 1
            self.stringify = bool(tok.flags & STRINGIFY)
            return _BEGIN
        if self.state == 1:
            self.state = 2
            if self.keep is None:
                arg = self.arg
                expanded = [] if arg is None else arg.expanded if arg.expanded is not None else self.expander.expand_arg(arg)
                self.keep = _INCLUDE if any(t.kind != PADDING for t in expanded) else _DROP
            return _DROP
        if self.state >= 2:
            if tok.kind == OP and tok.text == "(":
                self.state += 1
            elif tok.kind == OP and tok.text == ")":
                self.state -= 1
                if self.state == 1:
                    self.state = 0
                    return _END
            return self.keep  # type: ignore[return-value]
        return _INCLUDE
