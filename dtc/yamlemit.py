"""A YAML emitter that lays text out exactly as libyaml 0.2.5's emitter (emitter.c) does.

dtc writes YAML through libyaml, so matching dtc byte-for-byte means matching
libyaml's choices: when a name may stay plain or must be quoted (and then
tagged ``!``), where a flow sequence wraps once past column 80 and how far
the next line is indented, how long strings fold at spaces, which characters
a double-quoted string escapes.  Only what dtc's events reach is here: one
explicit document, block mappings and sequences, flow sequences, empty flow
mappings, scalars with local ``!tags``; all text is ASCII.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

BEST_INDENT = 2
BEST_WIDTH = 80
DOUBLE_QUOTED_ESCAPES = {
    0x00: "0",
    0x07: "a",
    0x08: "b",
    0x09: "t",
    0x0A: "n",
    0x0B: "v",
    0x0C: "f",
    0x0D: "r",
    0x1B: "e",
    0x22: '"',
    0x5C: "\\",
}
FIRST_CHAR_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")
LATER_FLOW_INDICATORS = frozenset(",?[]{}")

PLAIN, SINGLE_QUOTED, DOUBLE_QUOTED = "plain", "single", "double"
NEEDS_CARE = re.compile(r"[^!#$%&(-\[\]-~]")  # a space, a control, a quote or a backslash


# A small document model: the events dtc sends, as values.


@dataclass
class Scalar:
    value: str
    tag: str | None = None  # written only when neither implicit flag is set
    plain_implicit: bool = True
    quoted_implicit: bool = True
    style: str = PLAIN


@dataclass
class Seq:
    """A sequence; a str item is a number: an implicit plain scalar that needs no analysis."""

    items: list[Scalar | Seq | str] = field(default_factory=list)
    tag: str | None = None  # written unless implicit
    implicit: bool = True
    flow: bool = True


@dataclass
class Map:
    pairs: list[tuple[Scalar, Scalar | Seq | Map]] = field(default_factory=list)


@dataclass(frozen=True)
class ScalarAnalysis:
    """What libyaml's yaml_emitter_analyze_scalar concludes about a scalar."""

    multiline: bool = False
    flow_plain: bool = True
    block_plain: bool = True
    single_quoted: bool = True


def _is_break(c: str) -> bool:
    return c in "\r\n"


def _is_blankz(text: str, i: int) -> bool:
    return i >= len(text) or text[i] in " \t\r\n\0"


@lru_cache(maxsize=4096)
def analyze_scalar(text: str) -> ScalarAnalysis:
    """Which styles may carry this (ASCII) text; dtc never sends libyaml anything else."""
    if not text:
        return ScalarAnalysis(flow_plain=False)
    block_ind = flow_ind = text.startswith(("---", "..."))
    leading_space = text[0] == " "
    trailing_space = text[-1] == " "
    leading_break, trailing_break = _is_break(text[0]), _is_break(text[-1])
    line_breaks = special = break_space = space_break = False
    prev_space = prev_break = False
    preceded_by_ws = True
    for i, c in enumerate(text):
        followed_by_ws = _is_blankz(text, i + 1)
        if i == 0:
            if c in FIRST_CHAR_INDICATORS:
                flow_ind = block_ind = True
            if c in "?:":
                flow_ind = True
                block_ind = block_ind or followed_by_ws
            if c == "-" and followed_by_ws:
                flow_ind = block_ind = True
        else:
            if c in LATER_FLOW_INDICATORS:
                flow_ind = True
            if c == ":":
                flow_ind = True
                block_ind = block_ind or followed_by_ws
            if c == "#" and preceded_by_ws:
                flow_ind = block_ind = True
        if not (c == "\n" or " " <= c <= "~"):
            special = True
        if _is_break(c):
            line_breaks = True
        if c == " ":
            break_space = break_space or prev_break
            prev_space, prev_break = True, False
        elif _is_break(c):
            space_break = space_break or prev_space
            prev_space, prev_break = False, True
        else:
            prev_space = prev_break = False
        preceded_by_ws = _is_blankz(text, i)
    plain = not (leading_space or leading_break or trailing_space or trailing_break or line_breaks)
    single = not (break_space or space_break or special)
    return ScalarAnalysis(
        multiline=line_breaks,
        flow_plain=plain and single and not flow_ind,
        block_plain=plain and single and not block_ind,
        single_quoted=single,
    )


