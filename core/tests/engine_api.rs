//! Public-interface tests of the engine: loading, the allow/deny/ask contract,
//! fail-closed error handling, the engine clock and hostile requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;

use agentauthz::cases::{load_cases, run_cases};
use agentauthz::{Engine, ErrorMode, FixedClock, LoadError, NamedText, Outcome, PolicySources, Request};
use serde_json::json;

const SCHEMA: &str = r#"
    entity Agent { tier: Long };
    entity Repo { protected: Bool };
    action read, push appliesTo { principal: Agent, resource: Repo, context: { now: datetime, approved?: String, n?: Long } };
    action ping appliesTo { principal: Agent, resource: Repo, context: { note?: String } };
"#;

const ENTITIES: &str = r#"[
    {"uid": {"type": "Agent", "id": "a"}, "attrs": {"tier": 2}, "parents": []},
    {"uid": {"type": "Repo", "id": "r"}, "attrs": {"protected": false}, "parents": []},
    {"uid": {"type": "Repo", "id": "p"}, "attrs": {"protected": true}, "parents": []}
]"#;

fn engine_with(policies: &str, mode: ErrorMode) -> Engine {
    Engine::builder(PolicySources::from_strings(SCHEMA, policies, Some(ENTITIES)))
        .error_mode(mode)
        .clock(Arc::new(FixedClock::at("2026-11-25T10:00:00Z").unwrap()))
        .build()
        .unwrap()
}

fn engine(policies: &str) -> Engine {
    engine_with(policies, ErrorMode::FailClosed)
}

fn ask(e: &Engine, action: &str, resource: &str, context: serde_json::Value) -> agentauthz::Decision {
    e.authorize_json(&json!({"principal": "Agent::\"a\"", "action": action, "resource": resource, "context": context}))
}

const BASE: &str = r#"
    @id("allow-all") @owner("platform") permit(principal, action, resource);
    @id("protected") @owner("security") @ask("security") forbid(principal, action == Action::"push", resource)
        when { resource.protected } unless { context has approved && context.approved == "security" };
    @id("big") @owner("eng") @ask("eng") forbid(principal, action == Action::"push", resource)
        when { context has n && context.n > 10 } unless { context has approved && context.approved == "eng" };
    @id("hard") @owner("security") forbid(principal, action == Action::"push", resource) when { context has n && context.n > 100 };
"#;

#[test]
fn ask_when_every_satisfied_forbid_carries_ask() {
    let e = engine(BASE);
    let d = ask(&e, "push", "Repo::\"p\"", json!({}));
    assert_eq!(d.outcome, Outcome::Ask);
    assert_eq!(d.reason_ids(), ["protected"]);
    assert_eq!(d.ask_owner(), Some("security"));

    let two = ask(&e, "push", "Repo::\"p\"", json!({"n": 11}));
    assert_eq!(two.outcome, Outcome::Ask);
    assert_eq!(two.ask_owners, ["eng", "security"]);

    let approved = ask(&e, "push", "Repo::\"p\"", json!({"approved": "security"}));
    assert_eq!(approved.outcome, Outcome::Allow);
    assert_eq!(approved.reason_ids(), ["allow-all"]);
}

