"""Hostile and malformed input: always an exception or a deny, never a crash."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Dict, List

import pytest

import agentauthz
from conftest import NOW, ctx

P, A, R = 'Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"'


def decide(engine: agentauthz.Engine, context: Any) -> agentauthz.Decision:
    return engine.authorize_at(P, A, R, context, now=NOW)


@pytest.mark.parametrize(
    "value, message",
    [
        (1.5, "float 1.5 is not supported"),
        (float("nan"), "float nan is not supported"),
        (2**63, "out of range for a Cedar Long"),
        (-(2**63) - 1, "out of range for a Cedar Long"),
        (b"bytes", "bytes b'bytes' has no Cedar equivalent"),
        (object(), "has no Cedar equivalent"),
        (Decimal("1.5"), "Decimal"),
        ([None], "None is not a Cedar value"),
        (datetime(2026, 1, 1), "naive datetime"),
        ({1: "x"}, "keys must be str"),
        ("\ud800", "lone surrogate"),
    ],
)
def test_unconvertible_values_raise_request_error(engine: agentauthz.Engine, value: Any, message: str) -> None:
    with pytest.raises(agentauthz.RequestError) as e:
        decide(engine, ctx(branch=value))
    assert message in str(e.value)
    assert "context['branch']" in str(e.value)


def test_error_path_names_nested_location(engine: agentauthz.Engine) -> None:
    c = ctx()
    c["credential"]["scopes"] = ["ok", 2.5]
    with pytest.raises(agentauthz.RequestError, match=r"context\['credential'\]\['scopes'\]\[1\]: float"):
        decide(engine, c)


def test_lone_surrogates_everywhere(engine: agentauthz.Engine) -> None:
    with pytest.raises(agentauthz.RequestError):
        decide(engine, {"\udcff": 1})
    with pytest.raises(agentauthz.RequestError):
        engine.authorize_at('Agent::"\ud800"', A, R, ctx(), now=NOW)
    with pytest.raises(agentauthz.RequestError):
        engine.authorize_at(("Agent", "\ud800"), A, R, ctx(), now=NOW)
    with pytest.raises(agentauthz.RequestError):
        engine.authorize_at(P, "open_pr\ud800", R, ctx(), now=NOW)


def test_non_ascii_is_fine(engine: agentauthz.Engine) -> None:
    d = decide(engine, ctx(branch="fix/ünïcødé-🚀", path="src/日本.rs"))
    assert d.allowed, d.errors
    d = engine.authorize_at('Agent::"ci-bøt"', A, R, ctx(), now=NOW)
    assert d.outcome == "deny"  # unknown agent; the id survives the round trip
    assert any('Agent::"ci-bøt"' in msg for _, msg in d.errors)


def test_very_deep_list_does_not_overflow(engine: agentauthz.Engine) -> None:
    deep: List[Any] = []
    cur = deep
    for _ in range(100_000):
        nxt: List[Any] = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(agentauthz.RequestError, match="nested deeper than 32 levels"):
        decide(engine, ctx(branch=deep))
    deep_dict: Dict[str, Any] = {}
    cur_d = deep_dict
    for _ in range(100_000):
        cur_d["a"] = {}
        cur_d = cur_d["a"]
    with pytest.raises(agentauthz.RequestError, match="nested deeper"):
        decide(engine, ctx(x=deep_dict))


def test_depth_limit_is_exactly_the_core_limit(engine: agentauthz.Engine) -> None:
    def nest(levels: int) -> Any:
        v: Any = "leaf"
        for _ in range(levels - 1):
            v = [v]
        return v

    limit = agentauthz.MAX_CONTEXT_DEPTH
    # At the limit: converted, then denied by the schema (branch is a String).
    d = decide(engine, ctx(branch=nest(limit)))
    assert d.outcome == "deny" and d.errors and d.errors[0][0] is None
    with pytest.raises(agentauthz.RequestError, match="nested deeper"):
        decide(engine, ctx(branch=nest(limit + 1)))


def test_cyclic_structures(engine: agentauthz.Engine) -> None:
    lst: List[Any] = []
    lst.append(lst)
    with pytest.raises(agentauthz.RequestError, match="cyclic"):
        decide(engine, ctx(branch=lst))
    dct: Dict[str, Any] = {}
    dct["self"] = dct
    with pytest.raises(agentauthz.RequestError, match="cyclic"):
        decide(engine, dct)


def test_huge_and_exponential_contexts(engine: agentauthz.Engine) -> None:
    with pytest.raises(agentauthz.RequestError, match="too large"):
        decide(engine, ctx(branch="x" * (agentauthz.MAX_REQUEST_BYTES + 1)))
    with pytest.raises(agentauthz.RequestError, match="too large"):
        decide(engine, ctx(branch=list(range(200_000))))
    # 2**30 leaves through shared references: refused quickly by the size budget.
    shared: Any = ["leaf"]
    for _ in range(30):
        shared = [shared, shared]
    with pytest.raises(agentauthz.RequestError):
        decide(engine, ctx(branch=shared))


def test_large_but_acceptable_context_is_decided(engine: agentauthz.Engine) -> None:
    d = decide(engine, ctx(branch="x" * 100_000))
    assert d.allowed, d.errors


def test_weird_objects_as_arguments(engine: agentauthz.Engine) -> None:
    class Evil:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        def __str__(self) -> str:
            raise RuntimeError("no str")

    for bad in [None, Evil(), 3, [], ("a", "b", "c"), {"type": 1, "id": 2}]:
        with pytest.raises(agentauthz.RequestError):
            engine.authorize_at(bad, A, R, ctx(), now=NOW)  # type: ignore[arg-type]
        with pytest.raises(agentauthz.RequestError):
            engine.authorize_at(P, A, bad, ctx(), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(agentauthz.RequestError):
        decide(engine, ctx(branch=Evil()))
    with pytest.raises(agentauthz.RequestError):
        decide(engine, {Evil(): 1})


def test_subclasses_of_builtins(engine: agentauthz.Engine) -> None:
    class S(str):
        pass

    class D(dict):  # type: ignore[type-arg]
        pass

    class I(int):
        pass

    c = D(ctx(branch=S("fix/1"), diff_lines=I(3)))
    assert decide(engine, c).allowed
    assert engine.authorize_at(S(P), S(A), S(R), ctx(), now=NOW).allowed


def test_bool_is_not_an_int(engine: agentauthz.Engine) -> None:
    d = decide(engine, ctx(diff_lines=True))
    assert d.outcome == "deny" and d.errors  # schema wants a Long


def test_mutating_tzinfo_does_not_crash(engine: agentauthz.Engine) -> None:
    from datetime import timedelta, tzinfo

    target: Dict[str, Any] = {}

    class Sneaky(tzinfo):
        def utcoffset(self, dt: Any) -> timedelta:
            target["added"] = 1  # mutate the dict being converted
            return timedelta(0)

        def dst(self, dt: Any) -> timedelta:
            return timedelta(0)

    target.update(ctx())
    target["credential"] = dict(target["credential"])
    target["when"] = datetime(2026, 1, 1, tzinfo=Sneaky())
    d = decide(engine, target)
    assert d.outcome == "deny"  # `when` is not in the schema: denied with the error, no crash


def test_timezone_aware_datetime_far_past_and_future(engine: agentauthz.Engine) -> None:
    for year in (1, 1969, 9999):
        d = engine.authorize_at(P, A, R, ctx(), now=datetime(year, 6, 1, tzinfo=timezone.utc))
        assert d.outcome == "deny"


def test_recursion_limit_untouched() -> None:
    assert sys.getrecursionlimit() >= 1000
