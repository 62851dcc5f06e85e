"""DTS source to tree: read (and preprocess), split into statements, parse, build.

The passes, in order: read the file and run cpp when it needs it; split the
text into top-level statements (following top-level /include/s); parse each
statement (through the parse cache); build and merge nodes with dtc's rules
(&label amendments, /delete-node/, /omit-if-no-ref/, overlay fragments).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import lexer
from .data import EMPTY, Data, Kind, Marker
from .errors import Diagnostic, DtcError
from .lexer import Token
from .parser import MAX_PARSER_STACK, Problem, StatementParser
from .preprocess import Preprocessed, needs_cpp, preprocess
from .source import Buffer, SourceMap
from .tree import DeviceTree, Node, Property, ReserveEntry, add_label, delete_node, find_by_ref, merge_nodes

MAX_INCLUDE_DEPTH = 100
MAX_VALUE = 1 << 30  # one property value; a whole DTB is limited to 4 GiB anyway
RECURSION_LIMIT = 20000


@dataclass
class SourceOptions:
    """What decides how a source is read (build's input options)."""

    include_dirs: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    cpp: bool | None = None  # None: run cpp when a directive is present
    system_cpp: bool | None = None  # None: system cpp when installed


class ParseCache:
    """Parsed statements keyed by their text and starting lexer state, shared across a batch."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], tuple[tuple | None, list[Problem], int]] = {}
        self.hits = 0
        self.misses = 0
        self._parser: StatementParser | None = None

    @property
    def parser(self) -> StatementParser:
        if self._parser is None:
            self._parser = StatementParser()
        return self._parser

    def parse(self, text: str, state: int, stack_offset: int = 0) -> tuple[tuple | None, list[Problem]]:
        """Parse (or reuse) one statement; ``stack_offset`` is what dtc's stack already holds before it."""
        key = (text, state)
        hit = self.entries.get(key)
        if hit is None:
            self.misses += 1
            hit = self.parser.parse(lexer.tokens(text, 0, len(text), [state], 0))
            self.entries[key] = hit
        else:
            self.hits += 1
        syntax, problems, deepest = hit
        if deepest + stack_offset >= MAX_PARSER_STACK:  # rare: find where dtc's stack would overflow
            syntax, problems, _ = self.parser.parse(
                lexer.tokens(text, 0, len(text), [state], 0), MAX_PARSER_STACK - stack_offset
            )
        return syntax, problems


class _SyntaxStop(Exception):
    pass


class _InputEnds(Exception):
    """A byte dtc's parser takes for the end of the input (see _end_of_input_byte)."""


class Frontend:
    """Turns one DTS file into a DeviceTree (one instance per input file)."""

    def __init__(self, options: SourceOptions, cache: ParseCache | None = None) -> None:
        self.options = options
        self.cache = cache or ParseCache()
        self.sources = SourceMap()
        self.diagnostics: list[Diagnostic] = []
        self.deps: list[str] = []
        self.plugin = False
        self._orphans = 0
        self._started = False
        self._errors = 0
        self._stdin: bytes | None = None

    # Reading

    def _read(self, path: str) -> bytes:
        if path == "-":
            if self._stdin is None:
                self._stdin = sys.stdin.buffer.read()
            return self._stdin
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise DtcError(Diagnostic("error", f"cannot read {path}: {e.strerror}", file=path)) from None

    def _note_dep(self, path: str) -> None:
        if path not in self.deps:
            self.deps.append(path)

    def _load_text(self, path: str, raw: bytes) -> str:
        opts = self.options
        run_cpp = opts.cpp if opts.cpp is not None else needs_cpp(raw)
        if not run_cpp:
            return raw.decode("latin-1")
        pre: Preprocessed = preprocess(path, opts.include_dirs, opts.defines, opts.system_cpp, raw if path == "-" else None)
        for dep in pre.deps:
            self._note_dep(dep)
        self.diagnostics.extend(pre.warnings)
        return pre.text

    def _resolve(self, name: str, current: Buffer) -> str | None:
        """dtc's srcfile_relative_open: absolute, else the current file's folder, then -i folders."""
        if os.path.isabs(name):
            return name if os.path.exists(name) else None
        candidates = [os.path.join(os.path.dirname(current.name), name)]
        candidates += [os.path.join(d, name) for d in self.options.include_dirs]
        for c in candidates:
            if os.path.isfile(c):
                return c
        return None

    # Entry point

    def load(self, path: str, text: str | None = None) -> DeviceTree:
        """Read, preprocess and parse ``path`` (or the given text) into a tree."""
        if sys.getrecursionlimit() < RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)  # trees nest as deep as dtc's parser allows
        if text is None:
            raw = self._read(path)
            self._note_dep(path)
            text = self._load_text(path, raw)
        main = self.sources.add("<stdin>" if path == "-" else path, text)
        builder = _TreeBuilder(self)
        try:
            try:
                for buf, span in self._spans(main, 0, []):
                    builder.statement(buf, span)
            except _InputEnds:
                pass
            if self._errors == 0:
                builder.finish(main)
        except _SyntaxStop:
            pass
        if self._errors:
            raise DtcError([d for d in self.diagnostics if d.level == "error"] or self.diagnostics)
        assert builder.root is not None
        tree = DeviceTree(builder.root, builder.reserves, self.plugin, guess_boot_cpuid(builder.root), self.sources)
        tree.origin = "<stdin>" if path == "-" else path
        return tree

    def _spans(self, buf: Buffer, depth: int, chain: list[str]) -> Iterator[tuple[Buffer, lexer.Span]]:
        for span in lexer.split(buf.text):
            if not span.include:
                yield buf, span
                continue
            inc = self._include_buffer(span.include, buf, buf.base + span.start, depth, chain)
            yield from self._spans(inc, depth + 1, [*chain, buf.name])

    def _include_buffer(self, name: str, current: Buffer, pos: int, depth: int, chain: list[str]) -> Buffer:
        if depth >= MAX_INCLUDE_DEPTH:
            self.error(pos, f"includes nested too deeply (more than {MAX_INCLUDE_DEPTH}); is there an include cycle?")
            raise _SyntaxStop
        path = self._resolve(name, current)
        if path is None:
            self.error(pos, f'cannot find /include/ file "{name}"', hint=self._search_hint(current))
            raise _SyntaxStop
        self._note_dep(path)
        raw = self._read(path)
        text = self._load_text(path, raw) if self.options.cpp is None and needs_cpp(raw) else raw.decode("latin-1")
        return self.sources.add(path, text)

    def _search_hint(self, current: Buffer) -> str:
        dirs = [os.path.dirname(current.name) or ".", *self.options.include_dirs]
        return "searched: " + ", ".join(dirs)

    # Statement parsing

    def parse_statement(self, buf: Buffer, span: lexer.Span, stack_offset: int) -> tuple[tuple | None, list[Problem], int]:
        """Parse one statement; returns (syntax, problems, base) with positions relative to base."""
        state = lexer.PROPNODENAME if self._started else lexer.INITIAL
        self._started = True
        base = buf.base + span.start
        if not span.nested_include:
            syntax, problems = self.cache.parse(buf.text[span.start : span.end], state, stack_offset)
            return syntax, problems, base
        parser = self.cache.parser
        stream = lexer.tokens(buf.text, span.start, span.end, [state], span.start, self._include_hook(buf, base, 1))
        syntax, problems, _ = parser.parse(stream, MAX_PARSER_STACK - stack_offset)
        return syntax, problems, base

    def _include_hook(self, buf: Buffer, stmt_base: int, depth: int):
        def hook(name: str, offset: int, state: list[int]) -> Iterator[Token]:
            inc = self._include_buffer(name, buf, buf.base + offset, depth, [])
            inner = self._include_hook(inc, stmt_base, depth + 1)
            yield from lexer.tokens(inc.text, 0, len(inc.text), state, stmt_base - inc.base, inner)

        return hook

    # Diagnostics

    def error(self, pos: int, message: str, hint: str = "") -> None:
        self._errors += 1
        self.diagnostics.append(self.diagnostic("error", pos, message, hint))

    def diagnostic(self, level: str, pos: int, message: str, hint: str = "") -> Diagnostic:
        loc = self.sources.locate(pos) if pos >= 0 else None
        line = self.sources.line_text(pos) if pos >= 0 else ""
        return Diagnostic(level, message, loc, source_line=line, hint=hint)

    def read_incbin(self, name: str, pos: int, offset: int, length: int) -> bytes:
        current = self.sources.buffer_at(pos)
        path = self._resolve(name, current)
        if path is None:
            self.error(pos, f'cannot find /incbin/ file "{name}"', hint=self._search_hint(current))
            return b""
        self._note_dep(path)
        if length == (1 << 64) - 1:
            length = -1  # dtc reads "(size_t)-1" as "to the end of the file"
        elif length >= 1 << 32:
            # dtc 1.6.1 truncates the length to 32 bits when it sizes its buffer and then fails to read.
            self.error(pos, f"/incbin/ length 0x{length:x} is too large (dtc 1.6.1 rejects lengths of 4 GiB and more)")
            return b""
        want = MAX_VALUE + 1 if length < 0 else min(length, MAX_VALUE + 1)
        try:
            with open(path, "rb") as f:
                if offset:
                    f.seek(offset)
                blob = f.read(want)
        except (OSError, OverflowError, ValueError) as e:
            self.error(pos, f'cannot read /incbin/ file "{name}": {e}')
            return b""
        if len(blob) > MAX_VALUE:
            self.error(pos, f'/incbin/ of "{name}" gives more than {MAX_VALUE >> 20} MiB: too large for a property')
            return b""
        return blob


