"""armboot linux fetch: the initramfs and its /init, the cache (apt's tools faked on PATH,
the logic real), the error paths, ``boot --linux`` options, and one real fetch from Debian
(skipped when offline).  The cpio writer itself is tested in test_initramfs_cpio.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tarfile

import pytest
from armboot.bootloader import apt, linux
from armboot.bootloader.debfile import control, extract
from test_initramfs_cpio import parse_newc

# ---- the initramfs and its /init

FAKE_IMAGE = bytes(56) + b"ARM\x64" + bytes(4) + b"kernel text" * 100


def fake_elf(interp: bool = False) -> bytes:
    """A minimal static (or, with interp, dynamic) AArch64 ELF for the busybox checks."""
    phnum = 2 if interp else 1
    head = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 183, 1, 0x400000, 64, 0, 0,
                       64, 56, phnum, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 4096, 4096, 4096)
    dyn = struct.pack("<IIQQQQQQ", 3, 4, 200, 0, 0, 10, 10, 1) if interp else b""
    return (head + load + dyn).ljust(256, b"\0")


def test_init_script_says_what_the_issue_asks(tmp_path) -> None:
    script = linux.INIT_SCRIPT
    assert script.startswith("#!/bin/sh\n")
    for needed in ("mount -t proc proc /proc", f"echo {linux.MARKER}", "uname -a", "/proc/cpuinfo",
                   'dmesg | grep -i "CPU: All CPU(s) started at"', "poweroff -f"):
        assert needed in script
    assert script.index("/proc/cpuinfo") > script.index(linux.MARKER) > script.index("mount -t proc")
    commands = re.findall(r"(?:^|\|\||\|)\s*([a-z]+)", "\n".join(
        ln for ln in script.splitlines() if ln and not ln.startswith("#")), re.M)
    assert set(commands) - {"export", "if", "then", "fi"} <= set(linux.APPLETS)  # every command has its applet link
    (tmp_path / "init").write_text(script)
    assert subprocess.run(["sh", "-n", str(tmp_path / "init")], capture_output=True).returncode == 0


def test_initramfs_holds_init_busybox_applets_and_console() -> None:
    busybox = fake_elf()
    entries = {e["name"]: e for e in parse_newc(gzip.decompress(linux.build_initramfs(busybox)))}
    assert entries["init"]["data"] == linux.INIT_SCRIPT.encode() and entries["init"]["mode"] == 0o100755
    assert entries["bin/busybox"]["data"] == busybox and entries["bin/busybox"]["mode"] == 0o100755
    for applet in linux.APPLETS:
        assert entries[f"bin/{applet}"]["data"] == b"busybox"
    console = entries["dev/console"]
    assert stat.S_ISCHR(console["mode"]) and (console["rdevmajor"], console["rdevminor"]) == (5, 1)
    assert {"proc", "sys", "dev"} <= set(entries)


def test_image_is_checked_and_decompressed() -> None:
    assert linux.normalise_image(FAKE_IMAGE) == FAKE_IMAGE
    assert linux.normalise_image(gzip.compress(FAKE_IMAGE)) == FAKE_IMAGE
    payload = gzip.compress(FAKE_IMAGE)
    zboot = (b"MZ\0\0zimg" + struct.pack("<II", 64, len(payload)) + bytes(8) + b"gzip").ljust(64, b"\0") + payload
    assert linux.normalise_image(zboot) == FAKE_IMAGE
    with pytest.raises(linux.LinuxFetchError, match="ARM"):
        linux.normalise_image(b"\0" * 4096)
    assert linux.image_header(FAKE_IMAGE) == {"text_offset": 0, "image_size": 0, "flags": 0}


# ---- fake Debian packages and a fake apt on PATH


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name.lstrip("/"))
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_deb(path, package: str, version: str, files: dict[str, bytes]) -> bytes:
    ctrl = f"Package: {package}\nVersion: {version}\nArchitecture: arm64\nDescription: test\n long\n"
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", _tar_xz({"control": ctrl.encode()})),
               ("data.tar.xz", _tar_xz(files))]
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    path.write_bytes(bytes(out))
    return bytes(out)


FAKE_APT = r'''
import json, os, shutil, sys
here = os.path.dirname(os.path.abspath(__file__))
conf = json.load(open(os.path.join(here, "conf.json")))
tool, args = sys.argv[1], sys.argv[2:]
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(" ".join([tool, *args]) + "\n")
if tool == "dpkg":
    if args == ["--print-foreign-architectures"]:
        print("\n".join(conf["foreign"]))
    elif args == ["--print-architecture"]:
        print("amd64")
    elif args[:1] == ["--add-architecture"]:
        conf["foreign"].append(args[1])
        json.dump(conf, open(os.path.join(here, "conf.json"), "w"))
elif tool == "apt-cache" and args[0] == "pkgnames":
    print("\n".join(conf["packages"]))
elif tool == "apt-cache" and args[0] == "show":
    for spec in args[2:]:
        name = spec.split(":")[0]
        if name in conf["packages"] and name in conf["debs"]:
            d = conf["debs"][name]
            print(f"Package: {name}\nVersion: {d['version']}\nArchitecture: arm64\nSize: {d['size']}\n"
                  f"SHA256: {d['sha256']}\nFilename: pool/main/{d['file']}\n")
elif tool == "apt-get" and "download" in args:
    if conf.get("fail_download"):
        print("E: Failed to fetch http://deb.debian.org/debian/pool/x.deb  Could not resolve 'deb.debian.org'",
              file=sys.stderr)
        sys.exit(100)
    name = args[-1].split(":")[0]
    d = conf["debs"][name]
    shutil.copy(os.path.join(here, d["file"]), os.path.join(os.getcwd(), d["file"]))
elif tool == "apt-get" and "update" in args:
    pass
'''


class FakeApt:
    """apt-get, apt-cache and dpkg as scripts on PATH that serve fake packages and log calls."""

    def __init__(self, folder) -> None:
        self.dir = folder
        folder.mkdir()
        (folder / "fakeapt.py").write_text(FAKE_APT)
        for tool in ("apt-get", "apt-cache", "dpkg"):
            script = folder / tool
            script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{folder}/fakeapt.py" {tool} "$@"\n')
            script.chmod(0o755)
        self.conf = {"foreign": ["arm64"], "packages": [], "debs": {}}
        self.save()

    def save(self) -> None:
        (self.dir / "conf.json").write_text(json.dumps(self.conf))

    def add(self, package: str, version: str, files: dict[str, bytes], listed: bool = True) -> None:
        file = f"{package}_{version.replace(':', '%3a')}_arm64.deb"
        blob = make_deb(self.dir / file, package, version, files)
        self.conf["debs"][package] = {"version": version, "file": file, "size": len(blob),
                                      "sha256": hashlib.sha256(blob).hexdigest()}
        if listed:
            self.conf["packages"].append(package)
        self.save()

    def calls(self) -> list[str]:
        log = self.dir / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def fake_apt(tmp_path, monkeypatch) -> FakeApt:
    fake = FakeApt(tmp_path / "fakebin")
    # the newest by Debian's ordering is 6.12.9 (a string sort would pick 6.1.0-9's 6.1.99)
    fake.add("linux-image-6.1.0-9-arm64", "6.1.99-1", {"/boot/vmlinuz-6.1.0-9-arm64": b"old"})
    fake.add("linux-image-6.12.9+deb12-arm64", "6.12.9-1~deb12u1",
             {"/boot/vmlinuz-6.12.9+deb12-arm64": gzip.compress(FAKE_IMAGE), "/boot/config-6.12.9": b"x"})
    fake.add("linux-image-6.12.10+deb12-rt-arm64", "6.12.10-1", {})
    fake.add("linux-image-6.12.10+deb12-cloud-arm64", "6.12.10-1", {})
    fake.add("linux-image-6.12-arm64", "6.12.10-1", {})  # a meta package
    fake.add("busybox-static", "1:1.35.0-4", {"/bin/busybox": fake_elf(), "/bin/other": b""})
    monkeypatch.setenv("PATH", f"{fake.dir}{os.pathsep}{os.environ['PATH']}")
    return fake


def test_deb_reader_agrees_with_dpkg_deb(fake_apt: FakeApt) -> None:
    deb = str(fake_apt.dir / fake_apt.conf["debs"]["busybox-static"]["file"])
    assert control(deb)["Version"] == "1:1.35.0-4" and control(deb)["Description"] == "test\nlong"
    assert extract(deb, lambda n: n == "/bin/busybox") == {"/bin/busybox": fake_elf()}
    real = shutil.which("dpkg-deb", path="/usr/bin:/bin")
    if real:
        listing = subprocess.run([real, "-c", deb], capture_output=True, text=True, check=True).stdout
        assert "./bin/busybox" in listing


def test_busybox_must_be_static_aarch64(tmp_path) -> None:
    make_deb(tmp_path / "dyn.deb", "busybox", "1", {"/bin/busybox": fake_elf(interp=True)})
    with pytest.raises(linux.LinuxFetchError, match="dynamically linked"):
        linux.busybox_binary(str(tmp_path / "dyn.deb"))
    x86 = bytearray(fake_elf())
    x86[18] = 62
    make_deb(tmp_path / "x86.deb", "busybox", "1", {"/bin/busybox": bytes(x86)})
    with pytest.raises(linux.LinuxFetchError, match="AArch64"):
        linux.busybox_binary(str(tmp_path / "x86.deb"))


def test_kernel_choice_is_newest_by_debian_version(fake_apt: FakeApt) -> None:
    chosen = apt.newest_kernel()
    assert chosen is not None and chosen.package == "linux-image-6.12.9+deb12-arm64"
    assert apt.kernel_names(["linux-image-6.12-arm64", "linux-image-6.1.0-9-rt-arm64",
                             "linux-image-6.1.0-9-arm64-dbg", "linux-image-6.1.0-9-arm64"]) == ["linux-image-6.1.0-9-arm64"]


def test_fetch_then_cached_fetch_does_nothing(fake_apt: FakeApt, tmp_path) -> None:
    cache = str(tmp_path / "cache")
    arts = linux.fetch(cache)
    assert arts.version == "6.12.9-1~deb12u1" and arts.release == "6.12.9+deb12-arm64"
    assert arts.busybox_version == "1:1.35.0-4"
    with open(arts.image, "rb") as f:
        assert f.read() == FAKE_IMAGE  # gunzipped
    with open(arts.initrd, "rb") as f:
        assert {e["name"] for e in parse_newc(gzip.decompress(f.read()))} >= {"init", "bin/busybox"}
    downloads = [c for c in fake_apt.calls() if "download" in c]
    assert len(downloads) == 2 and any("linux-image-6.12.9+deb12-arm64:arm64=6.12.9-1~deb12u1" in c for c in downloads)
    before = fake_apt.calls()
    assert linux.fetch(cache) == arts == linux.artifacts(cache)
    assert fake_apt.calls() == before  # no apt, no network
    assert os.listdir(os.path.join(cache, "debs")) and not [n for n in os.listdir(cache) if n.startswith(".")]


def test_changed_init_rebuilds_offline_and_refresh_reuses_debs(fake_apt: FakeApt, tmp_path, monkeypatch) -> None:
    cache = str(tmp_path / "cache")
    linux.fetch(cache)
    n = len(fake_apt.calls())
    monkeypatch.setattr(linux, "INIT_SCRIPT", linux.INIT_SCRIPT + "echo changed\n")
    arts = linux.fetch(cache)
    assert len(fake_apt.calls()) == n
    with open(arts.initrd, "rb") as f:
        init = next(e for e in parse_newc(gzip.decompress(f.read())) if e["name"] == "init")
    assert init["data"].endswith(b"echo changed\n")
    linux.fetch(cache, refresh=True)
    assert not [c for c in fake_apt.calls()[n:] if "download" in c]  # hashes matched: nothing downloaded


def test_newer_kernel_replaces_the_old_package(fake_apt: FakeApt, tmp_path) -> None:
    cache = str(tmp_path / "cache")
    linux.fetch(cache)
    fake_apt.add("linux-image-6.12.11+deb12-arm64", "6.12.11-1~deb12u1", {"/boot/vmlinuz-6.12.11+deb12-arm64": FAKE_IMAGE})
    arts = linux.fetch(cache, refresh=True)
    assert arts.release == "6.12.11+deb12-arm64"
    assert sorted(os.listdir(os.path.join(cache, "debs"))) == [
        "busybox-static_1%3a1.35.0-4_arm64.deb", "linux-image-6.12.11+deb12-arm64_6.12.11-1~deb12u1_arm64.deb"]


def test_missing_arm64_lists_are_added_as_root_and_explained_otherwise(fake_apt: FakeApt, tmp_path, monkeypatch) -> None:
    fake_apt.conf["foreign"] = []
    fake_apt.save()
    monkeypatch.setattr(apt, "is_root", lambda: False)
    with pytest.raises(linux.LinuxFetchError, match="dpkg --add-architecture arm64"):
        linux.fetch(str(tmp_path / "c1"))
    monkeypatch.setattr(apt, "is_root", lambda: True)
    linux.fetch(str(tmp_path / "c2"))
    calls = fake_apt.calls()
    assert "dpkg --add-architecture arm64" in calls and "apt-get update -q" in calls


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "armboot.cli", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=120)


def test_unwritable_cache_is_an_error_not_a_traceback(fake_apt: FakeApt, tmp_path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(linux.LinuxFetchError, match="cache folder"):
        linux.fetch(str(tmp_path / "file" / "cache"))


def test_cli_without_apt_get_says_what_to_do(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _cli("linux", "fetch", "--cache-dir", str(tmp_path / "c"), env=dict(os.environ, PATH=str(empty)))
    assert out.returncode == 1
    assert "apt-get" in out.stderr and "Debian" in out.stderr and "Traceback" not in out.stderr


def test_cli_failing_download_and_missing_package(fake_apt: FakeApt, tmp_path) -> None:
    fake_apt.conf["fail_download"] = True
    fake_apt.save()
    out = _cli("linux", "fetch", "--cache-dir", str(tmp_path / "c"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "apt-get download" in out.stderr and "Could not resolve" in out.stderr and "network" in out.stderr
    if os.geteuid() == 0:
        assert fake_apt.calls().count("apt-get update -q") == 1  # stale lists are refreshed once
    assert linux.artifacts(str(tmp_path / "c")) is None
    fake_apt.conf["packages"] = ["busybox-static"]
    fake_apt.save()
    out = _cli("linux", "fetch", "--cache-dir", str(tmp_path / "c"))
    assert out.returncode == 1 and "no linux-image-*-arm64 package" in out.stderr


def test_cli_fetch_and_info(fake_apt: FakeApt, tmp_path) -> None:
    cache = str(tmp_path / "c")
    info = _cli("linux", "info", "--cache-dir", cache)
    assert info.returncode == 1 and "armboot linux fetch" in info.stderr
    assert _cli("linux", "fetch", "--cache-dir", cache).returncode == 0
    info = _cli("linux", "info", "--cache-dir", cache)
    assert info.returncode == 0 and "linux-image-6.12.9+deb12-arm64 6.12.9-1~deb12u1" in info.stdout


# ---- boot --linux


def _tree(name: str):
    from armboot.bootloader.session import load_tree
    from armboot.cli.boards import resolve_board

    return load_tree(resolve_board(name), [])


def test_bootargs_name_the_boards_pl011() -> None:
    assert linux.bootargs_for(_tree("virt")) == "console=ttyAMA0 earlycon=pl011,0x9000000 rdinit=/init panic=-1"
    assert "earlycon=pl011,0x1c090000 " in linux.bootargs_for(_tree("foundation-v8"))


def test_boot_linux_options(fake_apt: FakeApt, tmp_path, monkeypatch) -> None:
    from armboot.cli.boards import resolve_board

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ARMBOOT_LINUX_CACHE", raising=False)
    virt = resolve_board("virt")
    with pytest.raises(linux.LinuxFetchError, match="run armboot linux fetch first"):
        linux.boot_options(virt, [], None, None, None)
    arts = linux.fetch()  # the default cache folder, under XDG_CACHE_HOME
    assert arts.cache_dir == str(tmp_path / "armboot" / "linux")
    assert linux.boot_options(virt, [], None, None, None) == (
        arts.image, arts.initrd, "console=ttyAMA0 earlycon=pl011,0x9000000 rdinit=/init panic=-1")
    assert linux.boot_options(virt, [], "k", "i", "b") == ("k", "i", "b")


def test_cli_boot_linux_without_fetch(tmp_path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    env.pop("ARMBOOT_LINUX_CACHE", None)
    out = _cli("boot", "virt", "--linux", "-q", env=env)
    assert out.returncode == 1 and "run armboot linux fetch first" in out.stderr


# ---- the real thing (network; cached by .ci/run's 'armboot linux fetch')


def real_cache() -> str:
    """Where ``armboot linux fetch`` put it before pytest: conftest privatises XDG_CACHE_HOME,
    so the session's starting environment is read back (/proc/self/environ on Linux)."""
    if os.environ.get("ARMBOOT_LINUX_CACHE"):
        return os.environ["ARMBOOT_LINUX_CACHE"]
    xdg = ""
    try:
        with open("/proc/self/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"XDG_CACHE_HOME="):
                    xdg = item.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return os.path.join(xdg or os.path.join(os.path.expanduser("~"), ".cache"), "armboot", "linux")


def test_real_fetch_from_debian() -> None:
    if os.environ.get("ARMBOOT_OFFLINE"):
        pytest.skip("ARMBOOT_OFFLINE is set")
    try:
        arts = linux.fetch(real_cache())
    except linux.LinuxFetchError as e:
        pytest.skip(f"no Debian arm64 kernel here (offline or no apt?): {e}")
    with open(arts.image, "rb") as f:
        image = f.read()
    assert image[56:60] == b"ARM\x64" and linux.image_header(image)["image_size"] >= len(image)
    assert re.match(r"\d+\.\d+", arts.version) and arts.release.endswith("-arm64")
    assert not arts.release.endswith(("-rt-arm64", "-cloud-arm64"))
    with open(arts.busybox, "rb") as f:
        busybox = f.read()
    with open(arts.initrd, "rb") as f:
        entries = {e["name"]: e for e in parse_newc(gzip.decompress(f.read()))}
    assert entries["bin/busybox"]["data"] == busybox and linux.MARKER.encode() in entries["init"]["data"]
