#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Shadow mode: `@mode("shadow")` policies never change an outcome, and the
//! decision's shadow section reports exactly what enforcing them would decide.
//! Checked on every request of the example cases against two other engines: the
//! policy set without the shadow policy, and with it enforced.

use std::path::Path;
use std::time::SystemTime;

use agentauthz::cases::{load_cases, Case};
use agentauthz::{parse_rfc3339, Decision, Enforcement, Engine, ErrorMode, NamedText, Outcome, PolicySources, Request};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies-examples/coding-agent");

/// Policies to try in shadow mode, each valid against the example schema.
const CANDIDATES: &[(&str, &str)] = &[
    (
        "shadow-no-cargo-test",
        r#"@owner("security") forbid (principal, action == Action::"run_command", resource)
           when { context has command && context.command like "*cargo test*" };"#,
    ),
    ("shadow-ask-every-push", r#"@ask("security") forbid (principal, action == Action::"push_commit", resource);"#),
    (
        "shadow-permit-tier2-deploy",
        r#"permit (principal, action == Action::"deploy", resource) when { principal.trust_tier >= 2 };"#,
    ),
    (
        // Overflows (a runtime error) once a session has made two actions.
        "shadow-erroring-forbid",
        r#"forbid (principal, action, resource) when { context.session.actions * 4611686018427387904 > 0 };"#,
    ),
    (
        "shadow-no-secrets",
        r#"@ask("security") forbid (principal, action in Action::"secrets", resource)
           when { context.credential.scopes.contains("secrets:read") };"#,
    ),
];

fn engine(extra: &[(&str, &str)], shadow: bool, enforcement: Enforcement) -> Engine {
    let mut sources = PolicySources::from_dir(DIR).unwrap();
    for (id, body) in extra {
        let mode = if shadow { "@mode(\"shadow\")\n" } else { "" };
        sources.policies.push(NamedText::new(format!("{id}.cedar"), format!("@id(\"{id}\")\n{mode}{body}\n")));
    }
    Engine::builder(sources).enforcement(enforcement).build().unwrap()
}

fn cases() -> Vec<Case> {
    load_cases(Path::new(DIR).join("cases.toml")).unwrap()
}

fn decide(engine: &Engine, case: &Case) -> Decision {
    let request = Request::from_json(&case.request).unwrap();
    let now = case.now.as_deref().and_then(parse_rfc3339).unwrap_or_else(SystemTime::now);
    engine.authorize_at(&request, now)
}

fn ids(d: &[std::sync::Arc<agentauthz::PolicyInfo>]) -> Vec<String> {
    d.iter().map(|p| p.id.clone()).collect()
}

/// Checks one set of shadow policies on every case; returns how many outcomes
/// enforcing them would change.
fn check(extra: &[(&str, &str)]) -> usize {
    let base = engine(&[], false, Enforcement::Enforce);
    let shadowed = engine(extra, true, Enforcement::Enforce);
    let promoted = engine(extra, false, Enforcement::Enforce);
    let names: Vec<&str> = extra.iter().map(|(id, _)| *id).collect();
    let mut changed = 0;
    for case in cases() {
        let (d0, ds, dp) = (decide(&base, &case), decide(&shadowed, &case), decide(&promoted, &case));
        let ctx = format!("{names:?} on case {:?}", case.name);
        // Never changes the enforced decision...
        assert_eq!(ds.outcome, d0.outcome, "{ctx}");
        assert_eq!(ds.reason_ids(), d0.reason_ids(), "{ctx}");
        assert_eq!(ds.ask_owners, d0.ask_owners, "{ctx}");
        assert!(d0.shadow.is_none(), "{ctx}: no shadow section without shadow policies");
        // ...and reports exactly what enforcing would decide.
        let shadow = ds.shadow.as_ref().unwrap_or_else(|| panic!("{ctx}: shadow section missing"));
        assert_eq!(shadow.outcome, dp.outcome, "{ctx}");
        assert_eq!(ids(&shadow.reasons), dp.reason_ids(), "{ctx}");
        assert_eq!(shadow.ask_owners, dp.ask_owners, "{ctx}");
        assert_eq!(shadow.changed, dp.outcome != d0.outcome, "{ctx}");
        // The satisfied shadow policies are listed, and only those.
        for p in &shadow.policies {
            assert!(p.shadow && names.contains(&p.id.as_str()), "{ctx}: {} listed", p.id);
        }
        let json = ds.to_json();
        assert_eq!(json["shadow"]["outcome"], serde_json::json!(dp.outcome.as_str()), "{ctx}");
        if shadow.changed {
            changed += 1;
            let errored = ds.errors.iter().any(|e| e.policy.as_deref().is_some_and(|p| names.contains(&p)));
            assert!(
                !shadow.policies.is_empty() || errored,
                "{ctx}: a change needs a satisfied or erroring shadow policy"
            );
        }
    }
    changed
}

#[test]
fn each_shadow_policy_never_changes_an_outcome_and_reports_its_effect_exactly() {
    for candidate in CANDIDATES {
        let changed = check(std::slice::from_ref(candidate));
        assert!(changed > 0, "{}: the example cases should exercise it", candidate.0);
    }
}

#[test]
fn several_shadow_policies_together() {
    assert!(check(CANDIDATES) > 0);
}

#[test]
fn engine_wide_shadow_mode_allows_and_records_the_would_be_outcome() {
    let enforce = engine(&[], false, Enforcement::Enforce);
    let shadow = engine(&[], false, Enforcement::Shadow);
    let (mut guarded, mut would_not_allow) = (0, 0);
    for case in cases() {
        let (de, ds) = (decide(&enforce, &case), decide(&shadow, &case));
        let ctx = format!("case {:?}", case.name);
        let guard = de.reason_ids().iter().any(|id| id.starts_with("guard:"))
            || de.reasons.is_empty() && !de.errors.is_empty() && de.errors.iter().all(|e| e.policy.is_none());
        if guard {
            // Engine guards (revocation, credential validity) and bad requests still deny.
            guarded += 1;
            assert_eq!(ds.outcome, Outcome::Deny, "{ctx}");
            continue;
        }
        assert_eq!(ds.outcome, Outcome::Allow, "{ctx}");
        let s = ds.shadow.as_ref().unwrap();
        assert_eq!(s.outcome, de.outcome, "{ctx}");
        assert_eq!(ids(&s.reasons), de.reason_ids(), "{ctx}");
        assert_eq!(s.changed, de.outcome != Outcome::Allow, "{ctx}");
        if de.outcome != Outcome::Allow {
            would_not_allow += 1;
            assert!(ds.approval_id.is_none(), "{ctx}: nothing to approve in shadow mode");
        }
    }
    assert!(guarded > 0 && would_not_allow > 20, "{guarded} guarded, {would_not_allow} would not allow");
}

#[test]
fn an_erroring_shadow_forbid_does_not_deny_in_fail_closed_mode() {
    let extra = [CANDIDATES[3]];
    let shadowed = engine(&extra, true, Enforcement::Enforce);
    let promoted = engine(&extra, false, Enforcement::Enforce);
    let case = cases().into_iter().find(|c| decide(&engine(&[], false, Enforcement::Enforce), c).allowed()).unwrap();
    let ds = decide(&shadowed, &case);
    assert_eq!(ds.outcome, Outcome::Allow);
    assert!(ds.errors.iter().any(|e| e.policy.as_deref() == Some("shadow-erroring-forbid")), "{:?}", ds.errors);
    assert_eq!(ds.shadow.as_ref().unwrap().outcome, Outcome::Deny);
    assert_eq!(decide(&promoted, &case).outcome, Outcome::Deny);
}

#[test]
fn a_mode_other_than_shadow_or_enforce_is_refused_at_load() {
    let mut sources = PolicySources::from_dir(DIR).unwrap();
    sources
        .policies
        .push(NamedText::new("x.cedar", "@id(\"x\") @mode(\"audit\") forbid (principal, action, resource);"));
    let err = Engine::builder(sources).build().unwrap_err().to_string();
    assert!(err.contains("@mode(\"audit\")") && err.contains("shadow"), "{err}");
    let mut sources = PolicySources::from_dir(DIR).unwrap();
    sources
        .policies
        .push(NamedText::new("y.cedar", "@id(\"y\") @mode(\"enforce\") forbid (principal, action, resource);"));
    let e = Engine::builder(sources).build().unwrap();
    let case = &cases()[0];
    assert_eq!(decide(&e, case).outcome, Outcome::Deny, "@mode(\"enforce\") is enforced");
}

#[test]
fn cedar_mode_ignores_shadow_annotations() {
    let mut sources = PolicySources::from_dir(DIR).unwrap();
    sources
        .policies
        .push(NamedText::new("x.cedar", "@id(\"x\") @mode(\"shadow\") forbid (principal, action, resource);"));
    let e = Engine::builder(sources).error_mode(ErrorMode::Cedar).build().unwrap();
    for case in cases().iter().take(20) {
        let d = decide(&e, case);
        assert_eq!(d.outcome, Outcome::Deny, "plain Cedar enforces every policy");
        assert!(d.shadow.is_none());
    }
}

/// Regression (found by `invariants.rs` in CI): a satisfied shadow permit in
/// another index bucket must not stop the engine from looking for the enforced
/// permit that turns a satisfied `@ask` forbid into ask rather than deny.
#[test]
fn a_satisfied_shadow_permit_does_not_turn_an_ask_into_a_deny() {
    let schema = "entity Team; entity Agent in [Team]; entity Repo in [Team]; action read appliesTo { principal: Agent, resource: Repo };";
    let entities = r#"[
      {"uid": {"type": "Team", "id": "t1"}, "attrs": {}, "parents": []},
      {"uid": {"type": "Agent", "id": "a"}, "attrs": {}, "parents": []},
      {"uid": {"type": "Repo", "id": "r"}, "attrs": {}, "parents": [{"type": "Team", "id": "t1"}]}
    ]"#;
    let policies = |shadow: bool| {
        let mut text = String::from(
            "@id(\"p0\") permit (principal, action, resource);\n\
             @id(\"p1\") @ask(\"security\") forbid (principal, action, resource);\n",
        );
        if shadow {
            text.push_str("@id(\"p2\") @mode(\"shadow\") permit (principal, action, resource in Team::\"t1\");\n");
        }
        PolicySources {
            policies: vec![NamedText::new("p.cedar", text)],
            ..PolicySources::from_strings(schema, "", Some(entities))
        }
    };
    let request = Request::from_json(&serde_json::json!({
        "principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"", "context": {}
    }))
    .unwrap();
    let plain = Engine::builder(policies(false)).build().unwrap().authorize(&request);
    let with_shadow = Engine::builder(policies(true)).build().unwrap().authorize(&request);
    assert_eq!(plain.outcome, Outcome::Ask);
    assert_eq!(with_shadow.outcome, Outcome::Ask, "{:?}", with_shadow.to_json());
    assert_eq!(with_shadow.ask_owners, plain.ask_owners);
    let shadow = with_shadow.shadow.unwrap();
    assert_eq!(shadow.outcome, Outcome::Ask);
    assert!(!shadow.changed);
}
