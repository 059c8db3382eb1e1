#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Safety invariants on random policy sets, requests and runtime controls.
//!
//! Each generated case builds an engine over a random policy set (permits,
//! forbids, `@ask` forbids, erroring conditions, optional shadow policies) and
//! decides one random request under random revocations. What each single policy
//! does to the request is taken from plain `cedar_policy::Authorizer`, and:
//!
//! 1. with no satisfied permit the outcome is never allow;
//! 2. a satisfied forbid without `@ask` always denies;
//! 3. a revoked agent, session or credential is never allowed;
//! 4. an expired or not-yet-valid credential is never allowed;
//! 5. an erroring forbid never yields allow (default fail-closed mode);
//! 6. ask never becomes allow without an approval, and an approval allows
//!    exactly its number of uses;
//! 7. shadow policies never change the outcome or its reasons;
//! 8. in Cedar mode, the indexed engine decides exactly as the Authorizer does
//!    over the whole set.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentauthz::cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicyId, PolicySet, Request as CedarRequest,
    Schema,
};
use agentauthz::{
    format_rfc3339_millis, parse_rfc3339, Engine, ErrorMode, FixedClock, NamedText, Outcome, PolicySources, Request,
    Subject,
};
use proptest::prelude::*;
use serde_json::json;

const SCHEMA: &str = r#"
entity Team;
entity Agent in [Team] { tier: Long, suspended: Bool };
entity Repo in [Team] { public: Bool };
type Cred = { id: String, issued_at: datetime, expires_at: datetime };
type Ctx = { now: datetime, credential: Cred, session: { id: String }, n: Long };
action read, write, deploy appliesTo { principal: Agent, resource: Repo, context: Ctx };
"#;

const ENTITIES: &str = r#"[
 {"uid": {"type": "Team", "id": "t0"}, "attrs": {}, "parents": []},
 {"uid": {"type": "Team", "id": "t1"}, "attrs": {}, "parents": []},
 {"uid": {"type": "Agent", "id": "a0"}, "attrs": {"tier": 0, "suspended": false}, "parents": [{"type": "Team", "id": "t0"}]},
 {"uid": {"type": "Agent", "id": "a1"}, "attrs": {"tier": 2, "suspended": false}, "parents": [{"type": "Team", "id": "t0"}]},
 {"uid": {"type": "Agent", "id": "a2"}, "attrs": {"tier": 3, "suspended": true}, "parents": [{"type": "Team", "id": "t1"}]},
 {"uid": {"type": "Agent", "id": "a3"}, "attrs": {"tier": 1, "suspended": false}, "parents": [{"type": "Team", "id": "t1"}]},
 {"uid": {"type": "Repo", "id": "r0"}, "attrs": {"public": true}, "parents": [{"type": "Team", "id": "t0"}]},
 {"uid": {"type": "Repo", "id": "r1"}, "attrs": {"public": false}, "parents": [{"type": "Team", "id": "t0"}]},
 {"uid": {"type": "Repo", "id": "r2"}, "attrs": {"public": false}, "parents": [{"type": "Team", "id": "t1"}]}
]"#;

const ACTIONS: &[&str] = &["read", "write", "deploy"];
const PRINCIPAL_SCOPES: &[&str] =
    &["principal", "principal == Agent::\"a1\"", "principal in Team::\"t0\"", "principal is Agent in Team::\"t1\""];
const ACTION_SCOPES: &[&str] =
    &["action", "action == Action::\"read\"", "action in [Action::\"write\", Action::\"deploy\"]"];
const RESOURCE_SCOPES: &[&str] = &["resource", "resource == Repo::\"r1\"", "resource in Team::\"t1\""];
const CONDITIONS: &[&str] = &[
    "true",
    "principal.tier >= 2",
    "resource.public",
    "principal.suspended",
    "context.n > 3",
    "resource in principal",
    "principal in Team::\"t0\" && !resource.public",
    // errors (overflow) once n >= 2
    "context.n * 4611686018427387904 > 0",
    "context.now < context.credential.expires_at.offset(duration(\"-30m\"))",
];

#[derive(Debug, Clone)]
struct Pol {
    permit: bool,
    ask: bool,
    shadow: bool,
    scopes: (usize, usize, usize),
    cond: usize,
}

#[derive(Debug, Clone)]
struct Case {
    policies: Vec<Pol>,
    agent: usize,
    action: usize,
    repo: usize,
    n: i64,
    issued_min: i64,
    expires_min: i64,
    session: usize,
    revoke: (bool, bool, bool),
}

fn policy_text(i: usize, p: &Pol, with_mode: bool) -> String {
    let mut out = format!("@id(\"p{i}\")\n");
    if p.ask && !p.permit {
        out.push_str("@ask(\"security\")\n");
    }
    if p.shadow && with_mode {
        out.push_str("@mode(\"shadow\")\n");
    }
    out.push_str(&format!(
        "{} ({}, {}, {}) when {{ {} }};\n",
        if p.permit { "permit" } else { "forbid" },
        PRINCIPAL_SCOPES[p.scopes.0],
        ACTION_SCOPES[p.scopes.1],
        RESOURCE_SCOPES[p.scopes.2],
        CONDITIONS[p.cond]
    ));
    out
}

