"""The xen personality's hooks the runtime calls: the host's /hypervisor node and the guest board."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from armboot.bootloader.session import load_tree
from armboot.dtc.fdt import to_dtb
from armboot.dtc.fdtread import read_dtb
from armboot.hyp.core.vm import Vm
from armboot.hyp.personalities import make
from armboot.hyp.personalities.xen import Personality
from armboot.hyp.personalities.xen.abi import XEN_VERSION
from armboot.hyp.platform.board import Machine

pytest.importorskip("armboot.hyp.personalities.guest_board")  # being written alongside

BOARDS = os.path.join(os.path.dirname(__file__), "..", "boards")


@dataclass
class Runtime:
    machine: Machine
    vms: list[Vm] = field(default_factory=list)


def hypervisor(board: str) -> tuple[Personality, Machine, object]:
    tree = load_tree(os.path.join(BOARDS, board), [])
    machine = Machine(tree)
    p = Personality()
    p.host_fixup(Runtime(machine), tree)  # type: ignore[arg-type]
    node = read_dtb(to_dtb(tree)[0], "host").root.subnode(
        f"hypervisor@{p.host.grant_base:x}" if p.host else ""
    )
    assert node is not None
    return p, machine, node


def test_host_gets_a_hypervisor_node_as_dom0() -> None:
    p, machine, node = hypervisor("virt.dts")
    assert p.host is not None
    assert node.get("compatible").strings() == [f"xen,xen-{XEN_VERSION[0]}.{XEN_VERSION[1]}", "xen,xen"]  # type: ignore[attr-defined]
    # the timer takes PPIs 26, 27, 29, 30: the lowest free one is 16
    assert p.host_event_intid == 16
    assert node.get("interrupts").cells() == [1, 0, 0x304]  # type: ignore[attr-defined]  # two CPUs, level
    cells = node.get("reg").cells()  # type: ignore[attr-defined]
    regions = [(cells[i] << 32 | cells[i + 1], cells[i + 2] << 32 | cells[i + 3]) for i in (0, 4)]
    assert regions == [(0x80000000, 0x01000000), (0x81000000, 0x0F000000)]
    top = max(r.base + r.size for r in [*machine.ram, *machine.mmio_regions])
    assert top <= regions[0][0]  # above all RAM and devices: the host's stage 2 has nothing there


def test_gicv3_host_has_no_cpu_mask() -> None:
    p, _, node = hypervisor("virt-gicv3.dts")
    assert node.get("interrupts").cells()[2] == 4  # type: ignore[attr-defined]
    assert p.host_event_intid is not None


def test_fixup_twice_keeps_one_node() -> None:
    tree = load_tree(os.path.join(BOARDS, "virt.dts"), [])
    machine = Machine(tree)
    p = Personality()
    p.host_fixup(Runtime(machine), tree)  # type: ignore[arg-type]
    p.host_fixup(Runtime(machine), tree)  # type: ignore[arg-type]
    root = read_dtb(to_dtb(tree)[0], "host").root
    assert [n.name for n in root.nodes if n.name.startswith("hypervisor")] == ["hypervisor@80000000"]


def test_personality_by_name() -> None:
    p = make("xen")
    assert isinstance(p, Personality) and p.name == "xen"


def test_guest_events_come_on_the_guest_boards_ppi() -> None:
    """attach takes a guest's event INTID from its board, the one its /hypervisor node names."""
    from armboot.bootloader.dom0less import GuestSpec, Module
    from armboot.dtc.tree import Node
    from armboot.hyp.arch.stage2 import Stage2Tables
    from armboot.hyp.arch.vgic import VGic
    from armboot.hyp.personalities.xen import domain_of

    machine = Machine(load_tree(os.path.join(BOARDS, "virt.dts"), []))
    spec = GuestSpec("g", Node("g"), 0x200000, 1, False, Module("kernel", Node("k")))
    p = Personality()
    board = p.guest_board(spec)
    assert board.hypervisor is not None and board.hypervisor[:2] == (0x38000000, 0x01000000)
    region, pa = machine.ram[0], 0x4F000000
    tables = Stage2Tables(
        memoryview(region.buffer)[pa - region.base : pa - region.base + 0x40000], pa, vmid=1
    )
    vm = Vm("g", 1, machine, tables)
    vm.add_ram(0x40000000, 0x48000000, 0x200000)
    vm.vgic = VGic(1)
    pages = iter(range(0x4E000000, 0x4E100000, 0x1000))

    class Rt:
        vms = [vm]

        def alloc_page(self) -> int:
            return next(pages)

    p.attach(Rt(), vm, board)  # type: ignore[arg-type]
    d = domain_of(vm)
    assert d is not None and d.event_intid == board.event_intid
    d.ports.raise_port(1)
    assert vm.vgic.lookup(board.event_intid, 0).pending
