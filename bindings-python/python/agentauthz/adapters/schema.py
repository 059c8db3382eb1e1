"""Cedar schema fragments derived from MCP tool lists.

``cedar_schema_for_tools(tools)`` writes one Cedar action per tool whose
context holds the tool's input properties as typed, optional attributes, so
policies can be written over MCP tools without hand-writing the schema::

    fragment = cedar_schema_for_tools(tools)          # tools: MCP Tool objects or dicts
    engine = Engine(schema="entity Agent;\\n" + fragment, policies=...)

JSON-schema types map to Cedar as: ``string`` → ``String``, ``integer`` →
``Long``, ``boolean`` → ``Bool``, ``array`` of those → ``Set<...>``,
``object`` with ``properties`` → a record (its attributes optional too).
Other properties (``number``, untyped, mixed) have no Cedar type and are left
out; :func:`typed_arguments` drops them from a call's arguments so the
context still validates. Needs no MCP package: tools may be plain dicts.
"""

from __future__ import annotations

import json
import typing as t
from collections.abc import Mapping

from ._core import ToolCall

__all__ = ["cedar_schema_for_tools", "cedar_type", "tool_input_schema", "typed_arguments"]

_SCALARS = {"string": "String", "integer": "Long", "boolean": "Bool"}
_MAX_DEPTH = 8


def _quote(name: str) -> str:
    """A Cedar string literal (JSON escaping is a subset Cedar accepts)."""
    return json.dumps(name, ensure_ascii=False)


