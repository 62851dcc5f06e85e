"""A lexer that reproduces dtc's flex lexer (dtc-lexer.l), start conditions included.

dtc decides how to read a word from where it stands: after ``{`` or ``;`` a
word is a node or property name (``PROPNODENAME``), inside ``[ ]`` it is hex
bytes (``BYTESTRING``), elsewhere digits are integer literals (``V1``).  The
same input therefore lexes the same way here as in dtc, which is what makes
error-for-error compatibility possible.  Each state's rules are one compiled
regular expression whose alternatives are ordered so that Python's first match
equals flex's longest match.

The module also splits a source into top-level statements (``split``), the
unit that the parser caches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

INITIAL, V1, PROPNODENAME, BYTESTRING = range(4)


class Token:
    """A token: its terminal name (as in dts.lark), its text, and its position."""

    __slots__ = ("start_pos", "type", "value")

    def __init__(self, type: str, value: str, start_pos: int) -> None:
        self.type = type
        self.value = value
        self.start_pos = start_pos

    def __repr__(self) -> str:
        return f"Token({self.type}, {self.value!r}, {self.start_pos})"

_STRING = r'"(?:[^\\"\n]|\\.|\n)*"'
_PROPNODECHAR = r"[a-zA-Z0-9,._+*#?@\-]"
_WS = r"[ \t\n\v\f\r]+"

_COMMON_HEAD = [
    ("INCLUDE", r"/include/[ \t\n\v\f\r]*" + _STRING),
    ("LINEMARKER", r'^\#(?:line)?[ \t]+[0-9]+[ \t]+"(?:[^\\"\n]|\\.)*"(?:[ \t]+[0-9]+)*'),
    ("DT_STRING", _STRING),
    ("DT_V1", r"/dts-v1/"),
    ("DT_PLUGIN", r"/plugin/"),
    ("DT_MEMRESERVE", r"/memreserve/"),
    ("DT_BITS", r"/bits/"),
    ("DT_DEL_PROP", r"/delete-property/"),
    ("DT_DEL_NODE", r"/delete-node/"),
    ("DT_OMIT_NO_REF", r"/omit-if-no-ref/"),
]
_INCBIN = [("DT_INCBIN", r"/incbin/")]
_COMMENTS = [
    ("COMMENT", r"(?:/\*(?:[^*]|\*+[^*/])*\*+/)+"),
    ("LINECOMMENT", r"(?://[^\n]*\n)+"),
]
_LABEL = [("DT_LABEL", r"[a-zA-Z_][a-zA-Z0-9_]*:")]
_COMMON_TAIL = [
    ("DT_CHAR_LITERAL", r"'(?:\\'|[^'])*'"),
    ("DT_PATH_REF", r"&\{/(?:" + _PROPNODECHAR + r"|/)*\}"),
    ("DT_LABEL_REF", r"&[a-zA-Z_][a-zA-Z0-9_]*"),
    ("WS", _WS),
    ("OP", r"<<|>>|<=|>=|==|!=|&&|\|\|"),
    ("CHAR", r"."),
]
_LITERAL = [("DT_LITERAL", r"(?:0[xX][0-9a-fA-F]+|[0-9]+)(?:ULL|UL|LL|U|L)?")]
_BYTE = [("DT_BYTE", r"[0-9a-fA-F]{2}"), ("RBRACK", r"\]")]
_NAME = [("DT_PROPNODENAME", r"\\?" + _PROPNODECHAR + "+")]


def _compile(rules: list[tuple[str, str]]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in rules), re.MULTILINE)


# Order within each state: keywords and comments before the one-character
# rule; a label (which ends in ':') before the name or byte it starts with.
_STATE_RX = {
    INITIAL: _compile(_COMMON_HEAD + _INCBIN + _COMMENTS + _LABEL + _COMMON_TAIL),
    V1: _compile(_COMMON_HEAD + _INCBIN + _COMMENTS + _LABEL + _LITERAL + _COMMON_TAIL),
    PROPNODENAME: _compile(_COMMON_HEAD + _COMMENTS + _LABEL + _NAME + _COMMON_TAIL),
    BYTESTRING: _compile(_COMMON_HEAD + _COMMENTS + _LABEL + _BYTE + _COMMON_TAIL),
}

_KEYWORD_STATE = {
    "DT_V1": V1,
    "DT_MEMRESERVE": V1,
    "DT_BITS": V1,
    "DT_DEL_PROP": PROPNODENAME,
    "DT_DEL_NODE": PROPNODENAME,
    "DT_OMIT_NO_REF": PROPNODENAME,
}

CHAR_TOKENS = {
    "{": "LBRACE", "}": "RBRACE", ";": "SEMI", "=": "EQUALS", ",": "COMMA", "<": "LANGLE",
    ">": "RANGLE", "[": "LBRACK", "]": "RBRACK", "(": "LPAREN", ")": "RPAREN", "/": "SLASH",
    "?": "QMARK", ":": "COLON", "|": "BAR", "^": "CARET", "&": "AMP", "+": "PLUS",
    "-": "MINUS", "*": "STAR", "%": "PERCENT", "~": "TILDE", "!": "BANG",
}  # fmt: skip
OP_TOKENS = {
    "<<": "DT_LSHIFT", ">>": "DT_RSHIFT", "<=": "DT_LE", ">=": "DT_GE",
    "==": "DT_EQ", "!=": "DT_NE", "&&": "DT_AND", "||": "DT_OR",
}  # fmt: skip

_SKIP = frozenset({"WS", "COMMENT", "LINECOMMENT", "LINEMARKER"})


def include_name(matched: str) -> str:
    """The file name of an ``/include/ "name"`` match (dtc takes it without escapes)."""
    return matched[matched.index('"') + 1 : -1]


IncludeHook = Callable[[str, int, list[int]], Iterator[Token]]


def tokens(
    text: str, start: int, end: int, state: list[int], base: int, include: IncludeHook | None = None
) -> Iterator[Token]:
    """Lex ``text[start:end]``; token positions are ``offset - base``.

    ``state`` is a one-element list holding the start condition, shared with
    the lexers of /include/d files (flex keeps its state across buffers).
    ``include(name, offset, state)`` lexes an /include/d file in place.
    """
    rxs = _STATE_RX
    rx = rxs[state[0]]
    pos = start
    char_tokens = CHAR_TOKENS
    while pos < end:
        m = rx.match(text, pos, end)
        kind = m.lastgroup  # type: ignore[union-attr]
        value = m.group()  # type: ignore[union-attr]
        at = pos
        pos = m.end()  # type: ignore[union-attr]
        if kind in _SKIP:
            continue
        if kind == "CHAR":
            ttype = char_tokens.get(value, "BADCHAR")
            if value == "[":
                state[0] = BYTESTRING
                rx = rxs[BYTESTRING]
            elif value == "{" or value == ";":
                state[0] = PROPNODENAME
                rx = rxs[PROPNODENAME]
            yield Token(ttype, value, at - base)
        elif kind == "DT_PROPNODENAME":
            state[0] = V1
            rx = rxs[V1]
            yield Token(kind, value[1:] if value[0] == "\\" else value, at - base)
        elif kind == "DT_LITERAL" or kind == "DT_BYTE" or kind == "DT_STRING":
            yield Token(kind, value, at - base)
        elif kind == "DT_LABEL":
            yield Token(kind, value[:-1], at - base)
        elif kind == "DT_LABEL_REF":
            yield Token(kind, value[1:], at - base)
        elif kind == "DT_PATH_REF":
            yield Token(kind, value[2:-1], at - base)
        elif kind == "OP":
            yield Token(OP_TOKENS[value], value, at - base)
        elif kind == "RBRACK":
            state[0] = V1
            rx = rxs[V1]
            yield Token(kind, value, at - base)
        elif kind == "INCLUDE":
            if include is None:
                yield Token("BADCHAR", value, at - base)
                continue
            yield from include(include_name(value), at, state)
            rx = rxs[state[0]]
        else:
            new_state = _KEYWORD_STATE.get(kind)  # type: ignore[arg-type]
            if new_state is not None:
                state[0] = new_state
                rx = rxs[new_state]
            yield Token(kind, value, at - base)


# Statement splitting: find the ';' that ends each top-level statement.

_SPLIT_RX = re.compile(
    r"[^\"'/{};\[]+"  # runs of uninteresting text, skipped in one step
    r'|(?P<s>"(?:[^\\"\n]|\\.|\n)*")'
    r"|(?P<c>'(?:\\'|[^'])*')"
    r"|(?P<k>/\*(?:[^*]|\*+[^*/])*\*+/)"
    r"|(?P<l>//[^\n]*\n)"
    r"|(?P<inc>/include/[ \t\n\v\f\r]*" + _STRING + ")"
    r"|(?P<o>\{)|(?P<x>\})|(?P<e>;)|(?P<b>\[[^\]]*\])"
)
_LEADING_RX = re.compile(
    r'(?:[ \t\n\v\f\r]+|/\*(?:[^*]|\*+[^*/])*\*+/|//[^\n]*\n|^\#(?:line)?[ \t]+[0-9]+[ \t]+"(?:[^\\"\n]|\\.)*"(?:[ \t]+[0-9]+)*)*',
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of a source: a statement (``include`` empty) or a top-level /include/."""

    start: int
    end: int
    include: str = ""
    nested_include: bool = False


def split(text: str) -> list[Span]:
    """Split a source into top-level statements and top-level /include/s."""
    spans: list[Span] = []
    n = len(text)
    pos = _LEADING_RX.match(text, 0).end()  # type: ignore[union-attr]
    start = pos
    depth = 0
    nested = False
    finditer = _SPLIT_RX.finditer
    while True:
        for m in finditer(text, pos):
            kind = m.lastgroup
            if kind == "o":
                depth += 1
            elif kind == "x":
                depth -= 1
            elif kind == "e":
                if depth <= 0:
                    spans.append(Span(start, m.end(), nested_include=nested))
                    pos = _LEADING_RX.match(text, m.end()).end()  # type: ignore[union-attr]
                    start = pos
                    depth = 0
                    nested = False
                    break
            elif kind == "inc":
                if depth <= 0 and m.start() == start:
                    spans.append(Span(m.start(), m.end(), include_name(m.group())))
                    pos = _LEADING_RX.match(text, m.end()).end()  # type: ignore[union-attr]
                    start = pos
                    break
                nested = True
        else:
            break
    if start < n:
        spans.append(Span(start, n, nested_include=nested))
    return spans
