"""Checks that well-known properties hold the type their bindings give them.

One function serves each family, parameterised by the property name in the
check's data (dtc's WARNING_IF_NOT_CELL / _STRING / _STRING_LIST).
"""

from __future__ import annotations

from ..tree import Node, Property
from .core import is_one_string
from .index import with_property, with_property_named
from .registry import CheckContext, CheckFn, add_check, check


def is_string_list(value: bytes) -> bool:
    """Every string NUL-terminated (an empty value is an empty list)."""
    return not value or value[-1] == 0


def check_is_cell(ctx: CheckContext, node: Node) -> None:
    """The property named by the check's data, where present, is one 32-bit cell."""
    prop = node.get(ctx.data)
    if prop is not None and len(prop.value) != 4:
        ctx.fail(node, "property is not a single cell", prop)


def check_is_string(ctx: CheckContext, node: Node) -> None:
    """The property named by the check's data, where present, is exactly one string."""
    prop = node.get(ctx.data)
    if prop is not None and not is_one_string(prop.value):
        ctx.fail(node, "property is not a string", prop)


def fail_unless_string_list(ctx: CheckContext, node: Node, prop: Property) -> None:
    if not is_string_list(prop.value):
        ctx.fail(node, "property is not a string list", prop)


def check_is_string_list(ctx: CheckContext, node: Node) -> None:
    """The property named by the check's data, where present, is a list of strings."""
    prop = node.get(ctx.data)
    if prop is not None:
        fail_unless_string_list(ctx, node, prop)


def add_type_check(name: str, fn: CheckFn, prop_name: str) -> None:
    """Register a type check of one property, looking only at the nodes that have it."""
    add_check(name, fn, level="warning", data=prop_name, select=with_property(prop_name))


add_type_check("address_cells_is_cell", check_is_cell, "#address-cells")
add_type_check("size_cells_is_cell", check_is_cell, "#size-cells")
add_type_check("device_type_is_string", check_is_string, "device_type")
add_type_check("model_is_string", check_is_string, "model")
add_type_check("status_is_string", check_is_string, "status")
add_type_check("label_is_string", check_is_string, "label")
add_type_check("compatible_is_string_list", check_is_string_list, "compatible")


def is_names_property(name: str) -> bool:
    return name.endswith("-names")


@check(level="warning", select=with_property_named(is_names_property))
def check_names_is_string_list(ctx: CheckContext, node: Node) -> None:
    """Every *-names property (clock-names, reg-names, ...) is a list of strings."""
    first: dict[str, Property] = {}
    for prop in node.properties:
        first.setdefault(prop.name, prop)
    for prop in node.properties:
        if is_names_property(prop.name):
            fail_unless_string_list(ctx, node, first[prop.name])  # dtc looks the name up again
