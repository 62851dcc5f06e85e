"""Device models, found by ``compatible``: the hardware a board tree describes.

A model is a class with ``read(cpu, offset, size)`` and ``write(cpu, offset,
size, value)`` for each of its register windows; it is created from its node by
a factory registered with ``@model("vendor,device", ...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from armboot.dtc.tree import Node

    from ..board import Machine


class Device(Protocol):
    name: str

    def read(self, cpu: int, offset: int, size: int) -> int: ...

    def write(self, cpu: int, offset: int, size: int, value: int) -> None: ...


@dataclass
class Window:
    """One register window of a device at a physical address."""

    base: int
    size: int
    device: Device
    read: Callable[[int, int, int], int]
    write: Callable[[int, int, int, int], None]


Factory = Callable[["Node", "Machine"], list[Window]]
MODELS: dict[str, Factory] = {}


def model(*compatibles: str) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        for c in compatibles:
            MODELS[c] = factory
        return factory

    return register


def find_model(compatibles: list[str]) -> Factory | None:
    for c in compatibles:
        if c in MODELS:
            return MODELS[c]
    return None


def windows(device: Device, regions: list[tuple[int, int]]) -> list[Window]:
    return [Window(base, size, device, device.read, device.write) for base, size in regions]


# Importing the models registers them.
from . import pl011, vexpress  # noqa: E402,F401  isort: skip
