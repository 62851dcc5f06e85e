"""``#if`` expressions: GCC's operator-precedence parser and its intmax_t arithmetic.

The parser is the shift-reduce loop of libcpp's expr.cc, so malformed
expressions get GCC's messages at GCC's positions.  Values are 64-bit,
signed unless a constant is unsigned (a ``u`` suffix, or too big for
intmax_t) or the usual conversions make them so.  Identifiers that are not
macros are 0; ``defined`` reads its operand unexpanded.  Overflow is a
warning, as in GCC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .pycpp_lex import CHAR, EOF, NAME, NUMBER, OP, PADDING, WCHAR, Token

MASK = (1 << 64) - 1
SIGN = 1 << 63

# Operator priorities and flags (libcpp's optab); "u+"/"u-" are the unary forms.
_LEFT, _NO_LEFT_OPERAND = 1, 2
_OPTAB: dict[str, tuple[int, int]] = {
    "!": (16, _NO_LEFT_OPERAND), "~": (16, _NO_LEFT_OPERAND), "u+": (16, _NO_LEFT_OPERAND), "u-": (16, _NO_LEFT_OPERAND),
    "*": (15, _LEFT), "/": (15, _LEFT), "%": (15, _LEFT), "+": (14, _LEFT), "-": (14, _LEFT),
    "<<": (13, _LEFT), ">>": (13, _LEFT), "<": (12, _LEFT), ">": (12, _LEFT), "<=": (12, _LEFT), ">=": (12, _LEFT),
    "==": (11, _LEFT), "!=": (11, _LEFT), "&": (9, _LEFT), "^": (8, _LEFT), "|": (7, _LEFT),
    "&&": (6, _LEFT), "||": (5, _LEFT), "?": (4, 0), ":": (4, _LEFT), ",": (4, _LEFT),
    "(": (1, _NO_LEFT_OPERAND), ")": (0, 0), "EOF": (0, 0),
}  # fmt: skip
_ESCAPES = {"n": 10, "t": 9, "v": 11, "b": 8, "r": 13, "f": 12, "a": 7, "e": 27, "E": 27, "\\": 92, "'": 39, '"': 34, "?": 63}
_INT_SUFFIX = re.compile(r"(?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)?")


class ExprError(Exception):
    """A malformed expression; the message is GCC's, ``token`` is where it was noticed."""

    def __init__(self, message: str, token: Token | None = None) -> None:
        super().__init__(message)
        self.token = token


@dataclass
class Num:
    value: int  # 0 .. 2**64-1, two's complement when signed
    unsigned: bool = False
    overflow: bool = False

    def signed(self) -> int:
        return self.value - (1 << 64) if (not self.unsigned and self.value & SIGN) else self.value


def classify_number(text: str) -> tuple[int, int, str]:
    """cpp_classify_number for an integer pp-number: (radix, start of digits, suffix).

    Raises ExprError with GCC's message for floats and malformed numbers.
    """
    radix, i = 10, 0
    if text[0] == "0":
        radix, i = 8, 1
        if len(text) > 2 and text[1] in "xX" and (text[2] == "." or text[2] in "0123456789abcdefABCDEF"):
            radix, i = 16, 2
        elif len(text) > 2 and text[1] in "bB" and text[2] in "01":
            radix, i = 2, 2
    start, max_digit, float_kind = i, 0, ""
    while i < len(text):
        c = text[i]
        if c.isdigit() or (radix == 16 and c in "abcdefABCDEF"):
            max_digit = max(max_digit, int(c, 16))
        elif c == ".":
            if float_kind:
                raise ExprError("too many decimal points in number")
            float_kind = "point"
        elif (radix <= 10 and c in "eE") or (radix == 16 and c in "pP"):
            float_kind = "exponent"
            i += 1
            break
        else:
            break
        i += 1
    if float_kind and radix == 8:
        radix = 10
    if max_digit >= radix:
        kind = "binary" if radix == 2 else "octal"
        raise ExprError(f'invalid digit "{max_digit}" in {kind} constant')
    if float_kind:
        if float_kind == "exponent":
            j = i + 1 if i < len(text) and text[i] in "+-" else i
            if j >= len(text) or not text[j].isdigit():
                raise ExprError("exponent has no digits")
        elif radix == 16:
            raise ExprError("hexadecimal floating constants require an exponent")
        raise ExprError("floating constant in preprocessor expression")
    suffix = text[i:]
    if not _INT_SUFFIX.fullmatch(suffix):
        raise ExprError(f'invalid suffix "{suffix}" on integer constant')
    return radix, start, suffix


def interpret_integer(text: str, warn: Callable[[str], None]) -> Num:
    radix, start, suffix = classify_number(text)
    digits = text[start : len(text) - len(suffix)]
    value = int(digits, radix) if digits else 0
    unsigned = "u" in suffix.lower()
    if value > MASK:
        warn("integer constant is too large for its type")
        return Num(value & MASK, unsigned)
    if not unsigned and value & SIGN:
        if radix == 10:
            warn("integer constant is so large that it is unsigned")
        unsigned = True
    return Num(value, unsigned)


