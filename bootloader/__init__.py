"""armboot.bootloader."""
