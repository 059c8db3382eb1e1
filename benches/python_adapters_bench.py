"""Overhead of the Python framework adapters per tool call, over a bare authorize.

Not a test. Run from the repository root:

    .venv/bin/pip install './bindings-python[test]'      # the adapters' frameworks too
    .venv/bin/python benches/python_adapters_bench.py [--rounds 200] [--batch 200]

The engine is policies-examples/mcp-tools; the call is read_file {"path":
"README.md"} (allowed). Each row is the median over rounds of the mean time per
call in a batch (time.perf_counter_ns), rows interleaved round by round so
machine noise hits them alike. An adapter's overhead is the median, over
rounds, of its batch minus its baseline's batch in the same round (paired, so
drift between rounds cancels), with the quartiles of those differences.

What an adapter adds is measured against a *bare authorize in the same place*:
a minimal hand-written integration of the same framework that calls
``engine.authorize`` itself (no rules, no verdict, no approver, no recording).
That keeps the framework's own cost, and what the framework does to the caches
around the call, out of the adapter's figure:

- ``ToolGuard.check``: map the ToolCall to a request (default rule: arguments as
  context, or ``typed_arguments``), authorize, build the Verdict, record it;
  against ``engine.authorize`` alone;
- LangChain: ``GuardedTool.invoke(args)`` against ``engine.authorize(...)`` then
  the unguarded ``invoke(args)``, twice: around a trivial tool whose ``invoke``
  returns at once (the adapter's own path, as the Agents SDK and MCP rows
  measure theirs), and around a real ``@tool`` whose ``invoke`` runs LangChain's
  callback and validation machinery (about 350 us that evicts the caches, so
  every Python line after it, the bare authorize's included, runs slower);
- OpenAI Agents SDK: the guardrail's ``run`` (what the SDK awaits before the tool)
  against a minimal guardrail that parses the arguments, authorizes and returns
  ``ToolGuardrailFunctionOutput.allow``, on one event loop;
- LangChain, call by call (last table): the real ``@tool`` again, each call
  timed alone and paired with the bare authorize of the same round, with a
  95% confidence interval of the median difference (batch pairing drifts by
  tens of microseconds at ~300 us per call);
- MCP: the middleware's ``tools/call`` path with a stand-in ``call_next`` (what the
  server runs before its handler) against a minimal middleware that authorizes
  the call's name and arguments and awaits ``call_next``, on one event loop.
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
    parser.add_argument("--real-calls", type=int, default=3000, help="call-by-call pairs for the real LangChain tool")
    opts = parser.parse_args()
    engine = agentauthz.Engine.from_dir(EXAMPLE)
    # The on_decision hook: counts the verdicts and keeps the last one (as a hook
    # that hands each verdict to a logger would). A hook that keeps thousands of
    # verdicts alive costs more (the "keeping 10,000" row): that is the
    # application's storage, not the adapter.
    seen: Dict[str, Any] = {"count": 0, "last": None}

    def record(v: Verdict) -> None:
        seen["count"] += 1
        seen["last"] = v

    kept: List[Verdict] = []

    def keep(v: Verdict) -> None:
        kept.append(v)
        if len(kept) > 10000:
            kept.clear()

    plain = ToolGuard(engine, principal=PRINCIPAL)
    typed = ToolGuard(engine, principal=PRINCIPAL, default=ToolRule(context=typed_arguments(TOOLS)), on_decision=record)
    keeping = ToolGuard(engine, principal=PRINCIPAL, default=ToolRule(context=typed_arguments(TOOLS)), on_decision=keep)
    resource = ("Tool", "read_file")

    rows: Dict[str, Callable[[], Any]] = {
        "bare authorize": lambda: engine.authorize(PRINCIPAL, "read_file", resource, dict(ARGS)),
        "ToolGuard.check (default rule)": lambda: plain.check(ToolCall("read_file", ARGS)),
        "ToolGuard.check (typed_arguments + on_decision)": lambda: typed.check(ToolCall("read_file", ARGS)),
        "ToolGuard.run (typed + recorder, trivial tool)": lambda: typed.run(ToolCall("read_file", ARGS), lambda: "ok"),
        "ToolGuard.check (typed, keeping 10,000 verdicts)": lambda: keeping.check(ToolCall("read_file", ARGS)),
    }

    try:
        from langchain_core.tools import BaseTool, tool

        from agentauthz.adapters.langchain import guard_tool

        @tool
        def read_file(path: str) -> str:
            """Read a file."""
            return "ok"

        guarded = guard_tool(read_file, typed)
        assert guarded.invoke(ARGS) == "ok"
        class Trivial(BaseTool):
            """A tool whose invoke returns at once: the adapter's own path, without LangChain's run machinery."""

            name: str = "read_file"
            description: str = "Read a file."

            def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
                return "ok"

            def _run(self, *args: Any, **kwargs: Any) -> Any:
                return "ok"

        trivial = Trivial()
        guarded_trivial = guard_tool(trivial, typed)
        assert guarded_trivial.invoke(ARGS) == "ok"
        rows["LangChain bare authorize + trivial tool.invoke"] = lambda: (
            engine.authorize(PRINCIPAL, "read_file", resource, dict(ARGS)),
            trivial.invoke(ARGS),
        )
        rows["LangChain GuardedTool.invoke (trivial tool)"] = lambda: guarded_trivial.invoke(ARGS)
        guarded_trivial_plain = guard_tool(trivial, plain)
        rows["LangChain GuardedTool.invoke (trivial, default rule)"] = lambda: guarded_trivial_plain.invoke(ARGS)
        rows["LangChain tool.invoke (unguarded)"] = lambda: read_file.invoke(ARGS)
        rows["LangChain bare authorize + tool.invoke"] = lambda: (
            engine.authorize(PRINCIPAL, "read_file", resource, dict(ARGS)),
            read_file.invoke(ARGS),
        )
        rows["LangChain GuardedTool.invoke"] = lambda: guarded.invoke(ARGS)
        guarded_plain = guard_tool(read_file, plain)
        real_slot = {
            "bare authorize + tool.invoke": lambda: (
                engine.authorize(PRINCIPAL, "read_file", resource, dict(ARGS)),
                read_file.invoke(ARGS),
            ),
            "GuardedTool.invoke (typed)": lambda: guarded.invoke(ARGS),
            "GuardedTool.invoke (default rule)": lambda: guarded_plain.invoke(ARGS),
            "tool.invoke (unguarded)": lambda: read_file.invoke(ARGS),
        }
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
        from agents import Agent, RunContextWrapper, ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData
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

        async def minimal_guardrail(d: Any) -> Any:
            arguments = json.loads(d.context.tool_arguments)
            decision = engine.authorize(PRINCIPAL, d.context.tool_name, ("Tool", d.context.tool_name), arguments)
            if decision.allowed:
                return ToolGuardrailFunctionOutput.allow(output_info=decision)
            return ToolGuardrailFunctionOutput.reject_content("refused", output_info=decision)

        minimal = ToolInputGuardrail(guardrail_function=minimal_guardrail, name="minimal")
        assert loop.run_until_complete(minimal.run(data)).behavior["type"] == "allow"
        rows["Agents SDK minimal guardrail.run (bare authorize)"] = run_async(lambda: minimal.run(data))
        rows["Agents SDK guardrail.run"] = run_async(lambda: guardrail.run(data))
        guardrail_plain = authz_guardrail(plain)
        rows["Agents SDK guardrail.run (default rule)"] = run_async(lambda: guardrail_plain.run(data))
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

        async def minimal_mw(c: Any, nxt: Any) -> Any:
            if c.method == "tools/call":
                name = c.params["name"]
                if not engine.authorize(PRINCIPAL, name, ("Tool", name), dict(c.params["arguments"])).allowed:
                    return "refused"
            return await nxt(c)

        rows["MCP minimal middleware (bare authorize)"] = run_async(lambda: minimal_mw(ctx, call_next))
        rows["MCP middleware tools/call"] = run_async(lambda: mw(ctx, call_next))
        mw_plain = AuthzMiddleware(plain)
        rows["MCP middleware tools/call (default rule)"] = run_async(lambda: mw_plain(ctx, call_next))
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
    print(f"Python {sys.version.split()[0]}, agentauthz {agentauthz.__version__}; {opts.rounds} rounds x {opts.batch} calls; median us/call")
    print(f"{'row':<52} {'median':>8} {'overhead':>9} {'IQR':>15}")
    baseline = {
        "LangChain GuardedTool.invoke (trivial tool)": "LangChain bare authorize + trivial tool.invoke",
        "LangChain GuardedTool.invoke (trivial, default rule)": "LangChain bare authorize + trivial tool.invoke",
        "Agents SDK guardrail.run (default rule)": "Agents SDK minimal guardrail.run (bare authorize)",
        "MCP middleware tools/call (default rule)": "MCP minimal middleware (bare authorize)",
        "LangChain GuardedTool.invoke": "LangChain bare authorize + tool.invoke",
        "Agents SDK guardrail.run": "Agents SDK minimal guardrail.run (bare authorize)",
        "MCP middleware tools/call": "MCP minimal middleware (bare authorize)",
    }
    for name, m in med.items():
        base = baseline.get(name, "bare authorize" if name.startswith("ToolGuard") else None)
        if base is None:
            print(f"{name:<52} {m:8.2f}")
            continue
        # Paired: each round's row minus its baseline measured in the same
        # round (a few milliseconds apart), so host drift between rounds cancels.
        diffs = sorted(a - b for a, b in zip(samples[name], samples[base]))
        q1, q3 = diffs[len(diffs) // 4], diffs[(3 * len(diffs)) // 4]
        print(f"{name:<52} {m:8.2f} {statistics.median(diffs):+9.2f} {f'[{q1:+.2f}, {q3:+.2f}]':>15}")
    if "real_slot" in locals():
        real_slot_pairs(real_slot, opts.real_calls)
    print("overhead = median over rounds of (row - the same framework slot with a bare authorize, the "
          "framework's first row, in the same round); IQR: its quartiles. ToolGuard rows: - bare authorize. "
          "Adapter rows use the typed guard (typed_arguments context and an on_decision recorder) unless "
          "marked 'default rule' (the guard with no options: the same request as the bare authorize)")

def real_slot_pairs(calls: Dict[str, Callable[[], Any]], n: int) -> None:
    """The real LangChain tool, call by call: each round times every call once,
    in an order that rotates, so each guarded call is paired with the bare
    authorize of the same round (a millisecond apart). Batches of ~300 us calls
    drift too much between batches to pair well; single calls pair tightly and
    many pairs give the median a narrow confidence interval (order statistics).
    The caches are cold here for everyone: LangChain's own run evicts them, so
    the bare authorize itself costs several times its hot-loop time."""
    names = list(calls)
    fns = [calls[k] for k in names]
    for _ in range(200):
        for f in fns:
            f()
    clock = time.perf_counter_ns
    times: List[List[float]] = [[] for _ in fns]
    gc.disable()
    for i in range(n):
        k = len(fns)
        for j in range(k):
            at = (i + j) % k
            t0 = clock()
            fns[at]()
            times[at].append((clock() - t0) / 1000)
    gc.enable()
    base = times[0]
    z = int(1.96 * (n ** 0.5) / 2)
    print(f"\nLangChain real @tool, call by call ({n} rounds, each call timed alone; us):")
    for name, ts in zip(names, times):
        line = f"  {name:<38} median {statistics.median(ts):8.2f}"
        if ts is not base:
            d = sorted(a - b for a, b in zip(ts, base))
            line += f"   minus bare: {statistics.median(d):+7.2f}  95% CI [{d[n // 2 - z]:+.2f}, {d[n // 2 + z]:+.2f}]"
        print(line)


if __name__ == "__main__":
    main()
