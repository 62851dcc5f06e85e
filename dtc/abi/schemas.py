"""Two sets of binding schemas compared for ABI breaks, as dt-schema's ``dt-cmp-schema`` does.

dtschema's cmp_schema walks the schemas (``prop_generator``, ``_prop_in_schema``
following ``$ref``, ``_get_required`` over allOf/oneOf/anyOf) but prints what it
finds; the same helpers are used here and the findings come back as data, with
the schema file and line.  Classes: a newly required property, a removed
property and a raised minItems break trees that were valid before; a newly
deprecated property is info.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from ..errors import Diagnostic, DtcError
from ..outputs import write_atomic
from ..source import Location

SCHEMA_RULES = {
    "schema-required-added": ("breaking", "a property is now required: older trees without it fail validation"),
    "schema-property-removed": ("breaking", "a property the schema described is gone: trees using it fail validation"),
    "schema-min-items-raised": ("breaking", "more entries are required than before (minItems raised)"),
    "schema-property-deprecated": ("info", "a property is now deprecated: still valid, on its way out"),
}
_UNREADABLE = re.compile(r"^(?P<file>.+): ignoring, error parsing file$", re.MULTILINE)


@dataclass
class SchemaFinding:
    rule: str
    cls: str
    schema: str  # the binding's $id
    pointer: str  # where in the schema: /properties/clocks
    message: str
    location: Location | None = None

    def as_dict(self) -> dict:
        loc = self.location
        return {"rule": self.rule, "class": self.cls, "schema": self.schema, "pointer": self.pointer, "message": self.message,
                "location": {"file": loc.file, "line": loc.line, "column": loc.column} if loc else None}  # fmt: skip


def load_schemas(folder: str) -> dict[str, Any]:
    """The processed schemas of a folder (with dtschema's core ones), keyed by $id; processed once,
    then read from the cache ``armboot check`` keeps (keyed by every schema file's content)."""
    import dtschema

    from ..schemacheck import cache_path

    if not os.path.isdir(folder):
        raise DtcError(Diagnostic("error", f"{folder}: no such folder of schemas", file=folder))
    cached = cache_path([os.path.abspath(folder)])
    if cached.exists():
        with contextlib.suppress(Exception):
            return dtschema.DTValidator([str(cached)]).schemas
    noise = io.StringIO()
    with contextlib.redirect_stderr(noise):
        schemas = dtschema.DTValidator([os.path.abspath(folder)]).schemas
    broken = [m.group("file") for m in _UNREADABLE.finditer(noise.getvalue())]
    if broken:
        raise DtcError([_parse_error(f) for f in broken])
    with contextlib.suppress(OSError):
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(str(cached), json.dumps(schemas).encode())
    return schemas


def _parse_error(path: str) -> Diagnostic:
    """Where the YAML of an unreadable schema goes wrong."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    try:
        with open(path, encoding="utf-8") as f:
            YAML(typ="safe").load(f)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if mark is not None:
            return Diagnostic("error", f"not a YAML schema: {e.problem or e.context}", Location(path, mark.line + 1, mark.column + 1), file=path)
    except (OSError, UnicodeDecodeError) as e:
        return Diagnostic("error", f"cannot read schema: {e}", file=path)
    except Exception as e:  # ruamel's other errors carry no position
        return Diagnostic("error", f"not a YAML schema: {e}", file=path)
    return Diagnostic("error", "dtschema could not process this schema", file=path)


def compare(base: dict[str, Any], new: dict[str, Any]) -> list[SchemaFinding]:
    """What the new schemas break for trees valid under the old ones (schemas present in both)."""
    from dtschema import cmp_schema as cmp

    found: list[SchemaFinding] = []

    def add(rule: str, schema_id: str, path: list[str], message: str, schemas: dict[str, Any], key: str = "") -> None:
        cls = SCHEMA_RULES[rule][0]
        where = _locate(schemas[schema_id].get("$filename"), [*path, key] if key else path)
        found.append(SchemaFinding(rule, cls, schema_id, cmp.path_list_to_str(path), message, where))

    for schema_id, sch in sorted(new.items()):
        old = base.get(schema_id)
        if old is None or "generated" in schema_id:
            continue
        for path, new_sub, old_sub in [([], sch, old), *((p, s, cmp.schema_get_from_path(old, p)) for p, s in cmp.prop_generator(sch))]:
            if isinstance(old_sub, dict) and isinstance(new_sub, dict):
                added = sorted(cmp._get_required(new_sub) - cmp._get_required(old_sub))
                if added:
                    add("schema-required-added", schema_id, path, f"new required properties: {', '.join(added)}", new, "required")
            if isinstance(new_sub, dict) and "minItems" in new_sub and path:
                old_min = cmp.schema_get_from_path(old, [*path, "minItems"])
                if old_min and new_sub["minItems"] > old_min:
                    add("schema-min-items-raised", schema_id, path, f"minItems raised from {old_min} to {new_sub['minItems']}", new, "minItems")
        gone: set[str] = set()
        for path, old_sub in cmp.prop_generator(old):
            if path[1] in gone:
                continue
            if not cmp._prop_in_schema(path[1], sch, new):  # as dt-cmp-schema: by top-level name, through $refs
                gone.add(path[1])
                add("schema-property-removed", schema_id, path[:2], f"property {path[1]} removed", base)
                continue
            if isinstance(old_sub, dict) and "deprecated" in old_sub:
                continue
            now = cmp.schema_get_from_path(sch, path)
            if isinstance(now, dict) and "deprecated" in now:
                add("schema-property-deprecated", schema_id, path, f"property {path[-1]} deprecated", new)
    return found


def _locate(filename: str | None, path: list[str]) -> Location | None:
    """The line of a schema pointer in its YAML file (the deepest key found)."""
    if not filename or not os.path.isfile(filename):
        return None
    from ruamel.yaml import YAML

    try:
        with open(filename, encoding="utf-8") as f:
            doc = YAML().load(f)
    except Exception:  # the schema loaded once already; a position is a bonus
        return Location(filename, 1, 1)
    line, column = 1, 1
    for key in path:
        if not hasattr(doc, "lc") or key not in doc:
            break
        line, column = doc.lc.key(key)[0] + 1, doc.lc.key(key)[1] + 1
        doc = doc[key]
    return Location(filename, line, column)
