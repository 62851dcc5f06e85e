"""Preprocessing directives: conditionals, #define/#undef, #line, #error/#warning, #ident.

The handlers follow GCC's directives.cc, including its messages.  Which
lines are directives at all is decided in pycpp.py (in assembler mode an
unknown ``#word`` line is left in the output, which keeps ``#address-cells``
intact); #include lives in pycpp_include.py, #pragma and #assert in
pycpp_pragma.py.  Everything here works on the tokens of the current line.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pycpp_define import Macro, define
from .pycpp_expr import Evaluator, ExprError
from .pycpp_lex import EOF, NAME, NUMBER, OP, PREV_WHITE, STRING, Token, unescape
from .pycpp_macro import Expander
from .pycpp_output import Printer

COND, IF_COND = 1, 2
DIRECTIVES = {
    "define": 0, "include": 0, "endif": COND, "ifdef": COND | IF_COND, "if": COND | IF_COND,
    "else": COND, "ifndef": COND | IF_COND, "undef": 0, "line": 0, "elif": COND, "elifdef": COND,
    "elifndef": COND, "error": 0, "pragma": 0, "warning": 0, "include_next": 0, "ident": 0,
    "import": 0, "assert": 0, "unassert": 0, "sccs": 0,
}  # fmt: skip


@dataclass
class Cond:
    """One open #if group (libcpp's if_stack entry)."""

    line: int
    kind: str  # the directive that last changed it: "if", "ifdef", ..., "elif", "else"
    was_skipping: bool
    skip_elses: bool
    guard: str | None  # a possible include guard (only for the file's first conditional)


