"""The Engine / Decision API on the coding-agent example."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import agentauthz
from conftest import EXAMPLE, NOW, ctx

CI_BOT = 'Agent::"ci-bot"'
API_REPO = 'Repository::"acme/api"'


def test_allow_decision_fields(engine: agentauthz.Engine) -> None:
    d = engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(branch="fix/1"), now=NOW)
    assert d.outcome == "allow"
    assert d.allowed is True and bool(d) is True
    assert [r.policy_id for r in d.reasons] == ["permit-write-code-trusted"]
    assert d.policy_ids == ["permit-write-code-trusted"]
    reason = d.reasons[0]
    assert reason.effect == "permit"
    assert reason.annotations["owner"] == reason.owner == "eng-productivity"
    assert reason.file.endswith(".cedar")
    assert reason.ask is None
    assert d.errors == []
    assert d.ask_owner is None and d.ask_owners == []
    assert d.policy_version == engine.policy_version
    assert d.policy_version.startswith("sha256:")
    assert isinstance(d.eval_us, float) and d.eval_us > 0
    assert "allow" in repr(d)
    assert reason == d.reasons[0]


def test_to_dict_matches_cli_json_shape(engine: agentauthz.Engine) -> None:
    d = engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now=NOW)
    out = d.to_dict()
    assert set(out) == {
        "outcome",
        "reasons",
        "policies",
        "errors",
        "ask_owner",
        "ask_owners",
        "approval_id",
        "policy_version",
        "eval_us",
    }
    assert out["outcome"] == "allow"
    assert out["reasons"] == ["permit-write-code-trusted"]
    assert out["policies"][0]["id"] == "permit-write-code-trusted"
    assert out["policies"][0]["effect"] == "permit"
    assert out["policies"][0]["owner"] == "eng-productivity"
    assert out["errors"] == [] and out["ask_owner"] is None and out["approval_id"] is None
    json.dumps(out)  # plain JSON types only


def test_deny_for_lack_of_permit(engine: agentauthz.Engine) -> None:
    d = engine.authorize_at(CI_BOT, "read_repo", 'Repository::"acme/web"', ctx(), now=NOW)
    assert d.outcome == "deny" and not d and d.allowed is False
    assert d.reasons == [] and d.errors == []


def test_ask_carries_owners(engine: agentauthz.Engine) -> None:
    d = engine.authorize_at(
        CI_BOT, "open_pr", API_REPO, ctx(diff_lines=5000, path=".github/workflows/ci.yml"), now=NOW
    )
    assert d.outcome == "ask" and not d
    assert sorted(d.policy_ids) == ["ci-config-approval", "large-diff-review"]
    assert d.ask_owners == sorted(d.ask_owners) and len(d.ask_owners) == 2
    assert d.approval_id is not None and d.approval_id.startswith("apr-")
    assert d.ask_owner == d.ask_owners[0]
    assert all(r.effect == "forbid" and r.ask for r in d.reasons)
    assert d.to_dict()["ask_owners"] == d.ask_owners


def test_entity_reference_forms_agree(engine: agentauthz.Engine) -> None:
    forms = [
        (CI_BOT, API_REPO),
        (("Agent", "ci-bot"), ("Repository", "acme/api")),
        ({"type": "Agent", "id": "ci-bot"}, {"type": "Repository", "id": "acme/api"}),
        ({"__entity": {"type": "Agent", "id": "ci-bot"}}, API_REPO),
    ]
    for principal, resource in forms:
        d = engine.authorize_at(principal, "open_pr", resource, ctx(), now=NOW)
        assert d.outcome == "allow", (principal, resource, d.errors)


def test_unnormalized_entity_strings_are_refused(engine: agentauthz.Engine) -> None:
    # Like Cedar's own parser, which the uncommon shapes go through.
    for principal in ['Agent :: "ci-bot"', 'Agent ::"ci-bot"', ' Agent::"ci-bot"']:
        with pytest.raises(agentauthz.RequestError, match="normalized"):
            engine.authorize_at(principal, "open_pr", API_REPO, ctx(), now=NOW)


def test_action_forms_agree(engine: agentauthz.Engine) -> None:
    for action in ["open_pr", 'Action::"open_pr"', ("Action", "open_pr"), {"type": "Action", "id": "open_pr"}]:
        d = engine.authorize_at(CI_BOT, action, API_REPO, ctx(), now=NOW)
        assert d.outcome == "allow", (action, d.errors)


def test_escaped_entity_id(engine: agentauthz.Engine) -> None:
    # An id with a quote: the string form needs Cedar escaping, the tuple form does not.
    a = engine.authorize_at(CI_BOT, "read_repo", 'Repository::"acme/\\"x"', ctx(), now=NOW)
    b = engine.authorize_at(CI_BOT, "read_repo", ("Repository", 'acme/"x'), ctx(), now=NOW)
    assert a.outcome == b.outcome == "deny"
    assert a.errors == b.errors  # the same entity either way (unknown: evaluation errors)


def test_now_forms(engine: agentauthz.Engine) -> None:
    # The credential expires at 10:30; at 10:31 it is expired.
    later = datetime(2026, 11, 25, 10, 31, tzinfo=timezone.utc)
    assert engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now=NOW).allowed
    assert not engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now=later).allowed
    assert engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now="2026-11-25T10:00:00Z").allowed
    # An aware datetime in another zone is the same instant.
    plus2 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now=plus2).allowed


def test_authorize_uses_the_real_clock(engine: agentauthz.Engine) -> None:
    now = datetime.now(timezone.utc)
    c = ctx()
    c["credential"]["issued_at"] = now - timedelta(minutes=5)
    c["credential"]["expires_at"] = now + timedelta(minutes=30)
    assert engine.authorize(CI_BOT, "open_pr", API_REPO, c).allowed
    # The example context (Nov 2026) is either not yet valid or expired now:
    # either way not an allow unless the clock happens to be in that window.
    d = engine.authorize(CI_BOT, "open_pr", API_REPO, ctx())
    assert d.outcome in {"allow", "deny"}


def test_context_values_as_strings_and_datetimes(engine: agentauthz.Engine) -> None:
    c = ctx()
    c["credential"]["issued_at"] = "2026-11-25T09:30:00Z"  # Cedar JSON form also works
    c["credential"]["expires_at"] = "2026-11-25T10:30:00.000Z"
    c["credential"]["scopes"] = ("repo:read", "repo:write")  # tuples and sets are Cedar sets
    assert engine.authorize_at(CI_BOT, "open_pr", API_REPO, c, now=NOW).allowed
    c["credential"]["scopes"] = {"repo:read", "repo:write"}
    assert engine.authorize_at(CI_BOT, "open_pr", API_REPO, c, now=NOW).allowed
    c["credential"]["scopes"] = frozenset({"repo:read", "repo:write"})
    assert engine.authorize_at(CI_BOT, "open_pr", API_REPO, c, now=NOW).allowed


def test_none_in_a_record_means_absent(engine: agentauthz.Engine) -> None:
    d = engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(approval=None, branch=None), now=NOW)
    assert d.allowed, d.errors


def test_context_now_is_supplied_by_the_engine(engine: agentauthz.Engine) -> None:
    # A caller-supplied `now` is overridden by the engine clock.
    early = datetime(2000, 1, 1, tzinfo=timezone.utc)
    d = engine.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(now=early), now=NOW)
    assert d.allowed, d.errors


def test_batch(engine: agentauthz.Engine) -> None:
    reqs = [
        {"principal": CI_BOT, "action": "open_pr", "resource": API_REPO, "context": ctx()},
        {"principal": CI_BOT, "action": "read_repo", "resource": 'Repository::"acme/web"', "context": ctx()},
        (CI_BOT, "open_pr", API_REPO, ctx(diff_lines=5000)),
        (CI_BOT, "open_pr", API_REPO),  # no context: denied with the error
    ]
    out = engine.authorize_batch(reqs, now=NOW)
    assert [d.outcome for d in out] == ["allow", "deny", "ask", "deny"]
    assert out[3].errors and out[3].errors[0][0] is None
    # Generators work; results equal one-by-one decisions.
    gen = (r for r in reqs[:3])
    again = engine.authorize_batch(gen, now="2026-11-25T10:00:00Z")
    assert [d.outcome for d in again] == ["allow", "deny", "ask"]
    assert engine.authorize_batch([]) == []


def test_batch_bad_items_name_the_index(engine: agentauthz.Engine) -> None:
    good = {"principal": CI_BOT, "action": "open_pr", "resource": API_REPO}
    with pytest.raises(agentauthz.RequestError, match=r"request #1: unknown key 'colour'"):
        engine.authorize_batch([good, {**good, "colour": "red"}])
    with pytest.raises(agentauthz.RequestError, match=r"request #0: missing key 'resource'"):
        engine.authorize_batch([{"principal": CI_BOT, "action": "open_pr"}])
    with pytest.raises(agentauthz.RequestError, match=r"request #0: a tuple request needs 3 or 4"):
        engine.authorize_batch([(CI_BOT, "open_pr")])
    with pytest.raises(agentauthz.RequestError, match=r"request #0: a request must be a dict"):
        engine.authorize_batch(["nope"])
    with pytest.raises(TypeError):
        engine.authorize_batch(42)  # type: ignore[arg-type]


def test_engine_from_texts(texts: dict) -> None:
    e = agentauthz.Engine(schema=texts["schema"], policies=texts["policies"], entities=texts["entities"])
    assert e.policy_count == agentauthz.Engine.from_dir(EXAMPLE).policy_count
    d = e.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now=NOW)
    assert d.allowed and d.policy_ids == ["permit-write-code-trusted"]
    # Entities may also be given as Python objects.
    e2 = agentauthz.Engine(texts["schema"], texts["policies"], json.loads(texts["entities"]))
    assert e2.policy_version.startswith("sha256:")
    assert e2.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now=NOW).allowed
    # No entities: nothing is known about ci-bot, so nothing permits.
    e3 = agentauthz.Engine(texts["schema"], texts["policies"])
    assert not e3.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(), now=NOW).allowed


def test_engine_properties(engine: agentauthz.Engine) -> None:
    assert engine.error_mode == "fail-closed"
    assert engine.policy_count == len(engine.policies()) > 0
    ids = [p.policy_id for p in engine.policies()]
    assert ids == sorted(ids)
    assert "Engine(" in repr(engine)
    assert agentauthz.MAX_CONTEXT_DEPTH == 32
    assert isinstance(agentauthz.__version__, str)


@pytest.mark.parametrize("mode", ["fail-closed", "strict", "cedar"])
def test_error_modes(mode: str) -> None:
    e = agentauthz.Engine.from_dir(str(EXAMPLE), error_mode=mode)  # str paths work too
    assert e.error_mode == mode
    d = e.authorize_at(CI_BOT, "open_pr", API_REPO, ctx(diff_lines=5000), now=NOW)
    # Cedar mode has no ask: an @ask forbid denies.
    assert d.outcome == ("deny" if mode == "cedar" else "ask")


def test_timedelta_maps_to_duration() -> None:
    schema = "action go appliesTo { principal: [U], resource: [U], context: { d: duration } }; entity U;"
    policies = 'permit(principal, action, resource) when { context.d > duration("1h") };'
    e = agentauthz.Engine(schema, policies)
    assert e.authorize('U::"a"', "go", 'U::"b"', {"d": timedelta(hours=2)}).allowed
    assert not e.authorize('U::"a"', "go", 'U::"b"', {"d": timedelta(minutes=59)}).allowed
    assert not e.authorize('U::"a"', "go", 'U::"b"', {"d": -timedelta(hours=3)}).allowed


def test_datetime_precision_and_zones() -> None:
    schema = "action go appliesTo { principal: [U], resource: [U], context: { t: datetime } }; entity U;"
    policies = 'permit(principal, action, resource) when { context.t == datetime("2026-01-01T00:00:00.123Z") };'
    e = agentauthz.Engine(schema, policies)
    t = datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)  # microseconds truncated to ms
    assert e.authorize('U::"a"', "go", 'U::"b"', {"t": t}).allowed
    t2 = datetime(2025, 12, 31, 19, 0, 0, 123000, tzinfo=timezone(-timedelta(hours=5)))
    assert e.authorize('U::"a"', "go", 'U::"b"', {"t": t2}).allowed


def test_datetime_where_the_schema_says_string() -> None:
    schema = "action go appliesTo { principal: [U], resource: [U], context: { s: String } }; entity U;"
    policies = 'permit(principal, action, resource) when { context.s == "2026-01-01T00:00:00.000Z" };'
    e = agentauthz.Engine(schema, policies)
    assert e.authorize('U::"a"', "go", 'U::"b"', {"s": datetime(2026, 1, 1, tzinfo=timezone.utc)}).allowed


def test_entity_references_inside_context() -> None:
    schema = "entity U; action go appliesTo { principal: [U], resource: [U], context: { owner: U } };"
    e = agentauthz.Engine(schema, "permit(principal, action, resource) when { context.owner == principal };")
    for owner in [{"__entity": {"type": "U", "id": "a"}}, {"type": "U", "id": "a"}]:
        assert e.authorize('U::"a"', "go", 'U::"b"', {"owner": owner}).allowed, owner
        assert not e.authorize('U::"z"', "go", 'U::"b"', {"owner": owner}).allowed
