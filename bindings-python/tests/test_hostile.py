"""Hostile input through the Python door (issue #8), table-driven.

Every case runs in one child interpreter, so that a crash (segfault, abort,
stack overflow) fails the cases from the crashing one on instead of killing
pytest. The child prints one JSON line per case as it finishes; each case must
end in an agentauthz exception (or TypeError for a wrong Python call) whose
message names the problem, or in a deny carrying the error.

Bounded load with faults is at the end: threads deciding while others reload
and revoke (decisions release the GIL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import agentauthz
from conftest import EXAMPLE, NOW, ctx

P, A, R = 'Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"'
MB10 = 10 << 20
SCHEMA = (EXAMPLE / "coding-agent.cedarschema").read_text()
POLICIES = "\n".join(p.read_text() for p in sorted(EXAMPLE.glob("*.cedar")))
ENTITIES = (EXAMPLE / "entities.json").read_text()


def _engine() -> agentauthz.Engine:
    return agentauthz.Engine.from_dir(EXAMPLE)


def _nest_dict(n: int) -> Any:
    v: Any = "leaf"
    for _ in range(n):
        v = {"a": v}
    return v


def _nest_list(n: int) -> Any:
    v: Any = "leaf"
    for _ in range(n):
        v = [v]
    return v


def _cyclic() -> Dict[str, Any]:
    d = ctx()
    d["session"]["self"] = d["session"]
    return d


def _with_policy(text: str) -> Any:
    return agentauthz.Engine(SCHEMA, POLICIES + "\n" + text, ENTITIES)


def _reload_bad_then_decide(text: str) -> Any:
    """A hostile reload is refused and the engine keeps deciding with the old policies."""
    e = _engine()
    version = e.policy_version
    try:
        e.reload(schema=SCHEMA, policies=POLICIES + "\n" + text, entities=ENTITIES)
    except agentauthz.AuthzError:
        assert e.policy_version == version
        assert e.authorize_at(P, A, R, ctx(), now=NOW).allowed
        raise
    return None


def _decide(context: Any = None, principal: Any = P, action: Any = A, resource: Any = R) -> Any:
    return _ENGINE.authorize_at(principal, action, resource, ctx() if context is None else context, now=NOW)


_ENGINE: Any = None

# (name, call, expected) where expected is ("error", needle) for an exception
# whose message contains needle, ("deny", needle) for a deny whose errors
# contain it, or ("decided", "") for a normal decision (odd but legal input).
CASES: List[Tuple[str, Callable[[], Any], Tuple[str, str]]] = [
    # Wrong types and missing fields.
    ("principal is an int", lambda: _decide(principal=7), ("error", "principal")),
    ("action is None", lambda: _decide(action=None), ("error", "action")),
    ("resource is a list", lambda: _decide(resource=[1, 2]), ("error", "resource")),
    ("context is a string", lambda: _decide(context="ctx"), ("error", "context")),
    ("context is a list", lambda: _decide(context=[1]), ("error", "context")),
    ("missing resource argument", lambda: _ENGINE.authorize(P, A), ("error", "resource")),
    ("batch item lacks resource", lambda: _ENGINE.authorize_batch([{"principal": P, "action": A}], now=NOW), ("error", "resource")),
    ("batch item is an int", lambda: _ENGINE.authorize_batch([7], now=NOW), ("error", "")),
    ("schema is bytes", lambda: agentauthz.Engine(SCHEMA.encode(), POLICIES), ("error", "")),
    # Unknown entity types and actions.
    ("unknown principal type", lambda: _decide(principal='Robot::"x"'), ("deny", "Robot")),
    ("unknown action", lambda: _decide(action="format_disk"), ("deny", "format_disk")),
    ("resource of the wrong type", lambda: _decide(resource='Secret::"prod/x"'), ("deny", "")),
    ("undeclared context attribute", lambda: _decide(ctx(evil=True)), ("deny", "evil")),
    # Empty and huge strings.
    ("empty principal", lambda: _decide(principal=""), ("error", "principal")),
    ("empty action", lambda: _decide(action=""), ("error", "action")),
    ("10 MB context string", lambda: _decide(ctx(branch="x" * MB10)), ("error", "too large")),
    ("10 MB principal id", lambda: _decide(principal=f'Agent::"{"x" * MB10}"'), ("error", "at most 1048576")),
    ("10 MB resource id as a tuple", lambda: _decide(resource=("Repository", "r" * MB10)), ("error", "at most 1048576")),
    ("10 MB context key", lambda: _decide({"k" * MB10: 1}), ("error", "too large")),
    ("10 MB policy text", lambda: _with_policy(f'forbid(principal, action, resource) when {{ context has path && context.path == "{"x" * MB10}" }};'), ("loaded", "")),
    # Non-UTF-8 (Python strings hold lone surrogates; bytes are not text).
    ("lone surrogate in context", lambda: _decide(ctx(branch="\udcff")), ("error", "surrogate")),
    ("lone surrogate in principal", lambda: _decide(principal='Agent::"\ud800"'), ("error", "")),
    ("bytes as a context value", lambda: _decide(ctx(branch=b"\xff\xfe")), ("error", "bytes")),
    ("lone surrogate in policy text", lambda: _with_policy('permit(principal, action, resource) when { "\udcff" == "" };'), ("error", "")),
    # NUL bytes.
    ("NUL in a context string", lambda: _decide(ctx(branch="fix\x00main")), ("decided", "")),
    # Cedar reads only the normalized text form (a NUL is written `\0` there).
    ("NUL in the principal id", lambda: _decide(principal='Agent::"ci\x00bot"'), ("error", "normalized")),
    ("NUL in a tuple principal id", lambda: _decide(principal=("Agent", "ci\x00bot")), ("deny", "")),
    ("NUL in policy text", lambda: _with_policy("permit(principal,\x00 action, resource);"), ("error", "")),
    # Deep nesting.
    ("dict nested 10,000 deep", lambda: _decide(ctx(x=_nest_dict(10_000))), ("error", "nested deeper than 32")),
    ("list nested 100,000 deep", lambda: _decide(ctx(branch=_nest_list(100_000))), ("error", "nested deeper than 32")),
    ("batch item nested 10,000 deep", lambda: _ENGINE.authorize_batch([{"principal": P, "action": A, "resource": R, "context": ctx(x=_nest_dict(10_000))}], now=NOW), ("error", "nested deeper")),
    ("entities nested 10,000 deep (Python)", lambda: agentauthz.Engine(SCHEMA, POLICIES, [{"uid": {"type": "Team", "id": "t"}, "attrs": {"x": _nest_list(10_000)}, "parents": []}]), ("error", "nested deeper")),
    ("entities nested 10,000 deep (JSON text)", lambda: agentauthz.Engine(SCHEMA, POLICIES, '[{"uid": {"type": "Team", "id": "t"}, "attrs": {"x": ' + "[" * 10_000 + "]" * 10_000 + '}, "parents": []}]'), ("error", "")),
    ("cyclic dict", lambda: _decide(_cyclic()), ("error", "cyclic")),
    # Huge sets.
    ("200,000-element list", lambda: _decide(ctx(branch=list(range(200_000)))), ("error", "too large")),
    ("200,000-element set of scopes", lambda: _decide({**ctx(), "credential": {**ctx()["credential"], "scopes": {f"s{i}" for i in range(200_000)}}}), ("error", "too large")),
    ("2**30 leaves through shared references", lambda: _decide(ctx(branch=_shared_fan())), ("error", "")),
    # Integers beyond i64.
    ("int 2**70", lambda: _decide(ctx(diff_lines=2**70)), ("error", "out of range")),
    ("int -(2**70)", lambda: _decide(ctx(diff_lines=-(2**70))), ("error", "out of range")),
    ("int 2**64", lambda: _decide(ctx(diff_lines=2**64)), ("error", "out of range")),
    ("float inf", lambda: _decide(ctx(diff_lines=float("inf"))), ("error", "float")),
    # Pathological policy and schema text.
    ("policy nested 20,000 parentheses", lambda: _with_policy("permit(principal, action, resource) when { " + "(" * 20_000 + "true" + ")" * 20_000 + " };"), ("error", "nested deeper than")),
    ("policy nested 20,000 sets", lambda: _with_policy("permit(principal, action, resource) when { " + "[" * 20_000 + "]" * 20_000 + " == [] };"), ("error", "nested deeper than")),
    ("policy with 20,000 negations", lambda: _with_policy("permit(principal, action, resource) when { " + "!" * 20_000 + "true };"), ("error", "")),
    ("schema nested 10,000 deep", lambda: agentauthz.Engine("entity A { x: " + "Set<" * 10_000 + "Long" + ">" * 10_000 + " };", ""), ("error", "nested deeper than")),
    ("reload with a pathological policy", lambda: _reload_bad_then_decide("permit(principal, action, resource) when { " + "(" * 20_000 + "true" + ")" * 20_000 + " };"), ("error", "nested deeper than")),
]


def _shared_fan() -> Any:
    fan: Any = ["leaf"]
    for _ in range(30):
        fan = [fan, fan]
    return fan


def _child() -> None:
    """Runs every case, printing one JSON line per case (in the child)."""
    global _ENGINE
    _ENGINE = _engine()
    for name, call, _ in CASES:
        out: Dict[str, Any] = {"case": name}
        try:
            result = call()
        except (agentauthz.AuthzError, TypeError, ValueError, RecursionError) as e:
            out.update(result="error", type=type(e).__name__, message=str(e)[:500])
        else:
            if isinstance(result, list):
                result = result[0]
            if isinstance(result, agentauthz.Decision):
                out.update(result="decision", outcome=result.outcome, errors=[m[:500] for _, m in result.errors])
            else:
                out.update(result="loaded")
        print(json.dumps(out), flush=True)


@pytest.fixture(scope="module")
def child_results() -> Tuple[Dict[str, Dict[str, Any]], subprocess.CompletedProcess]:  # type: ignore[type-arg]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", "import test_hostile; test_hostile._child()"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    results = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        results[r["case"]] = r
    return results, proc


@pytest.mark.parametrize("name, expected", [(n, e) for n, _, e in CASES], ids=[n for n, _, _ in CASES])
def test_hostile_input(child_results: Any, name: str, expected: Tuple[str, str]) -> None:
    results, proc = child_results
    if name not in results:
        pytest.fail(f"the child died before or in this case: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    r = results[name]
    kind, needle = expected
    if kind == "error":
        assert r["result"] == "error", r
        assert r["type"] != "RecursionError", r
        assert needle.lower() in r["message"].lower(), r
        assert r["message"].strip(), r
    elif kind == "deny":
        assert r["result"] == "decision" and r["outcome"] == "deny", r
        assert r["errors"], f"a deny without the error: {r}"
        assert any(needle in m for m in r["errors"]), r
    elif kind == "decided":
        assert r["result"] == "decision", r
    else:
        assert r["result"] == kind, r


def test_the_child_exits_cleanly(child_results: Any) -> None:
    results, proc = child_results
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(results) == len(CASES)


def test_stress_threads_reload_and_revoke() -> None:
    """Two deciding threads (GIL released while deciding), a reloader and a
    revoker, for a bounded time: no decision errors, the steady session is
    always allowed, the revocable one never while revoked."""
    engine = _engine()
    base, variant = POLICIES, POLICIES + '\n@id("stress-extra") forbid(principal, action, resource) when { context has path && context.path == "/etc/shadow" };'
    versions = {engine.reload(schema=SCHEMA, policies=variant, entities=ENTITIES)}
    versions.add(engine.reload(schema=SCHEMA, policies=base, entities=ENTITIES))
    assert len(versions) == 2
    steady = ctx(session={"id": "s-steady", "actions": 1, "repos_touched": 1})
    revocable = ctx(session={"id": "s-revocable", "actions": 1, "repos_touched": 1})
    assert engine.authorize_at(P, A, R, revocable, now=NOW).allowed
    epoch = [0]  # odd while revoked: bumped after revoke returns and before restore
    stop = threading.Event()
    counts: Dict[str, int] = {"decisions": 0, "denied_revoked": 0, "reloads": 0, "revocations": 0}
    failures: List[str] = []
    lock = threading.Lock()

    def decide() -> None:
        n = denied = 0
        try:
            while not stop.is_set():
                before = epoch[0]
                d = engine.authorize_at(P, A, R, revocable, now=NOW)
                after = epoch[0]
                if d.policy_version not in versions:
                    failures.append(f"unknown version {d.policy_version}")
                if before == after and before % 2 == 1:
                    if d.outcome != "deny":
                        failures.append(f"allowed while revoked: {d.to_dict()}")
                    denied += 1
                d = engine.authorize_at(P, A, R, steady, now=NOW)
                if not d.allowed:
                    failures.append(f"steady session not allowed: {d.to_dict()}")
                n += 2
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))
        with lock:
            counts["decisions"] += n
            counts["denied_revoked"] += denied

    def reload() -> None:
        n = 0
        while not stop.is_set():
            engine.reload(schema=SCHEMA, policies=variant if n % 2 == 0 else base, entities=ENTITIES)
            n += 1
        counts["reloads"] = n

    def revoke() -> None:
        n = 0
        while not stop.is_set():
            engine.revoke(session="s-revocable", reason="stress")
            epoch[0] += 1
            n += 1
            time.sleep(0.0005)
            epoch[0] += 1
            assert engine.restore(session="s-revocable")
            time.sleep(0.0005)
        counts["revocations"] = n

    threads = [threading.Thread(target=f) for f in (decide, decide, reload, revoke)]
    start = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(float(os.environ.get("AGENTAUTHZ_STRESS_S", "2")))
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    print(f"python stress: 2 deciding threads + reloader + revoker, {elapsed:.1f} s: {counts}")
    assert failures == [], failures[:5]
    assert counts["decisions"] > 0 and counts["reloads"] > 0 and counts["revocations"] > 0, counts
