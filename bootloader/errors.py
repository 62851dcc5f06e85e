"""The bootloader's one exception: a payload or board it cannot boot, said plainly."""


class BootError(Exception):
    """Bad input to the bootloader (exit status 1): missing file, bad magic, no room in RAM..."""
