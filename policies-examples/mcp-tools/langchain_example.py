"""LangChain: guarded langchain-core tools, invoked the way an agent invokes them
(tool-call dicts, which return ToolMessages). Offline.

    pip install './bindings-python[langchain]'
    python policies-examples/mcp-tools/langchain_example.py
"""

from __future__ import annotations

from langchain_core.tools import tool

import workspace
from agentauthz.adapters.langchain import guard_tools

tools = guard_tools(
    [tool(f) for f in (workspace.read_file, workspace.write_file, workspace.delete_file, workspace.run_command)],
    workspace.make_guard(),
)
by_name = {t.name: t for t in tools}

calls = [
    ("read_file", {"path": "README.md"}),
    ("read_file", {"path": ".env"}),
    ("delete_file", {"path": "tmp/build.log"}),
    ("delete_file", {"path": "src/app.py"}),
    ("run_command", {"command": "git", "argv": ["push", "--force"]}),
    ("run_command", {"command": "pytest", "argv": ["-q"]}),
]
print("LangChain tools guarded by agentauthz (policies-examples/mcp-tools):")
for i, (name, args) in enumerate(calls):
    message = by_name[name].invoke({"type": "tool_call", "id": f"call-{i}", "name": name, "args": args})
    print(f"    -> {message.content.splitlines()[0]}")
