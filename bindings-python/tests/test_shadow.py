"""Shadow mode through the Python API: ``@mode("shadow")`` policies and
``enforcement="shadow"`` never change the outcome; ``Decision.shadow`` says
what enforcing them would decide."""

from __future__ import annotations

import pytest

import agentauthz

SCHEMA = """
entity Agent;
entity Repository;
action read, push appliesTo { principal: Agent, resource: Repository, context: { n: Long } };
"""
POLICIES = """
@id("permit-all") permit (principal, action, resource);
@id("no-big-push") @mode("shadow") forbid (principal, action == Action::"push", resource) when { context.n > 100 };
@id("ask-reads") @mode("shadow") @ask("security") forbid (principal, action == Action::"read", resource);
"""
BOT, REPO = 'Agent::"bot"', 'Repository::"r"'


def test_a_shadow_forbid_never_changes_the_outcome_and_reports_its_effect() -> None:
    engine = agentauthz.Engine(SCHEMA, POLICIES)
    d = engine.authorize(BOT, "push", REPO, {"n": 500})
    assert d.allowed and d.reasons[0].policy_id == "permit-all"
    assert d.shadow == {
        "outcome": "deny",
        "reasons": ["no-big-push"],
        "ask_owners": [],
        "policies": ["no-big-push"],
        "changed": True,
    }
    assert d.to_dict()["shadow"] == d.shadow
    small = engine.authorize(BOT, "push", REPO, {"n": 5})
    assert small.allowed and small.shadow is not None and small.shadow["changed"] is False
    read = engine.authorize(BOT, "read", REPO, {"n": 0})
    assert read.allowed and read.shadow is not None
    assert read.shadow["outcome"] == "ask" and read.shadow["ask_owners"] == ["security"]


def test_no_shadow_section_without_shadow_policies() -> None:
    engine = agentauthz.Engine(SCHEMA, '@id("p") permit (principal, action, resource);')
    d = engine.authorize(BOT, "push", REPO, {"n": 1})
    assert d.shadow is None and "shadow" not in d.to_dict()


def test_engine_wide_shadow_mode_allows_and_records_the_would_be_outcome() -> None:
    engine = agentauthz.Engine(
        SCHEMA, '@id("no-push") forbid (principal, action == Action::"push", resource);', enforcement="shadow"
    )
    d = engine.authorize(BOT, "push", REPO, {"n": 1})
    assert d.allowed
    assert d.shadow is not None and d.shadow["outcome"] == "deny" and d.shadow["policies"] == ["no-push"]
    # A bad request is still denied in shadow mode (fail closed).
    bad = engine.authorize(BOT, "push", REPO, {"n": "many"})
    assert bad.outcome == "deny" and bad.errors


def test_an_unknown_enforcement_is_refused() -> None:
    with pytest.raises(ValueError, match="enforcement"):
        agentauthz.Engine(SCHEMA, POLICIES, enforcement="audit")  # type: ignore[arg-type]
