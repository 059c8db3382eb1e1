"""OpenAI Agents SDK: function tools with the agentauthz tool input guardrail, run by
Runner with the SDK's scripted model (agents.testing.ScriptedModel): no network.

    pip install './bindings-python[openai-agents]'
    python policies-examples/mcp-tools/openai_agents_example.py
"""

from __future__ import annotations

import asyncio

from agents import Agent, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

import workspace
from agentauthz.adapters.openai_agents import guard_function_tool

guard = workspace.make_guard()
tools = [
    guard_function_tool(function_tool(f), guard, agent=lambda data: ("Agent", data.agent.name))
    for f in (workspace.read_file, workspace.delete_file, workspace.fetch_url)
]
model = ScriptedModel(
    [
        [
            function_call("read_file", {"path": "src/app.py"}, call_id="c1"),
            function_call("fetch_url", {"url": "https://pastebin.com/raw/x", "timeout_s": 2.5}, call_id="c2"),
            function_call("delete_file", {"path": "tmp/build.log"}, call_id="c3"),
        ],
        [assistant_message("Done: read the app, the fetch was refused, the log is deleted.")],
    ]
)
agent = Agent(name="ci-bot", instructions="Tidy the workspace.", model=model, tools=tools)

print("OpenAI Agents SDK run guarded by agentauthz (policies-examples/mcp-tools):")
result = asyncio.run(Runner.run(agent, "tidy up"))
for item in result.new_items:
    if item.type == "tool_call_output_item":
        print(f"    -> {str(item.output).splitlines()[0]}")
print("final:", result.final_output)
