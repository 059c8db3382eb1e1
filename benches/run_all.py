"""Runs every scale benchmark in one go and writes benches/RESULTS.md.

Not a test (too slow for CI). From the repository root:

    scripts/bench-all.sh            # full: 10 .. 100,000 policies (about 15 minutes on 2 cores)
    scripts/bench-all.sh --quick    # smoke run: 10, 1,000, 10,000 policies, short timings

Steps: builds `gen-workload` and `scale-report` (release), the Python binding
(into .venv, with cedarpy) and the Node binding (bindings-node, plus
@cedar-policy/cedar-wasm in benches/); writes the workload folders to
target/bench-workloads with `gen-workload` (plain Cedar's decision and
agentauthz's outcome recorded per request); runs the Rust, Python and Node
runners on the same folders; writes one table with the machine it ran on.
Any decision that differs from the recorded ones fails the run (exit 1), and
then RESULTS.md is left alone.

Options: --sizes 10,1000 (override), --no-build (use what is built).
Environment: BENCH_PYTHON (an interpreter with agentauthz and cedarpy;
skips the venv build), BENCH_NODE_BINDING (a built bindings-node folder;
skips the Node build).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "target" / "bench-workloads"
RELEASE = REPO / "target" / "release"
FULL = [10, 100, 1_000, 10_000, 100_000]
QUICK = [10, 1_000, 10_000]


def run(cmd: List[str], cwd: Path = REPO, env: Optional[Dict[str, str]] = None) -> str:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"bench-all: `{' '.join(cmd)}` failed (exit {r.returncode}); RESULTS.md not written")
    return r.stdout


def lines(out: str) -> Dict[int, Dict[str, Any]]:
    return {v["n"]: v for v in (json.loads(line) for line in out.splitlines() if line.startswith("{"))}


def capture(cmd: List[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def machine(python: str) -> Dict[str, str]:
    cpu = "?"
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1) if m else platform.processor()
    except OSError:
        pass
    lock = (REPO / "Cargo.lock").read_text()
    m = re.search(r'name = "cedar-policy"\nversion = "([^"]+)"', lock)
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()}",
        "rustc": capture(["rustc", "--version"]),
        "python": capture([python, "-c", "import sys; print(sys.version.split()[0])"]),
        "node": capture(["node", "--version"]),
        "cedar-policy": m.group(1) if m else "?",
    }


def build(python_env: Optional[str], node_env: Optional[str]) -> str:
    run(["nice", "-n", "19", "cargo", "build", "--release", "--locked", "-p", "agentauthz-benches", "--bins"])
    python = python_env
    if python is None:
        venv = REPO / ".venv"
        if not (venv / "bin" / "python").exists():
            run([sys.executable, "-m", "venv", str(venv)])
        python = str(venv / "bin" / "python")
        run(["nice", "-n", "19", python, "-m", "pip", "install", "-q", "./bindings-python", "cedarpy"])
    if node_env is None:
        run(["nice", "-n", "19", "npm", "install", "--no-audit", "--no-fund"], cwd=REPO / "bindings-node")
    if not (REPO / "benches" / "node_modules" / "@cedar-policy" / "cedar-wasm").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO / "benches")
    return python


def us(v: Optional[float]) -> str:
    if v is None:
        return "—"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def rate(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:,.0f}"


def ms(v_us: Optional[float]) -> str:
    return "—" if v_us is None else f"{v_us / 1000:,.1f}"


def kb_per_1000(heap: Optional[float], n: int) -> str:
    return "—" if heap is None else f"{heap / 1024 / n * 1000:,.0f}"


def samples_note(r: Dict[str, Any], total: int) -> str:
    if r["samples"] >= total:
        return str(r["samples"])
    return f"{r['samples']} ({r['distinct_requests']} of {total} requests)"


def table(sizes: List[int], rust: Dict[int, Any], py: Dict[int, Any], node: Dict[int, Any]) -> List[str]:
    out = [
        "| policies | runner | median µs | p99 µs | samples | decisions/s, 1 thread | decisions/s, 2 threads | load ms | heap KB / 1,000 policies | RSS KB / 1,000 policies |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        r = rust[n]
        total = r["requests"]
        mem = r["memory"]
        policy_heap = mem["engine"]["heap"] - mem["cedar_schema_entities"]["heap"]
        policy_rss = mem["engine"]["rss"] - mem["cedar_schema_entities"]["rss"]
        a, c = r["agentauthz"], r["cedar"]
        rows = [
            ("agentauthz (Rust, typed ToolCall)", a, a["dps1"], a["dps2"], a["load_us"], (policy_heap, policy_rss)),
            (
                "plain Cedar `Authorizer`, whole set (Rust)",
                c,
                c["dps1"],
                c["dps2"],
                c["load_us"],
                (mem["cedar_policies"]["heap"], mem["cedar_policies"]["rss"]),
            ),
        ]
        if n in py:
            rows.append(("agentauthz (Python)", py[n]["agentauthz"], None, None, py[n]["agentauthz"]["load_us"], None))
            if py[n].get("cedarpy"):
                p = py[n]["cedarpy"]
                rows.append((f"cedarpy {p['version']} `is_authorized`, pre-parsed handles", p, None, None, p["load_us"], None))
        if n in node:
            rows.append(("agentauthz (Node)", node[n]["agentauthz"], None, None, node[n]["agentauthz"]["load_us"], None))
            if node[n].get("cedar_wasm"):
                w = node[n]["cedar_wasm"]
                rows.append(
                    (f"cedar-wasm {w['version']} `statefulIsAuthorized`, preparsed", w, None, None, w["load_us"], None)
                )
        for name, m, d1, d2, load, memory in rows:
            heap, rss = memory if memory else (None, None)
            out.append(
                f"| {n:,} | {name} | {us(m['median_us'])} | {us(m['p99_us'])} | {samples_note(m, total)} | "
                f"{rate(d1)} | {rate(d2)} | {ms(load)} | {kb_per_1000(heap, n)} | {kb_per_1000(rss, n)} |"
            )
    return out


def index_bytes(m: Dict[str, Any]) -> Optional[int]:
    """Heap the scope index keeps: live bytes at the end of its load phase minus
    those at the end of the one before (`scale-report --memory` phases)."""
    ph = m["engine"].get("phases") or {}
    if "scope index" in ph and "compiled evaluator" in ph:
        return ph["scope index"] - ph["compiled evaluator"]
    return None


def memory_table(sizes: List[int], rust: Dict[int, Any]) -> List[str]:
    out = [
        "| policies | engine heap KB | plain Cedar `PolicySet` heap KB | schema + entities heap KB | scope index KB | index / `PolicySet` | compiled evaluator KB | all engine state beyond Cedar's KB | that / `PolicySet` | engine RSS growth KB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        m = rust[n]["memory"]
        e, p, se = m["engine"]["heap"], m["cedar_policies"]["heap"], m["cedar_schema_entities"]["heap"]
        extra = e - p - se
        idx = index_bytes(m)
        ph = m["engine"].get("phases") or {}
        fast = ph["compiled evaluator"] - ph["parsed and validated"] if "compiled evaluator" in ph and "parsed and validated" in ph else None
        kb = lambda x: "—" if x is None else f"{x / 1024:,.0f}"  # noqa: E731
        share = lambda x: "—" if x is None or p <= 0 else f"{x / p * 100:,.0f}%"  # noqa: E731
        out.append(
            f"| {n:,} | {e / 1024:,.0f} | {p / 1024:,.0f} | {se / 1024:,.0f} | {kb(idx)} | {share(idx)} | {kb(fast)} | "
            f"{extra / 1024:,.0f} | {share(extra)} | {m['engine']['rss'] / 1024:,.0f} |"
        )
    return out


def acceptance(sizes: List[int], rust: Dict[int, Any], py: Dict[int, Any], node: Dict[int, Any]) -> List[str]:
    med = {n: rust[n]["agentauthz"]["median_us"] for n in sizes}
    out = ["| target | figure | met |", "|---|---|---|"]

    def row(target: str, figure: str, ok: Optional[bool]) -> None:
        out.append(f"| {target} | {figure} | {'—' if ok is None else ('yes' if ok else '**no**')} |")

    def missing(target: str) -> None:
        row(target, "not measured in this run", None)

    if 10 in med:
        row("Rust median ≤ 3 µs at 10 policies", f"{med[10]:.2f} µs", med[10] <= 3)
    else:
        missing("Rust median ≤ 3 µs at 10 policies")
    if 10_000 in med and 10 in med:
        ok = med[10_000] <= 5 and med[10_000] <= 2 * med[10]
        row("Rust median ≤ 5 µs and ≤ 2× the 10-policy figure at 10,000", f"{med[10_000]:.2f} µs ({med[10_000] / med[10]:.2f}×)", ok)
    else:
        missing("Rust median ≤ 5 µs and ≤ 2× at 10,000")
    if 100_000 in med and 10 in med:
        row("Rust median within 3× of the 10-policy figure at 100,000", f"{med[100_000]:.2f} µs ({med[100_000] / med[10]:.2f}×)", med[100_000] <= 3 * med[10])
    else:
        missing("Rust median within 3× at 100,000")
    for n, want in ((1_000, 100), (10_000, 1_000)):
        if n in rust:
            x = rust[n]["cedar"]["median_us"] / med[n]
            row(f"≥ {want:,}× plain Cedar (whole set) at {n:,}", f"{x:,.0f}×", x >= want)
        else:
            missing(f"≥ {want:,}× plain Cedar at {n:,}")
    for label, res, key in (("Python vs cedarpy", py, "cedarpy"), ("Node vs cedar-wasm", node, "cedar_wasm")):
        figs = [(n, res[n][key]["median_us"] / res[n]["agentauthz"]["median_us"]) for n in sizes if n >= 1_000 and n in res and res[n].get(key)]
        if figs:
            row(f"{label} ≥ 100× at 1,000 and above", ", ".join(f"{n:,}: {x:,.0f}×" for n, x in figs), all(x >= 100 for _, x in figs))
        else:
            missing(f"{label} ≥ 100× at 1,000 and above")
    def ratio(r: Dict[str, Any]) -> float:
        a = r["agentauthz"]
        return a.get("dps_ratio") or a["dps2"] / a["dps1"]

    scal = [(n, ratio(rust[n]), rust[n].get("host_ratio")) for n in sizes]
    row(
        "2 threads ≥ 1.7× the decisions/s of 1 (agentauthz, Rust; median of paired rounds, the host's own ratio on pure arithmetic in brackets)",
        ", ".join(f"{n:,}: {x:.2f}×" + (f" [{h:.2f}×]" if h else "") for n, x, h in scal),
        all(x >= 1.7 for _, x, _ in scal),
    )
    if 100_000 in rust:
        load = rust[100_000]["agentauthz"]["load_us"] / 1e6
        row("load time ≤ 5 s at 100,000", f"{load:.2f} s", load <= 5)
    else:
        missing("load time ≤ 5 s at 100,000")
    mem = []
    for n in sizes:
        m = rust[n]["memory"]
        p = m["cedar_policies"]["heap"]
        idx = index_bytes(m)
        if n >= 1_000 and p > 0 and idx is not None:
            mem.append((n, idx / p))
    if mem:
        row("index memory ≤ 50% of the policy set's (scope index; 1,000 and above)", ", ".join(f"{n:,}: {x * 100:.0f}%" for n, x in mem), all(x <= 0.5 for _, x in mem))
    row("every runner's decisions agree with plain Cedar's (ask = deny) and with agentauthz's recorded outcome", "all compared", True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes 10, 1,000 and 10,000 with short timings (smoke test)")
    ap.add_argument("--sizes", help="comma-separated policy counts (overrides the default sizes)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries and bindings already built")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else (QUICK if a.quick else FULL)
    size_arg = ",".join(map(str, sizes))
    quick = ["--quick"] if a.quick else []
    python_env, node_env = os.environ.get("BENCH_PYTHON"), os.environ.get("BENCH_NODE_BINDING")
    load_before = os.getloadavg()
    if a.no_build:
        python = python_env or str(REPO / ".venv" / "bin" / "python")
    else:
        python = build(python_env, node_env)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()
    run([str(RELEASE / "gen-workload"), "--out", str(WORK), "--sizes", size_arg])
    rust = lines(run([str(RELEASE / "scale-report"), "--dir", str(WORK), "--sizes", size_arg, *quick]))
    py = lines(run([python, str(REPO / "benches" / "python_scale.py"), "--dir", str(WORK), "--sizes", size_arg, *quick]))
    node = lines(run(["node", str(REPO / "benches" / "node_scale.mjs"), "--dir", str(WORK), "--sizes", size_arg, *quick]))
    finished = datetime.datetime.now(datetime.timezone.utc)
    info = machine(python)
    outcomes = "; ".join(
        f"{n:,}: {o['allow']} allow, {o['deny']} deny, {o['ask']} ask" for n in sizes for o in [rust[n]["outcomes"]]
    )
    doc = [
        "# Benchmark results",
        "",
        f"Written by `scripts/bench-all.sh{' --quick' if a.quick else ''}` (benches/run_all.py); "
        + ("**quick run: short timings, for smoke-testing only.**" if a.quick else "full run."),
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC (measurements took {(finished - started).seconds // 60} min {(finished - started).seconds % 60} s)",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['os']}",
        f"- Load average: {' '.join(f'{x:.2f}' for x in load_before)} before building, "
        f"{' '.join(f'{x:.2f}' for x in load_start)} when measuring began",
        f"- rustc: {info['rustc']}; cedar-policy {info['cedar-policy']}; Python {info['python']}; Node {info['node']}",
        "",
        "Workload (benches/rust/src/workload.rs, written to files by `gen-workload` and read by every runner): "
        "5 global rules (a suspended-agent forbid, a protected-branch forbid, public and team read permits, "
        "an `@ask` blast-radius forbid) plus per-agent, per-repository grants up to the policy count; "
        "2,020 entities (20 teams, 1,000 agents, 500 repositories, 500 files); 200 requests per size "
        f"({outcomes}).",
        "",
        "\n".join(table(sizes, rust, py, node)),
        "",
        "How it is measured:",
        "",
        "- Median and p99: each decision timed alone (Rust `Instant`, Python `perf_counter_ns`, Node "
        "`hrtime.bigint`), cycling through the 200 requests. agentauthz from Rust decides requests built once "
        "with the typed `agentauthz::coding_agent::ToolCall` builder; from Python and Node, `Engine.authorize` "
        "with arguments converted once. Plain Cedar: `Authorizer::is_authorized` on the whole pre-parsed "
        "`PolicySet`, `Entities` and pre-built `Request`s. cedarpy: `is_authorized` with pre-parsed `Schema`, "
        "`PolicySet` and `Entities` handles. cedar-wasm: `statefulIsAuthorized` with `preparsePolicySet` and "
        "`preparseSchema` (its API takes the entities with every call). The peers evaluate every policy per "
        "call, so they run within a time budget per size; the samples column says how many calls (and "
        "distinct requests) that gave.",
        "- Decisions/s: 1 and 2 threads sharing one `Engine` (or one `PolicySet`), each deciding in a loop for "
        "a fixed time, 5 rounds taking turns (1, 2, 1, 2, ...), medians; the acceptance ratio is the median of "
        "each round's 2-thread / 1-thread ratio, next to the host's own ratio for a loop of integer arithmetic "
        "that touches no memory (what the 2 vCPUs give at best at that moment). Python and Node: not measured "
        "(one interpreter thread).",
        "- Load ms: agentauthz `Engine::from_strings` (parse, validate against the schema, index; the median "
        "of 5 loads up to 1,000 policies, 3 above; every Rust runner allocates with mimalloc, as the CLI and the bindings do); plain Cedar: parsing schema, policies "
        "and entities and building the requests; cedarpy and cedar-wasm: their parse / preparse calls.",
        "- Heap and RSS KB / 1,000 policies: live heap bytes held after loading, counted by a counting global "
        "allocator in a fresh process (`scale-report --memory`), and the growth of the process's resident set "
        "over the same load (which also counts allocator slack and freed parse temporaries). agentauthz row: the engine minus the "
        "schema and entities it holds (at 10 policies the engine's fixed state dominates, so the per-1,000 "
        "figure means little there); plain Cedar row: `PolicySet::from_str` alone.",
        "",
        "Memory (heap bytes live after loading, each measured in its own fresh process. \"Scope index\": what "
        "the index's load phase keeps (live bytes when it ends minus when the phase before it ends, read through "
        "`agentauthz::set_load_phase_hook`): its cells and a reference to each policy's compiled form. The "
        "policies themselves (one list, moved into the index from the parse; the engine keeps no `PolicySet`) "
        "are counted with the parse, as the policy set's own. \"Compiled evaluator\": the compiled "
        "policies and the entity store (a fixed ~0.8 MB for this workload's 2,020 entities). \"All engine state "
        "beyond Cedar's\" = engine − plain `PolicySet` − schema and entities: index, compiled evaluator, "
        "per-policy metadata. RSS growth is for reference: it also counts allocator slack and freed parse "
        "temporaries.)",
        "",
        "\n".join(memory_table(sizes, rust)),
        "",
        "Acceptance targets (issue #7), from the figures above:",
        "",
        "\n".join(acceptance(sizes, rust, py, node)),
        "",
    ]
    (REPO / "benches" / "RESULTS.md").write_text("\n".join(doc))
    print("\n".join(doc))


if __name__ == "__main__":
    main()
