"""Binding-schema validation with dtschema (the engine of the kernel's ``make dtbs_check``).

Schemas: dtschema's bundled core schemas, armboot's own (dtc/schemas: the
bindings armboot defines or relies on), and any folders given with
``--schemas``.  Processing YAML schemas takes a second, so the processed set is
cached (keyed by the content of every schema file and dtschema's version).
Findings name the binding's ``$id`` and point at the node or property in the
source, which dt-validate cannot do.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import Diagnostic
from .fdt import to_dtb
from .tree import DeviceTree, Node

OWN_SCHEMAS = Path(__file__).with_name("schemas")
_REQUIRED = re.compile(r"'([^']+)' is a required property")
_UNEVALUATED = re.compile(r"\('([^']+)'.*were unexpected\)|'([^']+)' was unexpected")


def _schema_files(dirs: list[str]) -> list[str]:
    files: list[str] = []
    for d in dirs:
        if os.path.isfile(d):
            files.append(os.path.abspath(d))
        for root, _, names in os.walk(d):
            files.extend(os.path.join(root, n) for n in names if n.endswith(".yaml"))
    return sorted(files)


def cache_path(dirs: list[str]) -> Path:
    import dtschema

    from .buildcache import cache_dir

    h = hashlib.sha256(f"dtschema {dtschema.__version__}".encode())
    core = os.path.join(os.path.dirname(dtschema.__file__), "schemas")
    for f in _schema_files([core, *dirs]):
        h.update(f.encode())
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return cache_dir().parent / "schemas" / f"{h.hexdigest()}.json"


def load_validator(extra_dirs: list[str] | None = None, use_cache: bool = True) -> Any:
    """A validator for the core schemas, armboot's own and ``extra_dirs`` (processed once, then cached)."""
    import dtschema

    dirs = [str(OWN_SCHEMAS), *(os.path.abspath(d) for d in extra_dirs or [])]
    cached = cache_path(dirs) if use_cache else None
    if cached is not None and cached.exists():
        with contextlib.suppress(Exception):
            return _prepare(dtschema.DTValidator([str(cached)]))
    noise = io.StringIO()
    with contextlib.redirect_stderr(noise):
        validator = dtschema.DTValidator(list(dirs))
    extend_chosen(validator.schemas)
    if cached is not None:
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(json.dumps(validator.schemas))
            os.replace(tmp, cached)
    return _prepare(validator)


def _prepare(validator: Any) -> Any:
    """Register every schema up front: dtschema's retrieve-on-demand re-crawls them on every reference."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT201909

    resources = [
        (key, DRAFT201909.create_resource(schema))
        for key, schema in validator.schemas.items()
        if isinstance(schema, dict) and key.startswith("http")
    ]
    validator.registry = Registry(retrieve=validator.retrieve).with_resources(resources).crawl()
    validator.armboot_memo = {}  # node content -> errors: boards share most of their nodes
    return validator


CHOSEN_ID = "http://devicetree.org/schemas/chosen.yaml"


def extend_chosen(schemas: dict) -> None:
    """/chosen as armboot uses it: the default payload, and guest nodes (validated by their own schema).

    The core chosen schema allows no other properties or nodes, so armboot's
    additions are made to the processed schema rather than in a second one.
    """
    chosen = schemas.get(CHOSEN_ID)
    if chosen is None:
        return
    props = chosen.setdefault("properties", {})
    props["armboot,kernel"] = {"$ref": "types.yaml#/definitions/string"}
    known = "|".join(re.escape(name) for name in props if not name.startswith("$"))
    # Any other name must be a node: patternProperties also apply to named properties, so exclude those.
    pattern = f"^(?!(?:{known})$)(?!framebuffer)[a-zA-Z][a-zA-Z0-9_+.,-]*$"
    chosen.setdefault("patternProperties", {})[pattern] = {"type": "object"}


def _nodes(decoded: dict, path: str = "/", name: str = "/") -> Iterator[tuple[str, str, dict]]:
    yield path, name, decoded
    for key, value in decoded.items():
        if isinstance(value, dict) and not key.startswith("__"):
            yield from _nodes(value, (path.rstrip("/") + "/" + key), key)


def _content_keys(node: dict, name: str, keys: dict[int, str]) -> str:
    """A hash of a node's name and whole subtree, computed bottom-up (validation depends on nothing else)."""
    parts = [name]
    for key, value in node.items():
        if isinstance(value, dict):
            parts.append(f"{key}={_content_keys(value, key, keys)}")
        elif key != "$nodename":
            parts.append(f"{key}={value!r}")
    digest = hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()
    keys[id(node)] = digest
    return digest