def interpret_char(tok: Token, char_signed: bool, warn: Callable[[str], None]) -> Num:
    """cpp_interpret_charconst: 'a', '\\n', multi-character constants."""
    wide = tok.kind == WCHAR
    body = tok.text[2:-1] if wide else tok.text[1:-1]
    chars: list[int] = []
    i = 0
    while i < len(body):
        c = body[i]
        i += 1
        if c != "\\" or i >= len(body):
            chars.append(ord(c))
            continue
        e = body[i]
        if e in _ESCAPES:
            chars.append(_ESCAPES[e])
            i += 1
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i:])
            assert m is not None
            chars.append(int(m.group(), 8))
            i += len(m.group())
        elif e == "x" and i + 1 < len(body) and body[i + 1] in "0123456789abcdefABCDEF":
            m = re.match(r"[0-9a-fA-F]+", body[i + 1 :])
            assert m is not None
            chars.append(int(m.group(), 16))
            i += 1 + len(m.group())
        else:
            warn(f"unknown escape sequence: '\\{e}'")
            chars.append(ord(e))
            i += 1
    if not chars:
        raise ExprError("empty character constant", tok)
    if wide:
        return Num(chars[-1] & 0xFFFFFFFF)
    if len(chars) > 1:
        warn("multi-character character constant [-Wmultichar]")
    value = 0
    for c in chars:
        value = ((value << 8) | (c & 0xFF)) & 0xFFFFFFFF
    if len(chars) == 1:
        if char_signed and value & 0x80:
            value -= 0x100
    elif value & 0x80000000:
        value -= 1 << 32
    return Num(value & MASK)


@dataclass
class _Entry:
    op: str
    token: Token
    value: Num


