"""Overhead of the Python framework adapters per tool call, over a bare authorize.

Not a test. Run from the repository root:

    .venv/bin/pip install './bindings-python[test]'      # the adapters' frameworks too
    .venv/bin/python benches/python_adapters_bench.py [--rounds 200] [--batch 200]

The engine is policies-examples/mcp-tools; the call is read_file {"path":
"README.md"} (allowed). Each row is the median over rounds of the mean time per
call in a batch (time.perf_counter_ns), rows interleaved round by round so
machine noise hits them alike. The adapter overhead is a row minus ``bare
authorize``:

- ``ToolGuard.check``: map the ToolCall to a request (default rule: arguments as
  context, or ``typed_arguments``), authorize, build the Verdict, record it;
- LangChain: ``GuardedTool.invoke(args)`` minus the unguarded ``tool.invoke(args)``;
- OpenAI Agents SDK: the guardrail's own ``run`` (what the SDK awaits before the tool),
  on one event loop;
- MCP: the middleware's ``tools/call`` path with a stand-in ``call_next`` (what the
  server runs before its handler), on one event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "policies-examples" / "mcp-tools"

import agentauthz  # noqa: E402
from agentauthz.adapters import ToolCall, ToolGuard, ToolRule, Verdict, typed_arguments  # noqa: E402

TOOLS = json.loads((EXAMPLE / "tools.json").read_text())
ARGS = {"path": "README.md"}
PRINCIPAL = 'Agent::"ci-bot"'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=200)
    opts = parser.parse_args()
    engine = agentauthz.Engine.from_dir(EXAMPLE)
    log: List[Verdict] = []

    def record(v: Verdict) -> None:
        log.append(v)
        if len(log) > 10000:
            log.clear()

    plain = ToolGuard(engine, principal=PRINCIPAL)
    typed = ToolGuard(engine, principal=PRINCIPAL, default=ToolRule(context=typed_arguments(TOOLS)), on_decision=record)
    resource = ("Tool", "read_file")

    rows: Dict[str, Callable[[], Any]] = {
        "bare authorize": lambda: engine.authorize(PRINCIPAL, "read_file", resource, dict(ARGS)),
        "ToolGuard.check (default rule)": lambda: plain.check(ToolCall("read_file", ARGS)),
        "ToolGuard.check (typed_arguments + on_decision)": lambda: typed.check(ToolCall("read_file", ARGS)),
        "ToolGuard.run (typed + recorder, trivial tool)": lambda: typed.run(ToolCall("read_file", ARGS), lambda: "ok"),
    }

    try:
        from langchain_core.tools import tool

        from agentauthz.adapters.langchain import guard_tool

        @tool
        def read_file(path: str) -> str:
            """Read a file."""
            return "ok"

        guarded = guard_tool(read_file, typed)
        assert guarded.invoke(ARGS) == "ok"
        rows["LangChain tool.invoke (unguarded)"] = lambda: read_file.invoke(ARGS)
        rows["LangChain GuardedTool.invoke"] = lambda: guarded.invoke(ARGS)
    except ImportError:
        print("(langchain-core not installed: LangChain rows skipped)")

    loop = asyncio.new_event_loop()
    batch = opts.batch

    def run_async(coro_fn: Callable[[], Any]) -> Callable[[], Any]:
        """A batch of awaited calls inside one coroutine (timed as one batch)."""

        async def many() -> None:
            for _ in range(batch):
                await coro_fn()

        fn = lambda: loop.run_until_complete(many())  # noqa: E731
        fn.batched = True  # type: ignore[attr-defined]
        return fn

    async def bare_async() -> Any:
        return engine.authorize(PRINCIPAL, "read_file", resource, dict(ARGS))

    rows["bare authorize (in a coroutine)"] = run_async(bare_async)

    try:
        from agents import Agent, RunContextWrapper, ToolInputGuardrailData
        from agents.tool_context import ToolContext

        from agentauthz.adapters.openai_agents import authz_guardrail

        guardrail = authz_guardrail(typed)
        data = ToolInputGuardrailData(
            context=ToolContext(
                context=None, tool_name="read_file", tool_call_id="c1", tool_arguments=json.dumps(ARGS)
            ),
            agent=Agent(name="ci-bot"),
        )
        assert loop.run_until_complete(guardrail.run(data)).behavior["type"] == "allow"
        rows["Agents SDK guardrail.run"] = run_async(lambda: guardrail.run(data))
        del RunContextWrapper
    except ImportError:
        print("(openai-agents not installed: Agents SDK row skipped)")

    try:
        from agentauthz.adapters.mcp import AuthzMiddleware

        mw = AuthzMiddleware(typed)
        ctx = SimpleNamespace(method="tools/call", request_id=1, params={"name": "read_file", "arguments": ARGS}, session=None)

        async def call_next(c: Any) -> str:
            return "ok"

        assert loop.run_until_complete(mw(ctx, call_next)) == "ok"
        rows["MCP middleware tools/call"] = run_async(lambda: mw(ctx, call_next))
    except ImportError:
        print("(mcp not installed: MCP row skipped)")

    samples: Dict[str, List[float]] = {name: [] for name in rows}
    def timed(fn: Callable[[], Any]) -> float:
        """Mean microseconds per call over one batch."""
        t0 = time.perf_counter_ns()
        if getattr(fn, "batched", False):
            fn()
        else:
            for _ in range(batch):
                fn()
        return (time.perf_counter_ns() - t0) / batch / 1000

    for fn in rows.values():  # warm up
        timed(fn)
    gc.disable()
    for _ in range(opts.rounds):
        for name, fn in rows.items():
            samples[name].append(timed(fn))
    gc.enable()
    med = {name: statistics.median(v) for name, v in samples.items()}
    bare = med["bare authorize"]
    bare_async_med = med["bare authorize (in a coroutine)"]
    print(f"Python {sys.version.split()[0]}, agentauthz {agentauthz.__version__}; {opts.rounds} rounds x {opts.batch} calls; median us/call")
    print(f"{'row':<50} {'median':>8} {'overhead':>9}")
    for name, m in med.items():
        if name.startswith("bare"):
            over = ""
        elif name == "LangChain GuardedTool.invoke":
            over = f"{m - med['LangChain tool.invoke (unguarded)'] - bare:+9.2f}"
        elif name == "LangChain tool.invoke (unguarded)":
            over = "(framework)"
        elif name.startswith(("Agents SDK", "MCP")):
            over = f"{m - bare_async_med:+9.2f}"
        else:
            over = f"{m - bare:+9.2f}"
        print(f"{name:<50} {m:8.2f} {over:>9}")
    print("overhead = row - bare authorize (async rows: - bare authorize in a coroutine; "
          "LangChain: - unguarded invoke - bare authorize)")


if __name__ == "__main__":
    main()
