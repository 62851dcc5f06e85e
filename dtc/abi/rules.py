"""The ABI rules as data: which change of a tree each rule matches, how it is classed, and why.

The differ reports *changes* (a node removed, a property changed, a
compatible entry dropped, ...); a rule claims a change by its kind and the
property's name.  The first rule in table order that claims a change decides
its rule id and class, so specific rules come before generic ones.  The
classes follow Documentation/devicetree/bindings/ABI.rst: a newer kernel must
keep working with an older tree, so whatever an older tree's user could rely
on and the newer tree takes away is *breaking*; additions are *compatible*;
the rest is *info*.  ``--rule ID=CLASS|off`` overrides a class.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

CLASSES = ("breaking", "compatible", "info")
SEVERITY = {"breaking": 0, "compatible": 1, "info": 2}

# What the differ reports (diff.py); each rule matches one of these.
CHANGE_KINDS = (
    "node-removed",
    "node-renamed",
    "node-added",
    "compatible-entry-removed",
    "compatible-reordered",
    "compatible-entry-added",
    "status-disabled",
    "status-enabled",
    "interrupt-parent-changed",
    "reference-target-gone",
    "property-removed",
    "property-removed-no-effect",
    "property-added",
    "property-changed",
    "property-extended",
)

REFERENCE_PROPS = (
    "clocks", "assigned-clocks", "assigned-clock-parents", "resets", "dmas", "phys", "power-domains",
    "iommus", "mboxes", "pwms", "hwlocks", "io-channels", "mux-controls", "sound-dai", "thermal-sensors",
    "cooling-device", "msi-parent", "nvmem-cells", "interconnects", "gpios", "*-gpios", "*-gpio",
    "pinctrl-[0-9]*", "*-supply", "memory-region", "phy-handle", "remote-endpoint", "cpu",
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    id: str
    cls: str
    kinds: tuple[str, ...]  # of CHANGE_KINDS
    summary: str
    why: str
    example: str
    props: tuple[str, ...] = ()  # fnmatch patterns of property names; empty: any

    def matches(self, kind: str, prop: str) -> bool:
        if kind not in self.kinds:
            return False
        return not self.props or any(fnmatch.fnmatchcase(prop, p) for p in self.props)


def _rule(id: str, cls: str, kinds: str, summary: str, why: str, example: str, props: tuple[str, ...] = ()) -> Rule:
    return Rule(id, cls, tuple(kinds.split()), summary, why, example, props)


RULES: tuple[Rule, ...] = (
    _rule("node-removed", "breaking", "node-removed", "a node (and its subtree) is gone",
          "software that found the device, or referred to it, finds nothing",
          "- serial@ff1a0000 { ... };"),
    _rule("node-renamed", "info", "node-renamed",
          "a node changed its name or place but not its identity (a sibling with the same compatible and reg, "
          "or with the same compatible and every reference to it following it)",
          "drivers match by compatible, but lookups by path (overlays, of_find_node_by_path) break",
          "- i2c@0 { reg = <0x1000 0x100>; };  + i2c@1000 { reg = <0x1000 0x100>; };"),
    _rule("node-added", "compatible", "node-added", "a new node",
          "an older kernel ignores what it does not know", "+ watchdog@ff848000 { ... };"),
    _rule("compatible-entry-removed", "breaking", "compatible-entry-removed",
          "a compatible string is gone from the list (or the whole list is)",
          "a driver that bound by that string no longer binds",
          '- compatible = "vendor,soc-uart", "ns16550a";  + compatible = "vendor,soc-uart";'),
    _rule("compatible-reordered", "breaking", "compatible-reordered",
          "the entries that remain are in another order",
          "the list goes from most to least specific; reordering changes which driver wins",
          '- compatible = "a,x", "a,y";  + compatible = "a,y", "a,x";'),
    _rule("compatible-entry-added", "compatible", "compatible-entry-added",
          "a new compatible string (a more specific one, usually)",
          "older kernels still find the strings they know",
          '- compatible = "ns16550a";  + compatible = "vendor,soc-uart", "ns16550a";'),
    _rule("status-disabled", "breaking", "status-disabled",
          "an enabled node is now disabled (status absent or \"okay\" before)",
          "the device is no longer probed", '+ status = "disabled";'),
    _rule("status-enabled", "compatible", "status-enabled", "a disabled node is now enabled",
          "a new device for the kernel to probe", '- status = "disabled";  + status = "okay";'),
    _rule("interrupt-parent-changed", "breaking", "interrupt-parent-changed",
          "interrupts now go to another controller (the node's own interrupt-parent, or the one it inherits)",
          "the interrupt specifiers are read in the new controller's terms",
          "- interrupt-parent = <&gic>;  + interrupt-parent = <&gpio1>;"),
    _rule("reference-target-gone", "breaking", "reference-target-gone",
          "a property still exists but a node it referred to is gone",
          "the consumer's provider (clock, reset, gpio, alias target, ...) has vanished",
          "  clocks = <&cru 12>;  with  - cru: clock-controller@ff760000 { ... };"),
    _rule("entries-appended", "compatible", "property-extended",
          "entries appended to a list (reg, interrupts, clocks, *-names, ...), the existing ones unchanged",
          "what an older tree's user reads at each index still means the same",
          "- interrupts = <0 134 4>;  + interrupts = <0 134 4>, <0 140 4>;"),
    _rule("reg-changed", "breaking", "property-changed property-removed", "reg changed or removed",
          "the device is elsewhere in the address map (or has no address)",
          "- reg = <0x0 0xff1a0000 0x0 0x100>;  + reg = <0x0 0xff1b0000 0x0 0x100>;", ("reg",)),
    _rule("ranges-changed", "breaking", "property-changed property-removed", "ranges or dma-ranges changed or removed",
          "addresses below the node translate differently, or not at all", "- ranges;  + ranges = <0x0 0x0 0xf8000000 0x1000000>;",
          ("ranges", "dma-ranges")),
    _rule("cells-changed", "breaking", "property-changed property-removed",
          "#address-cells, #size-cells or #interrupt-cells changed or removed",
          "every reg, ranges or interrupt specifier read through this node is read differently",
          "- #interrupt-cells = <2>;  + #interrupt-cells = <3>;", ("#address-cells", "#size-cells", "#interrupt-cells")),
    _rule("interrupts-changed", "breaking", "property-changed property-removed",
          "interrupts or interrupts-extended changed or removed",
          "the device raises another interrupt than its driver waits for (or none)",
          "- interrupts = <0 57 4>;  + interrupts = <0 58 4>;", ("interrupts", "interrupts-extended")),
    _rule("interrupt-map-changed", "breaking", "property-changed property-removed",
          "interrupt-map or its mask changed or removed",
          "interrupts of the devices below are routed elsewhere",
          "- interrupt-map = <0 0 1 &gic 0 5 4>;  + interrupt-map = <0 0 1 &gic 0 6 4>;",
          ("interrupt-map", "interrupt-map-mask")),
    _rule("redundant-property-removed", "info", "property-removed-no-effect",
          "a property that restated the default or the inherited value is gone (status = \"okay\", interrupt-parent)",
          "nothing the kernel reads changes", '- status = "okay";'),
    _rule("property-removed", "breaking", "property-removed", "a property is gone",
          "an existing property's meaning must not change, and its absence is a change",
          "- clock-frequency = <400000>;"),
    _rule("property-added", "compatible", "property-added", "a new property",
          "drivers keep their old behaviour when a new property is absent, so older trees still work",
          "+ wakeup-source;"),
    _rule("references-changed", "info", "property-changed", "a reference property (clocks, resets, gpios, ...) points elsewhere",
          "often a correction; promote it with --rule references-changed=breaking",
          "- clocks = <&cru 12>;  + clocks = <&cru 13>;", REFERENCE_PROPS),
    _rule("value-changed", "info", "property-changed", "another property's value changed",
          "rarely an ABI matter by itself (a frequency, a model name, a pin setting)",
          '- model = "Board A";  + model = "Board A rev2";'),
)  # fmt: skip

BY_ID = {r.id: r for r in RULES}


class RuleSet:
    """The rules with the user's class overrides (``ID=breaking|compatible|info|off``)."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.overrides = dict(overrides or {})
        for rule_id, cls in self.overrides.items():
            if rule_id not in BY_ID:
                raise ValueError(f"unknown rule '{rule_id}' (see 'armboot abi rules')")
            if cls not in (*CLASSES, "off"):
                raise ValueError(f"--rule {rule_id}={cls}: the class is one of {', '.join(CLASSES)} or off")

    @classmethod
    def parse(cls, specs: list[str]) -> RuleSet:
        """From ``--rule ID=CLASS`` arguments (ValueError says what is wrong)."""
        overrides: dict[str, str] = {}
        for spec in specs:
            rule_id, eq, klass = spec.partition("=")
            if not eq:
                raise ValueError(f"--rule {spec}: write ID=CLASS (e.g. value-changed=breaking)")
            overrides[rule_id.strip()] = klass.strip()
        return cls(overrides)

    def classify(self, kind: str, prop: str) -> tuple[Rule, str] | None:
        """The rule claiming a change and its class, or None when it is turned off."""
        for rule in RULES:
            if rule.matches(kind, prop):
                cls = self.overrides.get(rule.id, rule.cls)
                return None if cls == "off" else (rule, cls)
        raise AssertionError(f"no rule claims {kind} of {prop!r}")  # the table ends with catch-alls


def describe(rule: Rule) -> str:
    return f"{rule.id} [{rule.cls}]: {rule.summary}\n    why: {rule.why}\n    e.g. {rule.example}"
