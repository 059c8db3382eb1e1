"""Per-call decision time from Python: agentauthz vs cedarpy, side by side.

Not a test. Run from the repository root:

    python3 -m venv .venv
    .venv/bin/pip install ./bindings-python cedarpy
    .venv/bin/python benches/python_bench.py [--rounds 300]

Requests: about 20 realistic cases of policies-examples/coding-agent/cases.toml
(every outcome, several actions), each timed one call at a time with
``time.perf_counter_ns`` (calls bound with ``functools.partial``, so no
Python frame of the benchmark's is inside the timing). agentauthz decides with ``Engine.authorize_at``
(the loaded engine, the case's ``now``); cedarpy with ``is_authorized`` on
pre-parsed ``PolicySet``, ``Entities`` and ``Schema`` handles, the fastest
way its README documents, with ``context.now`` filled in by the caller (plain
Cedar has no clock). Both use cedar-policy underneath; agentauthz also
reports allow/deny/ask with owners. Batch rows show the per-request cost of
``authorize_batch`` / ``is_authorized_batch`` over the same requests.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "policies-examples" / "coding-agent"

try:
    import agentauthz
except ImportError:
    sys.exit("agentauthz is not installed: pip install ./bindings-python")


def pick_cases(n: int = 20) -> List[Dict[str, Any]]:
    """About `n` cases spread over the file, with every outcome represented."""
    cases = agentauthz.load_cases(EXAMPLE / "cases.toml")
    step = max(1, len(cases) // n)
    chosen = cases[::step][:n]
    for outcome in ("allow", "deny", "ask"):
        if not any(c["outcome"] == outcome for c in chosen):
            chosen[-1] = next(c for c in cases if c["outcome"] == outcome)
    return chosen


def percentile(samples: List[int], q: float) -> float:
    """The q-th percentile (0..100) of nanosecond samples, in microseconds."""
    s = sorted(samples)
    i = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[i] / 1000.0


def time_calls(calls: List[Callable[[], Any]], rounds: int) -> List[int]:
    """Runs every call `rounds` times (after a warm-up), timing each one."""
    for f in calls * 20:
        f()
    samples: List[int] = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for _ in range(rounds):
            for f in calls:
                t0 = clock()
                f()
                samples.append(clock() - t0)
    finally:
        gc.enable()
    return samples


def time_batch(run: Callable[[], Any], size: int, rounds: int) -> List[int]:
    """Per-request time of a batch call, one sample per batch."""
    for _ in range(5):
        run()
    out = []
    for _ in range(max(10, rounds // 5)):
        t0 = time.perf_counter_ns()
        run()
        out.append((time.perf_counter_ns() - t0) // size)
    return out


def agentauthz_calls(cases: List[Dict[str, Any]]) -> Tuple[List[Callable[[], Any]], Callable[[], Any], List[str]]:
    engine = agentauthz.Engine.from_dir(EXAMPLE)
    calls = []
    outcomes = []
    for c in cases:
        r = c["request"]
        args = (r["principal"], r["action"], r["resource"], r["context"])
        now = c["now"]
        # functools.partial (C): the call itself is timed, not a Python frame around it.
        calls.append(functools.partial(engine.authorize_at, *args, now=now))
        outcomes.append(engine.authorize_at(*args, now=now).outcome)
    by_now: Dict[str, List[Dict[str, Any]]] = {}
    for c in cases:
        by_now.setdefault(c["now"], []).append(c["request"])
    groups = list(by_now.items())  # one batch per clock reading

    def batch() -> Any:
        return [engine.authorize_batch(reqs, now=now) for now, reqs in groups]

    return calls, batch, outcomes


def cedarpy_calls(cases: List[Dict[str, Any]]) -> Optional[Tuple[List[Callable[[], Any]], Callable[[], Any], List[str]]]:
    try:
        import cedarpy
    except ImportError:
        return None
    schema_text = next(EXAMPLE.glob("*.cedarschema")).read_text()
    policies_text = "\n".join(p.read_text() for p in sorted(EXAMPLE.glob("*.cedar")))
    entities_text = (EXAMPLE / "entities.json").read_text()
    schema = cedarpy.Schema.from_str(schema_text)
    policies = cedarpy.PolicySet.from_str(policies_text)
    entities = cedarpy.Entities.from_json_str(entities_text, schema=schema)
    requests = []
    for c in cases:
        r = c["request"]
        context = copy.deepcopy(r["context"])
        context["now"] = {"__extn": {"fn": "datetime", "arg": c["now"]}}
        action = r["action"] if "::" in r["action"] else f'Action::"{r["action"]}"'
        requests.append({"principal": r["principal"], "action": action, "resource": r["resource"], "context": context})
    calls = [functools.partial(cedarpy.is_authorized, req, policies, entities, schema=schema) for req in requests]
    outcomes = []
    for req in requests:
        res = cedarpy.is_authorized(req, policies, entities, schema=schema)
        if res.diagnostics.errors and not res.allowed:
            outcomes.append("error: " + str(res.diagnostics.errors)[:80])
        else:
            outcomes.append("allow" if res.allowed else "deny")

    def batch() -> Any:
        return cedarpy.is_authorized_batch(requests, policies, entities, schema=schema)

    return calls, batch, outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=300, help="passes over the request set (default 300)")
    ap.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="pin the process to this CPU (os.sched_setaffinity): steadier medians on hosts that migrate processes",
    )
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    cases = pick_cases()
    print(f"{len(cases)} requests from {EXAMPLE.relative_to(REPO)}/cases.toml, {args.rounds} rounds, Python {sys.version.split()[0]}")

    a_calls, a_batch, a_out = agentauthz_calls(cases)
    rows = [("agentauthz  authorize_at", time_calls(a_calls, args.rounds))]
    rows.append(("agentauthz  authorize_batch (per request)", time_batch(a_batch, len(cases), args.rounds)))
    c = cedarpy_calls(cases)
    if c is None:
        print("cedarpy is not installed: `pip install cedarpy` for the side-by-side run")
    else:
        c_calls, c_batch, c_out = c
        rows.append(("cedarpy     is_authorized (pre-parsed handles)", time_calls(c_calls, args.rounds)))
        rows.append(("cedarpy     is_authorized_batch (per request)", time_batch(c_batch, len(cases), args.rounds)))
        # Same answers (cedarpy has no ask: an @ask forbid denies).
        for case, a, b in zip(cases, a_out, c_out):
            want = "deny" if a == "ask" else a
            if want != b:
                print(f"  note: {case['name']!r}: agentauthz {a}, cedarpy {b}")

    print()
    print(f"{'':48} {'median us':>10} {'p99 us':>10}")
    medians = {}
    for name, samples in rows:
        med, p99 = percentile(samples, 50), percentile(samples, 99)
        medians[name] = med
        print(f"{name:48} {med:10.1f} {p99:10.1f}")
    if c is not None:
        a_med = percentile(rows[0][1], 50)
        c_med = percentile(rows[2][1], 50)
        print()
        print(f"per-call median ratio cedarpy / agentauthz: {c_med / a_med:.2f}x")
        print(f"batch ratio cedarpy / agentauthz: {percentile(rows[3][1], 50) / percentile(rows[1][1], 50):.2f}x")
    # How much of a call is the engine itself (Decision.eval_us) vs the binding.
    engine = agentauthz.Engine.from_dir(EXAMPLE)
    evals = []
    for _ in range(20):
        for case in cases:
            r = case["request"]
            d = engine.authorize_at(r["principal"], r["action"], r["resource"], r["context"], now=case["now"])
            evals.append(int(d.eval_us * 1000))
    print(f"agentauthz core time inside a call (Decision.eval_us) median: {percentile(evals, 50):.1f} us")
    outcomes = statistics.multimode(a_out)
    print(f"outcomes: {', '.join(f'{o}={a_out.count(o)}' for o in ('allow', 'deny', 'ask'))} (most common: {outcomes[0]})")


if __name__ == "__main__":
    main()
