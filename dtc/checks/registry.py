"""The check table, levels, prerequisites and the runner (dtc's run_check/process_checks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, DtcError
from ..tree import DeviceTree, Node, Property

# dtc 1.6.1's check_table order: checks run in this order (prerequisites first).
# tests/test_checks.py reads the table out of the dtc binary and compares.
TABLE_ORDER: list[str] = [
    "duplicate_node_names", "duplicate_property_names",
    "node_name_chars", "node_name_format", "property_name_chars",
    "name_is_string", "name_properties", "node_name_vs_property_name",
    "duplicate_label",
    "explicit_phandles",
    "phandle_references", "path_references",
    "omit_unused_nodes",
    "address_cells_is_cell", "size_cells_is_cell",
    "device_type_is_string", "model_is_string", "status_is_string", "label_is_string",
    "compatible_is_string_list", "names_is_string_list",
    "property_name_chars_strict", "node_name_chars_strict",
    "addr_size_cells", "reg_format", "ranges_format", "dma_ranges_format",
    "unit_address_vs_reg", "unit_address_format",
    "pci_bridge", "pci_device_reg", "pci_device_bus_num",
    "simple_bus_bridge", "simple_bus_reg",
    "i2c_bus_bridge", "i2c_bus_reg",
    "spi_bus_bridge", "spi_bus_reg",
    "avoid_default_addr_size", "avoid_unnecessary_addr_size",
    "unique_unit_address", "unique_unit_address_if_enabled",
    "obsolete_chosen_interrupt_controller",
    "chosen_node_is_root", "chosen_node_bootargs", "chosen_node_stdout_path",
    "clocks_property", "clocks_is_cell",
    "cooling_device_property", "cooling_device_is_cell",
    "dmas_property", "dmas_is_cell",
    "hwlocks_property", "hwlocks_is_cell",
    "interrupts_extended_property", "interrupts_extended_is_cell",
    "io_channels_property", "io_channels_is_cell",
    "iommus_property", "iommus_is_cell",
    "mboxes_property", "mboxes_is_cell",
    "msi_parent_property", "msi_parent_is_cell",
    "mux_controls_property", "mux_controls_is_cell",
    "phys_property", "phys_is_cell",
    "power_domains_property", "power_domains_is_cell",
    "pwms_property", "pwms_is_cell",
    "resets_property", "resets_is_cell",
    "sound_dai_property", "sound_dai_is_cell",
    "thermal_sensors_property", "thermal_sensors_is_cell",
    "deprecated_gpio_property", "gpios_property",
    "interrupts_property", "interrupt_provider",
    "alias_paths",
    "graph_nodes", "graph_child_address", "graph_port", "graph_endpoint",
    "always_fail",
]  # fmt: skip

# Fix-up passes that change the tree (nodes, properties or phandles): walks and
# indexes cached for the other checks are rebuilt after each of them runs.
TREE_CHANGING = frozenset(
    {"name_properties", "explicit_phandles", "phandle_references", "path_references", "omit_unused_nodes"}
)

CheckFn = Callable[["CheckContext", Node], None]
# Which nodes a check needs to see, in walk order; by default every live node.
Selector = Callable[["CheckContext"], Iterable[Node]]


@dataclass
class Check:
    name: str
    fn: CheckFn | None
    warn: bool
    error: bool
    prereqs: tuple[str, ...] = ()
    data: Any = None
    doc: str = ""
    select: Selector | None = None


_REGISTRY: dict[str, Check] = {}


def check(
    name: str | None = None,
    *,
    level: str,
    prereqs: tuple[str, ...] = (),
    data: Any = None,
    select: Selector | None = None,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function: ``level`` is "error", "warning" or "off" (dtc's default).

    ``select`` narrows the nodes the function is called on (say, to the nodes
    with a given property) so that a check about one property need not look
    at every node; it must include every node the function could act on.
    """

    def register(fn: CheckFn) -> CheckFn:
        cname = name or fn.__name__.removeprefix("check_")
        _REGISTRY[cname] = Check(
            cname,
            fn,
            level == "warning",
            level == "error",
            tuple(prereqs),
            data,
            (fn.__doc__ or "").strip(),
            select,
        )
        return fn

    return register


