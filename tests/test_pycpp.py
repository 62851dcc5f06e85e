"""armboot's own C preprocessor (dtc/pycpp*.py) against the system cpp, the reference.

Every expected output is produced by running /usr/bin/cpp with the kernel's
flags (through preprocess(..., use_system=True)) on the same files: the text
must be byte-identical, linemarkers included, and errors must carry cpp's
messages at cpp's file:line:col.  The corpus tests compare whole boards, as
text and as DTBs built by ``cpp | dtc -b 0``.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from armboot.dtc import pycpp
from armboot.dtc.compiler import BuildOptions, compile_file, emit
from armboot.dtc.errors import Diagnostic, DtcError
from armboot.dtc.preprocess import Preprocessed, preprocess
from reference import CORPUS, DTC, corpus_include_dirs, dtc, needs_corpus, preprocess_like_kernel

needs_cpp = pytest.mark.skipif(shutil.which("cpp") is None, reason="the reference cpp (GCC) is not installed")
pytestmark = needs_cpp


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write the files; the first one is the main file."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode("latin-1")
        path.write_bytes(content)
    return root / next(iter(files))


def both(path: Path, include_dirs: list[str] | None = None, defines: list[str] | None = None) -> tuple[object, object]:
    """(system cpp's result, pycpp's result): a Preprocessed or the DtcError raised."""
    results: list[object] = []
    for system in (True, False):
        try:
            results.append(preprocess(str(path), include_dirs or [], defines or [], use_system=system))
        except DtcError as e:
            results.append(e)
    return results[0], results[1]


def key(d: Diagnostic) -> tuple[str, str, str]:
    return str(d.location), d.level, d.message


def assert_same(ref: object, ours: object) -> None:
    if isinstance(ref, DtcError):
        assert isinstance(ours, DtcError), "cpp failed but pycpp did not:\n" + str(ref)
        wanted = [key(d) for d in ref.diagnostics]
        got = [key(d) for d in ours.diagnostics if d.level != "note"]
        assert sorted(got) == sorted(wanted)
        return
    assert isinstance(ref, Preprocessed)
    assert not isinstance(ours, DtcError), "pycpp failed but cpp did not:\n" + str(ours)
    assert isinstance(ours, Preprocessed)
    assert ours.text == ref.text
    # The system path reads deps back from linemarkers, which a passed-through '# 12 "x"' line can fake.
    assert ours.deps == [d for d in ref.deps if os.path.exists(d)]
    assert sorted(map(key, ours.warnings)) == sorted(map(key, ref.warnings))


def check(tmp_path: Path, files: dict[str, str | bytes], include_dirs: list[str] | None = None, defines: list[str] | None = None) -> None:
    main = write(tmp_path, files)
    ref, ours = both(main, [str(tmp_path / d) for d in include_dirs or []], defines)
    assert_same(ref, ours)


# -- features: the output must be cpp's, byte for byte --

HEADERS = {
    "inc/guarded.h": "#ifndef GUARDED_H\n#define GUARDED_H\n#define GPIO_ACTIVE_LOW 1 /* flag */\nguarded __INCLUDE_LEVEL__\n#endif\n",
    "inc/once.h": "#pragma once\nonce __FILE__\n",
    "inc/plain.h": "plain __FILE__ __LINE__\n",
    "inc/nested.h": '#include "plain.h"\n#include "sub/deeper.h"\nnested\n',
    "inc/sub/deeper.h": '#include "../plain.h"\ndeeper __INCLUDE_LEVEL__\n',
    "inc/next/plain.h": "#include_next <plain.h>\nnext\n",
}

FEATURES: dict[str, str] = {
    "object macros and spacing": (
        "#define NUM 0x10\n#define NAME foo\n#define E\nnode@NUM { reg = <NUM>; s = \"NAME\"; x = NAME,NUM; };\n"
        " NAME NAME\tNAME   E NAME\n-NUM- +NUM+ .NUM NUM.NUM NUM-1 1-NUM NAME.NAME NAME+NUM a NUM b'c'NAME\"s\"NAME\n"
    ),
    "function macros": (
        "#define F(x) [x]\n#define G(x, y) x ## y\nF(1) F((a,b)) F( ( a , b ) ) F() F (2) F\n(3) F\nF(\n  multi\n  line\n) after\n"
        "#define ID(x) x\nID(F)(4) ID(ID)(ID)(5) F(F(F(6)))\n"
    ),
    "stringify": (
        '#define S(x) #x\n#define XS(x) S(x)\n#define V 1 + 2\nS(x) S( a  b ) S("q\\n") S(\'c\') S(a "b" c) S() S(V) XS(V)'
        " XS(S(1)) S(@) S(\\n)\n"
    ),
    "token pasting": (
        "#define G(x, y) x ## y\n#define C(a,b,c) a##b##c\nG(1,2) G(a, b) G(,x) G(x,) G(,) G(+,+) G(-,>) G(/,/) G(/,=)"
        ' G(., 5) G(L, "s") G(a b, c d) C(a,b,c) C(,,) C(1,,2)\n'
    ),
    "variadic macros": (
        "#define V(fmt, ...) v(fmt, __VA_ARGS__)\n#define W(fmt, args...) w(fmt, ##args)\n#define H(...) h(x, ##__VA_ARGS__)\n"
        "#define O(a, ...) o(a __VA_OPT__(,) __VA_ARGS__) #__VA_OPT__(a b)\n"
        "V(1) V(1, 2) V(1, 2, 3) V(1,) W(1) W(1, 2) W(1,) W(1, a, b) H() H(1) O(1) O(1, 2) O(,)\n"
    ),
    "self reference is painted blue": (
        "#define SELF SELF + 1\n#define A B\n#define B A\n#define f(a) a*g\n#define g(a) f(a)\n"
        "SELF A B f(2)(9)\n#define AA BB\n#define BB(x) AA x\nBB(1)(2) AA(3)\n"
    ),
    "macros in device tree syntax": (
        "#define GIC_SPI 0\n#define IRQ_TYPE_LEVEL_HIGH 4\n#define PIN(bank, n) ((bank) * 32 + (n))\n"
        "#define MUX(p, f) (((p) << 8) | (f))\n/dts-v1/;\n/ {\n\t#address-cells = <2>;\n  #size-cells = <1>;\n"
        "\tinterrupts = <GIC_SPI 52 IRQ_TYPE_LEVEL_HIGH>;\n\t\tpins = <MUX(PIN(2, 3), 1)>;\n"
        "\tlinux,phandle = <1>; unix = \"linux\"; compatible = \"vendor,linux\";\n};\n"
    ),
    "conditionals": (
        "#define X 1\n#define FN(x) (x + 1)\n#if X\na\n#elif Y\nb\n#else\nc\n#endif\n#ifdef X\nd\n#endif\n#ifndef X\ne\n#else\nf\n"
        "#endif\n#if defined X && defined(X) && !defined(Y)\ng\n#endif\n#if 0\n#error not reached\n#garbage\n'quote\n"
        "#if 1\n#endif\n#elif 1\nh\n#elif 1\ni\n#endif\n#if FN(2) == 3 && UNDEFINED == 0\nj\n#endif\n"
        "#ifdef Y\n#elifdef X\nk\n#elifndef X\nl\n#endif\n"
    ),
    "#if arithmetic": (
        "#if (1 ? 2 : 3) == 2 && (0 ? 1/0 : 4) == 4 && (1 || 1/0) && !(0 && 1/0)\na\n#endif\n"
        "#if -1 < 0 && -1 > 0u && 0x7fffffffffffffff > 0 && 0xffffffffffffffff == -1\nb\n#endif\n"
        "#if (2 + 3 * 4 - 10 / 2 % 3) == 12 && (1 << 4 >> 2) == 4 && (~0 & 0xf) == 15 && (5 ^ 3 | 8) == 14\nc\n#endif\n"
        "#if 'a' == 97 && '\\n' == 10 && '\\x41' == 65 && '\\101' == 65 && L'a' == 97 && 0b101 == 5 && 010 == 8\nd\n#endif\n"
        "#if (-1 >> 63) == -1 && -7 / 2 == -3 && -7 % 2 == -1 && 7u / 2 == 3 && (1, 0) == 0\ne\n#endif\n"
    ),
    "comments and line splices": (
        "/* start */ #define A 1\n  /* c1 */  #  /* c2 */ define /* c3 */ B /* c4 */ 2\nA B\n"
        "#define C(x) \\\n   x + \\\n   x\nC(1) C(\n2)\nline with \\\ncontinuation\nfoo /* multi\nline\ncomment */ bar\n"
        "\tt\tab // trailing 'apostrophe \"quote\nx /* c */ // both\n\\\n    after an empty spliced line\n"
    ),
    "apostrophes and unterminated quotes": (
        "#define FOO 1\nchar = 'a' '\\'' 'ab' FOO;\nit's FOO here\n\"unterminated FOO\nFOO 'x\n"
    ),
    "assembler # lines": "#address-cells = <1>;\n  #size-cells\n# 12 \"x\"\n#foo bar\n#\n#define H #\nH x\n",
    "blank lines and linemarkers": "a\n\n\n\n\n\n\n\nb\n\n\n\n\n\n\n\n\nc\n" + "\n" * 30 + "d\n",
    "builtin macros": "__FILE__ __LINE__ __INCLUDE_LEVEL__ __COUNTER__ __COUNTER__ __BASE_FILE__ __FILE_NAME__ __STDC__ __ASSEMBLER__ __DTS__\n"
    "#define L __LINE__\nL\n#define F(x) __LINE__ x\nF(\na\n)\n#if __has_include(\"inc/plain.h\") && !__has_include(<nope.h>)\nhas\n#endif\n",
    "-undef keeps linux": "linux unix __linux__ __GNUC__ __x86_64__ __aarch64__ i386\n",
    "#line": "a __LINE__\n#line 100\nb __LINE__\n#line 200 \"renamed.dts\"\nc __LINE__ __FILE__\n#include \"inc/plain.h\"\nd\n",
    "includes": (
        '#include "inc/guarded.h"\n#include "inc/guarded.h"\n#include <guarded.h>\n#include <guarded.h>\n'
        '#include "inc/once.h"\n#include "inc/once.h"\n#define HDR "inc/plain.h"\n#include HDR\n#define AHDR <plain.h>\n'
        "#include AHDR\n#include \"inc/nested.h\"\nafter __INCLUDE_LEVEL__\n#import \"inc/plain.h\"\n#import \"inc/plain.h\"\n"
    ),
    "include_next": '#include "inc/next/plain.h"\n',
    "pragmas": (
        "#pragma foo bar\nx\n  #  pragma   omp parallel\n#pragma push_macro(\"X\")\n#define X 2\nX\n#pragma pop_macro(\"X\")\nX\n"
        "#pragma GCC warning \"careful\"\n_Pragma(\"foo\") y\nz _Pragma(\"once\")w\n#pragma redefine_extname X  b\n"
    ),
    "directives inside macro arguments": "#define F(a, b) a + b\nF(1,\n#ifdef F\n2\n#else\n3\n#endif\n)\nF\n#define Z 7\n(Z, Z)\n",
    "assertions": "#assert machine(arm64)\n#if #machine(arm64) && !#machine(x86) && #machine\nyes\n#endif\n#unassert machine\n#if #machine\nno\n#endif\n",
    "non-UTF-8 bytes": "/* caf\xe9 \xff\xfe */ a = \"\xe9t\xe9\"; \xe9 b\xff c\n#define \xe9 1\n\xe9\n",
    "CRLF and missing final newline": "a\r\nb \\\r\n c\r\n#define X 1\r\nX\rY\r\nlast X",
    "backslash at the very end is no splice": "x\nlast \\",
}


@pytest.mark.parametrize("name", FEATURES)
def test_output_is_byte_identical_to_cpp(tmp_path: Path, name: str) -> None:
    check(tmp_path, {"main.dts": FEATURES[name], **HEADERS}, include_dirs=["inc"])


def test_defines_from_the_command_line(tmp_path: Path) -> None:
    check(tmp_path, {"d.dts": "A B C F(2) __DTS__\n"}, defines=["A", "B=2", "C=", "F(x)=x*x"])


def test_standard_input_is_named_like_cpp_names_it(tmp_path: Path) -> None:
    write(tmp_path, HEADERS)
    data = b'#include "inc/plain.h"\nx __FILE__\n'
    got = pycpp.preprocess_file("-", [str(tmp_path)], [], data)
    assert got.text.startswith('# 0 "<stdin>"\n')
    assert f'# 1 "{tmp_path}/inc/plain.h" 1' in got.text
    assert got.text.endswith('x "<stdin>"\n')


# -- errors: cpp's messages at cpp's positions --

BAD_EXPRESSIONS = (
    "", "1 +", "(1", "1 2", '"s"', "1.0", "08", "1/0", "()", "1 ? 2", "1 : 2", "2 = 3", "defined", "defined(X",
    "0x", ")", "* 1", "~", "1 ? : 2", "0b12", "1e", "3z", "''", "0x7fffffffffffffff + 1 < 0", "'ab'",
)  # fmt: skip
ERRORS: dict[str, str] = {
    "#error": "ok\n#error foo bar  \"x\"\n",
    "#warning only warns": "#warning  a   b\nfine\n",
    "missing include": 'a\n#include "nope.h"\nb\n',
    "missing angle include": "#include <nope.h>\n",
    "bad include syntax": "#include\n#include <>\n#include \"inc/plain.h\" junk\n",
    "unterminated #if": "#if 1\n#ifdef X\nx\n",
    "unbalanced conditionals": "#endif\n#else\n#elif 1\n#if 1\n#else\n#else\n#endif\n",
    "unterminated comment": "a /* never closed\nb\n",
    "unterminated argument list": "#define F(a) a\nF(1,\n",
    "wrong argument counts": "#define F(a) a\n#define G(a,b) a\nF(1,2) G(1) G()\n",
    "bad definitions": "#define 3\n#define\n#define G(a,a) a\n#define H(a b) a\n#define L ## a\n#define M a ##\n#define defined\n#define P(...) __VA_OPT__ x\n",
    "redefinition warnings": "#define X 1\n#define X 2\n#undef __FILE__\n#define FOO-1\n#undef X Y\n",
    "bad #if expressions": "".join(f"#if {e}\n#endif\n" for e in BAD_EXPRESSIONS),
    "bad #line": "#line 99x\n#line\n",
    "stringified lone backslash": "#define S(x) #x\nS(\\)\n",
    "poisoned identifier": "#pragma GCC poison P\nP\n",
    "#pragma GCC error": '#pragma GCC error "boo"\n',
    "backslash-newline warnings": "ab \\  \ncd\n/* x \\ \n */ y\n\tef\\\t\ngh\n#define A 1 \\ \n",
    "columns count tabs to 8": "\t\t#error foo\n\t#if 1 +\n\t#endif\n#define F(a) a\n\tF(\n",
    "#line names another file": '#line 7 "elsewhere.dts"\n\t__VA_ARGS__\n#error here\n',
    "errors in macro text point at the definition": "#define F x=\n#if F\n#endif\n#define G )\n#if G\n#endif\n",
}


@pytest.mark.parametrize("name", ERRORS)
def test_diagnostics_are_cpps(tmp_path: Path, name: str) -> None:
    check(tmp_path, {"bad.dts": ERRORS[name], **HEADERS})


def test_error_is_a_dtcerror_with_file_line_col(tmp_path: Path) -> None:
    main = write(tmp_path, {"e.dts": "a\n#include \"h.dtsi\"\n", "h.dtsi": "ok\n  #error stop here\n"})
    with pytest.raises(DtcError) as info:
        pycpp.preprocess_file(str(main), [str(tmp_path)], [])
    [diag] = [d for d in info.value.diagnostics if d.level == "error"]
    assert str(diag.location) == f"{tmp_path}/h.dtsi:2:4"
    assert diag.message == "#error stop here"


# -- hostile input: a clean DtcError or cpp's output, never a traceback or a hang --


def test_include_cycle_stops_at_cpps_depth_limit(tmp_path: Path) -> None:
    check(tmp_path, {"self.dts": '#include "self.dts"\nx\n'})


def test_include_bomb_is_cut_short(tmp_path: Path) -> None:
    """Two self-includes per level would take 2**200 steps; the first depth error ends the run."""
    main = write(tmp_path, {"bomb.dts": '#include "bomb.dts"\n#include "bomb.dts"\n'})
    with pytest.raises(DtcError, match="nested depth 200 exceeds maximum of 200"):
        pycpp.preprocess_file(str(main), [str(tmp_path)], [])


def test_include_explosion_without_a_cycle_is_cut_short(tmp_path: Path) -> None:
    files = {f"f{i}.h": f'#include "f{i + 1}.h"\n#include "f{i + 1}.h"\n' for i in range(30)}
    main = write(tmp_path, {"main.dts": '#include "f0.h"\n', **files, "f30.h": "x\n"})
    with pytest.raises(DtcError, match="files included"):
        pycpp.preprocess_file(str(main), [str(tmp_path)], [])


def test_exponential_macro_expansion_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pycpp, "MAX_EXPANSIONS", 10_000)
    lines = ["#define a0 x"] + [f"#define a{i} a{i - 1} a{i - 1}" for i in range(1, 40)] + ["a39"]
    main = write(tmp_path, {"exp.dts": "\n".join(lines) + "\n"})
    with pytest.raises(DtcError, match="macro expansion too large"):
        pycpp.preprocess_file(str(main), [str(tmp_path)], [])


def test_wide_macro_expansion_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pycpp, "MAX_EXPANDED_TOKENS", 100_000)
    lines = ["#define a0 " + "x " * 40] + [f"#define a{i} " + f"a{i - 1} " * 10 for i in range(1, 12)] + ["a11"]
    main = write(tmp_path, {"wide.dts": "\n".join(lines) + "\n"})
    with pytest.raises(DtcError, match="macro expansion too large"):
        pycpp.preprocess_file(str(main), [str(tmp_path)], [])


def test_deeply_nested_macro_calls_are_an_error(tmp_path: Path) -> None:
    main = write(tmp_path, {"deep.dts": "#define F(x) x\n" + "F(" * 1000 + "1" + ")" * 1000 + "\n"})
    with pytest.raises(DtcError, match="nested too deeply"):
        pycpp.preprocess_file(str(main), [str(tmp_path)], [])


def test_binary_garbage(tmp_path: Path) -> None:
    rng = random.Random(7)
    check(tmp_path, {"junk.dts": bytes(rng.randrange(256) for _ in range(4000)).replace(b"\0", b" ")})


# -- random macro programs against cpp --

_ATOMS = ["1", "0x10", "x", "+", "-", "<", ">", "&", ".", ",", "(", ")", '"s"', "'c'", "#", "@", "=", "L", "1e", "/", "\\", "<1 2>", "&lbl", "#size-cells"]


def _random_program(rng: random.Random) -> str:
    names = ["A", "B", "C", "F", "G", "H", "__LINE__"]
    arity: dict[str, tuple[int, bool]] = {}

    def seq(n: int, params: list[str]) -> str:
        out = []
        for _ in range(n):
            pick = rng.random()
            tok = rng.choice(names) if pick < 0.3 else rng.choice(params) if pick < 0.45 and params else rng.choice(_ATOMS)
            if params and rng.random() < 0.1:
                tok = rng.choice(["#", "##"]) + rng.choice(params)
            out.append(rng.choice(["", " ", "\t", "/**/"]) + tok)
        return "".join(out).strip().strip("#").replace("#size-cells", "x")

    lines = []
    for name in names[:6]:
        if rng.random() < 0.5:
            lines.append(f"#define {name} {seq(rng.randint(0, 4), [])}")
        else:
            params = rng.sample(["a", "b", "c"], rng.randint(0, 3))
            variadic = rng.random() < 0.3
            arity[name] = (len(params), variadic)
            plist = ",".join(params + (["..."] if variadic else []))
            lines.append(f"#define {name}({plist}) {seq(rng.randint(0, 5), params + (['__VA_ARGS__'] if variadic else []))}")
    for _ in range(6):
        parts = []
        for _ in range(rng.randint(1, 6)):
            name = rng.choice(names)
            if name in arity and rng.random() < 0.7:
                count, variadic = arity[name]
                count += rng.randint(0, 2) if variadic else 0
                args = ",".join(seq(rng.randint(0, 3), []).replace(",", " ").replace("(", "").replace(")", "") for _ in range(count))
                parts.append(f"{name}{rng.choice(['', ' '])}({args})")
            else:
                parts.append(rng.choice([name, rng.choice(_ATOMS)]))
        lines.append(rng.choice(["", "  ", "\t"]) + rng.choice([" ", "", "/* c */"]).join(parts))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_macro_programs(tmp_path: Path, seed: int) -> None:
    check(tmp_path, {"rand.dts": _random_program(random.Random(seed))})


_MUTATIONS = ["#if ", "#endif\n", "#define X(a) a\n", "/*", "*/", "##", "#", "(", ")", '"', "'", "\\\n", "X(", "\xff"]


@needs_corpus
@pytest.mark.parametrize("seed", range(16))
def test_mutated_corpus_files(tmp_path: Path, seed: int) -> None:
    """Damaged real sources: cpp's output and errors, never a traceback."""
    rng = random.Random(seed)
    sources = sorted((CORPUS / "v4.14" / "include" / "dt-bindings").rglob("*.h")) + _boards("v4.14")
    text = rng.choice(sources).read_bytes().decode("latin-1")
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(_MUTATIONS) + text[at + rng.randint(0, 10) :]
    main = write(tmp_path, {"mutant.dts": text})
    assert_same(*both(main, corpus_include_dirs("v4.14")))


