"""The check table, levels, prerequisites and the runner (dtc's run_check/process_checks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, DtcError
from ..tree import DeviceTree, Node, Property

# dtc 1.6.1's check_table order: checks run in this order (prerequisites first).
TABLE_ORDER: list[str] = [
    "duplicate_node_names", "duplicate_property_names",
    "node_name_chars", "node_name_format", "property_name_chars",
    "name_is_string", "name_properties",
    "duplicate_label",
    "explicit_phandles",
    "phandle_references", "path_references",
    "omit_unused_nodes",
]  # fmt: skip

CheckFn = Callable[["CheckContext", Node], None]


@dataclass
class Check:
    name: str
    fn: CheckFn | None
    warn: bool
    error: bool
    prereqs: tuple[str, ...] = ()
    data: Any = None
    doc: str = ""


_REGISTRY: dict[str, Check] = {}


def check(
    name: str | None = None, *, level: str, prereqs: tuple[str, ...] = (), data: Any = None
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function: ``level`` is "error", "warning" or "off" (dtc's default)."""

    def register(fn: CheckFn) -> CheckFn:
        cname = name or fn.__name__.removeprefix("check_")
        _REGISTRY[cname] = Check(
            cname, fn, level == "warning", level == "error", tuple(prereqs), data, (fn.__doc__ or "").strip()
        )
        return fn

    return register


def add_check(name: str, fn: CheckFn | None, *, level: str, prereqs: tuple[str, ...] = (), data: Any = None) -> None:
    """Register a check built from a shared function (dtc's WARNING_IF_NOT_CELL and friends)."""
    _REGISTRY[name] = Check(name, fn, level == "warning", level == "error", tuple(prereqs), data)


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
            path=node.path if node is not None else "",
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
                    ctx = CheckContext(self, c)
                    fn = c.fn
                    self._walk(ctx, fn, self.tree.root)
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

    def _walk(self, ctx: CheckContext, fn: CheckFn, node: Node) -> None:
        fn(ctx, node)
        for child in node.children:
            if not child.deleted:
                self._walk(ctx, fn, child)

    def run(self) -> bool:
        """Run every enabled check in table order; True when an error-level check failed."""
        error = False
        for name in self.table:
            warn, err = self.levels[name]
            if warn or err:
                error = error or self.run_check(name)
        return error