#[test]
fn a_forbid_without_ask_turns_ask_into_deny() {
    let d = ask(&engine(BASE), "push", "Repo::\"p\"", json!({"n": 101}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reason_ids(), ["big", "hard", "protected"]);
    assert!(d.ask_owners.is_empty());
}

#[test]
fn no_permit_means_deny_even_with_ask_forbids() {
    let e = engine(
        r#"@id("only-ask") @ask("security") forbid(principal, action, resource);
           @id("read-only") permit(principal, action == Action::"read", resource);"#,
    );
    assert_eq!(ask(&e, "push", "Repo::\"r\"", json!({})).outcome, Outcome::Deny);
    assert_eq!(ask(&e, "read", "Repo::\"r\"", json!({})).outcome, Outcome::Ask);
    assert_eq!(ask(&e, "ping", "Repo::\"r\"", json!({})).outcome, Outcome::Deny);
}

#[test]
fn engine_clock_supplies_now_and_callers_cannot_override_it() {
    let e = engine(
        r#"@id("after-2030") permit(principal, action in [Action::"read", Action::"push"], resource) when { context.now > datetime("2030-01-01") };
           @id("before-2030") permit(principal, action in [Action::"read", Action::"push"], resource) when { context.now < datetime("2030-01-01") };"#,
    );
    let d = ask(&e, "read", "Repo::\"r\"", json!({"now": "2031-01-01T00:00:00Z"}));
    assert_eq!(d.reason_ids(), ["before-2030"], "the engine's clock (2026) must win over the caller's `now`");
    let later = e.authorize_at(
        &Request::from_json(&json!({"principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\""}))
            .unwrap(),
        agentauthz::parse_rfc3339("2031-01-01T00:00:00Z").unwrap(),
    );
    assert_eq!(later.reason_ids(), ["after-2030"]);
}

#[test]
fn actions_without_now_in_their_context_are_evaluated_as_given() {
    let e = engine(
        r#"@id("note") permit(principal, action == Action::"ping", resource) when { context has note && context.note == "hi" };"#,
    );
    assert_eq!(ask(&e, "ping", "Repo::\"r\"", json!({"note": "hi"})).outcome, Outcome::Allow);
    let d = ask(&e, "ping", "Repo::\"r\"", json!({"note": "hi", "now": "2026-01-01T00:00:00Z"}));
    assert_eq!(d.outcome, Outcome::Deny, "`now` is not declared for ping: an undeclared attribute is a request error");
    assert!(d.errors[0].message.contains("context"), "{:?}", d.errors);
}

#[test]
fn an_erroring_forbid_denies_by_default_but_not_in_cedar_mode() {
    // `context.n` is optional: reading it without `has` errors when absent.
    let policies = r#"@id("allow") permit(principal, action, resource);
        @id("needs-n") forbid(principal, action == Action::"read", resource) when { context.n > 5 };"#;
    let src = PolicySources::from_strings(SCHEMA, policies, Some(ENTITIES));
    // Strict validation rejects the unguarded access, so this set only loads with validation off.
    assert!(matches!(Engine::builder(src.clone()).build(), Err(LoadError::Validation { .. })));
    let build = |mode| Engine::builder(src.clone()).error_mode(mode).accept_invalid_policies(true).build().unwrap();

    let fail_closed = ask(&build(ErrorMode::FailClosed), "read", "Repo::\"r\"", json!({}));
    assert_eq!(fail_closed.outcome, Outcome::Deny);
    assert_eq!(fail_closed.errors.len(), 1);
    assert_eq!(fail_closed.errors[0].policy.as_deref(), Some("needs-n"));

    let cedar = ask(&build(ErrorMode::Cedar), "read", "Repo::\"r\"", json!({}));
    assert_eq!(cedar.outcome, Outcome::Allow, "plain Cedar skips the erroring forbid");
    assert_eq!(cedar.errors.len(), 1);
}

#[test]
fn strict_mode_denies_on_an_erroring_permit() {
    let policies = r#"@id("allow") permit(principal, action, resource);
        @id("needs-n") permit(principal, action == Action::"read", resource) when { context.n > 5 };"#;
    let src = PolicySources::from_strings(SCHEMA, policies, Some(ENTITIES));
    let build = |mode| Engine::builder(src.clone()).error_mode(mode).accept_invalid_policies(true).build().unwrap();
    assert_eq!(ask(&build(ErrorMode::FailClosed), "read", "Repo::\"r\"", json!({})).outcome, Outcome::Allow);
    assert_eq!(ask(&build(ErrorMode::Strict), "read", "Repo::\"r\"", json!({})).outcome, Outcome::Deny);
}

#[test]
fn bad_requests_are_denied_with_the_reason() {
    let e = engine(BASE);
    let cases = [
        (json!({"principal": "Agent::\"a\"", "action": "fly", "resource": "Repo::\"r\""}), "fly"),
        (json!({"principal": "Robot::\"a\"", "action": "read", "resource": "Repo::\"r\""}), "Robot"),
        (
            json!({"principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"", "context": {"n": "ten"}}),
            "context",
        ),
        (
            json!({"principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"", "context": {"bogus": 1}}),
            "bogus",
        ),
        (json!({"principal": "Agent::\"a\"", "action": "read"}), "resource"),
        (json!({"principal": "a", "action": "read", "resource": "Repo::\"r\""}), "principal"),
        (json!({"principal": 7, "action": "read", "resource": "Repo::\"r\""}), "principal"),
        (json!({"principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"", "contxt": {}}), "contxt"),
        (json!(["not", "an", "object"]), "object"),
        (json!({"principal": "Agent::\"a\"", "action": "", "resource": "Repo::\"r\""}), "action"),
    ];
    for (req, needle) in cases {
        let d = e.authorize_json(&req);
        assert_eq!(d.outcome, Outcome::Deny, "{req}");
        assert!(d.reasons.is_empty());
        let msg = &d.errors.first().unwrap_or_else(|| panic!("no error for {req}")).message;
        assert!(msg.contains(needle), "error for {req} should mention {needle}: {msg}");
        assert!(!d.policy_version.is_empty());
    }
    for text in ["", "{", "null", "\u{0}", "{\"principal\": \"Agent::\\\"a\\\"\"}"] {
        assert_eq!(e.authorize_json_str(text).outcome, Outcome::Deny, "{text:?}");
    }
}

#[test]
fn deeply_nested_and_huge_requests_are_refused_not_crashed() {
    let e = engine(BASE);
    // A `serde_json::Value` is dropped recursively, so a Rust caller cannot even
    // hold a 10,000-deep one safely; 1,000 levels is far past our limit of 32.
    // Deeper input arrives as text, tested below.
    let mut deep = json!(1);
    for _ in 0..1_000 {
        deep = json!([deep]);
    }
    let d = ask(&e, "read", "Repo::\"r\"", json!({"n": deep}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.errors[0].message.contains("nested"), "{:?}", d.errors);

    let nested_text = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(e.authorize_json_str(&nested_text).outcome, Outcome::Deny);

    let huge = format!(
        r#"{{"principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"", "context": {{"approved": "{}"}}}}"#,
        "x".repeat(10 << 20)
    );
    let d = e.authorize_json_str(&huge);
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.errors[0].message.contains("limit"), "{:?}", d.errors);
}

#[test]
fn load_errors_name_the_file_line_and_policy() {
    let bad_syntax = PolicySources {
        schema: NamedText::new("s.cedarschema", SCHEMA),
        policies: vec![
            NamedText::new("ok.cedar", BASE),
            NamedText::new("bad.cedar", "\n\npermit(principal, action, resource) when { ;"),
        ],
        entities: None,
    };
    let err = Engine::builder(bad_syntax).build().unwrap_err().to_string();
    assert!(err.contains("bad.cedar:3"), "{err}");

    let invalid = PolicySources {
        schema: NamedText::new("s.cedarschema", SCHEMA),
        policies: vec![NamedText::new("p.cedar", "@id(\"ok\") permit(principal, action, resource);\n\n@id(\"typo\")\npermit(principal, action, resource) when { resource.protectd };")],
        entities: None,
    };
    match Engine::builder(invalid).build() {
        Err(LoadError::Validation { issues }) => {
            assert_eq!(issues.len(), 1);
            assert_eq!(issues[0].policy_id, "typo");
            assert_eq!(issues[0].file, "p.cedar");
            assert_eq!(issues[0].line, Some(4));
        }
        other => panic!("expected a validation error, got {other:?}"),
    }

    let dup = PolicySources::from_strings(
        SCHEMA,
        "@id(\"x\") permit(principal, action, resource); @id(\"x\") forbid(principal, action, resource);",
        None,
    );
    assert!(matches!(Engine::builder(dup).build(), Err(LoadError::DuplicatePolicyId { .. })));

    let ask_on_permit = PolicySources::from_strings(SCHEMA, "@ask(\"sec\") permit(principal, action, resource);", None);
    assert!(Engine::builder(ask_on_permit).build().unwrap_err().to_string().contains("@ask"));

    let bad_schema = PolicySources::from_strings("entity A {", "permit(principal, action, resource);", None);
    assert!(matches!(Engine::builder(bad_schema).build(), Err(LoadError::Schema { .. })));

    let bad_entities = PolicySources::from_strings(
        SCHEMA,
        "permit(principal, action, resource);",
        Some(r#"[{"uid": {"type": "Agent", "id": "a"}, "attrs": {"tier": "high"}, "parents": []}]"#),
    );
    assert!(matches!(Engine::builder(bad_entities).build(), Err(LoadError::Entities { .. })));
}

#[test]
fn policy_ids_fall_back_to_cedar_ids_in_order_across_files() {
    let src = PolicySources {
        schema: NamedText::new("s", SCHEMA),
        policies: vec![
            NamedText::new("a.cedar", "permit(principal, action == Action::\"read\", resource);\n@id(\"named\") permit(principal, action == Action::\"push\", resource);"),
            NamedText::new("b.cedar", "permit(principal, action == Action::\"ping\", resource);"),
        ],
        entities: Some(NamedText::new("e", ENTITIES)),
    };
    let e = Engine::builder(src).build().unwrap();
    let ids: Vec<String> = e.policies().iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, ["named", "policy0", "policy2"]);
    assert_eq!(ask(&e, "ping", "Repo::\"r\"", json!({})).reason_ids(), ["policy2"]);
}

#[test]
fn version_changes_with_any_input() {
    let a = engine(BASE);
    let b = engine(&format!("{BASE}\n// a comment"));
    assert_ne!(a.policy_version(), b.policy_version());
    assert_eq!(a.policy_version(), engine(BASE).policy_version());
    assert!(a.policy_version().starts_with("sha256:"));
}

#[test]
fn engine_is_shared_across_threads_without_locks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    let e = Arc::new(engine(BASE));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                (0..500)
                    .map(|j| {
                        let n = (i * 500 + j) % 150;
                        ask(&e, "push", "Repo::\"r\"", json!({"n": n})).outcome
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        for (j, outcome) in h.join().unwrap().into_iter().enumerate() {
            let n = (i * 500 + j) % 150;
            let want = if n > 100 {
                Outcome::Deny
            } else if n > 10 {
                Outcome::Ask
            } else {
                Outcome::Allow
            };
            assert_eq!(outcome, want, "n = {n}");
        }
    }
}

#[test]
fn decision_json_has_the_documented_shape() {
    let d = ask(&engine(BASE), "push", "Repo::\"p\"", json!({}));
    let v = d.to_json();
    assert_eq!(v["outcome"], "ask");
    assert_eq!(v["reasons"], json!(["protected"]));
    assert_eq!(v["ask_owner"], "security");
    assert_eq!(v["policies"][0]["owner"], "security");
    assert_eq!(v["policies"][0]["annotations"]["ask"], "security");
    assert!(v["errors"].as_array().unwrap().is_empty());
    assert!(v["policy_version"].as_str().unwrap().starts_with("sha256:"));
    assert!(v["eval_us"].as_f64().unwrap() >= 0.0);
}

#[test]
fn coding_agent_example_cases_all_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent");
    let engine = Engine::from_dir(&dir).unwrap();
    let cases = load_cases(dir.join("cases.toml")).unwrap();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let results = run_cases(&engine, &cases);
    let failures: Vec<String> =
        results.iter().filter_map(|r| r.failure.as_ref().map(|f| format!("{}: {f}", r.case.name))).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    for outcome in [Outcome::Allow, Outcome::Deny, Outcome::Ask] {
        assert!(results.iter().any(|r| r.decision.outcome == outcome), "no {outcome} case");
    }
}

#[test]
fn every_example_policy_has_id_owner_and_control() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent");
    let engine = Engine::from_dir(&dir).unwrap();
    assert!(engine.policy_count() >= 15);
    for p in engine.policies() {
        assert!(p.annotations.contains_key("id"), "{} has no @id", p.id);
        assert!(p.owner().is_some(), "{} has no @owner", p.id);
        assert!(p.annotations.contains_key("control"), "{} has no @control", p.id);
    }
}

#[test]
fn typed_coding_agent_builder_decides_like_the_json_form() {
    use agentauthz::coding_agent::{Action, Credential, Resource, Session, ToolCall};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent");
    let engine = Engine::from_dir(&dir).unwrap();
    let now = agentauthz::parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
    let cred = Credential::new(
        "cred-1",
        now - std::time::Duration::from_secs(600),
        now + std::time::Duration::from_secs(1200),
        ["repo:read", "repo:write"],
    );
    let call = |action, resource| {
        ToolCall::new("ci-bot", action, resource).credential(cred.clone()).session(Session {
            id: "s-1".into(),
            actions: 3,
            repos_touched: 1,
        })
    };
    let open =
        call(Action::OpenPr, Resource::Repository("acme/api".into())).branch("fix/x").diff_lines(10).build().unwrap();
    let d = engine.authorize_at(&open, now);
    assert_eq!(d.outcome, Outcome::Allow, "{:?}", d.errors);

    let push = call(Action::PushCommit, Resource::Branch("acme/api/main".into())).branch("main").build().unwrap();
    let d = engine.authorize_at(&push, now);
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.reason_ids().contains(&"protected-branch-push"), "{:?}", d.reason_ids());

    let ci = call(Action::ModifyCi, Resource::File("acme/api/.github/workflows/ci.yml".into())).build().unwrap();
    let d = engine.authorize_at(&ci, now);
    assert_eq!(d.outcome, Outcome::Ask);
    assert_eq!(d.ask_owner(), Some("platform"));
    let approved = call(Action::ModifyCi, Resource::File("acme/api/.github/workflows/ci.yml".into()))
        .approval("platform", "carol@acme.dev")
        .build()
        .unwrap();
    assert_eq!(engine.authorize_at(&approved, now).outcome, Outcome::Allow);
}

mod controls {
    use super::*;
    use agentauthz::Subject;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn example() -> Engine {
        Engine::from_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent")).unwrap()
    }

    fn read_request(agent: &str, session: &str, credential: &str) -> Request {
        Request::from_json(&json!({
            "principal": format!("Agent::\"{agent}\""), "action": "read_repo", "resource": "Repository::\"acme/api\"",
            "context": {"credential": {"id": credential, "issued_at": "2026-11-25T09:30:00Z", "expires_at": "2026-11-25T10:30:00Z", "scopes": ["repo:read"]},
                        "session": {"id": session, "actions": 1, "repos_touched": 1}}}))
        .unwrap()
    }

    fn at10() -> std::time::SystemTime {
        agentauthz::parse_rfc3339("2026-11-25T10:00:00Z").unwrap()
    }

    #[test]
    fn revoking_an_agent_session_or_credential_denies_until_restored() {
        let e = example();
        let req = read_request("ci-bot", "s-1", "cred-1");
        assert_eq!(e.authorize_at(&req, at10()).outcome, Outcome::Allow);
        for subject in [
            Subject::Agent("Agent::\"ci-bot\"".into()),
            Subject::Session("s-1".into()),
            Subject::Credential("cred-1".into()),
        ] {
            e.revoke(subject.clone(), "incident INC-42");
            let d = e.authorize_at(&req, at10());
            assert_eq!(d.outcome, Outcome::Deny, "{subject}");
            assert_eq!(d.reason_ids(), ["guard:revoked"]);
            assert!(d.reasons[0].annotations["reason"].contains("INC-42"));
            assert_eq!(e.revocations().len(), 1);
            // Another agent, session and credential are unaffected.
            assert_eq!(e.authorize_at(&read_request("review-bot", "s-9", "cred-9"), at10()).outcome, Outcome::Allow);
            assert!(e.restore(&subject));
            assert!(!e.restore(&subject));
            assert_eq!(e.authorize_at(&req, at10()).outcome, Outcome::Allow);
        }
    }

    #[test]
    fn revocations_survive_a_restart_through_a_file() {
        let path = std::env::temp_dir().join(format!("agentauthz-revocations-{}.json", std::process::id()));
        let e = example();
        e.revoke(Subject::Session("s-7".into()), "leaked transcript");
        e.save_revocations(&path).unwrap();
        let fresh = example();
        fresh.load_revocations(&path).unwrap();
        assert_eq!(fresh.revocations(), e.revocations());
        assert_eq!(fresh.authorize_at(&read_request("ci-bot", "s-7", "c"), at10()).outcome, Outcome::Deny);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn expired_and_future_credentials_are_denied_before_policies() {
        let e = engine(r#"@id("allow-all") permit(principal, action, resource);"#);
        // This schema has no credential: the guard reads the JSON context only where present.
        assert_eq!(ask(&e, "read", "Repo::\"r\"", json!({})).outcome, Outcome::Allow);
        let e = example();
        let mut req = json!({"principal": "Agent::\"ci-bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\"",
            "context": {"credential": {"id": "c", "issued_at": "2026-11-25T09:30:00Z", "expires_at": "2026-11-25T10:00:00Z", "scopes": ["repo:read"]},
                        "session": {"id": "s", "actions": 1, "repos_touched": 1}}});
        let d = e.authorize_at(&Request::from_json(&req).unwrap(), at10());
        assert_eq!(d.reason_ids(), ["guard:credential-expired"]);
        req["context"]["credential"]["issued_at"] = json!("2026-11-25T10:00:01Z");
        req["context"]["credential"]["expires_at"] = json!("2026-11-25T10:30:00Z");
        let d = e.authorize_at(&Request::from_json(&req).unwrap(), at10());
        assert_eq!(d.reason_ids(), ["guard:credential-not-yet-valid"]);
    }

    #[test]
    fn a_bad_reload_is_rejected_and_the_old_set_keeps_serving() {
        let e = engine(BASE);
        let v1 = e.policy_version();
        let bad = PolicySources::from_strings(
            SCHEMA,
            "permit(principal, action, resource) when { resource.nope };",
            Some(ENTITIES),
        );
        assert!(e.reload(&bad).is_err());
        assert_eq!(e.policy_version(), v1);
        assert_eq!(ask(&e, "read", "Repo::\"r\"", json!({})).outcome, Outcome::Allow);
        let stricter = PolicySources::from_strings(
            SCHEMA,
            r#"@id("read-only") permit(principal, action == Action::"read", resource);"#,
            Some(ENTITIES),
        );
        let v2 = e.reload(&stricter).unwrap();
        assert_ne!(v1, v2);
        assert_eq!(e.policy_version(), v2);
        assert_eq!(ask(&e, "push", "Repo::\"r\"", json!({})).outcome, Outcome::Deny);
    }

    /// Deciding threads run while another thread reloads 1,000 times and revokes
    /// and restores an agent; every decision names one of the two versions and is
    /// consistent with it, and no decision that starts after a revocation is
    /// visible allows the revoked agent.
    #[test]
    fn stress_reloads_and_revocations_while_deciding() {
        let e = Arc::new(engine(BASE));
        let v_base = e.policy_version();
        let read_only = PolicySources::from_strings(
            SCHEMA,
            r#"@id("read-only") permit(principal, action == Action::"read", resource);"#,
            Some(ENTITIES),
        );
        let base = PolicySources::from_strings(SCHEMA, BASE, Some(ENTITIES));
        let v_read_only = e.reload(&read_only).unwrap();
        e.reload(&base).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let revoked = Arc::new(AtomicBool::new(false));
        let decisions = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (e, stop, revoked, decisions) =
                    (Arc::clone(&e), Arc::clone(&stop), Arc::clone(&revoked), Arc::clone(&decisions));
                let (v_base, v_read_only) = (v_base.clone(), v_read_only.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let was_revoked = revoked.load(Ordering::SeqCst);
                        let d = ask(&e, "push", "Repo::\"r\"", json!({}));
                        decisions.fetch_add(1, Ordering::Relaxed);
                        if was_revoked {
                            assert_eq!(d.outcome, Outcome::Deny, "a revoked agent was allowed");
                            continue;
                        }
                        let v = &*d.policy_version;
                        assert!(v == v_base || v == v_read_only, "unknown version {v}");
                        if d.outcome == Outcome::Allow {
                            assert_eq!(v, v_base, "read-only set allowed a push");
                            assert_eq!(d.reason_ids(), ["allow-all"]);
                        }
                    }
                })
            })
            .collect();
        for i in 0..1_000 {
            e.reload(if i % 2 == 0 { &read_only } else { &base }).unwrap();
            if i == 500 {
                e.revoke(Subject::Agent("Agent::\"a\"".into()), "stress");
                revoked.store(true, Ordering::SeqCst);
            }
        }
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().unwrap();
        }
        assert!(decisions.load(Ordering::Relaxed) > 100, "the deciding threads barely ran");
    }

    #[test]
    fn a_grant_allows_until_it_expires_and_forbids_still_apply() {
        use agentauthz::{entity_uid, GrantSpec};
        // Only reads are permitted by policy; pushes to protected repos need approval.
        let e = engine(
            r#"@id("read") permit(principal, action == Action::"read", resource);
               @id("protected") @ask("security") forbid(principal, action == Action::"push", resource) when { resource.protected };"#,
        );
        let t0 = agentauthz::parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
        let push = |r: &str| {
            Request::from_json(&json!({"principal": "Agent::\"a\"", "action": "push", "resource": r})).unwrap()
        };
        assert_eq!(e.authorize_at(&push("Repo::\"r\""), t0).outcome, Outcome::Deny);
        let id = e.grant(GrantSpec {
            principal: entity_uid("Agent", "a").unwrap(),
            actions: vec![entity_uid("Action", "push").unwrap()],
            resource: entity_uid("Repo", "r").unwrap(),
            expires_at: t0 + std::time::Duration::from_secs(600),
            reason: "hotfix INC-7".into(),
        });
        let d = e.authorize_at(&push("Repo::\"r\""), t0);
        assert_eq!(d.outcome, Outcome::Allow);
        assert_eq!(d.reason_ids(), [id.as_str()]);
        assert_eq!(d.reasons[0].annotations["reason"], "hotfix INC-7");
        // Another resource is not covered.
        assert_eq!(e.authorize_at(&push("Repo::\"p\""), t0).outcome, Outcome::Deny);
        // At expiry it stops matching, with no reload.
        let later = t0 + std::time::Duration::from_secs(600);
        assert_eq!(e.authorize_at(&push("Repo::\"r\""), later).outcome, Outcome::Deny);
        // A grant does not override a forbid: on a protected repo the grant makes it ask.
        let id2 = e.grant(GrantSpec {
            principal: entity_uid("Agent", "a").unwrap(),
            actions: vec![entity_uid("Action", "push").unwrap()],
            resource: entity_uid("Repo", "p").unwrap(),
            expires_at: t0 + std::time::Duration::from_secs(600),
            reason: "x".into(),
        });
        assert_eq!(e.authorize_at(&push("Repo::\"p\""), t0).outcome, Outcome::Ask);
        assert!(e.revoke_grant(&id2));
        assert!(!e.revoke_grant(&id2));
        assert_eq!(e.authorize_at(&push("Repo::\"p\""), t0).outcome, Outcome::Deny);
    }

    #[test]
    fn session_counters_are_kept_by_the_engine_and_bound_blast_radius() {
        use agentauthz::SessionLimits;
        let schema = r#"entity Agent; entity Repository; entity File in [Repository];
            action push appliesTo { principal: Agent, resource: [Repository, File],
              context: { session: { id: String, actions: Long, repos_touched: Long, same_action?: Long } } };"#;
        let policies = r#"@id("all") permit(principal, action, resource);
            @id("blast") @ask("security") forbid(principal, action, resource) when { context.session.repos_touched > 3 };
            @id("budget") forbid(principal, action, resource) when { context.session has same_action && context.session.same_action > 5 };"#;
        let entities = r#"[{"uid": {"type": "File", "id": "r1/a.rs"}, "attrs": {}, "parents": [{"type": "Repository", "id": "r1"}]}]"#;
        let e = Engine::builder(PolicySources::from_strings(schema, policies, Some(entities)))
            .session_counters(SessionLimits::default())
            .build()
            .unwrap();
        let push = |session: &str, resource: &str| {
            // The caller's counters (zeros) are overwritten by the engine's.
            e.authorize_json(&json!({"principal": "Agent::\"a\"", "action": "push", "resource": resource,
                "context": {"session": {"id": session, "actions": 0, "repos_touched": 0}}}))
                .outcome
        };
        assert_eq!(push("s", "Repository::\"r1\""), Outcome::Allow);
        assert_eq!(push("s", "Repository::\"r2\""), Outcome::Allow);
        assert_eq!(push("s", "File::\"r1/a.rs\""), Outcome::Allow, "a file of r1 is not a new repository");
        assert_eq!(push("s", "Repository::\"r3\""), Outcome::Allow);
        assert_eq!(push("s", "Repository::\"r4\""), Outcome::Ask, "a fourth repository asks");
        // The ask was not counted: r1 is still fine, and another session is independent.
        assert_eq!(push("s", "Repository::\"r1\""), Outcome::Allow);
        assert_eq!(push("other", "Repository::\"r4\""), Outcome::Allow);
        assert_eq!(
            push("s", "Repository::\"r2\""),
            Outcome::Deny,
            "the 6th push of the session exceeds the budget of 5"
        );
        assert_eq!(e.tracked_sessions(), 2);
    }

    #[test]
    fn an_approval_turns_the_same_ask_into_allow_within_its_bounds() {
        let e = engine(BASE);
        let d = ask(&e, "push", "Repo::\"p\"", json!({}));
        assert_eq!(d.outcome, Outcome::Ask);
        let id = d.approval_id.clone().unwrap();
        assert_eq!(d.to_json()["approval_id"], json!(id));
        // The same ask gets the same id; another resource a different one.
        assert_eq!(ask(&e, "push", "Repo::\"p\"", json!({})).approval_id.as_deref(), Some(id.as_str()));
        assert!(matches!(
            e.approve("apr-0000000000000000", "carol", std::time::Duration::from_secs(60), 1),
            Err(agentauthz::ApprovalError::Unknown(_))
        ));
        assert!(e.approve(&id, "carol", std::time::Duration::from_secs(600), 0).is_err());
        e.approve(&id, "carol@acme.dev", std::time::Duration::from_secs(600), 2).unwrap();
        for _ in 0..2 {
            let d = ask(&e, "push", "Repo::\"p\"", json!({}));
            assert_eq!(d.outcome, Outcome::Allow);
            assert_eq!(d.reasons[0].annotations["approver"], "carol@acme.dev");
        }
        assert_eq!(ask(&e, "push", "Repo::\"p\"", json!({})).outcome, Outcome::Ask, "two uses, then ask again");
        // A hard deny is never turned into allow by an approval.
        assert_eq!(ask(&e, "push", "Repo::\"p\"", json!({"n": 101})).outcome, Outcome::Deny);
        // Time-bounded: approved again, the approval ends at its ttl.
        e.approve(&id, "carol", std::time::Duration::from_secs(60), 100).unwrap();
        let req = Request::from_json(
            &json!({"principal": "Agent::\"a\"", "action": "push", "resource": "Repo::\"p\"", "context": {}}),
        )
        .unwrap();
        let t0 = agentauthz::parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
        assert_eq!(e.authorize_at(&req, t0 + std::time::Duration::from_secs(59)).outcome, Outcome::Allow);
        assert_eq!(e.authorize_at(&req, t0 + std::time::Duration::from_secs(60)).outcome, Outcome::Ask);
    }
}

/// The decision minus what may differ between two loads of the same policies
/// (evaluation time and the version hash of the source text).
fn comparable(d: &agentauthz::Decision) -> serde_json::Value {
    let mut v = d.to_json();
    if let Some(o) = v.as_object_mut() {
        o.remove("eval_us");
        o.remove("policy_version");
    }
    v
}

/// A schema in Cedar's JSON format (as `*.cedarschema.json` in a folder, or as
/// text) loads and decides every example case exactly as the same schema in
/// Cedar syntax: outcome, reasons, errors and ask owners.
#[test]
fn a_json_schema_decides_like_the_same_schema_in_cedar_syntax() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent");
    let sources = PolicySources::from_dir(&dir).unwrap();
    let text = Engine::builder(sources.clone()).count_evaluations(true).build().unwrap();
    let (json, _) = agentauthz::cedar_policy::schema_str_to_json_with_resolved_types(&sources.schema.text).unwrap();
    // As a folder: the `.cedarschema` replaced by a `.cedarschema.json`.
    let folder = std::env::temp_dir().join(format!("agentauthz-json-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".cedar") || name == "entities.json" {
            std::fs::copy(&path, folder.join(&name)).unwrap();
        }
    }
    std::fs::write(folder.join("coding-agent.cedarschema.json"), serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let from_folder = PolicySources::from_dir(&folder).and_then(|s| Engine::builder(s).count_evaluations(true).build());
    let _ = std::fs::remove_dir_all(&folder);
    let from_folder = from_folder.unwrap();
    // As text, with Cedar's own (unresolved) JSON form of the schema.
    let fragment = agentauthz::cedar_policy::SchemaFragment::from_cedarschema_str(&sources.schema.text).unwrap().0;
    let unresolved = fragment.to_json_string().unwrap();
    let from_text =
        Engine::builder(PolicySources { schema: NamedText::new("s.json", unresolved), ..sources }).build().unwrap();
    let cases = load_cases(dir.join("cases.toml")).unwrap();
    let want = run_cases(&text, &cases);
    for json_engine in [&from_folder, &from_text] {
        let got = run_cases(json_engine, &cases);
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(comparable(&g.decision), comparable(&w.decision), "{}", w.case.name);
            assert!(g.failure.is_none(), "{}: {:?}", w.case.name, g.failure);
        }
    }
    // The compiled evaluator and fast request path read JSON schemas too: as
    // many policy evaluations take them.
    assert_eq!(from_folder.evaluator_stats(), text.evaluator_stats());
    assert!(text.evaluator_stats().compiled > 0);
}

#[test]
fn a_broken_json_schema_is_a_schema_error_naming_the_file() {
    let err = Engine::builder(PolicySources {
        schema: NamedText::new("bad.cedarschema.json", r#"{"": {"entityTypes": {"A": {"shape": 3}}, "actions": {}}}"#),
        ..PolicySources::from_strings(SCHEMA, "permit(principal, action, resource);", None)
    })
    .build()
    .unwrap_err();
    match err {
        LoadError::Schema { file, message, .. } => {
            assert_eq!(file, "bad.cedarschema.json");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
}