class Directives(Expander):
    """Directive handling on top of the expander; the preprocessor supplies files and lines."""

    skipping: bool
    mi_cmacro: str | None  # the guard of a file whose text so far is one #ifndef group
    mi_ind_cmacro: str | None  # the X of an "#if !defined X" being read
    directive_line: int
    printer: Printer
    pushed_macros: dict[str, list[Macro | None]]
    poisoned: set[str]
    watched: set[str]
    assertions: dict[str, set[str]]

    # -- provided by the preprocessor --

    def rest_of_line(self) -> list[Token]:
        raise NotImplementedError

    def conditions(self) -> list[Cond]:
        raise NotImplementedError

    def in_main_file(self) -> bool:
        raise NotImplementedError

    def location_name(self) -> str:
        raise NotImplementedError

    def has_include(self, name: str, angle: bool, next_dir: bool) -> bool:
        raise NotImplementedError

    def set_line(self, line: int, name: str) -> None:
        raise NotImplementedError

    def mark_once_only(self) -> None:
        raise NotImplementedError

    def header_name(self, tok: Token) -> tuple[str, bool] | None:
        raise NotImplementedError

    def read_assertion(self, hash_tok: Token) -> bool:
        raise NotImplementedError

    # -- helpers --

    def check_eol(self, directive: str, expand: bool = False, flag: str = "") -> None:
        tok = self.get_token() if expand else self.lex_token()
        if tok.kind != EOF:
            self.complain("warning", f"extra tokens at end of #{directive} directive{flag}", tok)

    def macro_name(self, directive: str, defining: bool) -> Token | None:
        """lex_macro_node: the identifier a directive names."""
        tok = self.lex_token()
        if tok.kind == NAME:
            if defining and tok.text == "defined":
                self.complain("error", '"defined" cannot be used as a macro name', tok)
            elif defining and tok.text in ("__has_include", "__has_include_next"):
                self.complain("error", '"__has_include__" cannot be used as a macro name', tok)
            else:
                return tok
        elif tok.kind == EOF:
            self.complain("error", f"no macro name given in #{directive} directive", tok)
        else:
            self.complain("error", "macro names must be identifiers", tok)
        return None

    # -- conditionals --

    def push_cond(self, skip: bool, kind: str, guard: str | None) -> None:
        top_of_file = self.mi_valid and self.mi_cmacro is None
        self.conditions().append(Cond(self.directive_line, kind, self.skipping, self.skipping or not skip, guard if top_of_file else None))
        self.skipping = skip

    def do_ifdef(self, dname: Token) -> None:
        skip = True
        if not self.skipping:
            name = self.macro_name(dname.text, False)
            if name is not None:
                skip = name.text not in self.macros
                self.check_eol(dname.text)
        self.push_cond(skip, "ifdef", None)

    def do_ifndef(self, dname: Token) -> None:
        skip, guard = True, None
        if not self.skipping:
            name = self.macro_name(dname.text, False)
            if name is not None:
                skip = name.text in self.macros
                guard = name.text
                self.check_eol(dname.text)
        self.push_cond(skip, "ifndef", guard)

    def do_if(self, dname: Token) -> None:
        skip = True
        self.mi_ind_cmacro = None
        if not self.skipping:
            skip = not self.evaluate("if", dname)
        self.push_cond(skip, "if", self.mi_ind_cmacro)

    def do_elif(self, dname: Token) -> None:
        conds = self.conditions()
        if not conds:
            self.complain("error", f"#{dname.text} without #if", dname)
            return
        cond = conds[-1]
        if cond.kind == "else":
            self.complain("error", f"#{dname.text} after #else", dname)
            self.complain("error", "the conditional began here", Token(EOF, "", 0, cond.line, 0))
        cond.kind = dname.text
        if cond.skip_elses:
            self.skipping = True
        else:
            if dname.text == "elif":
                self.skipping = not self.evaluate("elif", dname)
            else:
                name = self.macro_name(dname.text, False)
                if name is not None:
                    defined = name.text in self.macros
                    self.skipping = not defined if dname.text == "elifdef" else defined
                    self.check_eol(dname.text)
            cond.skip_elses = not self.skipping
        cond.guard = None

    do_elifdef = do_elifndef = do_elif

    def do_else(self, dname: Token) -> None:
        conds = self.conditions()
        if not conds:
            self.complain("error", "#else without #if", dname)
            return
        cond = conds[-1]
        if cond.kind == "else":
            self.complain("error", "#else after #else", dname)
            self.complain("error", "the conditional began here", Token(EOF, "", 0, cond.line, 0))
        cond.kind = "else"
        self.skipping = cond.skip_elses
        cond.skip_elses = True
        cond.guard = None
        if not cond.was_skipping:
            self.check_eol("else", flag=" [-Wendif-labels]")

    def do_endif(self, dname: Token) -> None:
        conds = self.conditions()
        if not conds:
            self.complain("error", "#endif without #if", dname)
            return
        cond = conds.pop()
        if not cond.was_skipping:
            self.check_eol("endif", flag=" [-Wendif-labels]")
        if not conds and cond.guard is not None:
            self.mi_valid = True
            self.mi_cmacro = cond.guard
        self.skipping = cond.was_skipping

    def evaluate(self, directive: str, dname: Token) -> bool:
        """_cpp_parse_expr for #if / #elif; a malformed expression counts as false."""
        ev = Evaluator(self.get_token, self.read_defined, self.read_has_include, self.read_assertion, self.complain, self.char_signed)
        try:
            result = ev.evaluate(directive)
        except ExprError as e:
            self.complain("error", str(e), e.token)
            return False
        if self.mi_ind_cmacro is not None and not (ev.leading_not and ev.lex_count == 3):
            self.mi_ind_cmacro = None
        return result

    char_signed = True

    def read_defined(self, op: Token) -> bool:
        self.prevent_expansion += 1
        try:
            tok = self.get_nonpadding()
            paren = tok.kind == OP and tok.text == "("
            if paren:
                tok = self.get_nonpadding()
            if tok.kind != NAME:
                self.complain("error", 'operator "defined" requires an identifier', None)
                return False
            if paren:
                close = self.get_nonpadding()
                if not (close.kind == OP and close.text == ")"):
                    self.complain("error", 'missing \')\' after "defined"', None)
                    return False
            self.mi_ind_cmacro = tok.text
            return tok.text in self.macros
        finally:
            self.prevent_expansion -= 1

    def read_has_include(self, op: Token) -> bool:
        tok = self.get_nonpadding()
        paren = tok.kind == OP and tok.text == "("
        if paren:
            tok = self.get_nonpadding()
        else:
            self.complain("error", f'missing \'(\' before "{op.text}" operand', None)
        header = self.header_name(tok)
        if header is None:
            self.complain("error", f'operator "{op.text}" requires a header-name', None)
            return False
        found = self.has_include(header[0], header[1], op.text == "__has_include_next")
        if paren:
            close = self.get_nonpadding()
            if not (close.kind == OP and close.text == ")"):
                self.complain("error", f'missing \')\' after "{op.text}" operand', None)
        return found

    # -- macros --

    def do_define(self, dname: Token) -> None:
        name = self.macro_name("define", True)
        if name is None:
            return
        macro = define(name, [*self.rest_of_line(), self.lex_token()], self.complain)
        if macro is None:
            return
        macro.where = (self.location_name(), name.line, name.col)
        for tok in macro.body:
            tok.file = macro.where[0]
        old = self.macros.get(name.text)
        if old is not None and (old.builtin or not old.same_as(macro)):
            where = Token(EOF, "", 0, name.line, 0)
            self.complain("warning", f'"{name.text}" redefined', where)
            if not old.builtin:
                self.complain("note", "this is the location of the previous definition", Token(EOF, "", 0, old.where[1], 0))
        self.macros[name.text] = macro

    def do_undef(self, dname: Token) -> None:
        name = self.macro_name("undef", True)
        if name is None:
            return
        old = self.macros.pop(name.text, None)
        if old is not None and old.builtin:
            self.complain("warning", f'undefining "{name.text}" [-Wbuiltin-macro-redefined]', Token(EOF, "", 0, name.line, 0))
        self.check_eol("undef")

    # -- #line, diagnostics, pragmas --

    def do_line(self, dname: Token) -> None:
        tok = self.get_nonpadding()
        if tok.kind != NUMBER or not tok.text.isdigit():
            if tok.kind == EOF:
                self.complain("error", "unexpected end of file after #line", tok)
            else:
                self.complain("error", f'"{tok.text}" after #line is not a positive integer', tok)
            return
        line = int(tok.text)
        if line > 0xFFFFFFFF:
            self.complain("warning", "line number out of range", tok)
            line &= 0xFFFFFFFF
        name = self.location_name()
        tok = self.get_nonpadding()
        if tok.kind == STRING:
            name = unescape(tok.text[1:-1])
            self.check_eol("line", expand=True)
        elif tok.kind != EOF:
            self.complain("error", f'invalid filename "{tok.text}"', tok)
            return
        self.rest_of_line()
        self.set_line(line, name)

    def do_error(self, dname: Token) -> None:
        self.complain("error", self.directive_text(dname), dname)

    def do_warning(self, dname: Token) -> None:
        self.complain("warning", self.directive_text(dname) + " [-Wcpp]", dname)

    def directive_text(self, dname: Token) -> str:
        parts = [f"#{dname.text} "]
        for i, tok in enumerate(self.rest_of_line()):
            if i and tok.flags & PREV_WHITE:
                parts.append(" ")
            parts.append(tok.text)
        return "".join(parts)

    def do_ident(self, dname: Token) -> None:
        tok = self.get_nonpadding()
        if tok.kind != STRING:
            self.complain("error", f"invalid #{dname.text} directive", tok)
            return
        self.check_eol(dname.text)

    do_sccs = do_ident
