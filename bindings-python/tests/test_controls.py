"""Runtime controls: revocation, time-bound grants, session counters,
approvals and hot reload, through the Python API."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List, Tuple

import pytest

import agentauthz
from conftest import EXAMPLE, NOW, ctx

CI_BOT = 'Agent::"ci-bot"'
API_REPO = 'Repository::"acme/api"'

# A small model of its own: reads are permitted, pushes only as the policies say.
SCHEMA = """
entity Agent;
entity Repository { protected: Bool };
entity File in [Repository];
type Session = { id: String, actions: Long, repos_touched: Long, same_action?: Long };
action read, push appliesTo {
  principal: Agent, resource: [Repository, File],
  context: { now: datetime, session?: Session, n?: Long }
};
"""

ENTITIES = [
    {"uid": {"type": "Repository", "id": "r"}, "attrs": {"protected": False}, "parents": []},
    {"uid": {"type": "Repository", "id": "p"}, "attrs": {"protected": True}, "parents": []},
    {"uid": {"type": "File", "id": "r/a.rs"}, "attrs": {}, "parents": [{"type": "Repository", "id": "r"}]},
]

READ_ONLY = '@id("read") permit(principal, action == Action::"read", resource);'

# Pushes are allowed; to a protected repository they need security's approval;
# a push with n > 100 is a hard deny that no approval lifts.
ASKING = """
@id("allow-all") permit(principal, action, resource);
@id("protected") @owner("security") @ask("security")
forbid(principal, action == Action::"push", resource is Repository) when { resource.protected };
@id("hard") @owner("security")
forbid(principal, action == Action::"push", resource) when { context has n && context.n > 100 };
"""

A = 'Agent::"a"'


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def small(policies: str, **kw: object) -> agentauthz.Engine:
    return agentauthz.Engine(SCHEMA, policies, ENTITIES, **kw)  # type: ignore[arg-type]


@pytest.fixture
def example() -> agentauthz.Engine:
    """A fresh example engine (controls change engine state: no sharing between tests)."""
    return agentauthz.Engine.from_dir(EXAMPLE)


def read(engine: agentauthz.Engine, agent: str = CI_BOT, session: str = "s-1", credential: str = "cred-1") -> str:
    c = ctx()
    c["session"]["id"] = session
    c["credential"]["id"] = credential
    d = engine.authorize_at(agent, "read_repo", API_REPO, c, now=NOW)
    return d.outcome


# ---------------------------------------------------------------- revocation


@pytest.mark.parametrize(
    "subject",
    [{"agent": CI_BOT}, {"agent": ("Agent", "ci-bot")}, {"session": "s-1"}, {"credential": "cred-1"}],
)
def test_revoke_denies_the_next_decision_until_restored(example: agentauthz.Engine, subject: dict) -> None:
    assert read(example) == "allow"
    example.revoke(**subject, reason="incident INC-42")
    d = example.authorize_at(CI_BOT, "read_repo", API_REPO, ctx(), now=NOW)
    assert d.outcome == "deny"
    assert d.policy_ids == ["guard:revoked"]
    assert "INC-42" in d.reasons[0].annotations["reason"]
    assert d.reasons[0].owner == "agentauthz"
    # Other agents, sessions and credentials are unaffected.
    assert read(example, 'Agent::"review-bot"', "s-9", "cred-9") == "allow"
    assert example.restore(**subject) is True
    assert example.restore(**subject) is False
    assert read(example) == "allow"
    assert example.revocations() == []


def test_revocations_are_listed(example: agentauthz.Engine) -> None:
    before = utcnow()
    example.revoke(agent=CI_BOT, reason="compromised")
    example.revoke(session="s-7", reason="leaked transcript")
    example.revoke(credential="cred-3", reason="rotated")
    revs = example.revocations()
    assert [(r.kind, r.id, r.reason) for r in revs] == [
        ("agent", CI_BOT, "compromised"),
        ("session", "s-7", "leaked transcript"),
        ("credential", "cred-3", "rotated"),
    ]
    for r in revs:
        assert isinstance(r, agentauthz.Revocation)
        assert r.revoked_at.tzinfo is not None
        # revoked_at has millisecond precision.
        assert before - timedelta(milliseconds=1) <= r.revoked_at <= utcnow()
    # Revoking again replaces the reason.
    example.revoke(session="s-7", reason="second look")
    assert [r.reason for r in example.revocations() if r.kind == "session"] == ["second look"]


def test_revoke_arguments_are_checked(example: agentauthz.Engine) -> None:
    with pytest.raises(TypeError, match="exactly one"):
        example.revoke(reason="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="exactly one"):
        example.revoke(agent=CI_BOT, session="s-1", reason="x")
    with pytest.raises(TypeError):
        example.revoke(agent=CI_BOT)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        example.revoke(CI_BOT, reason="x")  # type: ignore[misc]
    with pytest.raises(agentauthz.RequestError, match="agent"):
        example.revoke(agent="ci-bot", reason="a bare id is not an entity reference")
    with pytest.raises(TypeError, match="exactly one"):
        example.restore()
    assert example.revocations() == []


def test_revocation_reaches_threads_that_are_deciding(example: agentauthz.Engine) -> None:
    """Threads decide continuously; once revoke() has returned, no decision
    that starts afterwards allows the agent."""
    revoked = threading.Event()
    stop = threading.Event()
    started = threading.Barrier(5)
    results: List[Tuple[bool, str]] = []
    lock = threading.Lock()

    def work() -> None:
        c = ctx()
        started.wait()
        local: List[Tuple[bool, str]] = []
        while not stop.is_set():
            was_revoked = revoked.is_set()
            d = example.authorize_at(CI_BOT, "read_repo", API_REPO, c, now=NOW)
            local.append((was_revoked, d.outcome))
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    threading.Event().wait(0.05)  # the workers decide for a while first
    example.revoke(agent=CI_BOT, reason="kill switch")
    revoked.set()
    threading.Event().wait(0.05)
    stop.set()
    for t in threads:
        t.join()
    before = [o for r, o in results if not r]
    after = [o for r, o in results if r]
    assert before and after, (len(before), len(after))
    assert set(before) <= {"allow", "deny"} and "allow" in before
    assert set(after) == {"deny"}, "a decision started after revoke() returned allowed the agent"


def test_revocations_survive_a_new_engine(example: agentauthz.Engine, tmp_path: Path) -> None:
    path = tmp_path / "revocations.json"
    example.revoke(session="s-1", reason="leaked transcript")
    example.revoke(agent=CI_BOT, reason="INC-9")
    example.save_revocations(path)
    saved = json.loads(path.read_text())
    assert {r["reason"] for r in saved} == {"leaked transcript", "INC-9"}

    fresh = agentauthz.Engine.from_dir(EXAMPLE)
    assert read(fresh) == "allow"
    fresh.load_revocations(str(path))
    assert fresh.revocations() == example.revocations()
    assert read(fresh) == "deny"
    assert read(fresh, 'Agent::"review-bot"', "s-1", "cred-9") == "deny"  # the session
    assert read(fresh, 'Agent::"review-bot"', "s-2", "cred-9") == "allow"


def test_bad_revocation_files_raise_and_change_nothing(example: agentauthz.Engine, tmp_path: Path) -> None:
    example.revoke(agent=CI_BOT, reason="keep me")
    with pytest.raises(FileNotFoundError) as missing:
        example.load_revocations(tmp_path / "missing.json")
    assert missing.value.filename == str(tmp_path / "missing.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"not": "a list"}')
    with pytest.raises(agentauthz.AuthzError, match="garbage.json"):
        example.load_revocations(garbage)
    with pytest.raises(OSError):
        example.save_revocations(tmp_path / "no-such-dir" / "r.json")
    assert [r.reason for r in example.revocations()] == ["keep me"]
    assert read(example) == "deny"


# ---------------------------------------------------------------- grants


def test_a_grant_allows_before_expiry_and_denies_after() -> None:
    e = small(READ_ONLY)
    now = utcnow()
    assert e.authorize_at(A, "push", 'Repository::"r"', now=now).outcome == "deny"
    expires = now + timedelta(hours=1)
    gid = e.grant(A, ["push"], ("Repository", "r"), expires_at=expires, reason="hotfix INC-7")
    assert gid.startswith("grant-")
    d = e.authorize_at(A, "push", 'Repository::"r"', now=now)
    assert d.outcome == "allow"
    assert d.policy_ids == [gid]
    assert d.reasons[0].annotations["reason"] == "hotfix INC-7"
    # Anything in the granted resource is covered; another resource or action is not.
    assert e.authorize_at(A, "push", 'File::"r/a.rs"', now=now).outcome == "allow"
    assert e.authorize_at(A, "push", 'Repository::"p"', now=now).outcome == "deny"
    assert e.authorize_at('Agent::"b"', "push", 'Repository::"r"', now=now).outcome == "deny"
    # Just before expiry it still allows; at expiry it stops matching, no reload.
    before_end = expires - timedelta(milliseconds=1)
    assert e.authorize_at(A, "push", 'Repository::"r"', now=before_end).outcome == "allow"
    assert e.authorize_at(A, "push", 'Repository::"r"', now=expires).outcome == "deny"
    [g] = e.grants()
    assert isinstance(g, agentauthz.Grant)
    assert (g.id, g.principal, g.actions, g.resource, g.reason) == (
        gid,
        A,
        ('Action::"push"',),
        'Repository::"r"',
        "hotfix INC-7",
    )
    assert abs(g.expires_at - expires) < timedelta(milliseconds=1)


def test_a_grant_with_a_ttl_expires_by_itself() -> None:
    e = small(READ_ONLY)
    t0 = utcnow()
    gid = e.grant(A, 'Action::"push"', 'Repository::"r"', ttl=600)
    t1 = utcnow()
    assert e.authorize_at(A, "push", 'Repository::"r"', now=t1 + timedelta(seconds=599)).outcome == "allow"
    assert e.authorize_at(A, "push", 'Repository::"r"', now=t1 + timedelta(seconds=600, milliseconds=2)).outcome == "deny"
    [g] = e.grants()
    assert t0 + timedelta(seconds=600) - timedelta(milliseconds=1) <= g.expires_at <= t1 + timedelta(seconds=600)
    e.grant(A, ["push", "read"], 'Repository::"p"', ttl=timedelta(minutes=5))
    assert len(e.grants()) == 2
    assert e.revoke_grant(gid) is True
    assert e.revoke_grant(gid) is False
    assert e.authorize_at(A, "push", 'Repository::"r"', now=t1).outcome == "deny"
    assert e.authorize_at(A, "push", 'Repository::"p"', now=t1).outcome == "allow"


def test_a_grant_does_not_override_a_forbid() -> None:
    e = small(READ_ONLY + ASKING.split("\n", 2)[2])
    now = utcnow()
    e.grant(A, "push", 'Repository::"p"', ttl=60)
    d = e.authorize_at(A, "push", 'Repository::"p"', now=now)
    assert d.outcome == "ask" and d.policy_ids == ["protected"]
    e.grant(A, "push", 'Repository::"r"', ttl=60)
    d = e.authorize_at(A, "push", 'Repository::"r"', {"n": 101}, now=now)
    assert d.outcome == "deny" and d.policy_ids == ["hard"]


def test_grant_arguments_are_checked() -> None:
    e = small(READ_ONLY)
    with pytest.raises(TypeError, match="exactly one"):
        e.grant(A, "push", 'Repository::"r"')
    with pytest.raises(TypeError, match="exactly one"):
        e.grant(A, "push", 'Repository::"r"', ttl=5, expires_at=utcnow())
    for bad in (0, -5, float("nan"), float("inf"), timedelta(0), True):
        with pytest.raises(ValueError, match="ttl"):
            e.grant(A, "push", 'Repository::"r"', ttl=bad)
    with pytest.raises(ValueError, match="ttl"):
        e.grant(A, "push", 'Repository::"r"', ttl="60")  # type: ignore[arg-type]
    with pytest.raises(agentauthz.RequestError, match="naive"):
        e.grant(A, "push", 'Repository::"r"', expires_at=datetime(2030, 1, 1))
    with pytest.raises(agentauthz.RequestError, match="principal"):
        e.grant("a", "push", 'Repository::"r"', ttl=5)
    with pytest.raises(agentauthz.RequestError, match="actions"):
        e.grant(A, [], 'Repository::"r"', ttl=5)
    with pytest.raises(agentauthz.RequestError, match="actions"):
        e.grant(A, 7, 'Repository::"r"', ttl=5)  # type: ignore[arg-type]
    assert e.grants() == []


# ---------------------------------------------------------------- session counters

SESSION_POLICIES = """
@id("all") permit(principal, action, resource);
@id("blast") @ask("security")
forbid(principal, action == Action::"push", resource) when { context has session && context.session.repos_touched > 3 };
@id("budget")
forbid(principal, action, resource) when { context has session && context.session has same_action && context.session.same_action > 5 };
"""


def push(e: agentauthz.Engine, session: str, resource: str) -> str:
    # The caller's counters (zeros) are overwritten by the engine's.
    c = {"session": {"id": session, "actions": 0, "repos_touched": 0}}
    return e.authorize_at(A, "push", resource, c, now=utcnow()).outcome


def test_session_counters_bound_the_blast_radius() -> None:
    e = small(SESSION_POLICIES, session_counters=True)
    assert e.tracked_sessions == 0
    assert push(e, "s", 'Repository::"r1"') == "allow"
    assert push(e, "s", 'Repository::"r2"') == "allow"
    assert push(e, "s", 'File::"r/a.rs"') == "allow"  # repository r
    assert push(e, "s", 'File::"r/a.rs"') == "allow"  # the same repository again
    assert push(e, "s", 'Repository::"r4"') == "ask", "a fourth repository asks"
    # The ask was not counted: a fifth push is fine, a sixth exceeds the budget of 5.
    assert push(e, "s", 'Repository::"r1"') == "allow"
    assert push(e, "s", 'Repository::"r2"') == "deny", "the 6th push of the session exceeds the budget of 5"
    # Another session counts on its own.
    assert push(e, "other", 'Repository::"r4"') == "allow"
    assert e.tracked_sessions == 2


def test_without_session_counters_the_callers_values_are_used() -> None:
    e = small(SESSION_POLICIES)
    for i in range(8):
        assert push(e, "s", f'Repository::"r{i}"') == "allow"
    assert e.tracked_sessions == 0
    c = {"session": {"id": "s", "actions": 1, "repos_touched": 4}}
    assert e.authorize_at(A, "push", 'Repository::"r"', c, now=utcnow()).outcome == "ask"


def test_session_counters_keep_memory_bounded() -> None:
    e = small(SESSION_POLICIES, session_counters=True, max_sessions=32, session_idle_seconds=3600)
    for i in range(2000):
        push(e, f"s-{i}", 'Repository::"r"')
    assert 0 < e.tracked_sessions <= 32


def test_session_counter_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="session_counters=True"):
        small(SESSION_POLICIES, max_sessions=10)
    with pytest.raises(ValueError, match="session_counters=True"):
        agentauthz.Engine.from_dir(EXAMPLE, session_idle_seconds=60)
    with pytest.raises(ValueError, match="max_sessions"):
        small(SESSION_POLICIES, session_counters=True, max_sessions=0)
    with pytest.raises(ValueError, match="session_idle_seconds"):
        small(SESSION_POLICIES, session_counters=True, session_idle_seconds=-1)
    e = agentauthz.Engine.from_dir(EXAMPLE, session_counters=True, session_idle_seconds=timedelta(hours=1))
    assert e.tracked_sessions == 0


def test_example_blast_radius_policy_with_engine_counters() -> None:
    """The example's `blast-radius-repos` asks once a session has touched more
    than 5 repositories; with session counters the engine does the counting,
    whatever the caller claims."""
    repos = ["api", "billing", "auth", "worker", "search", "sdk"]  # ci-bot's team's repositories
    now = utcnow()
    c = ctx(branch="fix/1")
    c["credential"]["issued_at"] = now - timedelta(minutes=5)
    c["credential"]["expires_at"] = now + timedelta(minutes=30)
    c["session"] = {"id": "blast", "actions": 1, "repos_touched": 1}

    def run(engine: agentauthz.Engine) -> List[Tuple[str, List[str]]]:
        out: List[Tuple[str, List[str]]] = []
        for r in repos:
            d = engine.authorize_at(CI_BOT, "open_pr", f'Repository::"acme/{r}"', c, now=now)
            out.append((d.outcome, d.policy_ids))
        return out

    counting = agentauthz.Engine.from_dir(EXAMPLE, session_counters=True)
    outcomes = run(counting)
    assert [o for o, _ in outcomes[:5]] == ["allow"] * 5, outcomes
    assert outcomes[5] == ("ask", ["blast-radius-repos"])
    assert counting.tracked_sessions == 1
    # Without engine counters the caller's repos_touched=1 is believed.
    assert [o for o, _ in run(agentauthz.Engine.from_dir(EXAMPLE))] == ["allow"] * 6


# ---------------------------------------------------------------- approvals


def test_an_approval_allows_the_asked_request_for_its_uses() -> None:
    e = small(ASKING)
    d = e.authorize(A, "push", 'Repository::"p"')
    assert d.outcome == "ask" and d.ask_owner == "security"
    aid = d.approval_id
    assert aid is not None and aid.startswith("apr-")
    assert e.authorize(A, "push", 'Repository::"p"').approval_id == aid, "the same ask has the same id"
    assert e.authorize('Agent::"b"', "push", 'Repository::"p"').approval_id != aid
    assert e.authorize(A, "push", 'Repository::"r"').approval_id is None  # an allow needs none

    e.approve(aid, "carol@acme.dev", ttl=600, uses=2)
    for _ in range(2):
        d = e.authorize(A, "push", 'Repository::"p"')
        assert d.outcome == "allow"
        assert d.reasons[0].annotations["approver"] == "carol@acme.dev"
        assert d.approval_id == aid
    d = e.authorize(A, "push", 'Repository::"p"')
    assert d.outcome == "ask", "two uses, then it asks again"
    # Approving only covers this request: another agent still asks.
    assert e.authorize('Agent::"b"', "push", 'Repository::"p"').outcome == "ask"


def test_an_approval_ends_at_its_ttl() -> None:
    e = small(ASKING)
    aid = e.authorize(A, "push", 'Repository::"p"').approval_id
    assert aid is not None
    t0 = utcnow()
    e.approve(aid, "carol", ttl=timedelta(seconds=60), uses=100)
    t1 = utcnow()
    assert e.authorize_at(A, "push", 'Repository::"p"', now=t1 + timedelta(seconds=59)).outcome == "allow"
    late = t1 + timedelta(seconds=60, milliseconds=1)
    assert late > t0 + timedelta(seconds=60)
    assert e.authorize_at(A, "push", 'Repository::"p"', now=late).outcome == "ask"


def test_unknown_approval_ids_are_refused() -> None:
    e = small(ASKING)
    with pytest.raises(agentauthz.ApprovalError) as err:
        e.approve("apr-0000000000000000", "carol", ttl=60)
    assert err.value.approval_id == "apr-0000000000000000"
    assert "apr-0000000000000000" in str(err.value)
    assert isinstance(err.value, agentauthz.AuthzError)
    aid = e.authorize(A, "push", 'Repository::"p"').approval_id
    assert aid is not None
    with pytest.raises(ValueError, match="uses"):
        e.approve(aid, "carol", ttl=60, uses=0)
    with pytest.raises(ValueError, match="ttl"):
        e.approve(aid, "carol", ttl=0)
    for uses in (-1, 2**32):
        with pytest.raises(ValueError, match="uses"):
            e.approve(aid, "carol", ttl=60, uses=uses)
    assert e.authorize(A, "push", 'Repository::"p"').outcome == "ask", "a refused approval approves nothing"


def test_a_hard_deny_is_never_approved() -> None:
    e = small(ASKING)
    aid = e.authorize(A, "push", 'Repository::"p"').approval_id
    assert aid is not None
    e.approve(aid, "carol", ttl=600, uses=10)
    d = e.authorize(A, "push", 'Repository::"p"', {"n": 101})
    assert d.outcome == "deny"
    assert d.policy_ids == ["hard", "protected"]
    # A deny has no approval id to approve.
    assert e.authorize(A, "push", 'Repository::"r"', {"n": 101}).approval_id is None


def test_example_ask_approve_allow_flow(example: agentauthz.Engine) -> None:
    now = utcnow()
    c = ctx(diff_lines=5000)
    c["credential"]["issued_at"] = now - timedelta(minutes=5)
    c["credential"]["expires_at"] = now + timedelta(minutes=30)
    d = example.authorize(CI_BOT, "open_pr", API_REPO, c)
    assert d.outcome == "ask" and d.ask_owner == "eng-productivity"
    assert d.approval_id is not None
    example.approve(d.approval_id, "dana@acme.dev", ttl=300)
    assert example.authorize(CI_BOT, "open_pr", API_REPO, c).outcome == "allow"
    assert example.authorize(CI_BOT, "open_pr", API_REPO, c).outcome == "ask"


# ---------------------------------------------------------------- hot reload


def test_a_broken_reload_raises_and_the_old_set_keeps_serving() -> None:
    e = small(ASKING)
    v1 = e.policy_version
    assert e.authorize(A, "push", 'Repository::"r"').outcome == "allow"
    with pytest.raises(agentauthz.PolicyError) as err:
        e.reload(schema=SCHEMA, policies='@id("typo") permit(principal, action, resource) when { resource.protectd };', entities=ENTITIES)
    assert err.value.policy_id == "typo"
    with pytest.raises(agentauthz.PolicyError):
        e.reload(schema=SCHEMA, policies="permit(principal, action, resource) when {")
    with pytest.raises(agentauthz.SchemaError):
        e.reload(schema="entity A {", policies=READ_ONLY)
    with pytest.raises(agentauthz.EntityError):
        e.reload(schema=SCHEMA, policies=READ_ONLY, entities='[{"uid": {"type": "Nope", "id": "x"}, "attrs": {}, "parents": []}]')
    assert e.policy_version == v1
    d = e.authorize(A, "push", 'Repository::"r"')
    assert d.outcome == "allow" and d.policy_version == v1

    v2 = e.reload(schema=SCHEMA, policies=READ_ONLY, entities=ENTITIES)
    assert v2 != v1 and e.policy_version == v2
    d = e.authorize(A, "push", 'Repository::"r"')
    assert d.outcome == "deny" and d.policy_version == v2
    assert e.authorize(A, "read", 'Repository::"r"').policy_ids == ["read"]
    # Going back gives back the same version (a content hash).
    assert e.reload(schema=SCHEMA, policies=ASKING, entities=ENTITIES) == v1


def test_reload_from_a_folder_keeps_controls(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(EXAMPLE, folder)
    e = agentauthz.Engine.from_dir(folder)
    v1 = e.policy_version
    e.revoke(agent='Agent::"review-bot"', reason="kept across reloads")
    (folder / "60-broken.cedar").write_text('@id("broken")\npermit(principal, action, resource) when { principal.nope };\n')
    with pytest.raises(agentauthz.PolicyError) as err:
        e.reload(folder)
    assert err.value.file is not None and err.value.file.endswith("60-broken.cedar")
    assert e.policy_version == v1
    assert read(e) == "allow"
    (folder / "60-broken.cedar").write_text(
        '@id("no-reads-of-api") forbid(principal, action == Action::"read_repo", resource == Repository::"acme/api");\n'
    )
    v2 = e.reload(str(folder))
    assert v2 != v1
    d = e.authorize_at(CI_BOT, "read_repo", API_REPO, ctx(), now=NOW)
    assert d.outcome == "deny" and d.policy_ids == ["no-reads-of-api"] and d.policy_version == v2
    assert read(e, 'Agent::"review-bot"', "s-2", "c-2") == "deny"  # still revoked
    assert [r.reason for r in e.revocations()] == ["kept across reloads"]
    with pytest.raises(agentauthz.AuthzError):
        e.reload(tmp_path / "missing")
    assert e.policy_version == v2


def test_reload_arguments_are_checked() -> None:
    e = small(ASKING)
    with pytest.raises(TypeError, match="reload"):
        e.reload()
    with pytest.raises(TypeError, match="reload"):
        e.reload(schema=SCHEMA)
    with pytest.raises(TypeError, match="reload"):
        e.reload(EXAMPLE, schema=SCHEMA, policies=READ_ONLY)


def test_reloads_while_threads_decide() -> None:
    """Every decision names one of the two versions and agrees with it."""
    e = small(ASKING)
    v_ask = e.policy_version
    v_read = e.reload(schema=SCHEMA, policies=READ_ONLY, entities=ENTITIES)
    e.reload(schema=SCHEMA, policies=ASKING, entities=ENTITIES)
    stop = threading.Event()
    bad: List[str] = []
    counts = [0]

    def work() -> None:
        n = 0
        while not stop.is_set():
            d = e.authorize(A, "push", 'Repository::"r"')
            n += 1
            if d.policy_version == v_ask:
                ok = d.outcome == "allow" and d.policy_ids == ["allow-all"]
            elif d.policy_version == v_read:
                ok = d.outcome == "deny" and d.policy_ids == []
            else:
                ok = False
            if not ok:
                bad.append(f"{d.policy_version}: {d!r}")
        counts[0] += n

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(100):
        e.reload(schema=SCHEMA, policies=READ_ONLY if i % 2 == 0 else ASKING, entities=ENTITIES)
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
    assert counts[0] > 0