fn pol() -> impl Strategy<Value = Pol> {
    (
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.15),
        (
            prop_oneof![2 => Just(0usize), 1 => 0..PRINCIPAL_SCOPES.len()],
            prop_oneof![2 => Just(0usize), 1 => 0..ACTION_SCOPES.len()],
            prop_oneof![2 => Just(0usize), 1 => 0..RESOURCE_SCOPES.len()],
        ),
        prop_oneof![3 => Just(0usize), 7 => 0..CONDITIONS.len()],
    )
        .prop_map(|(permit, ask, shadow, scopes, cond)| Pol { permit, ask, shadow, scopes, cond })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(pol(), 1..6),
        (0..4usize, 0..ACTIONS.len(), 0..3usize),
        prop_oneof![0..6i64, Just(i64::MAX), Just(-1)],
        (-120..5i64, -5..120i64),
        0..2usize,
        (prop::bool::weighted(0.05), prop::bool::weighted(0.05), prop::bool::weighted(0.05)),
    )
        .prop_map(|(policies, (agent, action, repo), n, (issued_min, expires_min), session, revoke)| Case {
            policies,
            agent,
            action,
            repo,
            n,
            issued_min,
            expires_min,
            session,
            revoke,
        })
}

fn now() -> SystemTime {
    parse_rfc3339("2026-11-25T12:00:00Z").unwrap()
}

fn shift(min: i64) -> String {
    let d = Duration::from_secs(min.unsigned_abs() * 60);
    format_rfc3339_millis(if min >= 0 { now() + d } else { now() - d })
}

fn request_json(c: &Case) -> serde_json::Value {
    json!({
        "principal": format!("Agent::\"a{}\"", c.agent),
        "action": ACTIONS[c.action],
        "resource": format!("Repo::\"r{}\"", c.repo),
        "context": {
            "credential": {"id": format!("c{}", c.session), "issued_at": shift(c.issued_min), "expires_at": shift(c.expires_min)},
            "session": {"id": format!("s{}", c.session)},
            "n": c.n,
        }
    })
}

fn build(c: &Case, mode: ErrorMode, include_shadow: bool) -> Engine {
    let text: String = c
        .policies
        .iter()
        .enumerate()
        .filter(|(_, p)| include_shadow || !p.shadow)
        .map(|(i, p)| policy_text(i, p, mode != ErrorMode::Cedar))
        .collect();
    let sources = PolicySources {
        policies: vec![NamedText::new("p.cedar", text)],
        ..PolicySources::from_strings(SCHEMA, "", Some(ENTITIES))
    };
    Engine::builder(sources).error_mode(mode).clock(Arc::new(FixedClock(now()))).build().unwrap()
}

/// What one policy alone does to the request: (satisfied, errored).
struct Single {
    permit: bool,
    ask: bool,
    shadow: bool,
    satisfied: bool,
    errored: bool,
}

