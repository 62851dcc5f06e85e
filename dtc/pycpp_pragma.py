"""Pragmas and assertions: directives libcpp keeps for compatibility.

In assembler mode GCC prints no ``#pragma`` lines; the pragmas libcpp itself
implements still act (``once``, ``push_macro``/``pop_macro``, ``GCC poison``,
``GCC warning``/``error``, ``GCC system_header``) and leave the indentation
of their first word on an otherwise empty output line, as cpp does.
``#assert``/``#unassert`` and ``#if #pred(answer)`` are deprecated but work.
"""

from __future__ import annotations

from .pycpp_directives import Directives
from .pycpp_lex import (
    AVOID_PASTE,
    EOF,
    NAME,
    PREV_WHITE,
    STRING,
    WSTRING,
    Token,
    padding,
    tokenize_text,
    unescape,
)
from .pycpp_macro import Context

_LIBCPP_PRAGMAS = {"once", "push_macro", "pop_macro"}
_GCC_PRAGMAS = {"poison", "system_header", "dependency", "warning", "error"}


class Pragmas(Directives):
    bol_col: int  # column of the current line's first token

    def do_pragma(self, dname: Token) -> None:
        self.run_pragma([*self.rest_of_line(), self.lex_token()])

    def run_pragma(self, toks: list[Token]) -> None:
        """The pragmas libcpp itself implements; others are dropped (GCC prints none in assembler mode)."""
        first = toks[0]
        if first.kind != NAME:
            return  # (toks always ends with the line's EOF)
        if first.text in _LIBCPP_PRAGMAS:
            name, args = first.text, toks[1:]
        elif first.text == "GCC" and len(toks) > 1 and toks[1].kind == NAME and toks[1].text in _GCC_PRAGMAS:
            name, args = "GCC " + toks[1].text, toks[2:]
        else:
            if first.text == "redefine_extname":
                self.print_pragma(first, toks[1:])
            return
        self.printer.line_change(first.line, first.col, self.location_name())
        if name == "once":
            if self.in_main_file():
                self.complain("warning", "#pragma once in main file", first)
            self.mark_once_only()
        elif name in ("push_macro", "pop_macro"):
            self.push_pop_macro(name, args, first)
        elif name == "GCC poison":
            for tok in args:
                if tok.kind == NAME:
                    self.macros.pop(tok.text, None)
                    self.poisoned.add(tok.text)
                    self.watched.add(tok.text)
        elif name in ("GCC warning", "GCC error"):
            if args[0].kind != STRING:
                self.complain("error", f'invalid "#pragma {name}" directive', args[0])
            else:
                self.complain("warning" if name == "GCC warning" else "error", unescape(args[0].text[1:-1]), args[0])
        elif name == "GCC system_header" and self.in_main_file():
            self.complain("warning", "#pragma system_header ignored outside include file", toks[1])

    def print_pragma(self, first: Token, args: list[Token]) -> None:
        """The one pragma cc1 -E prints even for assembler: ``#pragma redefine_extname``, macros expanded."""
        printer = self.printer
        printer.line_change(first.line, first.col + 1, self.location_name())
        printer.move_to(first.line, self.location_name())
        printer.chunks.append("#pragma " + first.text)
        printer.printed, printer.prev, printer.source, printer.avoid_paste = True, None, None, False
        was_in_directive, self.in_directive = self.in_directive, False
        self.contexts.append(Context(None, args))  # args ends with the line's EOF
        try:
            while (tok := self.get_token()).kind != EOF:
                if tok is not AVOID_PASTE:
                    printer.token(tok)
        finally:
            self.in_directive = was_in_directive
        printer.move_to(first.line + 1, self.location_name())

    def push_pop_macro(self, name: str, args: list[Token], where: Token) -> None:
        if len(args) < 3 or not args[0].is_op("(") or args[1].kind != STRING or not args[2].is_op(")"):
            self.complain("error", f'invalid #pragma {name} directive', where)
            return
        macro_name = unescape(args[1].text[1:-1])
        stack = self.pushed_macros.setdefault(macro_name, [])
        if name == "push_macro":
            stack.append(self.macros.get(macro_name))
        elif stack:
            saved = stack.pop()
            if saved is None:
                self.macros.pop(macro_name, None)
            else:
                self.macros[macro_name] = saved




    def pragma_operator(self, tok: Token, line: int) -> bool:
        """``_Pragma("...")``: run the pragma, then restart the output line as GCC does."""
        self.no_fast = True
        try:
            string = self._pragma_string()
        finally:
            self.no_fast = False
        if string is None:
            self.complain("error", "_Pragma takes a parenthesized string literal", None)
            return False
        body = string.text[string.text.index('"') + 1 : -1].replace('\\"', '"').replace("\\\\", "\\")
        pragma = tokenize_text(body)
        for t in pragma:
            t.line, t.col = line, 1
        self.run_pragma([*pragma, Token(EOF, "", 0, line, 1)])
        self.printer.line_change(line, self.bol_col, self.location_name())
        self.contexts.append(Context(None, [padding(None)]))  # libcpp's directive_result
        return True

    def _pragma_string(self) -> Token | None:
        """get__Pragma_string: ``( "string" )``, stopping at the first token that does not fit."""
        for want in ("(", "string", ")"):
            t = self.get_nonpadding()
            if t.kind == EOF:
                self.backup(t)
            if want == "string":
                if t.kind not in (STRING, WSTRING):
                    return None
                string = t
            elif not t.is_op(want):
                return None
        return string

    def do_assert(self, dname: Token) -> None:
        self.complain("warning", f"#{dname.text} is a deprecated GCC extension [-Wdeprecated]", dname)
        self.prevent_expansion += 1
        try:
            found = self.parse_assertion(in_if=False)
        finally:
            self.prevent_expansion -= 1
        if found is None:
            return
        pred, answer = found
        answers = self.assertions.setdefault(pred, set())
        if dname.text == "unassert":
            if answer is None:
                answers.clear()
            else:
                answers.discard(answer)
        elif answer is not None:
            answers.add(answer)
        self.check_eol(dname.text)

    do_unassert = do_assert


    def read_assertion(self, hash_tok: Token) -> bool:
        """``#pred`` or ``#pred(answer)`` in #if: whether #assert made it true."""
        self.prevent_expansion += 1
        try:
            found = self.parse_assertion(in_if=True)
        finally:
            self.prevent_expansion -= 1
        if found is None:
            return False
        pred, answer = found
        answers = self.assertions.get(pred, set())
        return bool(answers) if answer is None else answer in answers

    def parse_assertion(self, in_if: bool) -> tuple[str, str | None] | None:
        """(predicate, answer spelled out or None); None after complaining."""
        pred = self.get_nonpadding()
        if pred.kind == EOF:
            self.complain("error", "assertion without predicate", pred)
            return None
        if pred.kind != NAME:
            self.complain("error", "predicate must be an identifier", pred)
            return None
        paren = self.get_nonpadding()
        if not paren.is_op("("):
            if in_if:
                self.backup(paren)
                return pred.text, None
            if paren.kind == EOF:
                return pred.text, None
            self.complain("error", "missing '(' after predicate", paren)
            return None
        parts: list[str] = []
        while True:
            tok = self.get_nonpadding()
            if tok.is_op(")"):
                break
            if tok.kind == EOF:
                self.complain("error", "missing ')' to complete answer", tok)
                return None
            parts.append((" " if parts and tok.flags & PREV_WHITE else "") + tok.text)
        if not parts:
            self.complain("error", "predicate's answer is empty", paren)
            return None
        return pred.text, "".join(parts)
