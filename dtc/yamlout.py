"""Tree to YAML, byte-for-byte as dtc 1.6.1's ``-O yaml`` (yamltree.c through libyaml 0.2.5).

dtc hands libyaml a stream of events: one document holding a sequence with
the root node's mapping; a property maps to ``true`` (empty) or to a flow
sequence with one entry per typed piece of its value (``"string"``,
``[cells]`` whose phandle references are tagged ``!phandle``, ``!u8``/``!u16``/
``!u64 [...]``).  The layout (quoting of names, wrapping of long flow
sequences past column 80) is libyaml's, reproduced in yamlemit.py.

dtc refuses YAML for input that is not DTS: the type markers it needs exist
only in a tree compiled from source.  A tree without a SourceMap (read from a
DTB) gets the same refusal.  Where 1.6.1 aborts on an assertion (odd
/incbin/ pieces, non-ASCII strings) the value is written as one ``!u8`` list.
"""

from __future__ import annotations

import struct

from .data import TYPE_KINDS, Kind, Marker
from .dtsout import DtcWouldAbort, dtc_markers, type_marker_length
from .errors import DtcError
from .tree import DeviceTree, Node, Property
from .yamlemit import DOUBLE_QUOTED, Emitter, Map, Scalar, Seq

INT_TAGS = {Kind.UINT8: "!u8", Kind.UINT16: "!u16", Kind.UINT32: "!u32", Kind.UINT64: "!u64"}
WIDTHS = {Kind.UINT8: 1, Kind.UINT16: 2, Kind.UINT32: 4, Kind.UINT64: 8}
UNPACK_CODES = {Kind.UINT8: "B", Kind.UINT16: "H", Kind.UINT32: "I", Kind.UINT64: "Q"}


def _int_seq(value: bytes, start: int, length: int, kind: Kind, phandles: set[int]) -> Seq:
    width = WIDTHS[kind]
    if length % width:
        raise DtcWouldAbort
    numbers = struct.unpack_from(f">{length // width}{UNPACK_CODES[kind]}", value, start)
    items: list[Scalar | Seq | str] = [f"0x{n:x}" for n in numbers]
    if width == 4 and phandles:
        for off in phandles:
            k, rest = divmod(off - start, 4)
            if not rest and 0 <= k < len(items):
                items[k] = Scalar(
                    f"0x{numbers[k]:x}", "!phandle", plain_implicit=False, quoted_implicit=False
                )
    return Seq(items, tag=INT_TAGS[kind], implicit=width == 4)


def _string(chunk: bytes) -> Scalar:
    if not chunk or chunk[-1] != 0 or not chunk.isascii():
        raise DtcWouldAbort
    return Scalar(chunk[:-1].decode("ascii"), plain_implicit=False, quoted_implicit=True, style=DOUBLE_QUOTED)


def _typed_pieces(value: bytes, markers: tuple[Marker, ...]) -> Seq:
    """One entry per type marker; a piece runs to the next type marker, the last one takes what is left."""
    seq = Seq()
    phandles = {m.offset for m in markers if m.kind == Kind.REF_PHANDLE}
    remaining = len(value)
    for i, m in enumerate(markers):
        if m.kind not in TYPE_KINDS:
            continue
        length = type_marker_length(markers, i) or remaining
        if length <= 0 or m.offset + length > len(value):
            raise DtcWouldAbort
        remaining -= length
        if m.kind == Kind.STRING:
            seq.items.append(_string(value[m.offset : m.offset + length]))
        else:
            seq.items.append(_int_seq(value, m.offset, length, m.kind, phandles))
    return seq


def property_value(prop: Property) -> Scalar | Seq:
    value = prop.data.value
    if not value:
        return Scalar("true", plain_implicit=True, quoted_implicit=False)
    markers = dtc_markers(prop.data)
    if not markers:
        raise DtcError(f"No markers present in property '{prop.name}' value")
    try:
        return _typed_pieces(value, markers)
    except DtcWouldAbort:
        return Seq([_int_seq(value, 0, len(value), Kind.UINT8, set())])


def node_mapping(node: Node) -> Map:
    mapping = Map()
    for prop in node.props:
        if not prop.deleted:
            mapping.pairs.append((Scalar(prop.name), property_value(prop)))
    for child in node.children:
        if not child.deleted:
            mapping.pairs.append((Scalar(child.name, quoted_implicit=False), node_mapping(child)))
    return mapping


def to_yaml(tree: DeviceTree) -> str:
    """The tree as dtc 1.6.1 writes YAML; a tree not compiled from DTS is refused as dtc refuses it."""
    if tree.sources is None:
        raise DtcError("YAML output format requires dts input format")
    root = Seq(flow=False)
    if not tree.root.deleted:
        root.items.append(node_mapping(tree.root))
    return Emitter().document(root)
