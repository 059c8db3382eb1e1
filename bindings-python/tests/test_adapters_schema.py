"""Cedar schema fragments from MCP tool lists (no MCP package needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, List

import pytest

import agentauthz
from agentauthz.adapters import ToolCall, cedar_schema_for_tools, cedar_type, typed_arguments

from conftest import MCP_EXAMPLE

TOOLS = json.loads((MCP_EXAMPLE / "tools.json").read_text())


def test_example_schema_is_the_derived_fragment() -> None:
    schema = (MCP_EXAMPLE / "mcp-tools.cedarschema").read_text()
    body = "".join(line for line in schema.splitlines(keepends=True) if not line.startswith("// The Cedar") and not line.startswith("//   python"))
    assert body == "entity Agent;\n" + cedar_schema_for_tools(TOOLS)


def test_cli_prints_the_fragment() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agentauthz.adapters", str(MCP_EXAMPLE / "tools.json")],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert out.stdout == cedar_schema_for_tools(TOOLS)


@pytest.mark.parametrize(
    "prop, expected",
    [
        ({"type": "string"}, "String"),
        ({"type": "integer"}, "Long"),
        ({"type": "boolean"}, "Bool"),
        ({"type": ["string", "null"]}, "String"),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "Long"),
        ({"type": "array", "items": {"type": "string"}}, "Set<String>"),
        ({"type": "object", "properties": {"a": {"type": "integer"}, "f": {"type": "number"}}}, '{"a"?: Long}'),
        ({"type": "number"}, None),
        ({"type": "array", "items": {"type": "number"}}, None),
        ({"type": "array"}, None),
        ({"type": ["string", "integer"]}, None),
        ({}, None),
        ("string", None),
    ],
)
def test_cedar_types(prop: Any, expected: Any) -> None:
    assert cedar_type(prop) == expected


def test_fragment_with_policies_loads_and_decides_on_typed_context() -> None:
    tools = [
        {
            "name": "fs.write-file",
            "description": "Write\na file.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "mode": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "dry-run": {"type": "boolean"},
                    "opts": {"type": "object", "properties": {"overwrite": {"type": "boolean"}, "ratio": {"type": "number"}}},
                    "ratio": {"type": "number"},
                },
            },
        },
        {"name": "ping"},
    ]
    fragment = cedar_schema_for_tools(tools, principal=["Agent", "User"], resource="McpTool")
    assert "// Write a file." in fragment
    assert 'action "ping" appliesTo { principal: [Agent, User], resource: [McpTool], context: {} };' in fragment
    policies = """
        @id("write") permit (principal, action == Action::"fs.write-file", resource)
        when { context has path && context.path like "/tmp/*" };
        @id("no-overwrite") forbid (principal, action, resource)
        when { context has opts && context.opts has overwrite && context.opts.overwrite };
        @id("setuid") forbid (principal, action, resource) when { context has mode && context.mode >= 2048 };
        @id("ping") permit (principal is User, action == Action::"ping", resource);
    """
    engine = agentauthz.Engine(schema="entity Agent;\nentity User;\n" + fragment, policies=policies)
    ctx = typed_arguments(tools)

    def decide(args: Dict[str, Any], principal: str = 'Agent::"a"', tool: str = "fs.write-file") -> agentauthz.Decision:
        return engine.authorize(principal, tool, ("McpTool", tool), ctx(ToolCall(tool, args)))

    assert decide({"path": "/tmp/x", "mode": 420, "tags": ["a"], "dry-run": True, "ratio": 0.5}).outcome == "allow"
    assert decide({"path": "/etc/x"}).outcome == "deny"
    assert decide({"path": "/tmp/x", "mode": 2049}).policy_ids == ["setuid"]
    assert decide({"path": "/tmp/x", "opts": {"overwrite": True, "ratio": 0.1}}).policy_ids == ["no-overwrite"]
    d = decide({"path": "/tmp/x", "mode": "755"})  # wrong type: passed on, and the engine denies it
    assert d.outcome == "deny" and d.errors
    assert decide({}, principal='User::"u"', tool="ping").outcome == "allow"
    assert decide({}, tool="ping").outcome == "deny"


def test_bad_tool_lists() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        cedar_schema_for_tools([{"name": "a"}, {"name": "a"}])
    with pytest.raises(ValueError, match="without a name"):
        cedar_schema_for_tools([{"description": "x"}])


def test_typed_arguments_keeps_only_declared_attributes() -> None:
    ctx = typed_arguments(TOOLS)
    args: Dict[str, Any] = {"url": "https://pypi.org/", "timeout_s": 2.5, "extra": 1}
    assert ctx(ToolCall("fetch_url", args)) == {"url": "https://pypi.org/"}
    assert ctx(ToolCall("run_command", {"command": "ls", "argv": None})) == {"command": "ls"}
    assert ctx(ToolCall("unknown", {"a": 1})) == {}
    listed: List[Any] = [t["name"] for t in TOOLS]
    assert listed == ["read_file", "write_file", "delete_file", "run_command", "fetch_url"]


def _reference_context(args: Dict[str, Any], props: Dict[str, Any]) -> Dict[str, Any]:
    """What typed_arguments must return: declared attributes with a Cedar type,
    not null, nested objects filtered the same way."""
    out = {}
    for name, value in args.items():
        prop = props.get(name)
        if value is None or prop is None or cedar_type(prop, 1) is None:
            continue
        if isinstance(value, dict) and isinstance(prop.get("properties"), dict):
            out[name] = _reference_context(value, prop["properties"])
        else:
            out[name] = value
    return out


def test_typed_arguments_flat_and_nested_tools_agree_with_the_rule() -> None:
    # A flat tool (every attribute kept as given: the copy shortcut) and a
    # nested one, over argument dicts with declared, undeclared, untyped and
    # null attributes.
    flat = {"path": {"type": "string"}, "n": {"type": "integer"}, "ratio": {"type": "number"}}
    nested = {"path": {"type": "string"}, "opts": {"type": "object", "properties": {"deep": {"type": "boolean"}}}}
    tools = [
        {"name": "flat", "inputSchema": {"type": "object", "properties": flat}},
        {"name": "nested", "inputSchema": {"type": "object", "properties": nested}},
    ]
    ctx = typed_arguments(tools)
    values: List[Any] = ["a", 3, None, 2.5, {"deep": True, "x": 1}, [1, 2]]
    names = ["path", "n", "ratio", "opts", "other"]
    checked = 0
    for tool, props in (("flat", flat), ("nested", nested)):
        for mask in range(1 << len(names)):
            for shift in range(len(values)):
                args = {n: values[(i + shift) % len(values)] for i, n in enumerate(names) if mask >> i & 1}
                got = ctx(ToolCall(tool, args))
                assert got == _reference_context(args, props), (tool, args, got)
                assert got is not args
                got["injected"] = 1
                assert "injected" not in args
                checked += 1
    assert checked == 2 * 32 * 6
