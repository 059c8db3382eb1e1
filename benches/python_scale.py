"""agentauthz (Python binding) vs cedarpy on the generated workload folders.

Not a test; run by ``benches/run_all.py`` (``scripts/bench-all.sh``), which
writes the folders with ``gen-workload``. Prints one JSON object per size.

    python benches/python_scale.py --dir target/bench-workloads --sizes 10,1000 [--quick]

Each decision is timed alone with ``time.perf_counter_ns``. agentauthz:
``Engine.authorize`` on the loaded engine, arguments converted once outside
the loop. cedarpy: ``is_authorized`` on pre-parsed ``Schema``, ``PolicySet``
and ``Entities`` handles, the fastest per-call way its README documents; it
evaluates the whole policy set per call, so it gets a time budget per size
(the number of samples is reported). Every decision is compared with the
outcomes recorded in ``requests.jsonl`` (agentauthz: allow/deny/ask; cedarpy:
plain Cedar's allow/deny); a difference exits with status 1.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple


def percentiles(ns: List[int]) -> Tuple[float, float]:
    s = sorted(ns)
    at = lambda q: s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] / 1000.0  # noqa: E731
    return at(0.5), at(0.99)


def ref(e: Dict[str, str]) -> str:
    return f'{e["type"]}::{json.dumps(e["id"])}'


def load(dir: Path) -> Tuple[str, str, str, List[Dict[str, Any]]]:
    rows = [json.loads(line) for line in (dir / "requests.jsonl").read_text().splitlines() if line]
    return (
        (dir / "workload.cedarschema").read_text(),
        (dir / "policies.cedar").read_text(),
        (dir / "entities.json").read_text(),
        rows,
    )


def fail(message: str) -> None:
    print(f"python_scale: {message}", file=sys.stderr)
    sys.exit(1)


def measure(dir: Path, n: int, rounds: int, budget_s: float) -> Dict[str, Any]:
    import agentauthz

    schema, policies, entities, rows = load(dir)
    t = time.perf_counter_ns()
    engine = agentauthz.Engine(schema, policies, entities)
    load_us = (time.perf_counter_ns() - t) / 1000
    args = [
        (ref(r["request"]["principal"]), r["request"]["action"], ref(r["request"]["resource"]), r["request"]["context"])
        for r in rows
    ]
    want = [r["agentauthz"] for r in rows]
    for a in args:
        engine.authorize(*a)
    ns: List[int] = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for _ in range(rounds):
            for i, a in enumerate(args):
                t0 = clock()
                d = engine.authorize(*a)
                ns.append(clock() - t0)
                if d.outcome != want[i]:
                    fail(f"{n} policies, request {i}: agentauthz {d.outcome}, expected {want[i]}")
    finally:
        gc.enable()
    median, p99 = percentiles(ns)
    out: Dict[str, Any] = {
        "n": n,
        "agentauthz": {"median_us": median, "p99_us": p99, "samples": len(ns), "load_us": load_us},
    }

    try:
        import cedarpy
    except ImportError:
        out["cedarpy"] = None
        return out
    t = time.perf_counter_ns()
    c_schema = cedarpy.Schema.from_str(schema)
    c_policies = cedarpy.PolicySet.from_str(policies)
    c_entities = cedarpy.Entities.from_json_str(entities, schema=c_schema)
    c_load_us = (time.perf_counter_ns() - t) / 1000
    requests = [
        {
            "principal": ref(r["request"]["principal"]),
            "action": f'Action::"{r["request"]["action"]}"',
            "resource": ref(r["request"]["resource"]),
            "context": r["request"]["context"],
        }
        for r in rows
    ]
    allowed = [r["cedar"] == "allow" for r in rows]
    cns: List[int] = []
    start = time.monotonic()
    i = 0
    gc.disable()
    min_samples = 10 if n <= 1000 else 3
    try:
        while (time.monotonic() - start < budget_s or len(cns) < min_samples) and len(cns) < len(requests) * rounds:
            k = i % len(requests)
            t0 = clock()
            res = cedarpy.is_authorized(requests[k], c_policies, c_entities, schema=c_schema)
            cns.append(clock() - t0)
            if res.allowed != allowed[k]:
                fail(f"{n} policies, request {k}: cedarpy allowed={res.allowed}, expected {rows[k]['cedar']}")
            i += 1
    finally:
        gc.enable()
    median, p99 = percentiles(cns)
    out["cedarpy"] = {
        "median_us": median,
        "p99_us": p99,
        "samples": len(cns),
        "distinct_requests": min(len(cns), len(requests)),
        "load_us": c_load_us,
        "version": importlib.metadata.version("cedarpy"),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    rounds, budget = (5, 0.4) if a.quick else (25, 3.0)
    for n in [int(s) for s in a.sizes.split(",")]:
        print(json.dumps(measure(a.dir / str(n), n, rounds, budget)), flush=True)


if __name__ == "__main__":
    main()
