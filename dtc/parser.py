"""Parse one top-level DTS statement with Lark (LALR) into an immutable syntax tuple.

Values are evaluated while parsing, as dtc does: strings get their escapes,
cells become bytes with typed markers, expressions are computed in 64-bit
unsigned arithmetic.  The result depends on the statement's text alone, so it
can be cached and shared between boards; positions in it are relative to the
statement's start, and problems are returned as (position, message) pairs
rather than raised.

Syntax tuples (positions relative):
  ("version",) ("plugin",)
  ("memreserve", labels, address, size, pos)
  ("root", nodedef, pos)
  ("amend", label_or_None, ref, ref_pos, nodedef)
  ("delete", ref, ref_pos)  ("omit", ref, ref_pos)
  nodedef = (items, pos); items are
  ("prop", name, labels, value, pos)   value: Data | None (empty) | tuple of pieces
  ("delprop", name, pos)  ("node", name, labels, omit, nodedef, pos)  ("delnode", name, pos)
"""

from __future__ import annotations

import re
from pathlib import Path

from lark import Lark, Transformer
from lark.lexer import Lexer

from .data import KIND_OF_BITS, Data, Kind, Marker
from .lexer import Token

MASK64 = (1 << 64) - 1
MAX_PARSER_STACK = 10000  # bison's default YYMAXDEPTH: dtc gives up at the same nesting
STACK_EXHAUSTED = "memory exhausted: nesting or lists too deep for dtc's parser (its stack holds 10000 entries)"

Problem = tuple[int, str]

_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13}
_OCT = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9a-fA-F]{1,2}")


class EscapeError(ValueError):
    pass


def unescape(body: str) -> bytes:
    """dtc's data_copy_escape_string, without the terminating NUL (sources are latin-1 text)."""
    if "\\" not in body:
        return body.encode("latin-1")
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        i += 1
        if c != "\\":
            out.append(ord(c))
            continue
        e = body[i] if i < n else "\0"
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 1
        elif "0" <= e <= "7":
            m = _OCT.match(body, i)
            assert m is not None
            out.append(int(m.group(), 8) & 0xFF)
            i = m.end()
        elif e == "x":
            m = _HEX.match(body, i + 1)
            if m is None:
                raise EscapeError("\\x used with no following hex digits")
            out.append(int(m.group(), 16))
            i = m.end()
        else:
            out.append(ord(e))
            i += 1
    return bytes(out)


class _Value:
    """A property value being accumulated: Data so far, and /incbin/ pieces to read later."""

    __slots__ = ("data", "pieces")

    def __init__(self) -> None:
        self.data = Data()
        self.pieces: list = []

    def finish(self) -> Data | tuple:
        if self.pieces:
            return (*self.pieces, self.data)
        return self.data


class _Cells:
    """A <...> or [...] value being accumulated, with its element width."""

    __slots__ = ("bits", "markers", "mask", "out", "width")

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.width = bits // 8
        self.mask = (1 << bits) - 1
        self.out = bytearray()
        self.markers = [Marker(0, KIND_OF_BITS[bits])]

    def finish(self) -> Data:
        return Data(bytes(self.out), tuple(self.markers))


class _Val:
    """A parenthesised expression's value and where it started (for diagnostics)."""

    __slots__ = ("pos", "value")

    def __init__(self, value: int, pos: int) -> None:
        self.value = value
        self.pos = pos


def _binop(op: str, a: int, b: int) -> int | None:
    """64-bit unsigned C semantics; None for division by zero."""
    if op == "+":
        return (a + b) & MASK64
    if op == "-":
        return (a - b) & MASK64
    if op == "*":
        return (a * b) & MASK64
    if op == "/":
        return None if b == 0 else a // b
    if op == "%":
        return None if b == 0 else a % b
    if op == "<<":
        return (a << b) & MASK64 if b < 64 else 0
    if op == ">>":
        return a >> b if b < 64 else 0
    if op == "<":
        return int(a < b)
    if op == ">":
        return int(a > b)
    if op == "<=":
        return int(a <= b)
    if op == ">=":
        return int(a >= b)
    if op == "==":
        return int(a == b)
    if op == "!=":
        return int(a != b)
    if op == "&":
        return a & b
    if op == "^":
        return a ^ b
    if op == "|":
        return a | b
    if op == "&&":
        return int(bool(a) and bool(b))
    if op == "||":
        return int(bool(a) or bool(b))
    raise AssertionError(op)


