"""Tree to DTS text, byte-for-byte as dtc 1.6.1's ``-O dts`` (treesource.c).

A value is printed chunk by chunk along its markers: a type marker opens
``<``, ``/bits/ 16 <``, ``[`` or a string, a label is printed where it sits,
and a type ends at the next type marker.  References were resolved before
output, so ``<&x>`` prints as the phandle number and ``&x`` as the path
string.  Values without type markers (read from a DTB, or generated) get
dtc's guess: string, cells, or bytes.

Where 1.6.1 would abort on an assertion (a string piece without its NUL, a
piece whose length is not a multiple of its width: /incbin/ data, mostly),
the value is written as one ``[bytes]`` list instead, labels kept, so the text
still compiles to the same bytes.
"""

from __future__ import annotations

from .data import TYPE_KINDS, Data, Kind, Marker
from .tree import DeviceTree, Node, Property, live_labels

DELIM_START = {
    Kind.UINT8: "[",
    Kind.UINT16: "/bits/ 16 <",
    Kind.UINT32: "<",
    Kind.UINT64: "/bits/ 64 <",
    Kind.STRING: "",
}
DELIM_END = {Kind.UINT8: "]", Kind.UINT16: ">", Kind.UINT32: ">", Kind.UINT64: ">", Kind.STRING: ""}
WIDTHS = {Kind.UINT8: 1, Kind.UINT16: 2, Kind.UINT32: 4, Kind.UINT64: 8}

PLAIN_STRING_BYTES = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')  # printed as they are
STRING_ESCAPES = {
    0x07: "\\a",
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0B: "\\v",
    0x0C: "\\f",
    0x0D: "\\r",
    0x5C: "\\\\",
    0x22: '\\"',
    0x00: "\\0",
}
# What dtc's isstring() accepts: printable characters, NUL and the C escapes \a \b \t \n \v \f \r.
STRINGISH_BYTES = bytes(range(0x20, 0x7F)) + b"\0\a\b\t\n\v\f\r"


class DtcWouldAbort(Exception):
    """dtc 1.6.1 hits an assertion on this value; the caller writes it another way."""


def is_printable(c: int) -> bool:
    """C's isprint() in the C locale."""
    return 0x20 <= c <= 0x7E


def dtc_markers(data: Data) -> tuple[Marker, ...]:
    """The markers as dtc's parser makes them: a path reference ``&x`` also carries a STRING type marker.

    dtc adds ``TYPE_STRING`` just before each ``REF_PATH``; a tree whose path
    references lack it gets it here (a no-op once the front end adds it).
    """
    markers = data.markers
    if all(m.kind != Kind.REF_PATH for m in markers):
        return markers
    out: list[Marker] = []
    for m in markers:
        if m.kind == Kind.REF_PATH:
            prev = out[-1] if out else None
            if prev is None or prev.kind != Kind.STRING or prev.offset != m.offset:
                out.append(Marker(m.offset, Kind.STRING, m.ref))
        out.append(m)
    return tuple(out)


def guess_type(value: bytes, markers: tuple[Marker, ...]) -> Kind:
    """dtc's guess_value_type: a string list, else cells, else bytes (labels must sit on boundaries)."""
    nnotstring = len(value.translate(None, STRINGISH_BYTES))
    nnul = value.count(0)
    labels = [m.offset for m in markers if m.kind == Kind.LABEL]
    label_inside_string = any(0 < off <= len(value) and value[off - 1] != 0 for off in labels)
    label_inside_cell = any(off % 4 for off in labels)
    if value[-1] == 0 and nnotstring == 0 and nnul <= len(value) - nnul and not label_inside_string:
        return Kind.STRING
    if len(value) % 4 == 0 and not label_inside_cell:
        return Kind.UINT32
    return Kind.UINT8


def type_marker_length(markers: tuple[Marker, ...], i: int) -> int | None:
    """Distance from marker i to the next type marker after it, None when there is none."""
    here = markers[i].offset
    for m in markers[i + 1 :]:
        if m.kind in TYPE_KINDS:
            return m.offset - here
    return None


def format_string(chunk: bytes) -> str:
    """A NUL-terminated piece as a quoted C string (write_propval_string)."""
    if not chunk:
        return ""
    if chunk[-1] != 0:
        raise DtcWouldAbort
    body = chunk[:-1]
    if not body.translate(None, PLAIN_STRING_BYTES):
        return f'"{body.decode("ascii")}"'
    out = ['"']
    for i, c in enumerate(body):
        esc = STRING_ESCAPES.get(c)
        if c == 0 and i + 1 < len(body) and 0x30 <= body[i + 1] <= 0x37:
            # dtc prints "\0" even before a digit, and "\03" then reads back as one octal escape:
            # armboot's decompiled text must compile back to the same bytes.
            out.append("\\x00")
        elif esc is not None:
            out.append(esc)
        elif is_printable(c):
            out.append(chr(c))
        else:
            # dtc prints bytes from 0x80 sign-extended ("\xffffff80"), which does not read back.
            out.append(f"\\x{c:02x}")
    out.append('"')
    return "".join(out)