class Emitter:
    """The parts of libyaml's emitter that dtc's events reach, with its column and indent bookkeeping."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.flow_level = 0
        self.whitespace = True
        self.indention = True

    # Low-level writing

    def put(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def write_indent(self) -> None:
        indent = max(self.indent, 0)
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = self.indention = True

    def write_indicator(
        self, text: str, need_whitespace: bool, is_whitespace: bool, is_indention: bool
    ) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    def write_tag(self, tag: str) -> None:
        """A "!suffix" tag: handle "!" then the suffix (all tags dtc uses are local ones)."""
        if not self.whitespace:
            self.put(" ")
        self.put(tag)
        self.whitespace = self.indention = False

    def increase_indent(self, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += BEST_INDENT

    def pop_indent(self) -> None:
        self.indent = self.indents.pop()

    # Documents

    def document(self, root: Seq) -> str:
        self.write_indent()
        self.write_indicator("---", True, False, False)
        self.node(root, mapping=False, simple_key=False)
        self.write_indent()
        self.write_indicator("...", True, False, False)
        self.write_indent()
        return "".join(self.out)

    def node(self, node: Scalar | Seq | Map | str, mapping: bool, simple_key: bool) -> None:
        if isinstance(node, str):
            node = Scalar(node)
        if isinstance(node, Scalar):
            self.scalar(node, simple_key)
        elif isinstance(node, Seq):
            if not node.implicit and node.tag:
                self.write_tag(node.tag)
            if self.flow_level or node.flow or not node.items:
                self.flow_sequence(node)
            else:
                self.block_sequence(node, mapping)
        elif self.flow_level or not node.pairs:
            self.flow_mapping(node)
        else:
            self.block_mapping(node)

    # Collections

    def flow_sequence(self, seq: Seq) -> None:
        self.write_indicator("[", True, True, False)
        self.increase_indent(True, False)
        self.flow_level += 1
        out = self.out
        for i, item in enumerate(seq.items):
            if i:
                out.append(",")
                self.column += 1
                self.whitespace = self.indention = False
            if self.column > BEST_WIDTH:
                self.write_indent()
            if isinstance(item, str):
                text = item if self.whitespace else " " + item
                out.append(text)
                self.column += len(text)
                self.whitespace = self.indention = False
            else:
                self.node(item, mapping=False, simple_key=False)
        self.flow_level -= 1
        self.pop_indent()
        self.write_indicator("]", False, False, False)

    def block_sequence(self, seq: Seq, mapping: bool) -> None:
        self.increase_indent(False, mapping and not self.indention)
        for item in seq.items:
            self.write_indent()
            self.write_indicator("-", True, False, True)
            self.node(item, mapping=False, simple_key=False)
        self.pop_indent()

    def flow_mapping(self, mapping: Map) -> None:
        if mapping.pairs:  # dtc never sends a non-empty mapping in flow context
            raise ValueError("flow mappings with content are not emitted")
        self.write_indicator("{", True, True, False)
        self.write_indicator("}", False, False, False)

    def block_mapping(self, mapping: Map) -> None:
        self.increase_indent(False, False)
        for key, value in mapping.pairs:
            self.write_indent()
            if self._simple_key(key):
                self.node(key, mapping=True, simple_key=True)
                self.write_indicator(":", False, False, False)
            else:
                self.write_indicator("?", True, False, True)
                self.node(key, mapping=True, simple_key=False)
                self.write_indent()
                self.write_indicator(":", True, False, True)
            self.node(value, mapping=True, simple_key=False)
        self.pop_indent()

    @staticmethod
    def _simple_key(key: Scalar) -> bool:
        tag = len(key.tag) if key.tag and not key.plain_implicit and not key.quoted_implicit else 0
        return not analyze_scalar(key.value).multiline and tag + len(key.value) <= 128

    # Scalars

    def _style(self, s: Scalar, analysis: ScalarAnalysis, simple_key: bool, no_tag: bool) -> str:
        style = s.style
        if simple_key and analysis.multiline:
            style = DOUBLE_QUOTED
        if style == PLAIN:
            allowed = analysis.flow_plain if self.flow_level else analysis.block_plain
            if (
                not allowed
                or (not s.value and (self.flow_level or simple_key))
                or (no_tag and not s.plain_implicit)
            ):
                style = SINGLE_QUOTED
        if style == SINGLE_QUOTED and not analysis.single_quoted:
            style = DOUBLE_QUOTED
        return style

    def scalar(self, s: Scalar, simple_key: bool) -> None:
        explicit_tag = s.tag if s.tag and not s.plain_implicit and not s.quoted_implicit else None
        analysis = analyze_scalar(s.value)
        style = self._style(s, analysis, simple_key, explicit_tag is None)
        if explicit_tag is None and not s.quoted_implicit and style != PLAIN:
            explicit_tag = "!"
        if explicit_tag:
            self.write_tag(explicit_tag)
        self.increase_indent(True, False)
        breaks = not simple_key
        if style == PLAIN:
            self.write_plain(s.value, breaks)
        elif style == SINGLE_QUOTED:
            self.write_single_quoted(s.value, breaks)
        else:
            self.write_double_quoted(s.value, breaks)
        self.pop_indent()

    def write_plain(self, text: str, allow_breaks: bool) -> None:
        if not self.whitespace and (text or self.flow_level):
            self.put(" ")
        if " " not in text:
            self.put(text)
            self.whitespace = self.indention = False
            return
        spaces = False
        for i, c in enumerate(text):
            if c == " ":
                if allow_breaks and not spaces and self.column > BEST_WIDTH and text[i + 1 : i + 2] != " ":
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                self.indention = spaces = False
        self.whitespace = self.indention = False

    def write_single_quoted(self, text: str, allow_breaks: bool) -> None:
        self.write_indicator("'", True, False, False)
        spaces = False
        last = len(text) - 1
        for i, c in enumerate(text):
            if c == " ":
                if (
                    allow_breaks
                    and not spaces
                    and self.column > BEST_WIDTH
                    and 0 < i < last
                    and text[i + 1] != " "
                ):
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            else:
                self.put("''" if c == "'" else c)
                self.indention = spaces = False
        self.write_indicator("'", False, False, False)
        self.whitespace = self.indention = False

    def write_double_quoted(self, text: str, allow_breaks: bool) -> None:
        self.write_indicator('"', True, False, False)
        if not NEEDS_CARE.search(text):
            self.put(text)
            self.write_indicator('"', False, False, False)
            self.whitespace = self.indention = False
            return
        spaces = False
        last = len(text) - 1
        for i, c in enumerate(text):
            code = ord(c)
            if not (" " <= c <= "~") or c in '"\\':
                esc = DOUBLE_QUOTED_ESCAPES.get(code)
                self.put("\\" + (esc if esc is not None else f"x{code:02X}"))
                spaces = False
            elif c == " ":
                if allow_breaks and not spaces and self.column > BEST_WIDTH and 0 < i < last:
                    self.write_indent()
                    if text[i + 1] == " ":
                        self.put("\\")
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                spaces = False
        self.write_indicator('"', False, False, False)
        self.whitespace = self.indention = False