class _Build(Transformer):
    """Rule callbacks run inline by the LALR parser (transformer= mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[Problem] = []

    # Integers

    def _int(self, item: object) -> int:
        if isinstance(item, int):
            return item
        if isinstance(item, _Val):
            return item.value
        tok: Token = item  # type: ignore[assignment]
        if tok.type == "DT_LITERAL":
            return self._literal(tok)
        return self._char(tok)

    def _pos(self, item: object) -> int:
        if isinstance(item, Token):
            return item.start_pos  # type: ignore[return-value]
        if isinstance(item, _Val):
            return item.pos
        return -1

    def _literal(self, tok: Token) -> int:
        text = tok.value
        digits = text.rstrip("UL")
        try:
            if digits[:2] in ("0x", "0X"):
                value = int(digits[2:], 16)
            elif len(digits) > 1 and digits[0] == "0":
                value = int(digits[1:], 8)
            else:
                value = int(digits, 10)
        except ValueError:
            self.problems.append((tok.start_pos, f"Bad integer literal '{text}'"))
            return 0
        if value > MASK64:
            self.problems.append((tok.start_pos, f"Integer literal '{text}' out of range"))
            return MASK64
        return value

    def _char(self, tok: Token) -> int:
        try:
            raw = unescape(tok.value[1:-1])
        except EscapeError as e:
            self.problems.append((tok.start_pos, str(e)))
            return 0
        if not raw:
            self.problems.append((tok.start_pos, "Empty character literal"))
            return 0
        if len(raw) > 1:
            self.problems.append((tok.start_pos, f"Character literal has {len(raw)} characters instead of 1"))
        return raw[0]

    def paren(self, c: list) -> _Val:
        return _Val(self._int(c[1]), c[0].start_pos)

    def binop(self, c: list) -> _Val:
        a, op, b = c
        result = _binop(op.value, self._int(a), self._int(b))
        pos = self._pos(a)
        if result is None:
            self.problems.append((pos if pos >= 0 else op.start_pos, "Division by zero"))
            result = 0
        return _Val(result, pos if pos >= 0 else op.start_pos)

    def unop(self, c: list) -> _Val:
        op, a = c
        v = self._int(a)
        if op.value == "-":
            v = (-v) & MASK64
        elif op.value == "~":
            v = (~v) & MASK64
        else:
            v = int(not v)
        return _Val(v, op.start_pos)

    def ternary(self, c: list) -> _Val:
        cond, _q, yes, _c, no = c
        return _Val(self._int(yes) if self._int(cond) else self._int(no), self._pos(cond))

    # Values (accumulated left to right, as dtc's propdata/arrayprefix rules do)

    def prefix_empty(self, c: list) -> _Value:
        return _Value()

    def prefix_comma(self, c: list) -> _Value:
        return c[0]

    def prefix_label(self, c: list) -> _Value:
        value: _Value = c[0]
        value.data = value.data.with_marker(Kind.LABEL, c[1].value)
        return value

    data_label = prefix_label

    def data_string(self, c: list) -> _Value:
        value: _Value = c[0]
        value.data = value.data.merge(Data(self._string(c[1]) + b"\0", (Marker(0, Kind.STRING),)))
        return value

    def data_array(self, c: list) -> _Value:
        value: _Value = c[0]
        cells: _Cells = c[1]
        value.data = value.data.merge(Data(bytes(cells.out), tuple(cells.markers)))
        return value

    def data_bytes(self, c: list) -> _Value:
        value: _Value = c[0]
        value.data = value.data.merge(c[2].finish())
        return value

    def data_path(self, c: list) -> _Value:
        value: _Value = c[0]
        value.data = value.data.with_marker(Kind.STRING, c[1].value).with_marker(Kind.REF_PATH, c[1].value)
        return value

    def data_incbin(self, c: list) -> _Value:
        return self._incbin(c[0], c[3], 0, -1, c[1].start_pos)

    def data_incbin_range(self, c: list) -> _Value:
        return self._incbin(c[0], c[3], self._int(c[5]), self._int(c[7]), c[1].start_pos)

    def _incbin(self, value: _Value, name: Token, offset: int, length: int, pos: int) -> _Value:
        """/incbin/ is read when the tree is built (files are not part of the cached text)."""
        value.pieces.append(value.data)
        value.pieces.append(("incbin", self._string(name).decode("latin-1"), offset, length, pos))
        value.data = Data()
        return value

    def array_open(self, c: list) -> _Cells:
        return _Cells(32)

    def array_sized(self, c: list) -> _Cells:
        bits_tok: Token = c[1]
        bits = self._literal(bits_tok)
        if bits not in KIND_OF_BITS:
            self.problems.append((bits_tok.start_pos, "Array elements must be 8, 16, 32 or 64-bits"))
            bits = 32
        return _Cells(bits)

    def array_int(self, c: list) -> _Cells:
        cells: _Cells = c[0]
        item = c[1]
        value = self._int(item)
        bits = cells.bits
        mask = cells.mask
        if bits < 64 and value > mask and (value | mask) != MASK64:
            self.problems.append((self._pos(item), f"Value out of range for {bits}-bit array element"))
        cells.out += (value & mask).to_bytes(cells.width, "big")
        return cells

    def array_ref(self, c: list) -> _Cells:
        cells: _Cells = c[0]
        ref: Token = c[1]
        if cells.bits == 32:
            cells.markers.append(Marker(len(cells.out), Kind.REF_PHANDLE, ref.value))
        else:
            self.problems.append((ref.start_pos, "References are only allowed in arrays with 32-bit elements."))
        cells.out += cells.mask.to_bytes(cells.width, "big")
        return cells

    def array_label(self, c: list) -> _Cells:
        cells: _Cells = c[0]
        cells.markers.append(Marker(len(cells.out), Kind.LABEL, c[1].value))
        return cells

    def bytes_empty(self, c: list) -> _Cells:
        return _Cells(8)

    def bytes_byte(self, c: list) -> _Cells:
        cells: _Cells = c[0]
        cells.out.append(int(c[1].value, 16))
        return cells

    bytes_label = array_label

    def _string(self, tok: Token) -> bytes:
        try:
            return unescape(tok.value[1:-1])
        except EscapeError as e:
            self.problems.append((tok.start_pos, str(e)))
            return b""

    # Nodes and properties

    def prop(self, c: list) -> tuple:
        return ("prop", c[0].value, (), c[2].finish(), c[0].start_pos)

    def empty_prop(self, c: list) -> tuple:
        return ("prop", c[0].value, (), None, c[0].start_pos)

    def delete_prop(self, c: list) -> tuple:
        return ("delprop", c[1].value, c[0].start_pos)

    def labelled_prop(self, c: list) -> tuple:
        label, inner = c
        if inner[0] != "prop":
            return inner  # a label on /delete-property/ is dropped, as in dtc
        return ("prop", inner[1], (label.value, *inner[2]), inner[3], inner[4])

    def proplist_empty(self, c: list) -> list:
        return []

    def proplist_more(self, c: list) -> list:
        c[0].append(c[1])
        return c[0]

    def subnodes_empty(self, c: list) -> tuple:
        return ()

    def subnodes_more(self, c: list) -> tuple:
        return (c[0], c[1])  # a linked list, flattened by nodedef

    def props_after_subnode(self, c: list) -> tuple:
        self.problems.append((c[1][-1], "Properties must precede subnodes"))
        return (c[0], ())

    def node(self, c: list) -> tuple:
        return ("node", c[0].value, (), False, c[1], c[0].start_pos)

    def delete_node(self, c: list) -> tuple:
        return ("delnode", c[1].value, c[0].start_pos)

    def omit_node(self, c: list) -> tuple:
        inner = c[1]
        if inner[0] != "node":
            return inner
        return ("node", inner[1], inner[2], True, inner[4], inner[5])

    def labelled_node(self, c: list) -> tuple:
        label, inner = c
        if inner[0] != "node":
            return inner
        return ("node", inner[1], (label.value, *inner[2]), inner[3], inner[4], inner[5])

    def nodedef(self, c: list) -> tuple:
        items = list(c[1])
        link = c[2]
        while link:
            items.append(link[0])
            link = link[1]
        return (tuple(items), c[0].start_pos)

    # Statements

    def version(self, c: list) -> tuple:
        return ("version", c[0].start_pos)

    def plugin(self, c: list) -> tuple:
        return ("plugin", c[0].start_pos)

    def memreserve(self, c: list) -> tuple:
        return ("memreserve", (), self._int(c[1]), self._int(c[2]), c[0].start_pos)

    def labelled_memreserve(self, c: list) -> tuple:
        label, inner = c
        return ("memreserve", (label.value, *inner[1]), inner[2], inner[3], label.start_pos)

    def root(self, c: list) -> tuple:
        return ("root", c[1], c[0].start_pos)

    def amend(self, c: list) -> tuple:
        ref: Token = c[0]
        return ("amend", None, ref.value, ref.start_pos, c[1])

    def labelled_amend(self, c: list) -> tuple:
        ref: Token = c[1]
        return ("amend", c[0].value, ref.value, ref.start_pos, c[2])

    def delete_ref(self, c: list) -> tuple:
        return ("delete", c[1].value, c[1].start_pos)

    def omit_ref(self, c: list) -> tuple:
        return ("omit", c[1].value, c[1].start_pos)

    def statement(self, c: list) -> tuple:
        return c[0]


class _NoLexer(Lexer):
    """Tokens are fed by armboot.dtc.lexer; Lark's own lexer is never used."""

    __future_interface__ = 2

    def __init__(self, conf: object) -> None:
        pass

    def lex(self, state: object, parser_state: object):  # pragma: no cover - never called
        raise NotImplementedError