def format_ints(chunk: bytes, width: int) -> str:
    """Numbers of one width: bytes as two hex digits, wider ones as 0x%02x (write_propval_int)."""
    if len(chunk) % width:
        raise DtcWouldAbort
    if width == 1:
        return " ".join(f"{c:02x}" for c in chunk)
    return " ".join(
        f"0x{int.from_bytes(chunk[i : i + width], 'big'):02x}" for i in range(0, len(chunk), width)
    )


def format_value(value: bytes, markers: tuple[Marker, ...]) -> str:
    """The text after ``name`` for a non-empty value: `` = <...>, "...";`` without the ``;``."""
    if not any(m.kind in TYPE_KINDS for m in markers):
        markers = (Marker(0, guess_type(value, markers)), *markers)
    markers = _typed_incbins(value, markers)
    size = len(value)
    out = [" ="]
    emit: Kind | None = None
    for i, m in enumerate(markers):
        end = markers[i + 1].offset if i + 1 < len(markers) else size
        if not 0 <= m.offset <= end <= size:
            raise DtcWouldAbort
        chunk = value[m.offset : end]
        following = type_marker_length(markers, i)
        data_len = size - m.offset if following is None else following
        if m.kind in TYPE_KINDS:
            emit = m.kind
            out.append(" " + DELIM_START[emit])
            if data_len == 0:  # an empty piece (<>, [], "" ) followed by more: close it here
                out.append(DELIM_END[emit] + ("," if _more_pieces(markers, i) else ""))
                emit = None
                continue
        elif m.kind == Kind.LABEL:
            out.append(f" {m.ref}:")
        elif m.offset:
            out.append(" ")
        if emit is None:
            if chunk:
                raise DtcWouldAbort
            continue
        out.append(format_string(chunk) if emit == Kind.STRING else format_ints(chunk, WIDTHS[emit]))
        if len(chunk) == data_len:
            out.append(DELIM_END[emit] + ("," if _more_pieces(markers, i) else ""))
            emit = None
    return "".join(out)


def _more_pieces(markers: tuple[Marker, ...], i: int) -> bool:
    """Whether another typed piece follows marker i (it may be empty and sit at the very end)."""
    return any(m.kind in TYPE_KINDS for m in markers[i + 1 :])


def _typed_incbins(value: bytes, markers: tuple[Marker, ...]) -> tuple[Marker, ...]:
    """/incbin/ data after a string gets a type of its own.

    Its marker is untyped, so dtc prints it as more of the string before it,
    without the comma (``"x" "abc"``), which does not read back; after cells or
    on its own, dtc's printing is right and is kept.
    """
    if all(m.kind != Kind.NONE for m in markers):
        return markers
    out = list(markers)
    current: Kind | None = None
    since = 0
    for i, m in enumerate(out):
        if m.kind in TYPE_KINDS:
            current, since = m.kind, m.offset
        if m.kind != Kind.NONE or current != Kind.STRING or m.offset == since:
            continue
        end = next((k.offset for k in out[i + 1 :] if k.kind in TYPE_KINDS or k.kind == Kind.NONE), len(value))
        chunk = value[m.offset : end]
        kind = guess_type(chunk, ()) if chunk else Kind.UINT8
        out[i] = Marker(m.offset, kind, m.ref)
        current, since = kind, m.offset
    return tuple(out)


def format_as_bytes(value: bytes, markers: tuple[Marker, ...]) -> str:
    """The fallback: one byte list, labels kept where they sit."""
    size = len(value)
    labels = sorted(
        (m for m in markers if m.kind == Kind.LABEL and 0 <= m.offset <= size), key=lambda m: m.offset
    )
    return format_value(value, (Marker(0, Kind.UINT8), *labels))


def format_property(prop: Property) -> str:
    """One property line without indentation: labels, name, value, ``;``."""
    head = "".join(f"{label}: " for label in prop.label_names) + prop.name
    value = prop.data.value
    if not value:
        return head + ";\n"
    markers = dtc_markers(prop.data)
    try:
        body = format_value(value, markers)
    except DtcWouldAbort:
        body = format_as_bytes(value, markers)
    return head + body + ";\n"


def _write_node(node: Node, level: int, out: list[str]) -> None:
    indent = "\t" * level
    labels = "".join(f"{label}: " for label in node.label_names)
    out.append(f"{indent}{labels}{node.name or '/'} {{\n")
    inner = indent + "\t"
    for prop in node.props:
        if not prop.deleted:
            out.append(inner + format_property(prop))
    for child in node.children:
        if not child.deleted:
            out.append("\n")
            _write_node(child, level + 1, out)
    out.append(f"{indent}}};\n")


def to_dts(tree: DeviceTree) -> str:
    """The whole tree as dtc 1.6.1 writes it (it prints no /plugin/ line, even for overlays)."""
    out = ["/dts-v1/;\n\n"]
    for entry in tree.reserves:
        labels = "".join(f"{name}: " for name in live_labels(entry.labels))
        address, size = entry.address & (2**64 - 1), entry.size & (2**64 - 1)
        out.append(f"{labels}/memreserve/\t0x{address:016x} 0x{size:016x};\n")
    _write_node(tree.root, 0, out)
    return "".join(out)
