"""The A64 load/store decoder against instructions assembled by binutils (aarch64-linux-gnu-as).

Every expectation comes from the instruction's definition in the Arm ARM:
what it accesses, how large, which registers, and what ESR_ELx.ISS[24:14]
(ISV, SAS, SSE, SRT, SF, AR) says for a data abort (D17.2.37).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from armboot.hyp.arch.decode import Op, cache_op, decode

AS = shutil.which("aarch64-linux-gnu-as")
OBJCOPY = shutil.which("aarch64-linux-gnu-objcopy")
pytestmark = pytest.mark.skipif(AS is None or OBJCOPY is None, reason="aarch64 binutils not installed")

PC = 0x40000000
SP = 0x8000_0000
REGS = {n: 0x10_0000 * (n + 1) for n in range(31)}
REGS[3] = 0x1234_5678_FFFF_FFFC  # W3 = -4; X3 = a large positive value
REGS[9] = (-24) & ((1 << 64) - 1)


def assemble(lines: list[str]) -> list[int]:
    """The encodings of ``lines`` (one instruction each), assembled at PC."""
    with tempfile.TemporaryDirectory() as tmp:
        src, obj, raw = (os.path.join(tmp, n) for n in ("t.s", "t.o", "t.bin"))
        with open(src, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run([AS, "-march=armv8.5-a+memtag", "-o", obj, src], check=True)  # type: ignore[list-item]
        subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", obj, raw], check=True)  # type: ignore[list-item]
        with open(raw, "rb") as f:
            blob = f.read()
    assert len(blob) == 4 * len(lines)
    return [int.from_bytes(blob[i : i + 4], "little") for i in range(0, len(blob), 4)]


def iss(
    isv: bool = True, sas: int = 0, sse: bool = False, srt: int = 0, sf: bool = False, ar: bool = False
) -> int:
    if not isv:
        return 0
    return (1 << 24) | (sas << 22) | (int(sse) << 21) | (srt << 16) | (int(sf) << 15) | (int(ar) << 14)


def x(n: int) -> int:
    return REGS[n]


# (assembly, op, size, length, address, ISS[24:14], other fields)
CASES: list[tuple[str, Op, int, int, int, int, dict[str, object]]] = [
    # Single registers, unsigned/unscaled immediate: ISV = 1
    ("ldr x1, [x2]", Op.LOAD, 8, 8, REGS[2], iss(sas=3, srt=1, sf=True), {"rt": 1, "rn": 2}),
    ("ldr w3, [x4, #8]", Op.LOAD, 4, 4, REGS[4] + 8, iss(sas=2, srt=3), {}),
    ("ldrb w5, [x6, #4095]", Op.LOAD, 1, 1, REGS[6] + 4095, iss(sas=0, srt=5), {}),
    (
        "ldursh x7, [x8, #-2]",
        Op.LOAD,
        2,
        2,
        REGS[8] - 2,
        iss(sas=1, sse=True, srt=7, sf=True),
        {"sign_extend": True},
    ),
    ("ldrsb w9, [x10]", Op.LOAD, 1, 1, REGS[10], iss(sas=0, sse=True, srt=9), {}),
    ("ldrsw x11, [sp, #16]", Op.LOAD, 4, 4, SP + 16, iss(sas=2, sse=True, srt=11, sf=True), {"rn": 31}),
    ("str x12, [x13, #32760]", Op.STORE, 8, 8, REGS[13] + 32760, iss(sas=3, srt=12, sf=True), {}),
    ("strh wzr, [x1, #2]", Op.STORE, 2, 2, REGS[1] + 2, iss(sas=1, srt=31), {"rt": 31}),
    ("stur w1, [x9, #255]", Op.STORE, 4, 4, REGS[9] + 255, iss(sas=2, srt=1), {}),
    ("ldr x2, [x9, #-256]!", Op.LOAD, 8, 8, REGS[9] - 256, 0, {"writeback": True}),
    ("str w14, [x15], #16", Op.STORE, 4, 4, REGS[15], 0, {"writeback": True, "post_index": True}),
    ("ldrb w1, [sp], #-1", Op.LOAD, 1, 1, SP, 0, {"writeback": True}),
    # Register offset: extend and shift
    ("ldr x1, [x2, x3, lsl #3]", Op.LOAD, 8, 8, REGS[2] + (REGS[3] << 3), iss(sas=3, srt=1, sf=True), {}),
    ("ldr w1, [x2, w3, sxtw #2]", Op.LOAD, 4, 4, REGS[2] - 16, iss(sas=2, srt=1), {}),
    ("ldrh w1, [x2, w3, uxtw #1]", Op.LOAD, 2, 2, REGS[2] + (0xFFFF_FFFC << 1), iss(sas=1, srt=1), {}),
    ("strb w1, [x2, x3]", Op.STORE, 1, 1, REGS[2] + REGS[3], iss(sas=0, srt=1), {}),
    ("ldrsw x4, [sp, x9, sxtx #2]", Op.LOAD, 4, 4, SP - 96, iss(sas=2, sse=True, srt=4, sf=True), {}),
    ("ldr x1, [x2, xzr]", Op.LOAD, 8, 8, REGS[2], iss(sas=3, srt=1, sf=True), {}),
    # Literal (PC-relative)
    ("ldr x5, .+0x100", Op.LOAD, 8, 8, None, iss(sas=3, srt=5, sf=True), {"rn": -1}),
    ("ldr w6, .-8", Op.LOAD, 4, 4, None, iss(sas=2, srt=6), {}),
    ("ldrsw x7, .+4", Op.LOAD, 4, 4, None, iss(sas=2, sse=True, srt=7, sf=True), {}),
    ("ldr q2, .+64", Op.LOAD, 16, 16, None, 0, {"simd": True}),
    # Pairs: never a valid ISS
    ("ldp x1, x2, [x3, #16]", Op.LOAD, 8, 16, REGS[3] + 16, 0, {"pair": True, "rt2": 2}),
    ("stp w1, w2, [sp, #-8]!", Op.STORE, 4, 8, SP - 8, 0, {"writeback": True}),
    ("ldp q0, q1, [x1], #32", Op.LOAD, 16, 32, REGS[1], 0, {"simd": True, "post_index": True}),
    ("ldpsw x1, x2, [x4, #-4]", Op.LOAD, 4, 8, REGS[4] - 4, 0, {"sign_extend": True}),
    ("stnp d0, d1, [x2, #-16]", Op.STORE, 8, 16, REGS[2] - 16, 0, {"simd": True}),
    # Exclusives: ISV = 0, alignment required
    ("ldxr x1, [x2]", Op.LOAD, 8, 8, REGS[2], 0, {"exclusive": True, "align": 8}),
    ("stlxr w3, w4, [x5]", Op.STORE, 4, 4, REGS[5], 0, {"exclusive": True, "acquire_release": True, "rt": 4}),
    ("ldaxp x1, x2, [x3]", Op.LOAD, 8, 16, REGS[3], 0, {"pair": True, "align": 16}),
    ("ldxp w1, w2, [sp]", Op.LOAD, 4, 8, SP, 0, {"pair": True, "align": 8}),
    ("ldxrb w1, [x2]", Op.LOAD, 1, 1, REGS[2], 0, {"exclusive": True}),
    # Load-acquire / store-release: ISV = 1 with AR
    ("ldar w1, [x2]", Op.LOAD, 4, 4, REGS[2], iss(sas=2, srt=1, ar=True), {"align": 4}),
    ("stlrb w1, [sp]", Op.STORE, 1, 1, SP, iss(sas=0, srt=1, ar=True), {}),
    ("ldarh w7, [x8]", Op.LOAD, 2, 2, REGS[8], iss(sas=1, srt=7, ar=True), {}),
    ("stlr x30, [x29]", Op.STORE, 8, 8, REGS[29], iss(sas=3, srt=30, sf=True, ar=True), {}),
    ("ldlar x1, [x2]", Op.LOAD, 8, 8, REGS[2], iss(sas=3, srt=1, sf=True, ar=True), {}),
    ("ldapr w1, [x2]", Op.LOAD, 4, 4, REGS[2], iss(sas=2, srt=1, ar=True), {}),
    ("ldapur x1, [x2, #-3]", Op.LOAD, 8, 8, REGS[2] - 3, iss(sas=3, srt=1, sf=True, ar=True), {}),
    ("stlur w3, [x4, #255]", Op.STORE, 4, 4, REGS[4] + 255, iss(sas=2, srt=3, ar=True), {}),
    ("ldapursb x1, [x2]", Op.LOAD, 1, 1, REGS[2], iss(sas=0, sse=True, srt=1, sf=True, ar=True), {}),
    # Atomics and compare-and-swap: read-modify-write, ISV = 0
    ("cas x1, x2, [x3]", Op.RMW, 8, 8, REGS[3], 0, {"align": 8}),
    ("casalh w1, w2, [sp]", Op.RMW, 2, 2, SP, 0, {"acquire_release": True}),
    ("casp x0, x1, x4, x5, [x6]", Op.RMW, 8, 16, REGS[6], 0, {"pair": True, "align": 16}),
    ("ldadd w1, w2, [sp]", Op.RMW, 4, 4, SP, 0, {}),
    ("swpal x1, x2, [x3]", Op.RMW, 8, 8, REGS[3], 0, {"acquire_release": True}),
    ("staddb w1, [x2]", Op.RMW, 1, 1, REGS[2], 0, {}),
    ("ldumaxl x1, x2, [x3]", Op.RMW, 8, 8, REGS[3], 0, {}),
    # SIMD&FP single registers: ISV = 0
    ("ldr q0, [x1, #32]", Op.LOAD, 16, 16, REGS[1] + 32, 0, {"simd": True}),
    ("str d1, [x2, x3, lsl #3]", Op.STORE, 8, 8, REGS[2] + (REGS[3] << 3), 0, {"simd": True}),
    ("ldr q1, [x2, x9, lsl #4]", Op.LOAD, 16, 16, REGS[2] - 24 * 16, 0, {}),
    ("ldr s2, [x3], #4", Op.LOAD, 4, 4, REGS[3], 0, {"simd": True}),
    ("ldur b0, [x1, #-1]", Op.LOAD, 1, 1, REGS[1] - 1, 0, {"simd": True}),
    ("str h5, [sp, #2]", Op.STORE, 2, 2, SP + 2, 0, {}),
    # SIMD structures
    ("ld1 {v0.16b, v1.16b}, [x0], #32", Op.LOAD, 1, 32, REGS[0], 0, {"writeback": True}),
    ("st1 {v0.2d}, [x1]", Op.STORE, 8, 16, REGS[1], 0, {"simd": True}),
    ("ld1 {v0.8b}, [x0]", Op.LOAD, 1, 8, REGS[0], 0, {}),
    ("st4 {v0.4s, v1.4s, v2.4s, v3.4s}, [x2]", Op.STORE, 4, 64, REGS[2], 0, {}),
    ("ld3 {v0.4h, v1.4h, v2.4h}, [sp], x4", Op.LOAD, 2, 24, SP, 0, {}),
    ("ld4r {v0.4s, v1.4s, v2.4s, v3.4s}, [x1], x2", Op.LOAD, 4, 16, REGS[1], 0, {}),
    ("ld1 {v0.s}[1], [x2]", Op.LOAD, 4, 4, REGS[2], 0, {}),
    ("st3 {v0.h, v1.h, v2.h}[3], [x1]", Op.STORE, 2, 6, REGS[1], 0, {}),
    ("ld2 {v0.d, v1.d}[1], [x5], #16", Op.LOAD, 8, 16, REGS[5], 0, {}),
    ("ld1r {v0.8b}, [x6]", Op.LOAD, 1, 1, REGS[6], 0, {}),
    # Unprivileged: checked with EL0's permissions, ISV = 1
    ("ldtr x1, [x2, #8]", Op.LOAD, 8, 8, REGS[2] + 8, iss(sas=3, srt=1, sf=True), {"unprivileged": True}),
    ("sttrb w1, [x2]", Op.STORE, 1, 1, REGS[2], iss(sas=0, srt=1), {"unprivileged": True}),
    ("ldtrsw x1, [x2, #-4]", Op.LOAD, 4, 4, REGS[2] - 4, iss(sas=2, sse=True, srt=1, sf=True), {}),
    # Prefetches and cache maintenance
    ("prfm pldl1keep, [x1]", Op.PREFETCH, 8, 8, REGS[1], 0, {}),
    ("prfum pstl2strm, [x1, #-5]", Op.PREFETCH, 8, 8, REGS[1] - 5, 0, {}),
    ("prfm plil3keep, .+8", Op.PREFETCH, 8, 8, None, 0, {}),
    ("dc zva, x3", Op.ZERO, 64, 64, REGS[3], 0, {}),
    ("dc zva, xzr", Op.ZERO, 64, 64, 0, 0, {}),
    ("dc civac, x4", Op.CACHE, 1, 1, REGS[4], 0, {}),
    ("dc ivac, x5", Op.CACHE, 1, 1, REGS[5], 0, {}),
    ("ic ivau, x6", Op.CACHE, 1, 1, REGS[6], 0, {}),
]

NOT_MEMORY = [
    "add x1, x2, x3", "mrs x1, sctlr_el1", "msr ttbr0_el1, x2", "b .", "svc #0", "hvc #1", "nop", "eret",
    "dc isw, x1", "tlbi vmalle1", "ic iallu", "ldraa x1, [x2]", "stg x1, [x2]", "movz x0, #1", "fadd d0, d1, d2",
]  # fmt: skip


@pytest.fixture(scope="module")
def words() -> list[int]:
    return assemble([c[0] for c in CASES] + NOT_MEMORY)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_load_store(words: list[int], index: int) -> None:
    text, op, size, length, address, want_iss, fields = CASES[index]
    m = decode(words[index])
    assert m is not None, text
    assert (m.op, m.size, m.length) == (op, size, length)
    pc = PC + 4 * index
    got = m.address(x, SP, pc)
    if address is None:  # PC-relative: the label the assembler resolved
        want = pc + int(text.split(".")[-1].replace("+", ""), 0)
    else:
        want = address & ((1 << 64) - 1)
    assert got == want, f"{text}: {got:#x} != {want:#x}"
    assert m.iss() == want_iss, f"{text}: ISS {m.iss():#x} != {want_iss:#x}"
    for name, value in fields.items():
        assert getattr(m, name) == value, f"{text}: {name}"


@pytest.mark.parametrize("index", range(len(NOT_MEMORY)), ids=NOT_MEMORY)
def test_not_a_load_or_store(words: list[int], index: int) -> None:
    assert decode(words[len(CASES) + index]) is None


def test_direction_for_wnr(words: list[int]) -> None:
    """WnR: stores, read-modify-writes (when the write faults), DC ZVA and cache maintenance write."""
    by_text = {c[0]: decode(w) for c, w in zip(CASES, words, strict=False)}
    assert not by_text["ldr x1, [x2]"].write  # type: ignore[union-attr]
    assert by_text["stlr x30, [x29]"].write  # type: ignore[union-attr]
    assert by_text["cas x1, x2, [x3]"].write  # type: ignore[union-attr]
    assert by_text["dc zva, x3"].write  # type: ignore[union-attr]
    assert by_text["dc civac, x4"].write  # type: ignore[union-attr]


def test_cache_ops_name_the_permission_they_need(words: list[int]) -> None:
    """DC IVAC can destroy data, so it needs write permission; the others need read."""
    index = {c[0]: i for i, c in enumerate(CASES)}
    ivac = cache_op(words[index["dc ivac, x5"]])
    civac = cache_op(words[index["dc civac, x4"]])
    assert ivac is not None and ivac.name == "DC IVAC" and ivac.needs is Op.STORE
    assert civac is not None and civac.name == "DC CIVAC" and civac.needs is Op.LOAD
    assert cache_op(words[index["dc zva, x3"]]) is None


def test_zva_block_size_comes_from_dczid() -> None:
    (word,) = assemble(["dc zva, x1"])
    m = decode(word, zva_bytes=256)
    assert m is not None and m.length == 256
