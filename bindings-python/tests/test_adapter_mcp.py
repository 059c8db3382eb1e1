"""MCP adapter with the real mcp SDK (2.x): a guarded MCPServer and a real MCP
client, over in-memory streams (JSON-RPC with the initialize handshake), the
stateless 2026 protocol path, and stdio (the server in a subprocess). A tool denied
to a principal is neither listed nor callable by it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.server import MCPServer, Server
from mcp_types import CallToolResult, Implementation, ListToolsResult, TextContent, Tool

import agentauthz
from agentauthz.adapters import ToolGuard, ToolRule, Verdict, cedar_schema_for_tools, typed_arguments
from agentauthz.adapters.mcp import AuthzMiddleware, guard_mcp_server

from conftest import CALL_TRAIL, MCP_EXAMPLE, Audited

TOOLS = json.loads((MCP_EXAMPLE / "tools.json").read_text())


def caller(ctx: Any) -> Any:
    params = ctx.session.client_params
    return ("Agent", params.client_info.name) if params is not None else None


def build(engine: agentauthz.Engine, ran: List[str], log: List[Verdict], approver: Any = None, agent: Any = caller) -> MCPServer:
    server = MCPServer("workspace")

    @server.tool()
    def read_file(path: str, max_bytes: int = 4096) -> str:
        """Read a text file of the workspace."""
        ran.append(f"read {path}")
        return f"contents of {path}"

    @server.tool()
    def delete_file(path: str) -> str:
        """Delete a file of the workspace."""
        ran.append(f"delete {path}")
        return f"deleted {path}"

    @server.tool()
    async def run_command(command: str, argv: Optional[List[str]] = None) -> str:
        """Run a command in the workspace."""
        ran.append(f"run {command}")
        return f"ran {command}"

    guard = ToolGuard(engine, default=ToolRule(context=typed_arguments(TOOLS)), approver=approver, on_decision=log.append)
    mw = guard_mcp_server(server, guard, agent=agent)
    assert isinstance(mw, AuthzMiddleware) and mw in server.middleware
    return server


async def session(server: Any, name: str, calls: List[Tuple[str, Dict[str, Any]]]) -> Tuple[List[str], List[CallToolResult]]:
    async with Client(server, client_info=Implementation(name=name, version="1"), mode="legacy") as client:
        listed = [t.name for t in (await client.list_tools()).tools]
        return listed, [await client.call_tool(tool, args) for tool, args in calls]


def text(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def test_denied_tool_is_neither_listed_nor_callable(tools_engine: agentauthz.Engine) -> None:
    ran: List[str] = []
    log: List[Verdict] = []
    server = build(tools_engine, ran, log)
    listed, results = anyio.run(session, server, "intern", [("run_command", {"command": "ls"})])
    assert listed == ["read_file", "delete_file"]  # run_command is hidden from the intern
    assert results[0].is_error and "interns-no-shell" in text(results[0])
    assert ran == []  # the handler never ran
    listed, results = anyio.run(session, server, "ci-bot", [("run_command", {"command": "ls", "argv": ["-l"]})])
    assert listed == ["read_file", "delete_file", "run_command"]
    assert not results[0].is_error and text(results[0]) == "ran ls" and ran == ["run ls"]
    # listing is not recorded; each call is
    assert [(v.to_dict()["principal"], v.call.tool, v.outcome) for v in log] == [
        ('Agent::"intern"', "run_command", "deny"),
        ('Agent::"ci-bot"', "run_command", "allow"),
    ]
    assert log[1].call.arguments == {"command": "ls", "argv": ["-l"]}


def test_allow_deny_ask_over_mcp(audited: Audited) -> None:
    tools_engine = audited.engine
    ran: List[str] = []
    log: List[Verdict] = []
    asked: List[Verdict] = []

    async def approver(v: Verdict) -> bool:
        asked.append(v)
        return v.call.arguments.get("path") == "tmp/build.log"

    server = build(tools_engine, ran, log, approver)
    _, results = anyio.run(
        session,
        server,
        "ci-bot",
        [
            ("read_file", {"path": "README.md"}),
            ("read_file", {"path": ".env"}),
            ("delete_file", {"path": "tmp/build.log"}),
            ("delete_file", {"path": "src/app.py"}),
        ],
    )
    assert ran == ["read README.md", "delete tmp/build.log"]
    assert [r.is_error for r in results] == [False, True, False, True]
    assert text(results[0]) == "contents of README.md" and text(results[2]) == "deleted tmp/build.log"
    assert "no-secret-files (owner: security)" in text(results[1])
    assert text(results[3]) == "Tool call refused: `delete_file` needs approval from platform, who did not approve it."
    assert [(v.decision.ask_owner, bool(v.decision.approval_id)) for v in asked] == [("platform", True)] * 2
    assert [(v.call.tool, v.outcome, v.approved, v.proceed) for v in log] == [
        ("read_file", "allow", None, True),
        ("read_file", "deny", None, False),
        ("delete_file", "ask", True, True),
        ("delete_file", "ask", False, False),
    ]
    # The engine's audit log records the listing's checks (one per tool, no
    # arguments) and each call; the approved ask is decided again after the
    # approval (allow), the refused one stays an ask.
    assert audited.trail() == [
        ("read_file", None, "allow"),
        ("delete_file", None, "ask"),
        ("run_command", None, "allow"),
        *CALL_TRAIL,
    ]


def test_stateless_protocol_path(tools_engine: agentauthz.Engine) -> None:
    """The 2026 protocol (no initialize handshake) goes through the same middleware."""
    ran: List[str] = []
    log: List[Verdict] = []
    server = build(tools_engine, ran, log, agent='Agent::"intern"')

    async def main() -> Tuple[List[str], CallToolResult]:
        async with Client(server) as client:
            listed = [t.name for t in (await client.list_tools()).tools]
            return listed, await client.call_tool("run_command", {"command": "ls"})

    listed, result = anyio.run(main)
    assert "run_command" not in listed and result.is_error and ran == []
    assert [v.outcome for v in log] == ["deny"]


def test_lowlevel_server(tools_engine: agentauthz.Engine) -> None:
    ran: List[str] = []
    log: List[Verdict] = []

    async def list_tools(ctx: Any, params: Any) -> ListToolsResult:
        return ListToolsResult(tools=[Tool(**t) for t in TOOLS])

    async def call_tool(ctx: Any, params: Any) -> CallToolResult:
        ran.append(params.name)
        return CallToolResult(content=[TextContent(type="text", text=f"ran {params.name}")])

    server = Server("lowlevel", on_list_tools=list_tools, on_call_tool=call_tool)
    guard = ToolGuard(tools_engine, default=ToolRule(context=typed_arguments(TOOLS)), on_decision=log.append)
    guard_mcp_server(server, guard, agent=caller)
    listed, results = anyio.run(
        session, server, "intern", [("run_command", {"command": "ls"}), ("fetch_url", {"url": "https://pypi.org/simple/", "timeout_s": 1.5})]
    )
    assert listed == ["read_file", "write_file", "delete_file", "fetch_url"]
    assert results[0].is_error and not results[1].is_error and ran == ["fetch_url"]
    assert [v.outcome for v in log] == ["deny", "allow"]
    with pytest.raises(TypeError):
        guard_mcp_server(object(), guard)


def test_stdio_server_subprocess(tmp_path: Path) -> None:
    """The example server over stdio, as an MCP host would start it."""

    async def main() -> Tuple[List[str], List[CallToolResult]]:
        params = StdioServerParameters(command=sys.executable, args=[str(MCP_EXAMPLE / "mcp_server.py")], cwd=str(tmp_path))
        async with Client(params, client_info=Implementation(name="intern", version="1"), mode="legacy") as client:
            listed = [t.name for t in (await client.list_tools()).tools]
            return listed, [
                await client.call_tool("run_command", {"command": "ls"}),
                await client.call_tool("read_file", {"path": "README.md"}),
            ]

    listed, results = anyio.run(main)
    assert listed == ["read_file", "write_file", "delete_file", "fetch_url"]
    assert results[0].is_error and "interns-no-shell" in text(results[0])
    assert not results[1].is_error and text(results[1]) == "# demo\n"


def test_schema_fragment_from_the_live_tool_list(tools_engine: agentauthz.Engine) -> None:
    server = build(tools_engine, [], [])

    async def listing() -> List[Tool]:
        async with Client(server, client_info=Implementation(name="ci-bot", version="1"), mode="legacy") as client:
            return list((await client.list_tools()).tools)

    tools = anyio.run(listing)
    fragment = cedar_schema_for_tools(tools)
    assert 'action "run_command" appliesTo { principal: [Agent], resource: [Tool], context: {"command"?: String, "argv"?: Set<String>} };' in fragment
    policies = """
        permit (principal, action, resource);
        forbid (principal, action == Action::"run_command", resource) when { context has argv && context.argv.contains("-rf") };
    """
    engine = agentauthz.Engine(schema="entity Agent;\n" + fragment, policies=policies)
    assert engine.authorize('Agent::"a"', "run_command", 'Tool::"run_command"', {"command": "rm", "argv": ["-rf", "/"]}).outcome == "deny"
    assert engine.authorize('Agent::"a"', "run_command", 'Tool::"run_command"', {"command": "ls"}).outcome == "allow"


def test_example_script_runs_offline() -> None:
    out = subprocess.run([sys.executable, str(MCP_EXAMPLE / "mcp_example.py")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "tools listed: read_file, write_file, delete_file, fetch_url" in out.stdout  # the intern's list
    assert "ERROR Tool call refused: `run_command`" in out.stdout
