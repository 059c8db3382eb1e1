"""An MCP server whose tools are guarded by agentauthz (mcp SDK 2.x, MCPServer).

    python policies-examples/mcp-tools/mcp_server.py      # serves MCP over stdio

The caller's principal is the client's declared name (clientInfo.name), which is
fine for a local stdio server started by one agent; behind HTTP, derive it from the
authenticated user instead. Decisions are logged to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcp.server import MCPServer  # noqa: E402

import workspace  # noqa: E402
from agentauthz.adapters.mcp import guard_mcp_server  # noqa: E402


def caller(ctx: Any) -> Any:
    """The principal of a request: Agent::"<client name>"."""
    params = ctx.session.client_params
    return ("Agent", params.client_info.name) if params is not None else None


def build_server() -> MCPServer:
    """The workspace tools as an MCP server, behind agentauthz."""
    server = MCPServer("workspace")
    for f in (workspace.read_file, workspace.write_file, workspace.delete_file, workspace.run_command, workspace.fetch_url):
        server.add_tool(f)
    guard_mcp_server(server, workspace.make_guard(principal=None), agent=caller)
    return server


if __name__ == "__main__":
    workspace.OUT = sys.stderr  # stdout carries the protocol
    build_server().run("stdio")
