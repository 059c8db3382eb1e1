"""MCP: the guarded MCP server of mcp_server.py and a real MCP client talking to it
over in-memory streams (JSON-RPC, with the initialize handshake). Each client's name is its principal, so the intern is not
even shown run_command. Offline.

    pip install './bindings-python[mcp]'
    python policies-examples/mcp-tools/mcp_example.py
"""

from __future__ import annotations

from typing import Any, List, Tuple

import anyio
from mcp import Client
from mcp_types import Implementation

from mcp_server import build_server

server = build_server()


async def session(name: str, calls: List[Tuple[str, Any]]) -> None:
    print(f"MCP client {name!r}:")
    async with Client(server, client_info=Implementation(name=name, version="1"), mode="legacy") as client:
        listed = await client.list_tools()
        print("  tools listed:", ", ".join(t.name for t in listed.tools))
        for tool, args in calls:
            result = await client.call_tool(tool, args)
            print(f"    -> {'ERROR ' if result.is_error else ''}{result.content[0].text.splitlines()[0]}")


async def main() -> None:
    await session("ci-bot", [("run_command", {"command": "make", "argv": ["test"]}), ("read_file", {"path": ".env"})])
    await session("intern", [("run_command", {"command": "ls"}), ("delete_file", {"path": "src/app.py"})])


anyio.run(main)