class Evaluator:
    """Evaluates one ``#if`` line, reading expanded tokens from ``next_token``.

    ``read_defined``, ``read_has_include`` and ``read_assertion`` parse the
    operands of ``defined``, ``__has_include`` and ``#pred(answer)``;
    ``complain(level, message, token)`` reports non-fatal problems (token None: where
    the lexer is, which is where libcpp reports some of them).
    """

    def __init__(
        self,
        next_token: Callable[[], Token],
        read_defined: Callable[[Token], bool],
        read_has_include: Callable[[Token], bool],
        read_assertion: Callable[[Token], bool],
        complain: Callable[[str, str, Token | None], None],
        char_signed: bool = True,
    ) -> None:
        self.next_token = next_token
        self.read_defined = read_defined
        self.read_has_include = read_has_include
        self.read_assertion = read_assertion
        self.complain = complain
        self.char_signed = char_signed
        self.skip_eval = 0
        self.lex_count = 0
        self.leading_not = False

    def evaluate(self, directive: str) -> bool:
        """_cpp_parse_expr; raises ExprError on a syntax error."""
        stack = [_Entry("EOF", Token(EOF, ""), Num(0))]
        want_value = True
        while True:
            self.lex_count += 1
            tok = self.next_token()
            kind = tok.kind
            if kind == PADDING:
                self.lex_count -= 1
                continue
            if kind in (NUMBER, CHAR, WCHAR, NAME) or (kind == OP and tok.text == "#"):
                if not want_value:
                    raise ExprError(f'missing binary operator before token "{tok.text}"', tok)
                want_value = False
                stack[-1].value = self.eval_token(tok)
                continue
            if kind == EOF:
                op = "EOF"
            elif kind == OP and tok.text in _OPTAB:
                op = tok.text
                if op == "!":
                    self.leading_not = self.lex_count == 1
                elif op in ("+", "-") and want_value:
                    op = "u" + op
            else:
                raise ExprError(f'token "{tok.text}" is not valid in preprocessor expressions', tok)
            if _OPTAB[op][1] & _NO_LEFT_OPERAND:
                if not want_value:
                    raise ExprError(f'missing binary operator before token "{tok.text}"', tok)
            elif want_value:
                top = stack[-1].op
                if op == ")" and top == "(":
                    raise ExprError("missing expression between '(' and ')'", tok)
                if op == "EOF" and top == "EOF":
                    raise ExprError(f"#{directive} with no expression", tok)
                if top not in ("EOF", "("):
                    raise ExprError(f"operator '{stack[-1].token.text}' has no right operand", tok)
                if op not in (")", "EOF"):
                    raise ExprError(f"operator '{tok.text}' has no left operand", tok)
            self.reduce(stack, op, tok)
            if op == "EOF":
                break
            if op == ")":
                continue
            top_value = stack[-1].value.value
            if (op == "||" and top_value) or (op in ("&&", "?") and not top_value):
                self.skip_eval += 1
            elif op == ":":
                if stack[-1].op != "?":
                    raise ExprError("':' without preceding '?'", tok)
                self.skip_eval += 1 if stack[-2].value.value else -1
            want_value = True
            stack.append(_Entry(op, tok, Num(0)))
        if len(stack) != 1:
            raise ExprError(f"unbalanced stack in #{directive}", tok)
        return stack[0].value.value != 0

    def eval_token(self, tok: Token) -> Num:
        def warn(message: str) -> None:
            self.complain("warning", message, tok)

        if tok.kind == NUMBER:
            try:
                return interpret_integer(tok.text, warn)
            except ExprError as e:
                self.complain("error", str(e), tok)
                return Num(0)
        if tok.kind in (CHAR, WCHAR):
            return interpret_char(tok, self.char_signed, warn)
        if tok.kind == NAME:
            if tok.text == "defined":
                return Num(int(self.read_defined(tok)))
            if tok.text in ("__has_include", "__has_include_next"):
                return Num(int(self.read_has_include(tok)))
            return Num(0)
        self.complain("warning", "assertions are a deprecated extension [-Wdeprecated]", tok)
        return Num(int(self.read_assertion(tok)))

    def reduce(self, stack: list[_Entry], op: str, tok: Token) -> None:
        if op == "(":
            return
        prio = _OPTAB[op][0] - (_OPTAB[op][1] & _LEFT)
        while prio < _OPTAB[stack[-1].op][0]:
            top = stack[-1]
            o = top.op
            if o in ("u+", "u-", "!", "~"):
                stack.pop()
                stack[-1].value = _unary(o, top.value)
            elif o in ("||", "&&"):
                stack.pop()
                lhs = stack[-1].value.value
                if (lhs != 0) == (o == "||"):
                    self.skip_eval -= 1
                truth = (lhs != 0 or top.value.value != 0) if o == "||" else (lhs != 0 and top.value.value != 0)
                stack[-1].value = Num(int(truth))
                continue
            elif o == "(":
                if op != ")":
                    raise ExprError("missing ')' in expression", top.token)
                stack.pop()
                stack[-1].value = top.value
                return
            elif o == ":":
                stack.pop()
                query = stack.pop()
                cond = stack[-1].value.value
                if cond:
                    self.skip_eval -= 1
                chosen = query.value if cond else top.value
                stack[-1].value = Num(chosen.value, query.value.unsigned or top.value.unsigned)
                continue
            elif o == "?":
                if op in (",", ":"):
                    return
                raise ExprError("'?' without following ':'", None)
            else:
                stack.pop()
                stack[-1].value = self.binary(o, stack[-1].value, top.value, top.token)
            if stack[-1].value.overflow and not self.skip_eval:
                self.complain("warning", "integer overflow in preprocessor expression", None)
        if op == ")":
            raise ExprError("missing '(' in expression", None)

    def binary(self, o: str, a: Num, b: Num, op_tok: Token) -> Num:
        if o in ("<<", ">>"):
            return _shift(o, a, b)
        if o == ",":
            return b
        unsigned = a.unsigned or b.unsigned
        x, y = (a.value, b.value) if unsigned else (a.signed(), b.signed())
        if o in ("==", "!=", "<", ">", "<=", ">="):
            truth = {"==": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[o]
            return Num(int(truth))
        if o in ("&", "^", "|"):
            return Num({"&": a.value & b.value, "^": a.value ^ b.value, "|": a.value | b.value}[o], unsigned)
        if o in ("/", "%"):
            if y == 0:
                if not self.skip_eval:
                    self.complain("error", "division by zero in #if", op_tok)
                return a
            q = abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1)
            r = q if o == "/" else x - q * y
        else:
            r = {"*": x * y, "+": x + y, "-": x - y}[o]
        overflow = not unsigned and not -(1 << 63) <= r < (1 << 63)
        return Num(r & MASK, unsigned, overflow)


def _unary(o: str, v: Num) -> Num:
    if o == "u+":
        return Num(v.value, v.unsigned)
    if o == "u-":
        return Num((-v.value) & MASK, v.unsigned, not v.unsigned and v.value == SIGN)
    if o == "~":
        return Num(~v.value & MASK, v.unsigned)
    return Num(int(v.value == 0))


def _shift(o: str, a: Num, b: Num) -> Num:
    n = b.value if b.unsigned else b.signed()
    if n < 0:
        o, n = ("<<" if o == ">>" else ">>"), -n
    x = a.value if a.unsigned else a.signed()
    if o == ">>":
        return Num((x >> min(n, 64)) & MASK, a.unsigned)
    r = x << min(n, 64)
    overflow = not a.unsigned and (not -(1 << 63) <= r < (1 << 63) or (n >= 64 and x != 0))
    return Num(r & MASK, a.unsigned, overflow)