_GRAMMAR = Path(__file__).with_name("dts.lark")

TOKEN_DESCRIPTIONS = {
    "DT_V1": "/dts-v1/", "DT_PLUGIN": "/plugin/", "DT_MEMRESERVE": "/memreserve/", "DT_BITS": "/bits/",
    "DT_DEL_PROP": "/delete-property/", "DT_DEL_NODE": "/delete-node/", "DT_OMIT_NO_REF": "/omit-if-no-ref/",
    "DT_INCBIN": "/incbin/", "DT_LABEL": "a label", "DT_LITERAL": "a number", "DT_CHAR_LITERAL": "a character",
    "DT_LABEL_REF": "a &reference", "DT_PATH_REF": "a &{/path} reference", "DT_BYTE": "a hex byte",
    "DT_STRING": "a string", "DT_PROPNODENAME": "a property or node name", "LBRACE": "'{'", "RBRACE": "'}'",
    "SEMI": "';'", "EQUALS": "'='", "COMMA": "','", "LANGLE": "'<'", "RANGLE": "'>'", "LBRACK": "'['",
    "RBRACK": "']'", "LPAREN": "'('", "RPAREN": "')'", "SLASH": "'/'", "$END": "end of input",
}  # fmt: skip


class StatementParser:
    """An LALR(1) parser for one statement: Lark builds the tables from dts.lark, this loop runs them.

    Tokens come from armboot's dtc-compatible lexer; the rule callbacks are
    Lark's (with the _Build transformer inlined).  Driving the table directly
    halves the per-token cost compared with Lark's own parser loop.
    """

    def __init__(self) -> None:
        self._build = _Build()
        lark = Lark(
            _GRAMMAR.read_text(),
            parser="lalr",
            lexer=_NoLexer,
            start="statement",
            transformer=self._build,
            maybe_placeholders=False,
            cache=True,  # the grammar analysis, kept by Lark in the temp folder keyed by grammar and options
        )
        conf = lark.parse_interactive(None).parser_state.parse_conf
        self._start = conf.start_state
        self._end = conf.end_state
        self._table: dict[int, dict[str, tuple]] = {}
        for state, actions in conf.states.items():
            row: dict[str, tuple] = {}
            for symbol, (action, arg) in actions.items():
                # Plain str keys: Lark's names are Token objects whose __eq__ is slow.
                if action.name == "Shift":
                    row[str(symbol)] = (True, arg)
                else:
                    row[str(symbol)] = (False, (conf.callbacks[arg], len(arg.expansion), str(arg.origin.name)))
            self._table[state] = row

    def parse(self, token_iter, stack_limit: int = MAX_PARSER_STACK) -> tuple[tuple | None, list[Problem], int]:
        """Parse a token stream into (syntax tuple, problems, deepest parser stack).

        A syntax error gives a None syntax.  ``stack_limit`` reproduces bison's
        fixed stack: dtc rejects input nested (or listed) past it.
        """
        build = self._build
        build.problems = []
        table = self._table
        states = [self._start]
        values: list = []
        deepest = 0
        last: Token | None = None
        for tok in token_iter:
            t = tok.type
            while True:
                act = table[states[-1]].get(t)
                if act is None:
                    return None, [*build.problems, (tok.start_pos, self._unexpected(tok, states[-1]))], deepest
                shift, arg = act
                if shift:
                    states.append(arg)
                    values.append(tok)
                    break
                callback, size, origin = arg
                if size:
                    children = values[-size:]
                    del values[-size:]
                    del states[-size:]
                else:
                    children = []
                values.append(callback(children))
                states.append(table[states[-1]][origin][1])
            last = tok
            depth = len(states)
            if depth > deepest:
                deepest = depth
                if depth >= stack_limit:
                    return None, [*build.problems, (tok.start_pos, STACK_EXHAUSTED)], deepest
        end_pos = last.start_pos + len(last.value) if last is not None else 0
        while True:
            act = table[states[-1]].get("$END")
            if act is None or act[0]:
                return None, [*build.problems, (end_pos, self._unexpected(None, states[-1]))], deepest
            callback, size, origin = act[1]
            children = values[-size:] if size else []
            if size:
                del values[-size:]
                del states[-size:]
            values.append(callback(children))
            states.append(table[states[-1]][origin][1])
            if states[-1] == self._end:
                return values[-1], build.problems, deepest

    def _unexpected(self, tok: Token | None, state: int) -> str:
        expected = [s for s in self._table[state] if s.isupper() and s != "$END"]
        wanted = sorted({TOKEN_DESCRIPTIONS.get(t, t) for t in expected})
        if tok is None:
            msg = "syntax error: input ends too early"
        elif tok.type == "BADCHAR":
            msg = f"syntax error: unexpected character {tok.value!r}"
        else:
            msg = f"syntax error: unexpected {tok.value!r}"
        if wanted and len(wanted) <= 6:
            msg += ", expected " + " or ".join(wanted)
        return msg
