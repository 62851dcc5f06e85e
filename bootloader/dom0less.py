"""Guests described with Xen's dom0less binding: /chosen/<name> nodes, compatible "xen,domain".

Each guest node gives its RAM (``memory``, in KB), vCPUs (``cpus``), a virtual
PL011 (``vpl011``) and module children: "multiboot,kernel", "multiboot,ramdisk"
and "multiboot,device-tree" (a passthrough fragment), each with a ``reg`` in the
guest node's #address-cells/#size-cells.  As U-Boot does for Xen, the bootloader
loads the module files into RAM and writes where it put them into ``reg``; the
hypervisor runtime then copies them into the guest.

Where a module's file comes from (``resolve_files``), in order:

- ``--module KEY=FILE`` on the command line (FILE relative to the current folder), KEY being
  ``DOMAIN`` (that guest's kernel) or ``DOMAIN:KIND``, KIND one of kernel, ramdisk,
  device-tree (a guest has at most one module of each kind, so this is unambiguous);
- the module node's ``armboot,file`` (relative to the board tree's folder);
- neither: the module's ``reg`` must already describe loaded data (a non-zero size).

Where a file goes (``load_modules``): at the address ``reg`` gives, as a U-Boot
script loads Xen's modules; with no ``reg``, or one of size 0 (a placeholder),
where the Planner finds room.  ``reg`` then says the address and the file's size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NoReturn

from armboot.dtc.data import Data, Kind, Marker
from armboot.dtc.tree import DeviceTree, Node, Property
from armboot.hyp.platform.board import Machine

from .layout import Planner

DOMAIN_COMPATIBLE = "xen,domain"
KINDS = {"multiboot,kernel": "kernel", "multiboot,ramdisk": "ramdisk", "multiboot,device-tree": "device-tree"}
MAX_CPUS = 8  # GICv2 targets at most 8 CPU interfaces
MODULE_ALIGN = 0x1000


class Dom0lessError(ValueError):
    """A guest node, a module or a --module mapping the bootloader cannot use; names the node."""


def _fail(node: Node, problem: str) -> NoReturn:
    raise Dom0lessError(f"{node.path}: {problem}")


@dataclass
class Module:
    """A guest module: where its data comes from (``path``) and where it sits in RAM (``address``, ``size``)."""

    kind: str  # "kernel" | "ramdisk" | "device-tree"
    node: Node
    path: str | None = None
    address: int | None = None
    size: int | None = None
    bootargs: str | None = None
    # A device-tree fragment's bytes, kept by load_modules (fragments are small) so that the
    # guest's tree can be built without the machine.
    data: bytes | None = field(default=None, repr=False)


@dataclass
class GuestSpec:
    """One dom0less guest as the hypervisor runtime needs it."""

    name: str
    node: Node
    memory: int  # bytes
    cpus: int
    vpl011: bool
    kernel: Module
    ramdisk: Module | None = None
    device_tree: Module | None = None
    bootargs: str | None = None

    @property
    def modules(self) -> list[Module]:
        return [m for m in (self.kernel, self.ramdisk, self.device_tree) if m is not None]


# Parsing


def _number(words: list[int]) -> int:
    value = 0
    for w in words:
        value = (value << 32) | w
    return value


def _cells(node: Node, name: str, default: int) -> int:
    prop = node.get(name)
    if prop is None:
        return default
    if len(prop.value) != 4:
        _fail(node, f"{name} must be one cell")
    return prop.u32()


def _reg_shape(domain: Node) -> tuple[int, int]:
    """The domain node's #address-cells/#size-cells (the Devicetree spec's defaults 2 and 1)."""
    ac, sc = _cells(domain, "#address-cells", 2), _cells(domain, "#size-cells", 1)
    if ac not in (1, 2) or sc not in (1, 2):
        _fail(domain, f"#address-cells = {ac}, #size-cells = {sc}: modules need 1 or 2 of each")
    return ac, sc


def _module_reg(domain: Node, node: Node) -> tuple[int, int] | None:
    prop = node.get("reg")
    if prop is None:
        return None
    ac, sc = _reg_shape(domain)
    if len(prop.value) != 4 * (ac + sc):
        _fail(
            node,
            f"reg has {len(prop.value)} bytes; one (address, size) entry of {ac}+{sc} cells "
            f"(#address-cells, #size-cells of {domain.path}) is {4 * (ac + sc)}",
        )
    words = prop.cells()
    return _number(words[:ac]), _number(words[ac:])


def _string(node: Node, name: str) -> str | None:
    prop = node.get(name)
    return None if prop is None else prop.string()


def _module(domain: Node, node: Node) -> Module | None:
    compat = node.get("compatible")
    names = compat.strings() if compat is not None else []
    kinds = [KINDS[n] for n in names if n in KINDS]
    if not kinds:
        if "multiboot,module" in names:
            _fail(
                node,
                'a "multiboot,module" must also say its kind: "multiboot,kernel", "multiboot,ramdisk" or "multiboot,device-tree"',
            )
        return None
    module = Module(kinds[0], node, bootargs=_string(node, "bootargs"))
    reg = _module_reg(domain, node)
    if reg is not None and reg[1] > 0:
        module.address, module.size = reg
    return module


def _memory(node: Node) -> int:
    prop = node.get("memory")
    if prop is None:
        _fail(node, "no memory property (the guest's RAM in KB, as <hi lo> or one cell)")
    if len(prop.value) not in (4, 8):
        _fail(node, f"memory has {len(prop.value)} bytes; it is the RAM in KB as <hi lo> or one cell")
    kb = _number(prop.cells())
    if kb == 0:
        _fail(node, "memory is 0: a guest needs RAM")
    return kb * 1024


def _cpus(node: Node) -> int:
    prop = node.get("cpus")
    if prop is None:
        return 1
    if len(prop.value) != 4:
        _fail(node, "cpus must be one cell")
    n = prop.u32()
    if not 1 <= n <= MAX_CPUS:
        _fail(
            node,
            f"cpus = {n}: a guest has 1 to {MAX_CPUS} vCPUs (its virtual GICv2 serves at most {MAX_CPUS})",
        )
    return n


def guest_spec(node: Node) -> GuestSpec:
    """One "xen,domain" node as a GuestSpec (file paths are filled in by ``resolve_files``)."""
    memory, cpus = _memory(node), _cpus(node)
    found: dict[str, Module] = {}
    for child in node.nodes:
        module = _module(node, child)
        if module is None:
            continue
        if module.kind in found:
            _fail(child, f"a second {module.kind} module (the first is {found[module.kind].node.name})")
        found[module.kind] = module
    kernel = found.get("kernel")
    if kernel is None:
        _fail(node, 'no kernel module (a child with compatible "multiboot,kernel")')
    bootargs = kernel.bootargs if kernel.bootargs is not None else _string(node, "bootargs")
    return GuestSpec(
        node.name, node, memory, cpus, node.get("vpl011") is not None, kernel,
        found.get("ramdisk"), found.get("device-tree"), bootargs,
    )  # fmt: skip


def guest_specs(tree: DeviceTree) -> list[GuestSpec]:
    """Every /chosen child with compatible "xen,domain", in tree order."""
    chosen = tree.find("/chosen")
    if chosen is None:
        return []
    specs: list[GuestSpec] = []
    for node in chosen.nodes:
        compat = node.get("compatible")
        if compat is None or DOMAIN_COMPATIBLE not in compat.strings():
            continue
        spec = guest_spec(node)
        if any(s.name == spec.name for s in specs):
            _fail(node, f"a second guest named {spec.name!r}")
        specs.append(spec)
    return specs


# Files


def parse_module_args(values: list[str]) -> dict[str, str]:
    """``--module KEY=FILE`` arguments as a dict (a repeated KEY is an error)."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise Dom0lessError(f"--module {value}: expected DOMAIN=FILE or DOMAIN:KIND=FILE")
        if key in out:
            raise Dom0lessError(f"--module {key} is given twice")
        out[key] = path
    return out


