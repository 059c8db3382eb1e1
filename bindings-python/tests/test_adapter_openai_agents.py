"""OpenAI Agents SDK adapter with the real openai-agents package: function tools with
the agentauthz tool input guardrail, run by Runner with the SDK's own scripted model
(agents.testing.ScriptedModel), so no network is used."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any, List, Optional

import pytest
from agents import Agent, FunctionTool, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

import agentauthz
from agentauthz.adapters import ToolGuard, ToolRule, Verdict, typed_arguments
from agentauthz.adapters.openai_agents import authz_guardrail, guard_function_tool

from conftest import CALL_TRAIL, MCP_EXAMPLE, Audited

TOOLS = json.loads((MCP_EXAMPLE / "tools.json").read_text())
set_tracing_disabled(True)


def guard_of(engine: agentauthz.Engine, log: List[Verdict], approver: Any = None) -> ToolGuard:
    return ToolGuard(
        engine,
        principal='Agent::"ci-bot"',
        default=ToolRule(context=typed_arguments(TOOLS)),
        approver=approver,
        on_decision=log.append,
    )


def workspace_tools(ran: List[str]) -> List[FunctionTool]:
    @function_tool
    def read_file(path: str, max_bytes: int = 100) -> str:
        """Read a text file of the workspace."""
        ran.append(f"read {path}")
        return f"contents of {path}"

    @function_tool
    def delete_file(path: str) -> str:
        """Delete a file of the workspace."""
        ran.append(f"delete {path}")
        return f"deleted {path}"

    @function_tool
    async def run_command(command: str, argv: Optional[List[str]] = None) -> str:
        """Run a command in the workspace."""
        ran.append(f"run {command}")
        return f"ran {command}"

    return [read_file, delete_file, run_command]


def outputs(result: Any) -> List[str]:
    return [str(item.output) for item in result.new_items if item.type == "tool_call_output_item"]


def test_runner_allow_deny_ask(audited: Audited) -> None:
    tools_engine = audited.engine
    ran: List[str] = []
    log: List[Verdict] = []
    asked: List[Verdict] = []

    async def approver(v: Verdict) -> bool:  # async approvers are awaited
        asked.append(v)
        return v.call.arguments.get("path") == "tmp/build.log"

    guard = guard_of(tools_engine, log, approver)
    tools = [guard_function_tool(t, guard) for t in workspace_tools(ran)]
    model = ScriptedModel(
        [
            [
                function_call("read_file", {"path": "README.md"}, call_id="c1"),
                function_call("read_file", {"path": ".env"}, call_id="c2"),
                function_call("delete_file", {"path": "tmp/build.log"}, call_id="c3"),
                function_call("delete_file", {"path": "src/app.py"}, call_id="c4"),
            ],
            [assistant_message("done")],
        ]
    )
    agent = Agent(name="ci-bot", model=model, tools=tools)
    result = asyncio.run(Runner.run(agent, "tidy up"))
    assert result.final_output == "done"
    assert ran == ["read README.md", "delete tmp/build.log"]  # the denied and the refused call did not run
    out = outputs(result)
    assert out[0] == "contents of README.md" and out[2] == "deleted tmp/build.log"
    assert out[1].startswith("Tool call refused: `read_file`") and "no-secret-files" in out[1]
    assert out[3] == "Tool call refused: `delete_file` needs approval from platform, who did not approve it."
    # the model saw the refusals as the tool results of its calls
    second_call_input = model.calls[1].input
    fed_back = [i["output"] for i in second_call_input if isinstance(i, dict) and i.get("type") == "function_call_output"]
    assert any("no-secret-files" in str(o) for o in fed_back)
    assert [v.decision.ask_owner for v in asked] == ["platform", "platform"]
    assert [(v.call.tool, v.outcome, v.approved, v.proceed) for v in log] == [
        ("read_file", "allow", None, True),
        ("read_file", "deny", None, False),
        ("delete_file", "ask", True, True),
        ("delete_file", "ask", False, False),
    ]
    # the guardrail results carry the verdicts
    infos = [r.output.output_info for r in result.tool_input_guardrail_results]
    assert [v.outcome for v in infos] == ["allow", "deny", "ask", "ask"]
    assert [r.output.behavior["type"] for r in result.tool_input_guardrail_results] == [
        "allow",
        "reject_content",
        "allow",
        "reject_content",
    ]
    # The engine's audit log records each call.
    assert audited.trail() == CALL_TRAIL


def test_principal_from_the_agent_and_guardrail_in_the_decorator(tools_engine: agentauthz.Engine) -> None:
    ran: List[str] = []
    log: List[Verdict] = []
    guardrail = authz_guardrail(guard_of(tools_engine, log), agent=lambda data: ("Agent", data.agent.name))

    @function_tool(tool_input_guardrails=[guardrail])
    def run_command(command: str) -> str:
        """Run a command in the workspace."""
        ran.append(command)
        return f"ran {command}"

    def run(agent_name: str) -> List[str]:
        model = ScriptedModel([[function_call("run_command", {"command": "make"}, call_id="c1")], [assistant_message("ok")]])
        return outputs(asyncio.run(Runner.run(Agent(name=agent_name, model=model, tools=[run_command]), "build")))

    assert run("ci-bot") == ["ran make"]
    refused = run("intern")
    assert len(refused) == 1 and "interns-no-shell" in refused[0]
    assert ran == ["make"]
    assert [(v.to_dict()["principal"], v.outcome) for v in log] == [('Agent::"ci-bot"', "allow"), ('Agent::"intern"', "deny")]


def test_guard_function_tool_copies(tools_engine: agentauthz.Engine) -> None:
    original = workspace_tools([])[0]
    guarded = guard_function_tool(original, guard_of(tools_engine, []))
    assert guarded is not original and not original.tool_input_guardrails
    assert guarded.name == original.name and guarded.params_json_schema == original.params_json_schema
    assert [g.get_name() for g in guarded.tool_input_guardrails or []] == ["agentauthz"]
    with pytest.raises(TypeError):
        guard_function_tool(object(), guard_of(tools_engine, []))  # type: ignore[arg-type]


def test_example_script_runs_offline() -> None:
    env = {**os.environ, "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    out = subprocess.run(
        [sys.executable, str(MCP_EXAMPLE / "openai_agents_example.py")], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "deny  refused  fetch-allowlist" in out.stdout
    assert "-> deleted tmp/build.log" in out.stdout
