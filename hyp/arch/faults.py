"""Abort syndromes that unicorn does not provide (ESR/FAR for data and instruction aborts).

unicorn reports a failed stage-1 translation as an exception number only; the
syndrome (fault status code, level, faulting address, and for loads/stores the
access size and register) has to be rebuilt by walking the payload's own
translation tables and decoding the instruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cpu import Cpu

WNR = 1 << 6


@dataclass(frozen=True)
class Syndrome:
    ec: int
    iss: int
    far: int
    return_address: int


def data_abort_iss(cpu: Cpu, write: bool, dfsc: int) -> int:
    """ISS of a data abort without instruction syndrome (ISV = 0): direction and status code."""
    return (WNR if write else 0) | (dfsc & 0x3F)


def describe_abort(cpu: Cpu, intno: int) -> Syndrome:
    """The syndrome of a translation fault unicorn raised (stage-1 walk and instruction decode)."""
    from .stage1 import abort_syndrome  # the walker-based reconstruction

    return abort_syndrome(cpu, intno)