def _target(specs: list[GuestSpec], key: str) -> Module:
    name, sep, kind = key.partition(":")
    spec = next((s for s in specs if s.name == name), None)
    if spec is None:
        known = ", ".join(s.name for s in specs) or "none"
        raise Dom0lessError(f"--module {key}: no guest named {name!r} (guests: {known})")
    if not sep:
        return spec.kernel
    if kind not in KINDS.values():
        raise Dom0lessError(f"--module {key}: unknown kind {kind!r} (use kernel, ramdisk or device-tree)")
    module = next((m for m in spec.modules if m.kind == kind), None)
    if module is None:
        _fail(
            spec.node,
            f'--module {key}: the guest has no {kind} module (add a child with compatible "multiboot,{kind}")',
        )
    return module


def resolve_files(specs: list[GuestSpec], board_path: str, modules: dict[str, str]) -> None:
    """Set each module's ``path`` from --module mappings, else ``armboot,file``; check every module has data."""
    given: dict[int, tuple[str, str]] = {}
    for key, path in modules.items():
        module = _target(specs, key)
        if id(module) in given:
            raise Dom0lessError(
                f"--module {key} and --module {given[id(module)][0]} name the same module ({module.node.path})"
            )
        given[id(module)] = (key, os.path.abspath(path))
    folder = os.path.dirname(os.path.abspath(board_path))
    for spec in specs:
        for module in spec.modules:
            if id(module) in given:
                module.path = given[id(module)][1]
                continue
            name = _string(module.node, "armboot,file")
            if name:
                module.path = os.path.join(folder, name)
            elif module.size is None:
                _fail(
                    module.node,
                    f"no data for this {module.kind} module: give --module {spec.name}:{module.kind}=FILE, "
                    "an armboot,file property, or a reg (with a non-zero size) where it is already loaded",
                )


