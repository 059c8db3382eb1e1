"""agentauthz.adapters: the framework-independent guard (mapping, outcomes,
approvals, recording) and packaging (the core pulls no framework)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from importlib import metadata
from typing import Any, Dict, List

import pytest

import agentauthz
from agentauthz.adapters import ToolCall, ToolGuard, ToolRule, Verdict, typed_arguments

from conftest import MCP_EXAMPLE

TOOLS = json.loads((MCP_EXAMPLE / "tools.json").read_text())
FRAMEWORKS = {"langchain-core", "openai-agents", "mcp"}


def _name(requirement: str) -> str:
    m = re.match(r"[A-Za-z0-9_.\-]+", requirement)
    assert m is not None, requirement
    return m.group(0).lower().replace("_", "-")


def test_core_install_requires_no_framework() -> None:
    reqs = metadata.requires("agentauthz") or []
    unconditional = [r for r in reqs if "extra ==" not in r]
    assert unconditional == [], f"the core package must not require anything: {unconditional}"
    by_extra: Dict[str, set] = {}
    for r in reqs:
        extra = re.search(r"extra == ['\"]([^'\"]+)", r)
        assert extra is not None
        by_extra.setdefault(extra.group(1), set()).add(_name(r))
    assert by_extra["langchain"] == {"langchain-core"}
    assert by_extra["openai-agents"] == {"openai-agents"}
    assert by_extra["mcp"] == {"mcp"}
    assert FRAMEWORKS <= by_extra["test"]


def test_importing_the_adapters_core_imports_no_framework() -> None:
    code = (
        "import sys, agentauthz, agentauthz.adapters\n"
        "heavy = {'langchain_core', 'agents', 'mcp', 'mcp_types', 'pydantic', 'openai'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def recorder() -> List[Verdict]:
    return []


def make(engine: agentauthz.Engine, log: List[Verdict], **kw: Any) -> ToolGuard:
    kw.setdefault("principal", 'Agent::"ci-bot"')
    return ToolGuard(engine, default=ToolRule(context=typed_arguments(TOOLS)), on_decision=log.append, **kw)


def test_default_mapping_and_overrides(tools_engine: agentauthz.Engine) -> None:
    g = ToolGuard(tools_engine, principal='Agent::"ci-bot"')
    call = ToolCall("read_file", {"path": "README.md"}, session="s-1")
    assert g.request(call) == {
        "principal": 'Agent::"ci-bot"',
        "action": "read_file",
        "resource": ("Tool", "read_file"),
        "context": {"path": "README.md"},
    }
    # the call's agent wins over the guard's principal
    assert g.request(ToolCall("read_file", {}, agent=("Agent", "intern")))["principal"] == ("Agent", "intern")
    seen: List[ToolCall] = []

    def resource(c: ToolCall) -> Any:
        seen.append(c)
        return ("Tool", "read_file")

    g2 = ToolGuard(
        tools_engine,
        principal='Agent::"ci-bot"',
        default={"context": lambda c: {"path": c.arguments["file"]}},
        rules={
            "cat": ToolRule(action="read_file", resource=resource),
            "shell": {"action": "run_command", "principal": 'Agent::"intern"', "context": {"command": "ls"}},
        },
    )
    cat = ToolCall("cat", {"file": ".env"})
    assert g2.request(cat) == {
        "principal": 'Agent::"ci-bot"',
        "action": "read_file",
        "resource": ("Tool", "read_file"),
        "context": {"path": ".env"},
    }
    assert seen == [cat]
    assert g2.check(cat).decision.policy_ids == ["no-secret-files"]
    shell = g2.check(ToolCall("shell", {}, agent='Agent::"ci-bot"'))
    assert shell.request is not None and shell.request["principal"] == 'Agent::"intern"'
    assert shell.outcome == "deny" and shell.decision.policy_ids == ["interns-no-shell"]
    with pytest.raises(TypeError, match="unknown ToolRule keys"):
        ToolGuard(tools_engine, rules={"x": {"actoin": "read_file"}})


def test_allow_runs_deny_refuses_and_everything_is_recorded(tools_engine: agentauthz.Engine) -> None:
    log: List[Verdict] = []
    g = make(tools_engine, log)
    ran: List[str] = []
    ok = g.run(ToolCall("read_file", {"path": "README.md"}), lambda: ran.append("read") or "contents")
    assert ok == "contents" and ran == ["read"]
    refused = g.run(ToolCall("read_file", {"path": "app/.env"}), lambda: ran.append("secret") or "leak")
    assert ran == ["read"]  # the denied tool did not run
    assert isinstance(refused, str) and refused.startswith("Tool call refused: `read_file`")
    assert "no-secret-files (owner: security)" in refused
    assert [(v.call.tool, v.outcome, v.proceed) for v in log] == [("read_file", "allow", True), ("read_file", "deny", False)]
    assert log[1].message == refused and log[1].decision.policy_ids == ["no-secret-files"]
    summary = log[1].to_dict()
    json.dumps(summary)
    assert summary["principal"] == 'Agent::"ci-bot"' and summary["resource"] == 'Tool::"read_file"'
    assert summary["decision"]["outcome"] == "deny"


def test_ask_runs_only_when_the_approver_approves(tools_engine: agentauthz.Engine) -> None:
    log: List[Verdict] = []
    asked: List[Verdict] = []

    def approver(v: Verdict) -> bool:
        asked.append(v)
        return str(v.call.arguments["path"]).startswith("tmp/")

    g = make(tools_engine, log, approver=approver)
    ran: List[str] = []
    assert g.run(ToolCall("delete_file", {"path": "tmp/x"}), lambda: ran.append("tmp/x") or "deleted") == "deleted"
    refused = g.run(ToolCall("delete_file", {"path": "src/app.py"}), lambda: ran.append("src") or "deleted")
    assert ran == ["tmp/x"]
    assert refused == "Tool call refused: `delete_file` needs approval from platform, who did not approve it."
    assert [v.decision.ask_owner for v in asked] == ["platform", "platform"]
    assert all(v.decision.approval_id and v.decision.approval_id.startswith("apr-") for v in asked)
    assert [(v.outcome, v.approved, v.proceed) for v in log] == [("ask", True, True), ("ask", False, False)]
    # an approver must say True: a truthy non-bool is not an approval
    g_truthy = make(tools_engine, [], approver=lambda v: "yes")
    assert not g_truthy.check(ToolCall("delete_file", {"path": "tmp/x"})).proceed
    # no approver: an ask is refused, and says so
    none_log: List[Verdict] = []
    v = make(tools_engine, none_log).check(ToolCall("delete_file", {"path": "tmp/x"}))
    assert (v.outcome, v.approved, v.proceed) == ("ask", None, False)
    assert v.message == "Tool call refused: `delete_file` needs approval from platform, and none was given."
    assert none_log == [v]


def test_an_approval_goes_through_the_engine() -> None:
    """An approved ask is handed to Engine.approve (one use, by approver_name)
    and decided again: the engine allows it by the approval; if the engine
    then refuses (the agent was revoked meanwhile), the tool does not run."""
    tools_engine = agentauthz.Engine.from_dir(MCP_EXAMPLE)  # its own: approvals and revocations are state
    log: List[Verdict] = []
    g = make(tools_engine, log, approver=lambda v: True, approver_name="alice")
    ran: List[str] = []
    assert g.run(ToolCall("delete_file", {"path": "tmp/a"}), lambda: ran.append("a") or "deleted") == "deleted"
    v = log[-1]
    assert (v.outcome, v.approved, v.proceed) == ("ask", True, True)
    assert v.approval is not None and v.approval.outcome == "allow"
    assert [r.policy_id for r in v.approval.reasons] == ["approval:" + v.decision.approval_id]
    assert "alice" in json.dumps(v.approval.to_dict())
    # one use: the same call asks again next time
    assert tools_engine.authorize('Agent::"ci-bot"', "delete_file", ("Tool", "delete_file"), {"path": "tmp/a"}).outcome == "ask"

    def revoking(v: Verdict) -> bool:
        tools_engine.revoke(agent='Agent::"ci-bot"', reason="incident")
        return True

    g2 = make(tools_engine, log, approver=revoking)
    try:
        assert g2.run(ToolCall("delete_file", {"path": "tmp/b"}), lambda: ran.append("b") or "deleted") != "deleted"
    finally:
        tools_engine.restore(agent='Agent::"ci-bot"')
    v = log[-1]
    assert (v.outcome, v.approved, v.proceed) == ("ask", False, False)
    assert v.approval is not None and v.approval.outcome == "deny"
    assert "after the approval" in (v.error or "")
    assert ran == ["a"]


def test_async_approver(tools_engine: agentauthz.Engine) -> None:
    log: List[Verdict] = []

    async def approver(v: Verdict) -> bool:
        await asyncio.sleep(0)
        return v.call.session == "s-approved"

    g = make(tools_engine, log, approver=approver)

    async def tool() -> str:
        return "deleted"

    async def main() -> List[Any]:
        return [
            await g.arun(ToolCall("delete_file", {"path": "a"}, session="s-approved"), tool),
            await g.arun(ToolCall("delete_file", {"path": "a"}, session="s-other"), tool),
        ]

    first, second = asyncio.run(main())
    assert first == "deleted" and second.startswith("Tool call refused")
    # from sync code outside an event loop, an async approver is run to completion
    assert g.check(ToolCall("delete_file", {"path": "a"}, session="s-approved")).proceed

    async def sync_check_inside_loop() -> None:
        g.check(ToolCall("delete_file", {"path": "a"}, session="s-approved"))

    with pytest.raises(RuntimeError, match="async approver"):
        asyncio.run(sync_check_inside_loop())
    assert [v.approved for v in log] == [True, False, True, False]


def test_approver_error_is_recorded_and_propagates(tools_engine: agentauthz.Engine) -> None:
    log: List[Verdict] = []

    def approver(v: Verdict) -> bool:
        raise ConnectionError("approval service down")

    g = make(tools_engine, log, approver=approver)
    ran: List[int] = []
    with pytest.raises(ConnectionError):
        g.run(ToolCall("delete_file", {"path": "tmp/x"}), lambda: ran.append(1))
    assert ran == [] and [(v.outcome, v.approved, v.proceed) for v in log] == [("ask", False, False)]


def test_fail_closed_on_unmappable_calls(tools_engine: agentauthz.Engine) -> None:
    log: List[Verdict] = []
    ran: List[int] = []
    # a float has no Cedar value: the request cannot be built
    g = ToolGuard(tools_engine, principal='Agent::"ci-bot"', on_decision=log.append)
    out = g.run(ToolCall("fetch_url", {"url": "https://pypi.org/", "timeout_s": 2.5}), lambda: ran.append(1))
    assert ran == [] and log[-1].outcome == "deny" and log[-1].decision is None
    assert "RequestError" in (log[-1].error or "") and out.startswith("Tool call refused: `fetch_url`")
    # typed_arguments leaves the float out, so the same call is decided by the policies
    assert make(tools_engine, log).check(ToolCall("fetch_url", {"url": "https://pypi.org/", "timeout_s": 2.5})).proceed
    # a rule that raises
    broken = ToolGuard(tools_engine, principal='Agent::"ci-bot"', rules={"read_file": {"context": lambda c: c.arguments["nope"]}})
    v = broken.check(ToolCall("read_file", {"path": "x"}))
    assert v.outcome == "deny" and "KeyError" in (v.error or "")
    # no principal at all
    v = ToolGuard(tools_engine).check(ToolCall("read_file", {"path": "x"}))
    assert v.outcome == "deny" and "no principal" in (v.error or "")
    # an argument of the wrong type reaches the engine, which denies it (schema error)
    v = make(tools_engine, log).check(ToolCall("read_file", {"path": "x", "max_bytes": "ten"}))
    assert v.outcome == "deny" and v.decision is not None and v.decision.errors
    assert "errors:" in (v.message or "")
    # an unknown tool has no action in the schema: denied
    v = make(tools_engine, log).check(ToolCall("format_disk", {}))
    assert v.outcome == "deny" and not v.proceed