# -- the kernel corpus --


def _boards(version: str) -> list[Path]:
    return sorted((CORPUS / version / "arm64").rglob("*.dts"))


@needs_corpus
@pytest.mark.parametrize("version", ["v4.9", "v4.14"])
def test_corpus_boards_preprocess_like_cpp(version: str) -> None:
    """Every board: byte-identical text, so every DTB and every file:line is the same as with cpp."""
    dirs = corpus_include_dirs(version)
    for board in _boards(version):
        ref, ours = both(board, dirs)
        assert isinstance(ours, Preprocessed) and isinstance(ref, Preprocessed), board
        assert ours.text == ref.text, board
        assert ours.deps == ref.deps, board


@needs_corpus
@pytest.mark.skipif(DTC is None, reason="the reference dtc is not installed")
@pytest.mark.parametrize("version", ["v4.9", "v4.14"])
def test_corpus_sample_builds_the_same_dtb_without_cpp(tmp_path: Path, version: str) -> None:
    boards = _boards(version)
    for board in boards[:: max(1, len(boards) // 3)]:
        opts = BuildOptions(include_dirs=corpus_include_dirs(version), system_cpp=False, boot_cpuid=0, quiet=1)
        compiled = compile_file(str(board), opts)
        blob, _ = emit(compiled.tree, "dtb", opts)
        pp, out = tmp_path / "board.pp", tmp_path / "board.dtb"
        preprocess_like_kernel(board, version, pp)
        ref = dtc("-q", "-I", "dts", "-O", "dtb", "-b", "0", "-i", os.path.dirname(board), "-o", out, pp)
        assert ref.ok, ref.err
        assert blob == out.read_bytes(), board
