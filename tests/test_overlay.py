"""armboot's overlay application against the installed fdtoverlay (dtc 1.6.1).

Every expected blob comes from running /usr/bin/fdtoverlay on blobs that the
installed dtc compiled from the small sources below; armboot must produce
the same bytes, and must fail (with a useful message) where fdtoverlay fails.
"""

from __future__ import annotations

import ctypes
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from armboot.dtc.errors import DtcError
from armboot.dtc.libfdt_ro import FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FdtReader
from armboot.dtc.libfdt_walk import find_damage, walk
from armboot.dtc.overlay import apply_overlays

pytestmark = pytest.mark.skipif(
    not (shutil.which("dtc") and shutil.which("fdtoverlay")), reason="needs dtc and fdtoverlay"
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "linux-dts" / "v4.14"


# -- helpers -----------------------------------------------------------------


def compile_dts(tmp_path: Path, name: str, source: str, *options: str) -> Path:
    """Compile DTS text with the installed dtc (-@, so labels get __symbols__)."""
    src = tmp_path / f"{name}.dts"
    src.write_text(source)
    out = tmp_path / name
    subprocess.run(
        ["dtc", "-q", "-@", *options, "-I", "dts", "-O", "dtb", "-o", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    return out


def fdtoverlay(base: Path, overlays: list[Path], out: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["fdtoverlay", "-i", str(base), "-o", str(out), *map(str, overlays)], capture_output=True, timeout=60
    )


def armboot_apply(base: Path, overlays: list[Path]) -> bytes:
    return apply_overlays(
        base.read_bytes(), [(p.name, p.read_bytes()) for p in overlays], base_name=base.name
    )


def assert_same_as_fdtoverlay(tmp_path: Path, base: Path, overlays: list[Path]) -> bytes:
    expected = tmp_path / "expected.dtb"
    run = fdtoverlay(base, overlays, expected)
    assert run.returncode == 0, run.stderr.decode()
    result = armboot_apply(base, overlays)
    assert result == expected.read_bytes()
    return result


def assert_both_fail(tmp_path: Path, base: Path, overlays: list[Path]) -> DtcError:
    """fdtoverlay fails, armboot raises DtcError, and both name the same libfdt error code."""
    run = fdtoverlay(base, overlays, tmp_path / "never.dtb")
    assert run.returncode != 0
    with pytest.raises(DtcError) as info:
        armboot_apply(base, overlays)
    their_code = re.search(rb"FDT_ERR_[A-Z]+", run.stderr)
    if their_code:
        assert info.value.diagnostics[0].hint == f"fdtoverlay: {their_code.group().decode()}"
    return info.value


def fdtget(blob: Path, node: str, prop: str) -> str:
    return subprocess.run(
        ["fdtget", str(blob), node, prop], check=True, capture_output=True, text=True
    ).stdout.strip()


BASE = """/dts-v1/;
/memreserve/ 0x80000000 0x10000;
/ {
	model = "overlay test base";
	#address-cells = <1>;
	#size-cells = <1>;

	soc: soc {
		#address-cells = <1>;
		#size-cells = <1>;
		ranges;

		uart0: serial@1000 {
			reg = <0x1000 0x100>;
			status = "disabled";
			clocks = <&clk>;
		};

		i2c1: i2c@2000 {
			#address-cells = <1>;
			#size-cells = <0>;
			reg = <0x2000 0x100>;
			status = "disabled";
		};
	};

	clk: clock {
		compatible = "fixed-clock";
		#clock-cells = <0>;
		clock-frequency = <24000000>;
	};

	aliases {
		serial0 = "/soc/serial@1000";
	};
};
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return compile_dts(tmp_path, "base.dtb", BASE, "-b", "3")


def overlay(tmp_path: Path, name: str, body: str) -> Path:
    return compile_dts(tmp_path, name, "/dts-v1/;\n/plugin/;\n" + body)


# -- successful applications ---------------------------------------------------


def test_target_by_label_replaces_and_adds_properties(tmp_path: Path, base: Path) -> None:
    ov = overlay(
        tmp_path, "uart.dtbo", '&uart0 { status = "okay"; current-speed = <115200>; label = "console"; };'
    )
    result = assert_same_as_fdtoverlay(tmp_path, base, [ov])
    out = tmp_path / "out.dtb"
    out.write_bytes(result)
    assert fdtget(out, "/soc/serial@1000", "status") == "okay"


def test_target_by_path_forms(tmp_path: Path, base: Path) -> None:
    by_ref = overlay(tmp_path, "ref.dtbo", '&{/soc/i2c@2000} { status = "okay"; };')
    explicit = compile_dts(
        tmp_path,
        "explicit.dtbo",
        """/dts-v1/;
/ {
	fragment@0 { target-path = "/"; __overlay__ { compatible = "vendor,board"; }; };
	fragment@1 { target-path = "serial0"; __overlay__ { via-alias = <1>; }; };
	fragment@2 { target-path = "/clock"; __overlay__ { clock-frequency = <48000000>; }; };
	not-a-fragment { x = <1>; };
};
""",
    )
    assert_same_as_fdtoverlay(tmp_path, base, [by_ref])
    assert_same_as_fdtoverlay(tmp_path, base, [explicit])


def test_nested_nodes_and_new_subnodes(tmp_path: Path, base: Path) -> None:
    ov = overlay(
        tmp_path,
        "nested.dtbo",
        """&i2c1 {
	status = "okay";
	eeprom@50 { compatible = "atmel,24c02"; reg = <0x50>; };
	pmic@30 {
		compatible = "vendor,pmic";
		reg = <0x30>;
		regulators { buck1 { regulator-name = "vdd"; }; ldo2 { regulator-name = "vio"; }; };
	};
};
&soc { serial@1000 { extra = "odd length!"; }; newdev@3000 { reg = <0x3000 0x10>; }; };
""",
    )
    assert_same_as_fdtoverlay(tmp_path, base, [ov])


def test_values_of_every_length_keep_libfdt_padding(tmp_path: Path, base: Path) -> None:
    """New values whose length is not a multiple of 4 get stale padding bytes from libfdt."""
    props = " ".join(f'p{n} = "{"x" * n}";' for n in range(0, 9))
    ov = overlay(tmp_path, "pad.dtbo", f'&clk {{ {props} clock-output-names = "a", "bcd"; }};')
    assert_same_as_fdtoverlay(tmp_path, base, [ov])


def test_local_phandle_references(tmp_path: Path, base: Path) -> None:
    ov = overlay(
        tmp_path,
        "local.dtbo",
        """&soc {
	gpio: gpio@4000 { reg = <0x4000 0x100>; gpio-controller; #gpio-cells = <2>; };
	led { gpios = <&gpio 3 0>, <&gpio 4 1>; };
};
&{/} { users { a = <&gpio>; b = <&clk &gpio>; }; };
""",
    )
    assert_same_as_fdtoverlay(tmp_path, base, [ov])


def test_references_to_base_labels(tmp_path: Path, base: Path) -> None:
    ov = overlay(
        tmp_path,
        "refs.dtbo",
        "&uart0 { clocks = <&clk>, <&clk>; dmas = <&i2c1 1 &soc 2>; } ; &i2c1 { sensor@48 { reg = <0x48>; parent = <&uart0>; }; };",
    )
    assert_same_as_fdtoverlay(tmp_path, base, [ov])


def test_multiple_fragments_and_overlays_in_sequence(tmp_path: Path, base: Path) -> None:
    first = overlay(
        tmp_path, "first.dtbo", '&soc { spi: spi@5000 { reg = <0x5000 0x100>; }; }; &clk { a = "1"; };'
    )
    second = overlay(
        tmp_path,
        "second.dtbo",
        '&uart0 { status = "okay"; }; &i2c1 { status = "okay"; }; &{/} { chosen { stdout-path = "serial0"; }; };',
    )
    third = overlay(tmp_path, "third.dtbo", '&clk { a = "replaced, longer"; b = <1>; };')
    assert_same_as_fdtoverlay(tmp_path, base, [first, second, third])


def test_symbols_added_by_one_overlay_serve_the_next(tmp_path: Path, base: Path) -> None:
    first = overlay(
        tmp_path,
        "provider.dtbo",
        "&soc { newgpio: gpio@6000 { reg = <0x6000 0x10>; #gpio-cells = <2>; sub: sub { }; }; };"
        "&{/} { rootlabel: extra { }; };",
    )
    second = overlay(tmp_path, "consumer.dtbo", "&newgpio { user = <&sub &rootlabel &clk>; };")
    result = assert_same_as_fdtoverlay(tmp_path, base, [first, second])
    out = tmp_path / "out.dtb"
    out.write_bytes(result)
    assert fdtget(out, "/__symbols__", "newgpio") == "/soc/gpio@6000"
    assert fdtget(out, "/__symbols__", "rootlabel") == "/extra"


def test_base_that_came_from_an_overlay(tmp_path: Path, base: Path) -> None:
    first = overlay(tmp_path, "first.dtbo", "&soc { added: dev@7000 { reg = <0x7000 0x10>; }; };")
    stacked = tmp_path / "stacked.dtb"
    assert fdtoverlay(base, [first], stacked).returncode == 0
    second = overlay(tmp_path, "second.dtbo", '&added { status = "okay"; link = <&added>; };')
    assert_same_as_fdtoverlay(tmp_path, stacked, [second])


def test_base_without_symbols_takes_overlay_without_fixups(tmp_path: Path) -> None:
    plain = tmp_path / "plain.dtb"
    subprocess.run(
        ["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", str(plain), "-"], input=BASE.encode(), check=True
    )
    ov = overlay(tmp_path, "bypath.dtbo", "&{/soc} { lbl: n { m = <&lbl>; }; };")
    assert_same_as_fdtoverlay(tmp_path, plain, [ov])


def test_symbol_paths_rewritten_like_libfdt(tmp_path: Path, base: Path) -> None:
    """Overlay labels land in the base's __symbols__ at target path + path below __overlay__."""
    ov = compile_dts(
        tmp_path,
        "symbols.dtbo",
        """/dts-v1/;
/ {
	fragment@0 { target-path = "/soc/"; __overlay__ { a = <1>; x { }; }; };
	fragment@1 { target = <1>; __overlay__ { y { z { }; }; }; };
	fragment@2 { target-path = "/"; __overlay__ { q { }; }; };
	fragment@3 { target = <2>; __overlay__ { }; };
	__symbols__ {
		s0 = "/fragment@0/__overlay__";
		s1 = "/fragment@0/__overlay__/x";
		s2 = "/fragment@1/__overlay__/y/z";
		s3 = "/fragment@2/__overlay__/q";
		s4 = "/fragment@2/__overlay__";
		s5 = "/fragment@0/elsewhere/x";
		s6 = "/x";
		s7 = "/fragment@3/__overlay__";
		s8 = "/fragment@1/__overlay__/";
		s9 = "/fragment@1/__overlay__x";
		clk = "/fragment@2/__overlay__/q";
	};
};
""",
    )
    result = assert_same_as_fdtoverlay(tmp_path, base, [ov])
    out = tmp_path / "out.dtb"
    out.write_bytes(result)
    assert fdtget(out, "/__symbols__", "s1") == "/soc//x"
    assert fdtget(out, "/__symbols__", "clk") == "/q"


def test_node_names_match_libfdt_unit_address_rule(tmp_path: Path, base: Path) -> None:
    """libfdt lets an overlay node "serial" merge into the base's "serial@1000"."""
    ov = overlay(tmp_path, "unit.dtbo", '&soc { serial { merged = "yes"; }; i2c@2000 { x = <1>; }; };')
    result = assert_same_as_fdtoverlay(tmp_path, base, [ov])
    out = tmp_path / "out.dtb"
    out.write_bytes(result)
    assert fdtget(out, "/soc/serial@1000", "merged") == "yes"


def test_large_overlay_grows_the_buffer_repeatedly(tmp_path: Path, base: Path) -> None:
    rng = random.Random(7)
    blobs = " ".join(
        f"blob{i} = [{' '.join(f'{rng.randrange(256):02x}' for _ in range(size))}];"
        for i, size in enumerate((70001, 3, 65537, 1))
    )
    ov = overlay(tmp_path, "large.dtbo", f'&soc {{ {blobs} dev {{ q = "abc"; }}; }};')
    assert_same_as_fdtoverlay(tmp_path, base, [ov, ov])


@pytest.mark.parametrize("versions", [("16", "17"), ("17", "16"), ("16", "2"), ("17", "3")])
def test_older_blob_versions(tmp_path: Path, base: Path, versions: tuple[str, str]) -> None:
    base_version, overlay_version = versions
    ov = compile_dts(
        tmp_path,
        "v.dtbo",
        """/dts-v1/;
/ { fragment@0 { target-path = "/soc"; __overlay__ { long = "sixteen bytes!!"; cells = <1 2 3>; n { b = [01]; }; }; }; };
""",
        "-V",
        overlay_version,
    )
    old_base = tmp_path / "old.dtb"
    subprocess.run(
        ["dtc", "-q", "-V", base_version, "-I", "dtb", "-O", "dtb", "-o", str(old_base), str(base)],
        check=True,
    )
    assert_same_as_fdtoverlay(tmp_path, old_base, [ov])


def test_unusual_base_layouts(tmp_path: Path, base: Path) -> None:
    """NOP tags, blocks out of order, a gap before the strings, padding: fdtoverlay copes, so must we."""
    ov = overlay(
        tmp_path, "layout.dtbo", '&uart0 { status = "okay"; new = "abcde"; n { }; }; &{/} { r = <1>; };'
    )
    blob = base.read_bytes()
    reader = FdtReader(blob)
    s_off, s_size = reader.off_dt_struct, reader.size_dt_struct
    t_off, t_size = reader.off_dt_strings, reader.size_dt_strings

    nops = bytearray(blob)
    uart = reader.path_offset(b"/soc/serial@1000")
    for node in (0, uart):
        first = reader.first_property_offset(node)
        _, after = reader.next_tag(first)
        for word in range(first, after, 4):
            struct.pack_into(">I", nops, s_off + word, 4)  # FDT_NOP

    strings_first = bytearray(blob[:s_off] + blob[t_off : t_off + t_size] + bytes(-t_size % 4))
    struct.pack_into(">II", strings_first, 8, len(strings_first), s_off)
    strings_first += blob[s_off : s_off + s_size]
    struct.pack_into(">I", strings_first, 4, len(strings_first))

    gap = b"\xaa\xbb\xcc\xdd" * 3 + b"\xee"
    gapped = bytearray(blob[:t_off] + gap + blob[t_off:])
    struct.pack_into(">I", gapped, 12, t_off + len(gap))
    struct.pack_into(">I", gapped, 4, len(gapped))

    padded = compile_dts(tmp_path, "padded.dtb", BASE, "-p", "1000")
    for name, data in (("nops.dtb", nops), ("strings-first.dtb", strings_first), ("gap.dtb", gapped)):
        (tmp_path / name).write_bytes(data)
        assert_same_as_fdtoverlay(tmp_path, tmp_path / name, [ov])
    assert_same_as_fdtoverlay(tmp_path, padded, [ov, ov])


# -- failures ------------------------------------------------------------------


def test_missing_label_names_overlay_fragment_and_label(tmp_path: Path, base: Path) -> None:
    ov = overlay(tmp_path, "typo.dtbo", '&uart0 { status = "okay"; }; &{/} { x { clocks = <&clx>; }; };')
    error = assert_both_fail(tmp_path, base, [ov])
    text = str(error)
    assert "typo.dtbo" in text
    assert "fragment@1" in text
    assert "label 'clx' is not in the base tree's __symbols__" in text
    assert "did you mean 'clk'?" in text


def test_missing_target_label(tmp_path: Path, base: Path) -> None:
    ov = overlay(tmp_path, "target.dtbo", '&uart1 { status = "okay"; };')
    text = str(assert_both_fail(tmp_path, base, [ov]))
    assert "target.dtbo" in text and "fragment@0" in text and "'uart1'" in text and "'uart0'" in text


def test_base_without_symbols(tmp_path: Path) -> None:
    plain = tmp_path / "plain.dtb"
    subprocess.run(
        ["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", str(plain), "-"], input=BASE.encode(), check=True
    )
    ov = overlay(tmp_path, "needs.dtbo", '&uart0 { status = "okay"; };')
    text = str(assert_both_fail(tmp_path, plain, [ov]))
    assert "needs.dtbo" in text and "fragment@0" in text and "label 'uart0'" in text
    assert "no /__symbols__" in text and "dtc -@" in text


HANDWRITTEN = """/dts-v1/;
/ {
	fragment@0 { %s __overlay__ { y = <0xffffffff>; }; };
	%s
};
"""


@pytest.mark.parametrize(
    ("fragment", "extra", "expected"),
    [
        ('target-path = "/nowhere";', "", "target-path '/nowhere' is not in the base tree"),
        ('target-path = "nosuchalias";', "", "target-path 'nosuchalias'"),
        ("target = <0x77>;", "", "no base node has the target phandle 0x77"),
        ("target = <0xffffffff>;", "", "target is unresolved"),
        ("target = <1 2>;", "", "target is 8 bytes"),
        ("", "", "neither 'target' nor 'target-path'"),
        ('target-path = "/";', '__fixups__ { clk = "/fragment@0/__overlay__:y"; };', "malformed entry"),
        ('target-path = "/";', '__fixups__ { clk = "/fragment@0/__overlay__:y:x4"; };', "malformed entry"),
        ('target-path = "/";', '__fixups__ { clk = "/fragment@0/__overlay__::0"; };', "malformed entry"),
        (
            'target-path = "/";',
            '__fixups__ { clk = "/fragment@0/nothere:y:0"; };',
            "is not a node of the overlay",
        ),
        ('target-path = "/";', '__fixups__ { clk = "/fragment@0/__overlay__:z:0"; };', "names property 'z'"),
        ('target-path = "/";', '__fixups__ { clk = "/fragment@0/__overlay__:y:4"; };', "writes past the end"),
        ('target-path = "/";', "__fixups__ { clk = [2f 00 3a]; };", "malformed entry"),
        ('target-path = "/";', "__local_fixups__ { fragment@0 { __overlay__ { y = <8>; }; }; };", "offset 8"),
        (
            'target-path = "/";',
            "__local_fixups__ { fragment@0 { __overlay__ { z = <0>; }; }; };",
            "no property 'z'",
        ),
        (
            'target-path = "/";',
            "__local_fixups__ { fragment@0 { __overlay__ { y = [00]; }; }; };",
            "not a list",
        ),
        ('target-path = "/";', "__local_fixups__ { fragment@0 { gone { y = <0>; }; }; };", "no child 'gone'"),
        ('target-path = "/";', "__symbols__ { s = <1>; };", "not a single string"),
        ('target-path = "/";', '__symbols__ { s = "relative/path"; };', "not an absolute path"),
        (
            'target-path = "/";',
            '__symbols__ { s = "/fragment@9/__overlay__/x"; };',
            "no fragment 'fragment@9'",
        ),
        ('target-path = "/";', "x { phandle = <1 2>; };", "'phandle' is 8 bytes long"),
    ],
)
def test_bad_overlays_fail_like_fdtoverlay(
    tmp_path: Path, base: Path, fragment: str, extra: str, expected: str
) -> None:
    ov = compile_dts(tmp_path, "bad.dtbo", HANDWRITTEN % (fragment, extra), "-f")
    error = assert_both_fail(tmp_path, base, [ov])
    assert "bad.dtbo" in str(error)
    assert expected in str(error)


def test_failures_carry_node_and_offset(tmp_path: Path, base: Path) -> None:
    ov = compile_dts(tmp_path, "where.dtbo", HANDWRITTEN % ('target-path = "/nowhere";', ""))
    diagnostic = assert_both_fail(tmp_path, base, [ov]).diagnostics[0]
    reader = FdtReader(ov.read_bytes())
    assert diagnostic.file == "where.dtbo"
    assert diagnostic.path == "/fragment@0"
    assert diagnostic.dtb_offset == reader.off_dt_struct + reader.path_offset(b"/fragment@0")
    assert diagnostic.hint == "fdtoverlay: FDT_ERR_NOTFOUND"


def test_fixup_offsets_parse_like_strtoul(tmp_path: Path, base: Path) -> None:
    """libfdt reads the offset with strtoul(): leading blanks and '+' pass."""
    ov = compile_dts(
        tmp_path,
        "strtoul.dtbo",
        HANDWRITTEN % ('target-path = "/";', '__fixups__ { clk = "/fragment@0/__overlay__:y: +0"; };'),
    )
    assert_same_as_fdtoverlay(tmp_path, base, [ov])


def test_phandle_overflow(tmp_path: Path) -> None:
    high = compile_dts(tmp_path, "high.dtb", "/dts-v1/; / { n { phandle = <0xfffffff0>; }; };")
    ov = compile_dts(tmp_path, "ov.dtbo", HANDWRITTEN % ('target-path = "/";', "x { phandle = <0x20>; };"))
    assert "leaves the 32-bit phandle range" in str(assert_both_fail(tmp_path, high, [ov]))


def test_truncated_and_foreign_files(tmp_path: Path, base: Path) -> None:
    ov = overlay(tmp_path, "ok.dtbo", '&uart0 { status = "okay"; };')
    blob = base.read_bytes()
    cases = {
        "short.dtb": blob[:6],
        "text.dtb": b"this is not a device tree blob at all" * 4,
        "cut.dtb": blob[: len(blob) // 2],
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DtcError) as info:
            armboot_apply(path, [ov])
        assert name in str(info.value)
        assert "offset 0x" in str(info.value)


def test_damaged_structure_is_located(tmp_path: Path, base: Path) -> None:
    ov = overlay(tmp_path, "ok.dtbo", '&uart0 { status = "okay"; };')
    blob = bytearray(base.read_bytes())
    struct_off = FdtReader(blob).off_dt_struct
    struct.pack_into(">I", blob, struct_off + 8, 0x77)  # the root's first tag
    damaged = tmp_path / "damaged.dtb"
    damaged.write_bytes(blob)
    error = assert_both_fail(tmp_path, damaged, [ov])
    assert f"damaged.dtb:offset 0x{struct_off + 8:x}" in str(error)
    assert "unknown tag 0x00000077" in str(error)


def test_mutated_blobs_never_escape_as_tracebacks(tmp_path: Path, base: Path) -> None:
    """Random damage: armboot either matches fdtoverlay byte for byte or raises DtcError."""
    ov = overlay(
        tmp_path, "mut.dtbo", '&soc { l: dev { r = <&l &clk>; s = "abc"; }; }; &{/} { top { t = <1>; }; };'
    )
    rng = random.Random(1234)
    sources = {"b.dtb": base.read_bytes(), "o.dtbo": ov.read_bytes()}
    agreed = 0
    for _ in range(60):
        blobs = dict(sources)
        victim = rng.choice(list(blobs))
        data = bytearray(blobs[victim])
        for _ in range(rng.randrange(1, 3)):
            pos = rng.randrange(len(data))
            data[pos] = rng.choice((0, 1, 2, 3, 9, 0xFF, rng.randrange(256)))
        blobs[victim] = bytes(data)
        paths = {}
        for name, data_ in blobs.items():
            paths[name] = tmp_path / name
            paths[name].write_bytes(data_)
        run = fdtoverlay(paths["b.dtb"], [paths["o.dtbo"]], tmp_path / "r.dtb")
        try:
            result = armboot_apply(paths["b.dtb"], [paths["o.dtbo"]])
        except DtcError:
            result = None
        if run.returncode == 0:
            if result is not None:
                assert result == (tmp_path / "r.dtb").read_bytes()
                agreed += 1
            else:  # armboot refuses a blob whose header claims bytes the file lacks
                assert FdtReader(blobs["b.dtb"]).totalsize > len(blobs["b.dtb"]) or FdtReader(
                    blobs["o.dtbo"]
                ).totalsize > len(blobs["o.dtbo"])
        else:
            assert result is None
    assert agreed > 0


def test_walker_sees_what_fdtdump_sees(tmp_path: Path, base: Path) -> None:
    """The strict walker reports the structure block's nodes and properties in fdtdump's order."""
    dump = subprocess.run(["fdtdump", str(base)], check=True, capture_output=True, text=True).stdout
    expected = []
    for line in dump.splitlines():
        line = line.strip()
        if line.endswith(" {"):
            expected.append(("node", line[:-2]))
        elif line == "};":
            expected.append(("end", ""))
        elif line.endswith(";") and not line.startswith(("/", "//")):
            expected.append(("prop", line.split(" = ")[0].rstrip(";")))
    seen = []
    for token in walk(base.read_bytes()):
        if token.tag == FDT_BEGIN_NODE:
            seen.append(("node", token.name.decode() or "/"))
        elif token.tag == FDT_END_NODE:
            seen.append(("end", ""))
        elif token.tag == FDT_PROP:
            seen.append(("prop", token.name.decode()))
    assert seen == expected
    assert find_damage(base.read_bytes()) is None


# -- real boards ---------------------------------------------------------------

CORPUS_BOARDS = ["arm/juno.dts", "hisilicon/hi6220-hikey.dts", "nvidia/tegra210-p2371-2180.dts"]


def build_board(tmp_path: Path, board: str) -> Path:
    src = CORPUS / "arm64" / board
    pre = tmp_path / "board.pp"
    includes = [f"-I{p}" for p in (CORPUS / "include", CORPUS, CORPUS / "arm64", CORPUS / "arm", src.parent)]
    subprocess.run(
        [
            "cpp",
            "-nostdinc",
            "-undef",
            "-D__DTS__",
            "-x",
            "assembler-with-cpp",
            "-P",
            *includes,
            "-o",
            str(pre),
            str(src),
        ],
        check=True,
    )
    out = tmp_path / (src.stem + ".dtb")
    subprocess.run(
        [
            "dtc",
            "-q",
            "-@",
            "-I",
            "dts",
            "-O",
            "dtb",
            "-b",
            "0",
            "-i",
            str(src.parent),
            "-o",
            str(out),
            str(pre),
        ],
        check=True,
    )
    return out


@pytest.mark.skipif(
    not CORPUS.is_dir() or not shutil.which("cpp"), reason="needs the kernel DTS corpus and cpp"
)
@pytest.mark.parametrize("board", CORPUS_BOARDS)
def test_real_boards_as_bases(tmp_path: Path, board: str) -> None:
    base = build_board(tmp_path, board)
    labels = subprocess.run(
        ["fdtget", "-p", str(base), "/__symbols__"], check=True, capture_output=True, text=True
    ).stdout.split()
    first, second, last = labels[0], labels[len(labels) // 2], labels[-1]
    ov = overlay(
        tmp_path,
        "board.dtbo",
        f"""&{first} {{ status = "okay"; armboot,test = <&{second}>, "odd"; }};
&{second} {{ new: child@7 {{ reg = <7>; self = <&new &{last}>; }}; }};
&{{/}} {{ added: armboot-test {{ compatible = "armboot,test"; ref = <&added &{first}>; }}; }};
""",
    )
    follow_up = overlay(tmp_path, "follow.dtbo", f'&new {{ more = "x"; }}; &{last} {{ extra; }};')
    assert_same_as_fdtoverlay(tmp_path, base, [ov, follow_up])


# -- the read primitives against libfdt 1.6.1 itself ---------------------------

LIBFDT = "/usr/lib/x86_64-linux-gnu/libfdt-1.6.1.so"


@pytest.mark.skipif(not Path(LIBFDT).exists(), reason="needs Debian's libfdt 1.6.1")
def test_read_primitives_agree_with_libfdt(tmp_path: Path, base: Path) -> None:
    """The emulated lookups give libfdt's own answers, also on blobs with a damaged structure block."""
    lib = ctypes.CDLL(LIBFDT)
    blob_t, int_p = ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)
    lib.fdt_next_node.argtypes = [blob_t, ctypes.c_int, int_p]
    lib.fdt_path_offset.argtypes = [blob_t, ctypes.c_char_p]
    lib.fdt_subnode_offset.argtypes = [blob_t, ctypes.c_int, ctypes.c_char_p]
    lib.fdt_get_path.argtypes = [blob_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.fdt_node_offset_by_phandle.argtypes = [blob_t, ctypes.c_uint32]
    lib.fdt_get_phandle.argtypes = [blob_t, ctypes.c_int]
    lib.fdt_get_phandle.restype = ctypes.c_uint32
    lib.fdt_parent_offset.argtypes = [blob_t, ctypes.c_int]
    lib.fdt_find_max_phandle.argtypes = [blob_t, ctypes.POINTER(ctypes.c_uint32)]
    lib.fdt_getprop.argtypes = [blob_t, ctypes.c_int, ctypes.c_char_p, int_p]
    lib.fdt_getprop.restype = ctypes.c_void_p
    ov = overlay(tmp_path, "p.dtbo", "&soc { serial { a = <1>; }; x@1 { y { }; }; };")
    rng = random.Random(99)
    originals = [base.read_bytes(), ov.read_bytes()]
    for trial in range(200):
        blob = bytearray(rng.choice(originals))
        start, end = (
            FdtReader(blob).off_dt_struct,
            FdtReader(blob).off_dt_struct + FdtReader(blob).size_dt_struct,
        )
        if trial:  # damage the structure block only, so libfdt's bounds checks keep it safe
            for _ in range(rng.randrange(1, 3)):
                blob[rng.randrange(start, end)] = rng.choice((0, 1, 2, 3, 4, 9, 0x40, rng.randrange(256)))
        raw = bytes(blob)
        reader = FdtReader(raw)
        address = ctypes.cast(ctypes.c_char_p(raw), ctypes.c_void_p).value
        offset, depth = -1, ctypes.c_int(0)
        ours_offset, ours_depth = -1, 0
        names = set()
        for _ in range(200):
            offset = lib.fdt_next_node(raw, offset, ctypes.byref(depth))
            ours_offset, ours_depth = reader.next_node(ours_offset, ours_depth)
            assert (offset, depth.value) == (ours_offset, ours_depth)
            if offset < 0:
                break
            buf = ctypes.create_string_buffer(512)
            err, path = reader.get_path(offset, 512)
            assert lib.fdt_get_path(raw, offset, buf, 512) == err
            assert lib.fdt_get_phandle(raw, offset) == reader.get_phandle(offset)
            assert lib.fdt_parent_offset(raw, offset) == reader.parent_offset(offset)
            for prop in (b"phandle", b"reg", b"status", b"a", b"target-path"):
                length = ctypes.c_int(0)
                value = lib.fdt_getprop(raw, offset, prop, ctypes.byref(length))
                pos, ours_length = reader.getprop(offset, prop)
                assert (None if value is None else value - address, length.value) == (pos, ours_length)
            if err == 0:
                assert buf.value == path
                assert lib.fdt_path_offset(raw, path) == reader.path_offset(path)
                names.add(path.rsplit(b"/", 1)[-1])
        for name in names | {b"serial", b"i2c", b"x", b"nope"}:
            for parent in (0, 8, 12):
                assert lib.fdt_subnode_offset(raw, parent, name) == reader.subnode_offset(parent, name)
        for phandle in range(5):
            assert lib.fdt_node_offset_by_phandle(raw, phandle) == reader.node_offset_by_phandle(phandle)
        highest = ctypes.c_uint32(0)
        err = lib.fdt_find_max_phandle(raw, ctypes.byref(highest))
        assert (err, highest.value if err == 0 else 0) == reader.find_max_phandle()
        for alias in (b"serial0", b"serial0/x", b"serial1"):
            assert lib.fdt_path_offset(raw, alias) == reader.path_offset(alias)