def _disabled(node: dict) -> bool:
    status = node.get("status")
    return isinstance(status, list) and bool(status) and status[0] == "disabled"


def validate(tree: DeviceTree, validator: Any, unknown_compatible: str = "warning") -> list[Diagnostic]:
    """Schema findings for a processed tree (after dtc's checks filled in references)."""
    blob, _ = to_dtb(tree)
    decode_errors: list[str] = []
    decoded = validator.decode_dtb(blob, decode_errors)[0]
    out: list[Diagnostic] = []
    seen: set[tuple[str, str, str]] = set()
    memo: dict = getattr(validator, "armboot_memo", {})
    keys: dict[int, str] = {}
    _content_keys(decoded, "/", keys)
    for path, name, node in _nodes(decoded):
        node["$nodename"] = [name]
        disabled = _disabled(node)
        key = keys[id(node)]
        errors = memo.get(key)
        if errors is None:
            errors = memo[key] = list(validator.iter_errors(node))
        for error in errors:
            schema = getattr(error, "schema_file", "") or ""
            d = _diagnostic(tree, path, error, schema, unknown_compatible, disabled, validator)
            if d is None or (d.path, d.property, d.message) in seen:
                continue
            seen.add((d.path, d.property, d.message))
            out.append(d)
    return out


def _descend(tree: DeviceTree, path: str, error: Any) -> tuple[str, list]:
    """Move from the validated node into the child node an error is really about."""
    rest = list(error.absolute_path)
    while rest and isinstance(rest[0], str) and rest[0] != "$nodename":
        child = (path.rstrip("/") + "/" + rest[0]) if path != "/" else "/" + rest[0]
        if tree.find(child) is None:
            break
        path, rest = child, rest[1:]
    return path, rest


def _property_of(error: Any, rest: list) -> str:
    if rest:
        first = rest[0]
        if first == "$nodename":
            return ""
        if isinstance(first, str):
            return first
    m = _REQUIRED.search(error.message) or _UNEVALUATED.search(error.message)
    if m:
        return next(g for g in m.groups() if g)
    return ""


def _diagnostic(
    tree: DeviceTree, path: str, error: Any, schema: str, unknown: str, disabled: bool, validator: Any = None
) -> Diagnostic | None:
    if error.context:  # oneOf/anyOf: the alternative that came closest says more
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        if best is not None:
            best.schema_file = schema  # type: ignore[attr-defined]
            error = best
    path, rest = _descend(tree, path, error)
    prop_name = _property_of(error, rest)
    if disabled and {"required", "unevaluatedProperties"} & set(map(str, error.schema_path)):
        return None
    node = tree.find(path)
    level = "error"
    message = error.message
    if schema == "generated-compatibles":
        if unknown == "off":
            return None
        level = unknown
        value = error.instance if isinstance(error.instance, str) else error.message.split("'")[1]
        message = f"unknown compatible '{value}': no binding schema describes it"
        schema = ""
        prop_name = "compatible"
    elif rest and rest[0] == "$nodename":
        message = f"node name {message}"
    elif isinstance(error.instance, bytes) and error.validator == "type":
        types = sorted(t for t in validator.property_get_type(prop_name) if t != "node") if validator else []
        if types:  # a binding types it, and these bytes are not that
            message = f"'{prop_name}' has the wrong type: its binding says {' or '.join(types)}"
        else:  # no binding among the schemas: like an unknown compatible, worth knowing, not a proven error
            if unknown == "off":
                return None
            level = unknown
            message = f"'{prop_name}' is not described by any binding schema (its type is unknown)"
    elif len(message) > 300:
        message = message[:297] + "..."
    d = Diagnostic(level, message, check="schema", path=path, property=prop_name, schema=schema, file=tree.origin)
    _locate(tree, d, node, prop_name)
    return d


def _locate(tree: DeviceTree, d: Diagnostic, node: Node | None, prop_name: str) -> None:
    if node is None:
        return
    prop = node.get(prop_name) if prop_name else None
    pos = prop.pos if prop is not None and prop.pos >= 0 else node.pos
    loc = tree.where(pos)
    if loc is not None:
        d.location = loc  # type: ignore[assignment]
        d.source_line = tree.sources.line_text(pos)  # type: ignore[attr-defined]