# Loading


def _read(module: Module) -> bytes:
    assert module.path is not None
    try:
        with open(module.path, "rb") as f:
            data = f.read()
    except OSError as e:
        _fail(module.node, f"cannot read {module.kind} {module.path}: {e.strerror}")
    if not data:
        _fail(module.node, f"{module.kind} {module.path} is empty")
    return data


def set_reg(domain: Node, node: Node, address: int, size: int) -> None:
    """Rewrite a module's ``reg`` in its domain node's cells (as U-Boot does before starting Xen)."""
    ac, sc = _reg_shape(domain)
    if address >> (32 * ac) or size >> (32 * sc):
        _fail(
            node, f"0x{address:x} (0x{size:x} bytes) does not fit #address-cells = {ac}, #size-cells = {sc}"
        )
    value = address.to_bytes(4 * ac, "big") + size.to_bytes(4 * sc, "big")
    data = Data(value, (Marker(0, Kind.UINT32),))
    prop = node.get("reg")
    if prop is None:
        node.add_property(Property("reg", data))
    else:
        prop.data = data


def _claim(module: Module, planner: Planner, machine: Machine, address: int, size: int, what: str) -> None:
    """Claim the range ``reg`` names (it must lie in RAM; the Planner refuses overlaps)."""
    if machine.region_at(address, size) is None:
        _fail(module.node, f"reg 0x{address:x}..0x{address + size:x} is not inside RAM")
    planner.claim(address, size, what)


def _load_file(domain: Node, module: Module, planner: Planner, machine: Machine, what: str) -> None:
    """At the address ``reg`` gives (as a U-Boot script loads Xen's modules), else where the Planner finds room."""
    data = _read(module)
    what = f"{what} ({module.path})"
    if module.address is not None:
        address = module.address
        _claim(module, planner, machine, address, len(data), what)
    else:
        address = planner.place(len(data), MODULE_ALIGN, what)
    machine.write(address, data)
    module.address, module.size = address, len(data)
    set_reg(domain, module.node, address, len(data))


def load_modules(specs: list[GuestSpec], planner: Planner, machine: Machine) -> None:
    """Load every module with a file into RAM and record where, and its size, in ``reg``.

    A file goes at the address its module's ``reg`` gives (a ``reg`` of size 0
    is a placeholder: no address), else where the Planner finds room (4 KB
    aligned).  A module with only a ``reg`` is taken as already loaded.  Either
    way the range must lie in RAM and is claimed, so nothing else is placed over
    it.  A device-tree fragment's bytes are kept in ``Module.data``.
    """
    for spec in specs:
        for module in spec.modules:
            what = f"{module.kind} of guest {spec.name}"
            if module.path is None:
                if module.address is None or module.size is None:
                    _fail(module.node, f"no data for this {module.kind} module (resolve_files first)")
                _claim(module, planner, machine, module.address, module.size, f"{what} ({module.node.path})")
            else:
                _load_file(spec.node, module, planner, machine, what)
            if module.kind == "device-tree" and module.address is not None and module.size is not None:
                module.data = machine.read(module.address, module.size)
        total = sum(m.size or 0 for m in spec.modules)
        if total > spec.memory:
            _fail(
                spec.node,
                f"its modules take 0x{total:x} bytes, more than its memory (0x{spec.memory:x} bytes)",
            )
