"""armboot build as a user meets it: where outputs go, exit codes, batches, depfiles, the cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reference import armboot, dtc, needs_dtc

pytestmark = needs_dtc

GOOD = "/dts-v1/;\n/ {\n\tmodel = \"x\";\n\tn: node@1 { reg = <1>; };\n\tother { p = <&n>; };\n};\n"
BAD = "/dts-v1/;\n/ {\n\tmodel = \"x\";\n\tbroken = <1 2;\n};\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_output_goes_next_to_the_input(tmp_path: Path) -> None:
    src = write(tmp_path / "board.dts", GOOD)
    run = armboot("build", src)
    assert run.ok, run.err
    assert (tmp_path / "board.dtb").read_bytes() == dtc("-q", src).out


def test_never_overwrites_its_input(tmp_path: Path) -> None:
    src = write(tmp_path / "board.dts", GOOD)
    run = armboot("build", "-O", "dts", src)
    assert run.rc == 2 and "refusing to overwrite" in run.err
    assert src.read_text() == GOOD


def test_stdout_output(tmp_path: Path) -> None:
    src = write(tmp_path / "board.dts", GOOD)
    run = armboot("build", "-o", "-", src)
    assert run.ok and run.out == dtc("-q", src).out


def test_stdin_input(tmp_path: Path) -> None:
    run = armboot("build", "-o", "-", "-", stdin=GOOD.encode())
    assert run.ok, run.err
    assert run.out == dtc("-q", write(tmp_path / "x.dts", GOOD)).out


def test_bad_input_exit_status_and_no_traceback(tmp_path: Path) -> None:
    src = write(tmp_path / "bad.dts", BAD)
    run = armboot("build", src, "-o", tmp_path / "bad.dtb")
    assert run.rc == 1
    assert "Traceback" not in run.err
    assert f"{src}:4:" in run.err and "syntax error" in run.err
    assert "^" in run.err  # the caret under the problem
    assert not (tmp_path / "bad.dtb").exists()


def test_label_paths_get_a_hint(tmp_path: Path) -> None:
    """&{label/path} (dtc 1.7, used by Linux 6.x boards) is a syntax error for dtc 1.6.1 and armboot: the hint says why."""
    src = write(tmp_path / "lp.dts", "/dts-v1/;\n/ { lbl: a { b { }; }; };\n&{lbl/b} { y = <2>; };\n")
    assert dtc("-o", tmp_path / "ref.dtb", src).rc == 1
    run = armboot("build", src, "-o", tmp_path / "lp.dtb")
    assert run.rc == 1 and f"{src}:3:1: error: syntax error" in run.err
    assert "&{label/path} came with dtc 1.7" in run.err


def test_failed_build_keeps_the_previous_output(tmp_path: Path) -> None:
    src = write(tmp_path / "b.dts", GOOD)
    out = tmp_path / "b.dtb"
    assert armboot("build", src).ok
    before = out.read_bytes()
    write(src, BAD)
    assert armboot("build", src).rc == 1
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".armboot-")]


@pytest.mark.parametrize(
    "args",
    [["build"], ["build", "a.dts", "b.dts"], ["build", "-O", "xml", "a.dts"], ["build", "-p", "lots", "a.dts"],
     ["build", "-W", "no-such_check", "a.dts"], ["build", "--bogus", "a.dts"]],
    ids=["no-input", "many-without-out-dir", "bad-format", "bad-number", "unknown-check", "unknown-flag"],
)  # fmt: skip
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    write(tmp_path / "a.dts", GOOD)
    write(tmp_path / "b.dts", GOOD)
    run = armboot(*args, cwd=tmp_path)
    assert run.rc == 2, run.err
    assert "Traceback" not in run.err


def test_large_batch_in_worker_processes(tmp_path: Path) -> None:
    """Enough boards for two worker processes: same bytes as dtc, failures reported per board, nothing lost."""
    srcs = []
    for soc in range(3):
        common = write(tmp_path / f"soc{soc}" / "soc.dtsi", f'/ {{ soc{soc}: soc {{ compatible = "acme,soc{soc}"; }}; }};\n')
        for i in range(12):
            body = f'/dts-v1/;\n/include/ "{common.name}"\n/ {{ model = "b{soc}-{i}"; x = <&soc{soc} {i}>; }};\n'
            srcs.append(write(tmp_path / f"soc{soc}" / f"b{soc}-{i}.dts", BAD if (soc, i) == (1, 5) else body))
    out = tmp_path / "out"
    run = armboot("build", "--jobs", "2", "--no-cache", "--out-dir", out, *srcs)
    assert run.rc == 1 and run.err.count(": error:") == 1 and "b1-5.dts:4:" in run.err, run.err
    assert "35/36 built" in run.err
    for src in srcs:
        ours = out / (src.stem + ".dtb")
        if src.stem == "b1-5":
            assert not ours.exists()
        else:
            assert ours.read_bytes() == dtc("-q", "-i", src.parent, src).out, src.name


def test_batch_folders_go_whole_to_one_worker() -> None:
    from armboot.dtc.workers import by_folder, worker_count

    paths = [f"/{d}/b{i}.dts" for d, n in (("a", 5), ("b", 3), ("c", 3)) for i in range(n)]
    groups = by_folder(paths, 2)
    assert sorted(sorted({path.split("/")[1] for _, path in g}) for g in groups) == [["a"], ["b", "c"]]
    assert sorted(i for g in groups for i, _ in g) == list(range(11))
    assert worker_count(2, 11) == 1 and worker_count(2, 24) == 2 and worker_count(8, 40) == 3


def test_batch_continues_past_failures(tmp_path: Path) -> None:
    srcs = [write(tmp_path / "in" / f"b{i}.dts", GOOD.replace('"x"', f'"b{i}"')) for i in range(4)]
    write(srcs[2], BAD)
    out = tmp_path / "out"
    run = armboot("build", "--out-dir", out, *srcs)
    assert run.rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["b0.dtb", "b1.dtb", "b3.dtb"]
    for i in (0, 1, 3):
        assert (out / f"b{i}.dtb").read_bytes() == dtc("-q", srcs[i]).out


def test_batch_rejects_clashing_outputs(tmp_path: Path) -> None:
    a = write(tmp_path / "x" / "same.dts", GOOD)
    b = write(tmp_path / "y" / "same.dts", GOOD)
    run = armboot("build", "--out-dir", tmp_path / "out", a, b)
    assert run.rc == 2 and "same output" in run.err


def test_depfile_matches_dtc(tmp_path: Path) -> None:
    write(tmp_path / "inc.dtsi", "/ { inc; };\n")
    (tmp_path / "blob.bin").write_bytes(b"1234")
    write(tmp_path / "d.dts", '/dts-v1/;\n/include/ "inc.dtsi"\n/ { b = /incbin/("blob.bin"); };\n')
    assert dtc("-q", "-d", "ref.d", "-o", "d.dtb", "d.dts", cwd=tmp_path).ok
    assert armboot("build", "-d", "ours.d", "-o", "d.dtb", "d.dts", cwd=tmp_path).ok
    assert (tmp_path / "ours.d").read_text() == (tmp_path / "ref.d").read_text()


def test_cache_hit_and_invalidation(tmp_path: Path) -> None:
    write(tmp_path / "inc.dtsi", "/ { version = <1>; };\n")
    src = write(tmp_path / "c.dts", '/dts-v1/;\n/include/ "inc.dtsi"\n/ { a; };\n')
    assert os.environ["XDG_CACHE_HOME"]  # conftest gives the tests a private cache
    out = tmp_path / "c.dtb"
    assert armboot("build", src).ok
    v1 = out.read_bytes()
    run = armboot("build", "--out-dir", tmp_path / "o2", src, write(tmp_path / "d.dts", GOOD))
    assert run.ok and "(1 from cache)" in run.err
    write(tmp_path / "inc.dtsi", "/ { version = <2>; };\n")  # an included file changed: rebuild
    assert armboot("build", src).ok
    assert out.read_bytes() != v1
    assert out.read_bytes() == dtc("-q", src).out


def test_warnings_are_replayed_from_the_cache(tmp_path: Path) -> None:
    src = write(tmp_path / "w.dts", "/dts-v1/;\n/ { node@1 { }; };\n")
    first = armboot("build", src)
    second = armboot("build", src)
    assert first.ok and second.ok
    assert "unit_address_vs_reg" in first.err or "warning" not in first.err
    assert first.err == second.err


def test_no_cache_flag(tmp_path: Path) -> None:
    src = write(tmp_path / "n.dts", GOOD)
    assert armboot("build", "--no-cache", src).ok
    assert (tmp_path / "n.dtb").read_bytes() == dtc("-q", src).out