def add_check(
    name: str,
    fn: CheckFn | None,
    *,
    level: str,
    prereqs: tuple[str, ...] = (),
    data: Any = None,
    select: Selector | None = None,
) -> None:
    """Register a check built from a shared function (dtc's WARNING_IF_NOT_CELL and friends)."""
    doc = (fn.__doc__ or "").strip() if fn is not None else ""
    _REGISTRY[name] = Check(name, fn, level == "warning", level == "error", tuple(prereqs), data, doc, select)


def registry() -> dict[str, Check]:
    """All checks, in table order."""
    return {name: _REGISTRY[name] for name in TABLE_ORDER if name in _REGISTRY}


@dataclass
class CheckSettings:
    """-W/-E options applied to the default levels, plus what some checks consult."""

    options: list[tuple[str, str]] = field(default_factory=list)  # ("W"|"E", "name" | "no-name")
    quiet: int = 0
    generate_symbols: bool = False

    def levels(self) -> dict[str, tuple[bool, bool]]:
        table = registry()
        state = {name: (c.warn, c.error) for name, c in table.items()}

        def enable(name: str, warn: bool, error: bool) -> None:
            w, e = state[name]
            if (warn and not w) or (error and not e):
                for p in table[name].prereqs:
                    enable(p, warn, error)
            w, e = state[name]
            state[name] = (w or warn, e or error)

        def disable(name: str, warn: bool, error: bool) -> None:
            w, e = state[name]
            if (warn and w) or (error and e):
                for other, c in table.items():
                    if name in c.prereqs:
                        disable(other, warn, error)
            w, e = state[name]
            state[name] = (w and not warn, e and not error)

        for flag, arg in self.options:
            on = not (arg.startswith("no-") or arg.startswith("no_"))
            cname = arg if on else arg[3:]
            if cname not in table:
                raise DtcError(Diagnostic("error", f'Unrecognized check name "{cname}"', hint=_suggest(cname, table)))
            warn, error = flag == "W", flag == "E"
            (enable if on else disable)(cname, warn, error)
        return state


def _suggest(name: str, table: dict[str, Check]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(table), n=3)
    return f"did you mean {', '.join(close)}?" if close else ""


UNCHECKED, PREREQ, PASSED, FAILED = range(4)


class CheckContext:
    """What a check function sees: the tree, its own check, and ``fail``."""

    def __init__(self, run: CheckRun, check: Check) -> None:
        self.run = run
        self.tree = run.tree
        self.root = run.tree.root
        self.check = check
        self.data = check.data

    @property
    def plugin(self) -> bool:
        return self.tree.plugin

    def fail(self, node: Node | None, message: str, prop: Property | None = None) -> None:
        self.run.fail(self.check, node, message, prop)

    def state(self, key: str) -> Any:
        """Per-run scratch space shared by checks (dtc keeps these on nodes)."""
        return self.run.scratch.setdefault(key, {})

    def ran(self, name: str) -> bool:
        """True when check ``name`` has run to completion (its annotations exist)."""
        return self.run.status.get(name) in (PASSED, FAILED)


