"""Console input shared by the VMs: one at a time, Ctrl-a three times moves on (Xen's serial console rules)."""

from __future__ import annotations

from pathlib import Path

from armboot.hyp.core.console_mux import ConsoleMux

from tests.reference import armboot

ROOT = Path(__file__).resolve().parents[1]
A = b"\x01"
EXIT_TIMEOUT = 4


def mux(*names: str) -> tuple[ConsoleMux, dict[str, bytearray], set[str], list[str]]:
    got: dict[str, bytearray] = {n: bytearray() for n in names}
    stopped: set[str] = set()
    notices: list[str] = []
    m = ConsoleMux(notices.append)
    for n in names:
        m.add(n, got[n].extend, lambda n=n: n not in stopped)
    return m, got, stopped, notices


def test_input_goes_to_the_first_target_until_switched() -> None:
    m, got, _, notices = mux("host", "domU1", "domU2")
    m.route(b"ls\n")
    m.route(A * 3 + b"one\n" + A * 3 + b"two\n" + A * 3 + b"back\n")
    assert got == {"host": bytearray(b"ls\nback\n"), "domU1": bytearray(b"one\n"), "domU2": bytearray(b"two\n")}
    assert [n.split(" (")[0] for n in notices] == ["console input goes to domU1", "console input goes to domU2", "console input goes to host"]


def test_fewer_than_three_ctrl_a_reach_the_vm() -> None:
    m, got, _, notices = mux("host", "domU1")
    m.route(A + b"x" + A * 2 + b"y")
    m.route(A)
    m.route(A + b"z")  # split across reads: still two, then a key
    assert got["host"] == A + b"x" + A * 2 + b"y" + A * 2 + b"z"
    assert got["domU1"] == b"" and notices == []


def test_a_switch_split_across_reads() -> None:
    m, got, _, _ = mux("host", "domU1")
    for byte in A * 3 + b"k":
        m.route(bytes([byte]))
    assert got == {"host": bytearray(), "domU1": bytearray(b"k")}


def test_switching_skips_stopped_vms() -> None:
    m, got, stopped, _ = mux("host", "domU1", "domU2")
    stopped.add("domU1")
    m.route(A * 3 + b"a")
    assert got["domU2"] == b"a" and got["domU1"] == b""


def test_a_stopped_vm_hands_input_on() -> None:
    m, got, stopped, notices = mux("host", "domU1")
    m.route(b"first")
    stopped.add("host")
    m.route(b"second")
    assert got == {"host": bytearray(b"first"), "domU1": bytearray(b"second")}
    assert notices[-1].startswith("console input goes to domU1")


def test_everyone_stopped_drops_input() -> None:
    m, got, stopped, _ = mux("host", "domU1")
    stopped.update(("host", "domU1"))
    m.route(b"lost" + A * 3 + b"lost")
    assert got == {"host": bytearray(), "domU1": bytearray()}


def test_a_guest_reads_what_is_typed_for_it() -> None:
    """tests/payloads/echo.S as a guest beside the host payload: it upper-cases the line typed after Ctrl-a x3."""
    run = armboot("boot", ROOT / "tests" / "hyp" / "echo.dts", "--max-insns", "20000000", stdin=A * 3 + b"hello, guest\n")
    assert run.rc == 0, run.err
    lines = run.out.decode().splitlines()
    guest = [line.split("│", 1)[1].strip() for line in lines if line.split("│")[0].strip() == "domU1"]
    host = [line.split("│", 1)[1].strip() for line in lines if line.split("│")[0].strip() == "host"]
    assert guest == ["echo ready", "HELLO, GUEST"]
    assert host and "power: PSCI SYSTEM_OFF over smc" in host[-1]
    assert "console input goes to domU1" in run.err


def test_without_the_switch_the_host_gets_the_input() -> None:
    """The host payload does not read its UART: the guest never sees the line and polls its UART until the limit."""
    run = armboot("boot", ROOT / "tests" / "hyp" / "echo.dts", "--max-insns", "3000000", stdin=b"hello\n")
    assert run.rc == EXIT_TIMEOUT, run.err
    assert "echo ready" in run.out.decode() and "HELLO" not in run.out.decode()