class _TreeBuilder:
    """Applies statements in order with dtc's parser actions (dtc-parser.y)."""

    def __init__(self, fe: Frontend) -> None:
        self.fe = fe
        self.root: Node | None = None
        self.reserves: list[ReserveEntry] = []
        self.phase = 0  # 0: before /dts-v1/, 1: headers and /memreserve/, 2: the tree
        self.header_flags: list[bool] = []
        self.last_was_version = False

    def stack_offset(self) -> int:
        """What dtc's bison stack holds below a statement: right-recursive headers and /memreserve/s stay on it."""
        if self.phase < 2:
            return len(self.header_flags) + (len(self.reserves) + 1 if self.header_flags else 0)
        return 3 if self.root is not None else 2

    def statement(self, buf: Buffer, span: lexer.Span) -> None:
        fe = self.fe
        syntax, problems, base = fe.parse_statement(buf, span, self.stack_offset())
        end = _end_of_input_byte(buf, span, problems)
        if end is not None:
            # dtc's lexer returns a stray NUL or high byte as a (signed, so negative) char: bison reads
            # that as the end of the input.  What came before it is parsed; everything after is ignored.
            fe.diagnostics.append(fe.diagnostic(
                "warning", buf.base + end,
                f"byte 0x{ord(buf.text[end]):02x} ends the input here, as in dtc; the rest of the file is ignored",
            ))  # fmt: skip
            before = lexer.Span(span.start, end)
            if buf.text[span.start : end].strip():
                syntax, problems, base = fe.parse_statement(buf, before, self.stack_offset())
                self._apply(syntax, problems, base)
            raise _InputEnds
        self._apply(syntax, problems, base)

    def _apply(self, syntax: tuple | None, problems: list, base: int) -> None:
        fe = self.fe
        for rel, message in problems:
            fe.error(base + rel, message, hint=_syntax_hint(fe.sources.line_text(base + rel), fe.sources.locate(base + rel)))
        if syntax is None:
            raise _SyntaxStop
        kind = syntax[0]
        handler = getattr(self, "_" + kind)
        handler(syntax, base)
        self.last_was_version = kind == "version"

    def _syntax_error(self, pos: int, message: str) -> None:
        self.fe.error(pos, message)
        raise _SyntaxStop

    def _version(self, s: tuple, base: int) -> None:
        if self.phase == 2:
            self._syntax_error(base + s[1], "syntax error: /dts-v1/ must come before the tree")
        self.phase = 1
        self.header_flags.append(False)
        if len(self.header_flags) > 1 and self.header_flags[0] != self.header_flags[-1]:
            self.fe.error(base + s[1], "Header flags don't match earlier ones")

    def _plugin(self, s: tuple, base: int) -> None:
        if not self.last_was_version:
            self._syntax_error(base + s[1], "syntax error: /plugin/; must directly follow /dts-v1/;")
        self.header_flags[-1] = True
        if self.header_flags[0] != self.header_flags[-1]:
            self.fe.error(base + s[1], "Header flags don't match earlier ones")
        self.fe.plugin = self.header_flags[0]

    def _need_header(self, pos: int) -> None:
        if self.phase == 0:
            self._syntax_error(pos, "syntax error: the file must start with /dts-v1/;")

    def _memreserve(self, s: tuple, base: int) -> None:
        _, labels, address, size, pos = s
        self._need_header(base + pos)
        if self.phase == 2:
            self._syntax_error(base + pos, "syntax error: /memreserve/ must come before the tree")
        entry = ReserveEntry(address, size)
        for label in reversed(labels):
            add_label(entry.labels, label)
        self.reserves.append(entry)

    def _start_tree(self, pos: int, first_ok: bool) -> bool:
        """Enter the tree phase; returns True for its first statement."""
        self._need_header(pos)
        first = self.phase != 2
        self.phase = 2
        if first and not first_ok:
            self._syntax_error(pos, "syntax error: the tree must start with / { ... }; or &label { ... };")
        return first

    def _root(self, s: tuple, base: int) -> None:
        _, nodedef, pos = s
        self._start_tree(base + pos, True)
        node = self.build(nodedef, "", base, base + pos)
        if self.root is None:
            self.root = node
        else:
            merge_nodes(self.root, node)

    def _amend(self, s: tuple, base: int) -> None:
        _, label, ref, ref_pos, nodedef = s
        first = self._start_tree(base + ref_pos, label is None)
        node = self.build(nodedef, "", base, base + ref_pos)
        fe = self.fe
        if first:
            if not fe.plugin:
                fe.error(base + nodedef[1], f"Label or path {ref} not found", hint=self._did_you_mean(ref))
            self.root = Node("", base + ref_pos)
            self._add_orphan(node, ref)
            return
        assert self.root is not None
        if label is not None:
            target = find_by_ref(self.root, ref)
            if target is None:
                fe.error(base + ref_pos, f"Label or path {ref} not found", hint=self._did_you_mean(ref))
                return
            add_label(target.labels, label)
            merge_nodes(target, node)
            return
        if ref.startswith("/") and fe.plugin:
            self._add_orphan(node, ref)
            return
        target = find_by_ref(self.root, ref)
        if target is not None:
            merge_nodes(target, node)
        elif fe.plugin:
            self._add_orphan(node, ref)
        else:
            fe.error(base + ref_pos, f"Label or path {ref} not found", hint=self._did_you_mean(ref))

    def _add_orphan(self, node: Node, ref: str) -> None:
        """An &ref { } of an overlay becomes fragment@N { target...; __overlay__ { } } (add_orphan_node)."""
        assert self.root is not None
        if ref.startswith("/"):
            data = Data(ref.encode("latin-1") + b"\0", (Marker(0, Kind.STRING, ref),))
            prop = Property("target-path", data)
        else:
            data = Data(b"\xff\xff\xff\xff", (Marker(0, Kind.REF_PHANDLE, ref),))
            prop = Property("target", data)
        fragment = Node(f"fragment@{self.fe._orphans}")
        self.fe._orphans += 1
        node.name = "__overlay__"
        fragment.props.append(prop)
        fragment.add_child(node)
        self.root.add_child(fragment)

    def _delete(self, s: tuple, base: int) -> None:
        target = self._referenced_node(s, base)
        if target is not None:
            delete_node(target)

    def _omit(self, s: tuple, base: int) -> None:
        target = self._referenced_node(s, base)
        if target is not None:
            target.omit_if_unused = True

    def _referenced_node(self, s: tuple, base: int) -> Node | None:
        """The node of a top-level ``/delete-node/ &ref;`` or ``/omit-if-no-ref/ &ref;`` (an error if none)."""
        _, ref, ref_pos = s
        self._start_tree(base + ref_pos, False)
        assert self.root is not None
        target = find_by_ref(self.root, ref)
        if target is None:
            self.fe.error(base + ref_pos, f"Label or path {ref} not found", hint=self._did_you_mean(ref))
        return target

    def _did_you_mean(self, ref: str) -> str:
        from .suggest import suggest_ref

        return suggest_ref(self.root, ref) if self.root is not None else ""

    def finish(self, main: Buffer) -> None:
        if self.phase < 2:
            pos = main.base + len(main.text)
            self._syntax_error(pos, "syntax error: input ends before the tree (expected / { ... };)")

    # Node building (build_node / name_node)

    def build(self, nodedef: tuple, name: str, base: int, pos: int) -> Node:
        items, _ = nodedef
        node = Node(name, pos)
        for item in items:
            kind = item[0]
            if kind == "prop":
                _, pname, labels, value, ppos = item
                prop = Property(pname, self._value(value, base), base + ppos)
                for label in reversed(labels):
                    add_label(prop.labels, label)
                node.props.append(prop)
            elif kind == "node":
                _, cname, labels, omit, child_def, cpos = item
                child = self.build(child_def, cname, base, base + cpos)
                for label in reversed(labels):
                    add_label(child.labels, label)
                child.omit_if_unused = omit
                node.add_child(child)
            elif kind == "delprop":
                prop = Property(item[1], EMPTY, base + item[2])
                prop.deleted = True
                node.props.append(prop)
            else:  # delnode
                child = Node(item[1], base + item[2])
                child.deleted = True
                node.add_child(child)
        return node

    def _value(self, value: Data | tuple | None, base: int) -> Data:
        if value is None:
            return EMPTY
        if isinstance(value, Data):
            return value
        data = Data()
        for piece in value:
            if isinstance(piece, Data):
                data = data.merge(piece)
            else:
                _, name, offset, length, pos = piece
                blob = self.fe.read_incbin(name, base + pos, offset, length)
                data = data.merge(Data(blob, (Marker(0, Kind.NONE),)))
        return data