def _field(obj: t.Any, *names: str) -> t.Any:
    """``obj[name]`` or ``obj.name`` for the first name present."""
    for name in names:
        if isinstance(obj, t.Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return None


def tool_input_schema(tool: t.Any) -> t.Mapping[str, t.Any]:
    """The input JSON schema of an MCP tool (object or dict; ``{}`` if none)."""
    schema = _field(tool, "inputSchema", "input_schema")
    return schema if isinstance(schema, t.Mapping) else {}


def _json_type(prop: t.Mapping[str, t.Any]) -> t.Optional[str]:
    """The single JSON type of a property (``["x", "null"]`` counts as ``x``)."""
    ty = prop.get("type")
    if isinstance(ty, list):
        rest = [x for x in ty if x != "null"]
        return rest[0] if len(rest) == 1 and isinstance(rest[0], str) else None
    return ty if isinstance(ty, str) else None


def cedar_type(prop: t.Any, depth: int = 0) -> t.Optional[str]:
    """The Cedar type of one JSON-schema property, or ``None`` if it has none."""
    if not isinstance(prop, t.Mapping) or depth > _MAX_DEPTH:
        return None
    for key in ("anyOf", "oneOf"):  # Optional[X] in pydantic: anyOf [X, {"type": "null"}]
        branches = prop.get(key)
        if isinstance(branches, list):
            rest = [b for b in branches if not (isinstance(b, t.Mapping) and b.get("type") == "null")]
            return cedar_type(rest[0], depth) if len(rest) == 1 else None
    ty = _json_type(prop)
    if ty in _SCALARS:
        return _SCALARS[ty]
    if ty == "array":
        items = prop.get("items")
        inner = _SCALARS.get(_json_type(items) or "") if isinstance(items, t.Mapping) else None
        return f"Set<{inner}>" if inner else None
    if ty == "object" and isinstance(prop.get("properties"), t.Mapping):
        return _record(prop["properties"], depth + 1)
    return None


def _record(props: t.Mapping[str, t.Any], depth: int) -> str:
    attrs = []
    for name, sub in props.items():
        ty = cedar_type(sub, depth)
        if ty is not None:
            attrs.append(f"{_quote(str(name))}?: {ty}")
    return "{" + ", ".join(attrs) + "}"


def cedar_schema_for_tools(
    tools: t.Iterable[t.Any],
    *,
    principal: t.Union[str, t.Sequence[str]] = "Agent",
    resource: str = "Tool",
    declare_resource: bool = True,
) -> str:
    """A Cedar schema fragment: one action per tool, named after it, that
    applies to ``principal`` type(s) and the ``resource`` type, with the
    tool's input properties as optional typed context attributes.

    ``declare_resource`` adds ``entity <resource>;``. The principal type(s)
    must be declared by the rest of the schema (e.g. ``entity Agent;``).
    """
    principals = [principal] if isinstance(principal, str) else list(principal)
    lines = []
    if declare_resource:
        lines.append(f"entity {resource};")
    seen = set()
    for tool in tools:
        name = _field(tool, "name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"an MCP tool without a name: {tool!r}")
        if name in seen:
            raise ValueError(f"duplicate MCP tool name: {name!r}")
        seen.add(name)
        description = _field(tool, "description")
        if isinstance(description, str) and description.strip():
            lines.append("// " + " ".join(description.split()))
        props = tool_input_schema(tool).get("properties")
        context = _record(props, 1) if isinstance(props, t.Mapping) else "{}"
        lines.append(
            f"action {_quote(name)} appliesTo {{ principal: [{', '.join(principals)}], "
            f"resource: [{resource}], context: {context} }};"
        )
    return "\n".join(lines) + "\n"


def _properties(prop: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    """The ``properties`` of an object property (through a nullable ``anyOf``)."""
    for key in ("anyOf", "oneOf"):
        branches = prop.get(key)
        if isinstance(branches, list):
            for b in branches:
                if isinstance(b, t.Mapping) and isinstance(b.get("properties"), t.Mapping):
                    return b["properties"]
    props = prop.get("properties")
    return props if isinstance(props, t.Mapping) else {}


# A compiled record: attribute name -> None (keep the value as is) or the
# compiled record of a nested object.
_Compiled = t.Dict[str, t.Optional[t.Dict[str, t.Any]]]


def _compile(props: t.Mapping[str, t.Any], depth: int) -> _Compiled:
    """The attributes of ``props`` that have a Cedar type, precomputed once."""
    out: _Compiled = {}
    for name, prop in props.items():
        ty = cedar_type(prop, depth)
        if ty is not None:
            out[name] = _compile(_properties(prop), depth + 1) if ty.startswith("{") else None
    return out


def _filter(args: t.Mapping[str, t.Any], compiled: _Compiled) -> t.Dict[str, t.Any]:
    out = {}
    for name, value in args.items():
        if value is not None and name in compiled:
            nested = compiled[name]
            out[name] = _filter(value, nested) if nested is not None and isinstance(value, Mapping) else value
    return out


def typed_arguments(tools: t.Iterable[t.Any]) -> t.Callable[[ToolCall], t.Dict[str, t.Any]]:
    """A :class:`~agentauthz.adapters.ToolRule` ``context`` function: the
    call's arguments that :func:`cedar_schema_for_tools` declared for its
    tool (unknown tools get an empty context, which their action, absent from
    the schema, denies anyway). Values are passed as given, so a value of the
    wrong type still fails validation and is denied."""
    compiled: t.Dict[t.Any, _Compiled] = {}
    for tool in tools:
        props = tool_input_schema(tool).get("properties")
        compiled[_field(tool, "name")] = _compile(props, 1) if isinstance(props, t.Mapping) else {}
    empty: _Compiled = {}

    def context(call: ToolCall) -> t.Dict[str, t.Any]:
        return _filter(call.arguments, compiled.get(call.tool, empty))

    return context


def main(argv: t.Optional[t.Sequence[str]] = None) -> int:
    """``python -m agentauthz.adapters TOOLS.json``: print the fragment.

    TOOLS.json holds an MCP tool list: a JSON array of tools, or an object
    with a ``tools`` array (a ``tools/list`` result).
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m agentauthz.adapters",
        description="Print a Cedar schema fragment (one action per MCP tool) for an MCP tool list.",
    )
    parser.add_argument("tools", help="JSON file: an array of MCP tools or a tools/list result")
    parser.add_argument("--principal", action="append", help="principal entity type (repeatable; default Agent)")
    parser.add_argument("--resource", default="Tool", help="resource entity type (default Tool)")
    parser.add_argument("--no-declare-resource", action="store_true", help="do not declare the resource type")
    args = parser.parse_args(argv)
    with open(args.tools, encoding="utf-8") as f:
        data = json.load(f)
    tools = data.get("tools") if isinstance(data, dict) else data
    if not isinstance(tools, list):
        parser.error("the file holds neither a JSON array of tools nor an object with a 'tools' array")
    print(
        cedar_schema_for_tools(
            tools,
            principal=args.principal or "Agent",
            resource=args.resource,
            declare_resource=not args.no_declare_resource,
        ),
        end="",
    )
    return 0
