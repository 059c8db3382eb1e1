"""LangChain adapter with the real langchain-core: tools built with @tool, driven by
langchain-core's scripted chat model through the agent loop (model → tool calls →
ToolMessages → model), and invoked directly."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any, Dict, List, Optional

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, tool

import agentauthz
from agentauthz.adapters import ToolGuard, ToolRule, Verdict, typed_arguments
from agentauthz.adapters.langchain import GuardedTool, guard_tool, guard_tools

from conftest import CALL_TRAIL, MCP_EXAMPLE, Audited

TOOLS = json.loads((MCP_EXAMPLE / "tools.json").read_text())


def workspace_tools(ran: List[str]) -> List[BaseTool]:
    @tool
    def read_file(path: str, max_bytes: int = 100) -> str:
        """Read a text file of the workspace."""
        ran.append(f"read {path}")
        return f"contents of {path}"[:max_bytes]

    @tool
    def delete_file(path: str) -> str:
        """Delete a file of the workspace."""
        ran.append(f"delete {path}")
        return f"deleted {path}"

    @tool
    async def run_command(command: str, argv: Optional[List[str]] = None) -> str:
        """Run a command in the workspace."""
        ran.append(f"run {command}")
        return f"ran {command}"

    return [read_file, delete_file, run_command]


def guard_of(engine: agentauthz.Engine, log: List[Verdict], approver: Any = None) -> ToolGuard:
    return ToolGuard(
        engine,
        principal='Agent::"ci-bot"',
        default=ToolRule(context=typed_arguments(TOOLS)),
        approver=approver,
        on_decision=log.append,
    )


def agent_loop(model: GenericFakeChatModel, tools: List[BaseTool], config: Optional[Dict[str, Any]] = None) -> List[BaseMessage]:
    """The tool-calling loop of a LangChain agent: run each tool call, feed the results back."""
    by_name = {t.name: t for t in tools}
    messages: List[BaseMessage] = [HumanMessage("tidy the workspace")]
    while True:
        reply = model.invoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return messages
        for call in reply.tool_calls:
            messages.append(by_name[call["name"]].invoke(call, config))


def test_agent_loop_allow_deny_ask(audited: Audited) -> None:
    tools_engine = audited.engine
    ran: List[str] = []
    log: List[Verdict] = []
    asked: List[Verdict] = []

    def approver(v: Verdict) -> bool:
        asked.append(v)
        return v.call.arguments.get("path") == "tmp/build.log"

    tools = guard_tools(workspace_tools(ran), guard_of(tools_engine, log, approver))
    calls = [
        {"name": "read_file", "args": {"path": "README.md"}, "id": "c1", "type": "tool_call"},
        {"name": "read_file", "args": {"path": ".env"}, "id": "c2", "type": "tool_call"},
        {"name": "delete_file", "args": {"path": "tmp/build.log"}, "id": "c3", "type": "tool_call"},
        {"name": "delete_file", "args": {"path": "src/app.py"}, "id": "c4", "type": "tool_call"},
    ]
    model = GenericFakeChatModel(messages=iter([AIMessage(content="", tool_calls=calls), AIMessage(content="done")]))
    messages = agent_loop(model, tools)
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in results] == ["c1", "c2", "c3", "c4"]
    assert ran == ["read README.md", "delete tmp/build.log"]  # the denied and the refused call did not run
    assert results[0].content == "contents of README.md" and results[0].status == "success"
    assert results[1].status == "error" and "no-secret-files (owner: security)" in str(results[1].content)
    assert results[2].content == "deleted tmp/build.log"
    assert results[3].status == "error" and "needs approval from platform" in str(results[3].content)
    assert [(v.call.arguments.get("path"), v.decision.ask_owner) for v in asked] == [
        ("tmp/build.log", "platform"),
        ("src/app.py", "platform"),
    ]
    assert [(v.call.tool, v.outcome, v.approved, v.proceed) for v in log] == [
        ("read_file", "allow", None, True),
        ("read_file", "deny", None, False),
        ("delete_file", "ask", True, True),
        ("delete_file", "ask", False, False),
    ]
    assert messages[-1].content == "done"
    # The engine's audit log records each call.
    assert audited.trail() == CALL_TRAIL


def test_wrapped_tool_keeps_its_interface(tools_engine: agentauthz.Engine) -> None:
    ran: List[str] = []
    original = workspace_tools(ran)[0]
    guarded = guard_tool(original, guard_of(tools_engine, []))
    assert isinstance(guarded, GuardedTool) and isinstance(guarded, BaseTool)
    assert (guarded.name, guarded.description) == (original.name, original.description)
    assert guarded.tool_call_schema.model_json_schema() == original.tool_call_schema.model_json_schema()
    assert guarded.args == original.args


def test_principal_and_session_from_the_run_config(tools_engine: agentauthz.Engine) -> None:
    ran: List[str] = []
    log: List[Verdict] = []
    run_command = guard_tools(workspace_tools(ran), guard_of(tools_engine, log))[2]
    config = {"configurable": {"agentauthz_agent": 'Agent::"intern"', "agentauthz_session": "s-9"}}
    refused = asyncio.run(run_command.ainvoke({"command": "ls"}, config))
    assert ran == [] and "interns-no-shell" in refused
    assert asyncio.run(run_command.ainvoke({"command": "ls"})) == "ran ls"  # the guard's principal: ci-bot
    assert ran == ["run ls"]
    assert [(v.to_dict()["principal"], v.call.session, v.outcome) for v in log] == [
        ('Agent::"intern"', "s-9", "deny"),
        ('Agent::"ci-bot"', None, "allow"),
    ]
    # explicit agent= wins, as a function of the config
    fixed = guard_tool(workspace_tools(ran)[2], guard_of(tools_engine, log), agent=lambda cfg: ("Agent", "intern"))
    assert "interns-no-shell" in asyncio.run(fixed.ainvoke({"command": "ls"}))


def test_direct_and_legacy_invocation(tools_engine: agentauthz.Engine) -> None:
    ran: List[str] = []
    log: List[Verdict] = []
    read_file = guard_tools(workspace_tools(ran), guard_of(tools_engine, log))[0]
    assert read_file.invoke({"path": "a.txt", "max_bytes": 11}) == "contents of"
    assert read_file.run({"path": "b.txt"}) == "contents of b.txt"  # BaseTool.run path
    refused = read_file.run({"path": "secrets/k"})
    assert refused.startswith("Tool call refused") and ran == ["read a.txt", "read b.txt"]
    assert [v.outcome for v in log] == ["allow", "allow", "deny"]


def test_example_script_runs_offline() -> None:
    out = subprocess.run(
        [sys.executable, str(MCP_EXAMPLE / "langchain_example.py")], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "deny  refused  no-secret-files" in out.stdout
    assert "-> deleted tmp/build.log" in out.stdout
    assert "who did not approve it" in out.stdout
