"""Reading property values the way dtc's C code does.

dtc keeps #address-cells in an ``int``, compares strings with ``strcmp`` (so
a value ends at its first NUL) and tests divisibility of ``int`` lengths.
These helpers reproduce those readings so that odd values give dtc's answers.
"""

from __future__ import annotations

from ..tree import Property


def to_int32(value: int) -> int:
    """The C ``int`` a 32-bit cell (or a wrapped sum) becomes."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def cell(prop: Property, index: int) -> int:
    """Cell ``index`` of a value (0 past its end, where dtc would read stray memory)."""
    at = index * 4
    return int.from_bytes(prop.value[at : at + 4].ljust(4, b"\0"), "big")


def c_string(value: bytes) -> str:
    """A value read as a C string: up to the first NUL."""
    end = value.find(b"\0")
    return (value if end < 0 else value[:end]).decode("latin-1")


def is_multiple_of(multiple: int, divisor: int) -> bool:
    """dtc's is_multiple_of on C ints: a zero divisor only divides zero."""
    divisor = to_int32(divisor)
    return multiple == 0 if divisor == 0 else multiple % abs(divisor) == 0
