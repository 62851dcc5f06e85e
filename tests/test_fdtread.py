"""The DTB reader against the reference dtc 1.6.1 (and pyfdt as a second, independent reader).

Expected bytes always come from running the installed dtc: a blob armboot reads must
re-emit exactly as ``dtc -I dtb -O dtb`` does, a blob dtc refuses must raise a
DtcError that names a byte offset, and nothing may raise anything else or take
long, whatever the bytes.

The corpus helpers here are shared by test_dtsout.py and test_yamlout.py.
"""

from __future__ import annotations

import io
import random
import struct
import time
from pathlib import Path

import pytest
from armboot.dtc.errors import DtcError
from armboot.dtc.fdt import to_dtb
from armboot.dtc.fdtread import MAX_DEPTH, parse_dtb, read_dtb, read_dtb_file
from armboot.dtc.tree import Node
from reference import (
    CORPUS,
    DTC,
    Run,
    corpus_include_dirs,
    dtc,
    needs_corpus,
    needs_dtc,
    preprocess_like_kernel,
)

# Corpus helpers, shared with test_dtsout.py and test_yamlout.py.


def corpus_boards(version: str, count: int) -> list[Path]:
    """``count`` boards spread evenly over the sorted arm64 boards of one kernel version."""
    boards = sorted((CORPUS / version / "arm64").rglob("*.dts"))
    step = max(1, len(boards) // count)
    return boards[::step][:count]


def board_include_dirs(version: str, board: Path) -> list[str]:
    return [str(board.parent), *corpus_include_dirs(version)]


def reference_build(version: str, board: Path, out_dir: Path, fmt: str = "dtb") -> bytes:
    """The board through cpp and the reference dtc, as the kernel builds it (-b 0)."""
    pre = out_dir / f"{board.stem}.pp.dts"
    preprocess_like_kernel(board, version, pre)
    run = dtc("-q", "-I", "dts", "-O", fmt, "-b", "0", "-i", board.parent, pre)
    assert run.ok, run.err
    return run.out


def sample_boards() -> list[tuple[str, Path]]:
    """A spread of boards, plus one with /memreserve/ entries."""
    picks = [("v4.14", b) for b in corpus_boards("v4.14", 10)] + [("v4.9", b) for b in corpus_boards("v4.9", 4)]
    picks.append(("v4.14", CORPUS / "v4.14" / "arm64" / "realtek" / "rtd1295-zidoo-x9s.dts"))
    return picks


@pytest.fixture(scope="module")
def corpus_dtbs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    if DTC is None or not CORPUS.is_dir():
        pytest.skip("needs the corpus and the reference dtc")
    out = tmp_path_factory.mktemp("corpus")
    return [(board.stem, reference_build(version, board, out)) for version, board in sample_boards()]


def dtc_reemit(blob: bytes, tmp_path: Path) -> Run:
    """``dtc -f -I dtb -O dtb``: -f so that only the reader decides (checks never change a v16+ blob)."""
    path = tmp_path / "in.dtb"
    path.write_bytes(blob)
    return dtc("-q", "-f", "-I", "dtb", "-O", "dtb", path)


# Real blobs.


@needs_dtc
@needs_corpus
def test_corpus_blobs_reemit_like_dtc(corpus_dtbs: list[tuple[str, bytes]], tmp_path: Path) -> None:
    for name, blob in corpus_dtbs:
        tree, warnings = parse_dtb(blob, name)
        assert warnings == [], name
        assert to_dtb(tree)[0] == dtc_reemit(blob, tmp_path).out, name
        assert tree.boot_cpuid == 0 and tree.origin == name and tree.sources is None


def _pyfdt_raw(prop: object) -> bytes:
    """pyfdt's own to_raw() is Python 2 code; rebuild the bytes from its typed values."""
    from pyfdt.pyfdt import FdtPropertyBytes, FdtPropertyStrings, FdtPropertyWords

    if isinstance(prop, FdtPropertyStrings):
        return b"".join(s.encode("ascii") + b"\0" for s in prop.strings)
    if isinstance(prop, FdtPropertyWords):
        return struct.pack(f">{len(prop.words)}I", *prop.words)
    if isinstance(prop, FdtPropertyBytes):
        return struct.pack(f"{len(prop.bytes)}b", *prop.bytes)
    return b""


def _pyfdt_shape(node) -> tuple:  # type: ignore[no-untyped-def]
    from pyfdt.pyfdt import FdtNode, FdtProperty

    props = [(p.get_name(), _pyfdt_raw(p)) for p in node if isinstance(p, FdtProperty)]
    kids = [_pyfdt_shape(c) for c in node if isinstance(c, FdtNode)]
    name = "" if node.get_name() == "/" else node.get_name()
    return (name, props, kids)


def _our_shape(node: Node) -> tuple:
    props = [(p.name, p.value) for p in node.properties]
    return (node.name, props, [_our_shape(c) for c in node.nodes])


@needs_dtc
@needs_corpus
def test_corpus_trees_match_pyfdt(corpus_dtbs: list[tuple[str, bytes]]) -> None:
    """pyfdt reads kernel blobs faithfully (but validates nothing): an independent oracle for the tree."""
    from pyfdt.pyfdt import FdtBlobParse

    for name, blob in corpus_dtbs:
        theirs = FdtBlobParse(io.BytesIO(blob)).to_fdt()
        tree = read_dtb(blob)
        assert _our_shape(tree.root) == _pyfdt_shape(theirs.get_rootnode()), name
        assert [(r.address, r.size) for r in tree.reserves] == [
            (e["address"], e["size"]) for e in theirs.reserve_entries
        ], name
        assert not any(p.data.markers for n in tree.walk() for p in n.props), name


@needs_dtc
@needs_corpus
@pytest.mark.parametrize("version", [1, 2, 3, 16])
def test_old_versions_read_as_dtc_reads_them(
    corpus_dtbs: list[tuple[str, bytes]], version: int, tmp_path: Path
) -> None:
    """Versions 1-3 store full paths, "name" properties and 8-byte aligned values; 16 lacks size_dt_struct."""
    for name, blob in corpus_dtbs[:3]:
        (tmp_path / "v17.dtb").write_bytes(blob)
        old = dtc("-q", "-I", "dtb", "-O", "dtb", "-V", str(version), tmp_path / "v17.dtb").out
        tree = read_dtb(old)
        for node in tree.walk():
            named = node.get("name")
            if version < 16:
                assert named is not None and named.value == node.basename.encode() + b"\0", (name, node.path)
                node.props.remove(named)
        assert to_dtb(tree)[0] == blob, name


# Crafted blobs: an assembler for structure blocks with any layout.

FIELDS = (
    "magic",
    "totalsize",
    "off_dt_struct",
    "off_dt_strings",
    "off_mem_rsvmap",
    "version",
    "last_comp_version",
    "boot_cpuid_phys",
    "size_dt_strings",
    "size_dt_struct",
)


def assemble(
    *tokens: tuple,
    reserves: tuple[tuple[int, int], ...] = (),
    pad_rsv: int = 0,
    pad_struct: int = 0,
    trailer: bytes = b"",
    strings: bytes = b"",
    **header: int,
) -> bytes:
    """A v17 blob from tokens: ("begin", name) ("end",) ("prop", name, value) ("nop",) ("fdtend",) ("word", n)
    ("raw", bytes) ("prop_at", strings offset, value); ``strings`` starts the strings block."""
    table = bytearray(strings)
    offsets: dict[str, int] = {}
    body = bytearray()
    for token in tokens:
        kind = token[0]
        if kind == "raw":
            body += token[1]
        elif kind == "prop_at":
            body += struct.pack(">III", 3, len(token[2]), token[1]) + token[2] + b"\0" * (-len(token[2]) % 4)
        elif kind == "begin":
            name = token[1].encode("latin-1") + b"\0"
            body += struct.pack(">I", 1) + name + b"\0" * (-len(name) % 4)
        elif kind == "prop":
            if token[1] not in offsets:
                offsets[token[1]] = len(table)
                table += token[1].encode("latin-1") + b"\0"
            value = token[2]
            body += struct.pack(">III", 3, len(value), offsets[token[1]]) + value + b"\0" * (-len(value) % 4)
        else:
            body += struct.pack(">I", {"end": 2, "nop": 4, "fdtend": 9}.get(kind, token[-1]))
    rsv = b"".join(struct.pack(">QQ", a, s) for a, s in reserves) + b"\0" * 16
    off_rsv = 40 + pad_rsv
    off_dt = off_rsv + len(rsv) + pad_struct
    off_str = off_dt + len(body)
    values = dict(
        magic=0xD00DFEED,
        totalsize=off_str + len(table),
        off_dt_struct=off_dt,
        off_dt_strings=off_str,
        off_mem_rsvmap=off_rsv,
        version=17,
        last_comp_version=16,
        boot_cpuid_phys=0,
        size_dt_strings=len(table),
        size_dt_struct=len(body),
    )
    values.update(header)
    head = struct.pack(">10I", *(values[f] for f in FIELDS))
    return head + b"\0" * pad_rsv + rsv + b"\0" * pad_struct + bytes(body) + bytes(table) + trailer


OLD_SIMPLE = (
    ("begin", "/"),
    ("prop", "compatible", b"a,b\0"),
    ("begin", "/n@1"),
    ("prop", "reg", b"\0\0\0\1"),
    ("end",),
    ("end",),
    ("fdtend",),
)
SIMPLE = (
    ("begin", ""),
    ("prop", "compatible", b"a,b\0"),
    ("begin", "n@1"),
    ("prop", "reg", b"\0\0\0\1"),
    ("end",),
    ("end",),
    ("fdtend",),
)

ODD_BUT_READ = {
    "property after a subnode": (
        (("begin", ""), ("begin", "a"), ("end",), ("prop", "p", b"\0\0\0\1"), ("end",), ("fdtend",)),
        {},
        "follows subnodes",
    ),
    "NOPs between tags": (
        (
            ("begin", ""),
            ("nop",),
            ("prop", "p", b"x\0"),
            ("nop",),
            ("begin", "a"),
            ("nop",),
            ("end",),
            ("end",),
            ("fdtend",),
        ),
        {},
        None,
    ),
    "struct block bigger than size_dt_struct": (SIMPLE, {"size_dt_struct": 8}, "size_dt_struct"),
    "misaligned reserve map": (SIMPLE, {"pad_rsv": 4}, "8-byte aligned"),
    "misaligned struct block": (SIMPLE, {"pad_struct": 2}, "4-byte aligned"),
    "bytes after totalsize": (SIMPLE, {"trailer": b"junk"}, "ignored"),
    "last_comp_version from the future": (SIMPLE, {"last_comp_version": 18}, "last_comp_version"),
    "version 18": (SIMPLE, {"version": 18, "last_comp_version": 17}, None),
    "reserve map ends at size 0": (SIMPLE, {"reserves": ((0x1000, 0x10), (0x5000, 0), (0x6000, 0x10))}, None),
    "named root": ((("begin", "root"), ("prop", "p", b""), ("end",), ("fdtend",)), {}, None),
    "empty property name": ((("begin", ""), ("prop", "", b"\1\2\3"), ("end",), ("fdtend",)), {}, None),
    "boot cpu id": (SIMPLE, {"boot_cpuid_phys": 0x102}, None),
    "struct words after FDT_END": ((*SIMPLE, ("word", 0x12345678)), {}, None),
}


@needs_dtc
@pytest.mark.parametrize("case", sorted(ODD_BUT_READ))
def test_odd_blobs_dtc_reads_are_read_the_same(case: str, tmp_path: Path) -> None:
    tokens, options, warning = ODD_BUT_READ[case]
    blob = assemble(*tokens, **options)
    reference = dtc_reemit(blob, tmp_path)
    assert reference.ok, reference.err
    tree, warnings = parse_dtb(blob, "odd.dtb")
    assert to_dtb(tree)[0] == reference.out
    if warning is None:
        assert warnings == []
    else:
        assert any(warning in w.message and w.dtb_offset is not None for w in warnings), warnings


# (tokens, options, where the error is, words of the message): dtc refuses all of them too.
CORRUPT = {
    "bad magic": (SIMPLE, {"magic": 0xD00DFEEE}, 0, "bad magic number 0xd00dfeee"),
    "totalsize below a header": (SIMPLE, {"totalsize": 20}, 4, "smaller than the smallest header"),
    "truncated file": (SIMPLE, {"totalsize": 4096}, None, "truncated: totalsize is 0x1000"),
    "reserve map beyond totalsize": (
        SIMPLE,
        {"off_mem_rsvmap": 0x1000},
        16,
        "memory reserve map offset 0x1000",
    ),
    "struct beyond totalsize": (SIMPLE, {"off_dt_struct": 0x1000}, 8, "structure block offset 0x1000"),
    "strings beyond totalsize": (SIMPLE, {"off_dt_strings": 0x1000}, 12, "strings block offset 0x1000"),
    "strings block too long": (SIMPLE, {"size_dt_strings": 0x1000}, 32, "extends past totalsize"),
    "struct block too long": (SIMPLE, {"size_dt_struct": 0x1000}, 36, "extends past totalsize"),
    "first tag not BEGIN_NODE": (SIMPLE[1:], {}, None, "starts with FDT_PROP instead of FDT_BEGIN_NODE"),
    "invalid tag": ((("begin", ""), ("word", 7), ("end",), ("fdtend",)), {}, None, "invalid tag 0x00000007"),
    "FDT_END inside a node": ((("begin", ""), ("begin", "a"), ("fdtend",)), {}, None, "FDT_END at offset"),
    "no FDT_END": ((*SIMPLE[:-1], ("nop",)), {}, None, "FDT_NOP at offset"),
    "extra FDT_END_NODE": ((*SIMPLE[:-1], ("end",), ("fdtend",)), {}, None, "FDT_END_NODE at offset"),
    "missing FDT_END_NODE": (SIMPLE[:-2], {}, None, "invalid tag 0x636f6d70"),  # reads on into the strings
    "struct block cut short": ((("begin", ""), ("prop_at", 0, b"")), {"strings": b"\0"}, 0x4C, "where a tag"),
    "name offset outside strings": (
        SIMPLE,
        {"size_dt_strings": 11},
        None,
        "outside the strings block (size 0xb)",
    ),
    "name not NUL-terminated": (
        SIMPLE,
        {"size_dt_strings": 10},
        None,
        "is not NUL-terminated inside the strings",
    ),
    "property longer than the blob": (
        (("begin", ""), ("word", 3), ("word", 0x100), ("word", 0), ("end",), ("fdtend",)),
        {"strings": b"p\0"},
        None,
        "property 'p' at offset 0x40: its length 0x100 runs past totalsize",
    ),
    "reserve map truncated": (
        (("begin", ""),),
        {"reserves": ((1, 1),), "off_mem_rsvmap": 0x48},
        None,
        "memory reserve map is truncated",
    ),
}


@needs_dtc
@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_blobs_fail_with_an_offset(case: str, tmp_path: Path) -> None:
    tokens, options, offset, words = CORRUPT[case]
    blob = assemble(*tokens, **options)
    if case == "truncated file":
        blob = blob[:-1]
    assert dtc_reemit(blob, tmp_path).rc > 0
    with pytest.raises(DtcError) as info:
        read_dtb(blob, "bad.dtb")
    diag = info.value.diagnostics[-1]
    assert words in diag.message
    assert diag.level == "error" and diag.file == "bad.dtb"
    assert diag.dtb_offset is not None and 0 <= diag.dtb_offset <= len(blob)
    if offset is not None:
        assert diag.dtb_offset == offset
    assert f"offset 0x{diag.dtb_offset:x}" in str(info.value)


@needs_dtc
def test_node_name_runs_off_the_end(tmp_path: Path) -> None:
    blob = assemble(("word", 1), ("raw", b"abcd"))  # the root's name has no NUL before totalsize
    assert dtc_reemit(blob, tmp_path).rc > 0
    with pytest.raises(
        DtcError, match="name of the node at offset 0x38 is not NUL-terminated before totalsize"
    ):
        read_dtb(blob)


@needs_dtc
@pytest.mark.parametrize(
    ("tokens", "options", "words"),
    [
        (SIMPLE, {"off_mem_rsvmap": 8}, "lies inside the 40-byte header"),
        (SIMPLE, {"off_dt_strings": 16}, "lies inside the 40-byte header"),
        (OLD_SIMPLE, {"version": 5, "last_comp_version": 1}, "unknown DTB version 5"),
    ],
)
def test_refused_although_dtc_reads_them(tokens: tuple, options: dict, words: str, tmp_path: Path) -> None:
    """Blocks inside the header and unknown versions: dtc reads them by accident; armboot refuses."""
    blob = assemble(*tokens, **options)
    assert dtc_reemit(blob, tmp_path).rc == 0
    with pytest.raises(DtcError, match=words):
        read_dtb(blob)


@needs_dtc
def test_old_version_paths_must_nest(tmp_path: Path) -> None:
    tokens = (("begin", "/"), ("begin", "/a"), ("begin", "/b/c"), ("end",), ("end",), ("end",), ("fdtend",))
    blob = assemble(*tokens, version=1, last_comp_version=1)
    assert dtc_reemit(blob, tmp_path).rc > 0
    with pytest.raises(DtcError, match='path "/b/c" is not valid as a child of "/a"'):
        read_dtb(blob)
    assert [n.name for n in read_dtb(assemble(*OLD_SIMPLE, version=1, last_comp_version=1)).walk()] == [
        "",
        "n@1",
    ]


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep = [("begin", "")] + [("begin", "n")] * MAX_DEPTH + [("end",)] * (MAX_DEPTH + 1) + [("fdtend",)]
    with pytest.raises(DtcError, match=f"more than {MAX_DEPTH} deep"):
        read_dtb(assemble(*deep))
    ok = [("begin", "")] + [("begin", "n")] * (MAX_DEPTH - 1) + [("end",)] * MAX_DEPTH + [("fdtend",)]
    assert len(list(read_dtb(assemble(*ok)).walk())) == MAX_DEPTH


def test_unreadable_file_is_a_dtc_error(tmp_path: Path) -> None:
    with pytest.raises(DtcError, match="cannot read"):
        read_dtb_file(str(tmp_path / "missing.dtb"))
    path = tmp_path / "ok.dtb"
    path.write_bytes(assemble(*SIMPLE))
    assert read_dtb_file(str(path)).origin == str(path)


# Hostile bytes: every truncation and random damage; never a traceback, never slow.


@needs_dtc
@needs_corpus
def test_every_truncation_fails_cleanly(corpus_dtbs: list[tuple[str, bytes]], tmp_path: Path) -> None:
    """Cut at every length, as a short file and as a blob whose totalsize says it ends there."""
    blob = min((b for _, b in corpus_dtbs), key=len)
    start = time.perf_counter()
    for length in range(len(blob)):
        with pytest.raises(DtcError) as info:
            read_dtb(blob[:length])
        assert info.value.diagnostics[-1].dtb_offset is not None
        if length >= 8:
            cut = blob[:4] + struct.pack(">I", length) + blob[8:length]
            with pytest.raises(DtcError) as info:
                read_dtb(cut)
            assert info.value.diagnostics[-1].dtb_offset is not None
            if length % 97 == 0:
                assert dtc_reemit(cut, tmp_path).rc > 0
    assert time.perf_counter() - start < 20


def _damage(blob: bytes, rng: random.Random) -> bytes:
    b = bytearray(blob)
    how = rng.choice(("bits", "byte", "word", "header"))
    if how == "bits":
        for _ in range(rng.randint(1, 3)):
            bit = rng.randrange(len(b) * 8)
            b[bit // 8] ^= 1 << (bit % 8)
    elif how == "byte":
        b[rng.randrange(len(b))] = rng.randrange(256)
    else:
        at = rng.randrange(10) * 4 if how == "header" else rng.randrange(len(b) - 4) & ~3
        value = rng.choice((0, 1, 2, 3, 4, 9, 16, 17, len(b), len(b) + 1, 0xFFFFFFFF, rng.getrandbits(32)))
        b[at : at + 4] = value.to_bytes(4, "big")
    return bytes(b)


@needs_dtc
@needs_corpus
def test_random_damage_agrees_with_dtc(corpus_dtbs: list[tuple[str, bytes]], tmp_path: Path) -> None:
    """dtc refuses => armboot refuses; both read => same bytes.  armboot may refuse a few blobs dtc reads by chance."""
    rng = random.Random(20240501)
    small = sorted((b for _, b in corpus_dtbs), key=len)[:3]
    deviations = ("inside the", "unknown DTB version", "names no node below")
    for _ in range(250):
        blob = _damage(rng.choice(small), rng)
        reference = dtc_reemit(blob, tmp_path)
        start = time.perf_counter()
        try:
            tree, _ = parse_dtb(blob)
            ours: bytes | None = to_dtb(tree)[0]
        except DtcError as e:
            ours = None
            assert e.diagnostics[-1].dtb_offset is not None
            if reference.rc == 0:
                assert any(d in e.diagnostics[-1].message for d in deviations), e
        assert time.perf_counter() - start < 2
        if reference.rc > 0:
            assert ours is None, reference.err
        elif reference.ok and ours is not None and struct.unpack_from(">I", blob, 20)[0] >= 16:
            assert ours == reference.out


def test_random_bytes_fail_cleanly() -> None:
    rng = random.Random(7)
    for size in (0, 3, 8, 40, 100, 1000):
        for _ in range(40):
            blob = bytes(rng.getrandbits(8) for _ in range(size))
            if rng.random() < 0.7 and size >= 8:
                blob = struct.pack(">II", 0xD00DFEED, size) + blob[8:]
            with pytest.raises(DtcError):
                read_dtb(blob)


def test_overlapping_names_are_capped() -> None:
    """Thousands of names at distinct offsets into one long string would add up to gigabytes: refused."""
    props = [("prop_at", k * 10, b"") for k in range(20_000)]
    blob = assemble(("begin", ""), *props, ("end",), ("fdtend",), strings=b"x" * 400_000 + b"\0")
    start = time.perf_counter()
    with pytest.raises(DtcError, match="add up to more than 4 times the blob's size"):
        read_dtb(blob)
    assert time.perf_counter() - start < 2
    shared = [("prop_at", 0, b"")] * 20_000  # one long name used many times is read once
    assert (
        len(
            read_dtb(
                assemble(("begin", ""), *shared, ("end",), ("fdtend",), strings=b"x" * 400_000 + b"\0")
            ).root.props
        )
        == 20_000
    )
