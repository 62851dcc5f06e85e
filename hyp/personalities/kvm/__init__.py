"""The kvm personality: guests see the QEMU virt board, and the hypervisor answers as KVM does.

KVM itself has no device models: QEMU emulates the board's devices and KVM
forwards their MMIO exits.  Here the runtime plays both parts: the guests'
GIC, PL011 and virtio-mmio console are models in the runtime, reached by
trapped MMIO decoded from the ESR_EL2 syndrome (hyp/core/mmio.py).  The
hypercall interface is SMCCC: PSCI (handled by the runtime for every VM) and
KVM's vendor-specific hypervisor service calls, which a Linux guest probes
at boot to learn it runs on KVM.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from armboot.bootloader.dom0less import GuestSpec
    from armboot.dtc.tree import DeviceTree
    from armboot.hyp.arch.cpu import Cpu
    from armboot.hyp.core.runtime import Runtime
    from armboot.hyp.core.vm import Vm
    from armboot.hyp.personalities.guest_board import GuestBoard

VENDOR_HYP_CALL_UID = 0x8600FF01  # ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID
VENDOR_HYP_KVM_FEATURES = 0x86000000  # ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID
KVM_UID = uuid.UUID("28b46fb6-2ec5-11e9-a9ca-4b564d003a74")  # ARM_SMCCC_VENDOR_HYP_UID_KVM
KVM_FEATURES = 1 << 0  # ARM_SMCCC_KVM_FUNC_FEATURES: the only service offered (no PTP, no MMIO guard)


def _uid_words(u: uuid.UUID) -> list[int]:
    """SMCCC returns a UID as four 32-bit words of its bytes, little-endian (as Linux's UUID_INIT compares)."""
    raw = u.bytes
    return [int.from_bytes(raw[i : i + 4], "little") for i in range(0, 16, 4)]


class Personality:
    name = "kvm"
    hvc_immediate = False  # KVM never looks at an HVC's immediate (SMCCC says 0)

    def guest_board(self, spec: GuestSpec) -> GuestBoard:
        from armboot.hyp.personalities.guest_board import kvm_board

        return kvm_board(spec)

    def host_fixup(self, runtime: Runtime, tree: DeviceTree) -> None:
        """A pKVM host sees no hypervisor node: nothing to add."""

    def attach(self, runtime: Runtime, vm: Vm, board: GuestBoard | None) -> None:
        if board is None or board.virtio_console is None:
            return
        from .virtio_console import VirtioConsole

        base, size, intid = board.virtio_console
        vgic = vm.vgic
        assert vgic is not None
        console = VirtioConsole(f"{vm.name}:virtio-console", vm, vm.console_out, lambda level: vgic.set_level(intid, level, 0))
        from armboot.hyp.platform.devices import Window

        vm.add_mmio(Window(base, size, console, console.read, console.write))
        vm.personality_state["virtio_console"] = console
        if vm.console_feed is None:  # no vPL011: typed input goes to the virtio console
            vm.console_feed = console.feed

    def reset(self, runtime: Runtime, vm: Vm, board: GuestBoard | None) -> None:
        """A restarted guest finds its virtio console as after power-on."""
        console = vm.personality_state.get("virtio_console")
        if console is not None:
            console.reset()  # type: ignore[attr-defined]

    def hypercall(self, runtime: Runtime, vm: Vm, cpu: Cpu, imm: int) -> bool:
        if imm != 0:
            return False
        fid = cpu.x(0) & 0xFFFFFFFF
        if fid == VENDOR_HYP_CALL_UID:
            for n, word in enumerate(_uid_words(KVM_UID)):
                cpu.set_x(n, word)
            return True
        if fid == VENDOR_HYP_KVM_FEATURES:
            cpu.set_x(0, KVM_FEATURES)
            for n in (1, 2, 3):
                cpu.set_x(n, 0)
            return True
        return False