class CheckRun:
    """One pass of the check table over a tree, with dtc's status and prerequisite rules."""

    def __init__(self, tree: DeviceTree, settings: CheckSettings | None = None) -> None:
        self.tree = tree
        self.settings = settings or CheckSettings()
        self.table = registry()
        self.levels = self.settings.levels()
        self.status = dict.fromkeys(self.table, UNCHECKED)
        self.inprogress: set[str] = set()
        self.diagnostics: list[Diagnostic] = []
        self.scratch: dict[str, Any] = {}
        self.generation = 0  # bumped after each TREE_CHANGING pass
        self._cache: dict[str, tuple[int, Any]] = {}

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """A value computed from the tree, rebuilt only after a pass changed the tree."""
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self.generation:
            return hit[1]
        value = build()
        self._cache[key] = (self.generation, value)
        return value

    def live_nodes(self) -> list[Node]:
        """Live nodes in dtc's walk order (pre-order), computed once per tree state."""
        return self.cached("live_nodes", lambda: list(self.tree.root.walk()))

    def level(self, c: Check) -> str:
        warn, error = self.levels[c.name]
        return "error" if error else "warning" if warn else "off"

    def fail(self, c: Check, node: Node | None, message: str, prop: Property | None = None) -> None:
        self.status[c.name] = FAILED
        warn, error = self.levels[c.name]
        quiet = self.settings.quiet
        if not (warn and quiet < 1) and not (error and quiet < 2):
            return
        pos = prop.pos if prop is not None and prop.pos >= 0 else (node.pos if node is not None else -1)
        loc = self.tree.where(pos)
        diag = Diagnostic(
            "error" if error else "warning",
            message.rstrip("\n"),
            loc,  # type: ignore[arg-type]
            check=c.name,
            # A node deleted while parsing never got a path in dtc (it prints "(null)").
            path=node.path if node is not None and not node.deleted else "",
            property=prop.name if prop is not None else "",
            file=self.tree.origin,
        )
        if loc is not None and self.tree.sources is not None:
            diag.source_line = self.tree.sources.line_text(pos)  # type: ignore[attr-defined]
        if node is not None and prop is None and len(node.positions) > 1:
            for extra in node.positions[1:]:
                where = self.tree.where(extra)
                if where is not None:
                    diag.related.append(("also defined at", where))  # type: ignore[arg-type]
        self.diagnostics.append(diag)

    def run_check(self, name: str) -> bool:
        c = self.table[name]
        error = False
        if self.status[name] == UNCHECKED:
            assert name not in self.inprogress
            self.inprogress.add(name)
            for p in c.prereqs:
                error = error or self.run_check(p)  # dtc's short-circuit ||
                if self.status[p] != PASSED:
                    self.status[name] = PREREQ
                    self.fail_silently_prereq(c, p)
            if self.status[name] == UNCHECKED:
                if c.fn is not None:
                    self._visit(c)
                if self.status[name] == UNCHECKED:
                    self.status[name] = PASSED
            self.inprogress.discard(name)
        if self.status[name] != PASSED and self.levels[name][1]:
            error = True
        return error

    def fail_silently_prereq(self, c: Check, prereq: str) -> None:
        warn, error = self.levels[c.name]
        if not (warn and self.settings.quiet < 1) and not (error and self.settings.quiet < 2):
            return
        self.diagnostics.append(
            Diagnostic("error" if error else "warning", f"Failed prerequisite '{prereq}'", check=c.name, file=self.tree.origin)
        )

    def _visit(self, c: Check) -> None:
        """dtc's check_nodes_props: the function on every live node (or the selected ones), parents first."""
        ctx = CheckContext(self, c)
        fn = c.fn
        assert fn is not None
        if c.name in TREE_CHANGING:
            self._walk(ctx, fn, self.tree.root)  # the pass may delete what it has not visited yet
        else:
            for node in c.select(ctx) if c.select is not None else self.live_nodes():
                fn(ctx, node)
        if c.name in TREE_CHANGING:
            self.generation += 1

    @staticmethod
    def _walk(ctx: CheckContext, fn: CheckFn, root: Node) -> None:
        """Pre-order walk that sees deletions made along the way (iterative: trees can be deep).

        A child is looked at when its turn comes, after its elder siblings'
        subtrees, exactly when dtc's recursive for_each_child would test it.
        """
        stack = [root]
        while stack:
            node = stack.pop()
            if node.deleted and node is not root:
                continue
            fn(ctx, node)
            stack.extend(reversed(node.children))

    def run(self) -> bool:
        """Run every enabled check in table order; True when an error-level check failed."""
        error = False
        for name in self.table:
            warn, err = self.levels[name]
            if warn or err:
                error = error or self.run_check(name)
        return error