fn singles(c: &Case, schema: &Schema, entities: &Entities) -> (Vec<Single>, CedarRequest) {
    let r = request_json(c);
    let action = EntityUid::from_str(&format!("Action::\"{}\"", ACTIONS[c.action])).unwrap();
    let mut ctx = r["context"].clone();
    ctx["now"] = json!({"__extn": {"fn": "datetime", "arg": format_rfc3339_millis(now())}});
    let request = CedarRequest::new(
        EntityUid::from_str(r["principal"].as_str().unwrap()).unwrap(),
        action.clone(),
        EntityUid::from_str(r["resource"].as_str().unwrap()).unwrap(),
        Context::from_json_value(ctx, Some((schema, &action))).unwrap(),
        Some(schema),
    )
    .unwrap();
    let authorizer = Authorizer::new();
    let out = c
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let set = PolicySet::from_str(&policy_text(i, p, false)).unwrap();
            let resp = authorizer.is_authorized(&request, &set, entities);
            let satisfied = resp.diagnostics().reason().next().is_some();
            let errored = resp.diagnostics().errors().next().is_some();
            Single { permit: p.permit, ask: p.ask && !p.permit, shadow: p.shadow, satisfied, errored }
        })
        .collect();
    (out, request)
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let entities = Entities::from_json_str(ENTITIES, Some(&schema)).unwrap();
    let (singles, cedar_request) = singles(c, &schema, &entities);
    let engine = build(c, ErrorMode::FailClosed, true);
    revoke(&engine, c);
    let request = Request::from_json(&request_json(c)).unwrap();
    let d = engine.authorize_at(&request, now());
    let enforced = || singles.iter().filter(|s| !s.shadow);

    // 1. allow needs a satisfied (enforced) permit.
    if d.outcome == Outcome::Allow {
        prop_assert!(enforced().any(|s| s.permit && s.satisfied), "allow without a permit: {:?}", d.to_json());
    }
    // 2. a satisfied hard forbid denies.
    if enforced().any(|s| !s.permit && !s.ask && s.satisfied) {
        prop_assert_eq!(d.outcome, Outcome::Deny);
    }
    // 3. revoked subjects are never allowed.
    if c.revoke.0 || c.revoke.1 || c.revoke.2 {
        prop_assert_eq!(d.outcome, Outcome::Deny);
        prop_assert_eq!(d.reason_ids(), vec!["guard:revoked"]);
    }
    // 4. invalid credentials are never allowed.
    if c.expires_min <= 0 || c.issued_min > 0 {
        prop_assert_eq!(d.outcome, Outcome::Deny);
    }
    // 5. an erroring forbid never allows.
    if enforced().any(|s| !s.permit && s.errored) {
        prop_assert_ne!(d.outcome, Outcome::Allow);
    }
    // 6. ask stays ask until approved, and an approval is bounded by its uses.
    if d.outcome == Outcome::Ask {
        let id = d.approval_id.clone().unwrap();
        prop_assert_eq!(engine.authorize_at(&request, now()).outcome, Outcome::Ask);
        prop_assert!(engine.approve("apr-0000000000000000", "mallory", Duration::from_secs(60), 1).is_err());
        prop_assert_eq!(engine.authorize_at(&request, now()).outcome, Outcome::Ask);
        engine.approve(&id, "carol", Duration::from_secs(3600), 2).unwrap();
        prop_assert_eq!(engine.authorize(&request).outcome, Outcome::Allow);
        prop_assert_eq!(engine.authorize(&request).outcome, Outcome::Allow);
        prop_assert_eq!(engine.authorize(&request).outcome, Outcome::Ask);
    }
    // 7. shadow policies change nothing that is enforced.
    if c.policies.iter().any(|p| p.shadow) {
        let without = engine_without_shadow(c);
        let d0 = without.authorize_at(&request, now());
        prop_assert_eq!(d.outcome, d0.outcome);
        prop_assert_eq!(d.reason_ids(), d0.reason_ids());
    }
    // 8. the index changes no decision: Cedar mode equals the Authorizer on the whole set.
    let cedar_engine = build(c, ErrorMode::Cedar, true);
    let whole: String = c.policies.iter().enumerate().map(|(i, p)| policy_text(i, p, false)).collect();
    let mut renamed = PolicySet::new();
    for p in PolicySet::from_str(&whole).unwrap().policies() {
        renamed.add(p.new_id(PolicyId::new(p.annotation("id").unwrap()))).unwrap();
    }
    let whole = renamed;
    let reference = Authorizer::new().is_authorized(&cedar_request, &whole, &entities);
    let dc = cedar_engine.authorize_at(&request, now());
    prop_assert_eq!(dc.outcome == Outcome::Allow, reference.decision() == CedarDecision::Allow);
    let mut want: Vec<String> = reference.diagnostics().reason().map(PolicyId::to_string).collect();
    want.sort();
    prop_assert_eq!(dc.reason_ids(), want);
    Ok(())
}

fn revoke(engine: &Engine, c: &Case) {
    if c.revoke.0 {
        engine.revoke(Subject::Agent(format!("Agent::\"a{}\"", c.agent)), "test");
    }
    if c.revoke.1 {
        engine.revoke(Subject::Session(format!("s{}", c.session)), "test");
    }
    if c.revoke.2 {
        engine.revoke(Subject::Credential(format!("c{}", c.session)), "test");
    }
}

fn engine_without_shadow(c: &Case) -> Engine {
    let e = build(c, ErrorMode::FailClosed, false);
    revoke(&e, c);
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn safety_invariants_hold(c in case()) {
        check(&c)?;
    }
}

/// The generator reaches every outcome, errors, revocations and shadow
/// policies often enough for the invariants above to bite.
#[test]
fn generator_reaches_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut allow, mut deny, mut ask, mut errors, mut shadow_changed) = (0, 0, 0, 0, 0);
    for _ in 0..400 {
        let c = case().new_tree(&mut runner).unwrap().current();
        let d =
            build(&c, ErrorMode::FailClosed, true).authorize_at(&Request::from_json(&request_json(&c)).unwrap(), now());
        match d.outcome {
            Outcome::Allow => allow += 1,
            Outcome::Deny => deny += 1,
            Outcome::Ask => ask += 1,
        }
        errors += usize::from(!d.errors.is_empty());
        shadow_changed += usize::from(d.shadow.as_ref().is_some_and(|s| s.changed));
    }
    assert!(
        allow >= 20 && deny >= 20 && ask >= 10 && errors >= 10 && shadow_changed >= 5,
        "allow {allow} deny {deny} ask {ask} errors {errors} shadow changed {shadow_changed}"
    );
}