def guess_boot_cpuid(root: Node) -> int:
    """dtc's guess_boot_cpuid: reg of the first child of /cpus, when it is one cell."""
    cpus = None
    for child in root.children:
        if child.name == "cpus" and not child.deleted:
            cpus = child
            break
    if cpus is None or not cpus.children:
        return 0
    reg = cpus.children[0].get("reg")
    if reg is None or len(reg.value) != 4:
        return 0
    return reg.u32()


def _syntax_hint(line: str, where: object) -> str:
    """What a syntax error most likely means, for constructs newer dtc versions accept."""
    column = getattr(where, "column", 0)
    rest = line[column - 1 :] if column else ""
    if rest.startswith("&{") and not rest.startswith("&{/"):
        return "dtc 1.6.1 takes only a full path in &{...} (like &{/soc/serial@0}); &{label/path} came with dtc 1.7"
    return ""


def _end_of_input_byte(buf: Buffer, span: lexer.Span, problems: list) -> int | None:
    """Where a statement meets a NUL or a byte >= 0x80 outside strings and comments, if it does.

    flex's catch-all rule returns such a byte as a char, which is signed: a zero or negative
    token is end-of-file to bison, so dtc stops reading there (and accepts the file when the
    tree was complete).  Only plain statements are handled; in a nested /include/ it stays an error.
    """
    if span.nested_include:
        return None
    for rel, message in problems:
        at = span.start + rel
        if message.startswith("syntax error: unexpected character") and 0 <= at < len(buf.text):
            ch = buf.text[at]
            if ch == "\x00" or ord(ch) >= 0x80:
                return at
    return None
