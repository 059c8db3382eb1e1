"""Every case of the example's cases.toml, through the Python API.

The CLI, the Rust tests and the Node tests read the same file, so the
languages cannot drift."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import agentauthz
from conftest import CASES

ALL_CASES: List[Dict[str, Any]] = agentauthz.load_cases(CASES)


def test_cases_file_is_loaded() -> None:
    assert len(ALL_CASES) >= 50
    first = ALL_CASES[0]
    assert set(first) == {"name", "request", "now", "outcome", "reasons"}
    assert set(first["request"]) == {"principal", "action", "resource", "context"}


@pytest.mark.parametrize("case", ALL_CASES, ids=[c["name"] for c in ALL_CASES])
def test_case(engine: agentauthz.Engine, case: Dict[str, Any]) -> None:
    req = case["request"]
    d = engine.authorize_at(req["principal"], req["action"], req["resource"], req["context"], now=case["now"])
    assert d.outcome == case["outcome"], d.errors
    if case["reasons"] is not None:
        assert sorted(d.policy_ids) == sorted(case["reasons"])
        assert sorted(r.policy_id for r in d.reasons) == sorted(case["reasons"])
    if case["outcome"] != "deny":
        assert d.errors == []
    if case["outcome"] == "ask":
        assert d.ask_owner is not None and d.ask_owner in d.ask_owners


def test_cases_in_one_batch_agree(engine: agentauthz.Engine) -> None:
    by_now: Dict[str, List[Dict[str, Any]]] = {}
    for c in ALL_CASES:
        by_now.setdefault(c["now"], []).append(c)
    for now, cases in by_now.items():
        out = engine.authorize_batch([c["request"] for c in cases], now=now)
        assert [d.outcome for d in out] == [c["outcome"] for c in cases]
