"""The kvm personality: guests see the QEMU virt board; MMIO exits decoded from ESR_EL2 as KVM does."""
