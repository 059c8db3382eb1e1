"""A context dict is read in place (the engine's prepared path) or converted
whole (`authorize_batch` always converts): both must decide, or fail,
exactly alike, on every example case and on contexts built to sit at the
edges of what the in-place reader takes (bool vs int, None, subclasses,
tuples, datetimes, big ints, undeclared keys, Cedar escapes)."""

import collections
import copy
import datetime as dt
import json
import re
from pathlib import Path

import pytest

import agentauthz

EXAMPLE = Path(__file__).resolve().parents[2] / "policies-examples" / "coding-agent"
CASES = [c for c in agentauthz.load_cases(EXAMPLE / "cases.toml") if c["request"].get("context")]


@pytest.fixture(scope="module")
def engines():
    # Two engines fed the same requests, so that any state (pending asks) stays in step.
    return agentauthz.Engine.from_dir(EXAMPLE), agentauthz.Engine.from_dir(EXAMPLE)


def comparable(d):
    out = d.to_dict()
    out.pop("eval_us", None)
    return out


def both_ways(engines, principal, action, resource, context, now):
    """(single call result, batch result): a dict, or the exception's type and text."""
    single, batch = engines

    def run(f):
        try:
            return comparable(f())
        except agentauthz.AuthzError as e:
            return (type(e).__name__, str(e).removeprefix("request #0: "))

    a = run(lambda: single.authorize_at(principal, action, resource, context, now=now))
    b = run(lambda: batch.authorize_batch([(principal, action, resource, context)], now=now)[0])
    return a, b


def test_every_example_case_decides_the_same_either_way(engines):
    assert len(CASES) > 20
    for case in CASES:
        r = case["request"]
        a, b = both_ways(engines, r["principal"], r["action"], r["resource"], r["context"], case["now"])
        assert a == b, case["name"]
        assert a["outcome"] == case["outcome"], case["name"]


class Str(str):
    pass


class Int(int):
    pass


def variants(context):
    """Contexts derived from an example case's context."""
    cred = context["credential"]
    sess = context["session"]

    def with_(path, value):
        c = copy.deepcopy(context)
        target = c
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
        return c

    yield with_(("session", "actions"), True)  # bool where a Long is declared
    yield with_(("session", "actions"), Int(3))
    yield with_(("session", "actions"), 2**70)  # out of range: an error either way
    yield with_(("session", "actions"), 3.0)
    yield with_(("session", "actions"), None)  # absent
    yield with_(("session", "actions"), KeyError)
    yield with_(("session", "id"), Str("s-1"))
    yield with_(("session", "id"), "\ud800")  # lone surrogate
    yield with_(("credential", "id"), 7)
    yield with_(("credential", "scopes"), ("repo:read", "repo:write"))  # tuple: a set too
    yield with_(("credential", "scopes"), {"repo:read"})
    yield with_(("credential", "scopes"), [])
    yield with_(("credential", "scopes"), ["repo:read", 1])
    yield with_(("credential", "expires_at"), "2026-11-25T09:59:59Z")  # expired
    yield with_(("credential", "expires_at"), "2026-11-25T10:00:00.000+0100")  # expired, offset
    yield with_(("credential", "expires_at"), "2026-11-25")  # a date: expired
    yield with_(("credential", "expires_at"), "2026-11-25T10:30:00.5Z")  # not Cedar's form
    yield with_(("credential", "expires_at"), "soon")
    yield with_(("credential", "expires_at"), 12)
    yield with_(("credential", "expires_at"), dt.datetime(2026, 11, 25, 10, 30, tzinfo=dt.timezone.utc))
    yield with_(("credential", "issued_at"), "2026-11-25T10:00:00.001Z")  # not yet valid
    yield with_(("credential", "issued_at"), {"__extn": {"fn": "datetime", "arg": "2026-11-25T09:00:00Z"}})
    yield with_(("credential",), collections.OrderedDict(cred))
    yield with_(("credential",), "cred-1")
    yield with_(("session",), dict(sess, extra=1))
    yield with_(("undeclared",), 1)
    yield with_(("now",), "2000-01-01T00:00:00Z")  # the engine's clock wins
    yield {1: "not a str key", **context}


def test_edge_contexts_decide_or_fail_the_same_either_way(engines):
    compared = 0
    for case in CASES[::4]:
        r = case["request"]
        for context in variants(r["context"]):
            a, b = both_ways(engines, r["principal"], r["action"], r["resource"], context, case["now"])
            assert a == b, (case["name"], context)
            compared += 1
    assert compared > 100


def test_a_revoked_session_or_credential_is_refused_either_way():
    for subject in ({"session": "s-1"}, {"credential": "cred-1"}):
        engines = agentauthz.Engine.from_dir(EXAMPLE), agentauthz.Engine.from_dir(EXAMPLE)
        for e in engines:
            e.revoke(**subject, reason="test")
        case = CASES[0]
        r = case["request"]
        a, b = both_ways(engines, r["principal"], r["action"], r["resource"], r["context"], case["now"])
        # The two engines' revocations were recorded a moment apart (the
        # reason quotes the instant, to the millisecond).
        a, b = (json.loads(re.sub(r"revoked at [0-9T:.Z-]+", "revoked at T", json.dumps(x))) for x in (a, b))
        assert a == b
        assert a["reasons"] == ["guard:revoked"], a
