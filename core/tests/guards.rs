#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Engine guards meet every request form: JSON contexts with any of Cedar's
//! datetime spellings, and typed contexts built from Cedar values.

use std::str::FromStr;

use agentauthz::cedar_policy::{EntityUid, RestrictedExpression};
use agentauthz::{parse_rfc3339, Engine, Outcome, Request, Subject};
use serde_json::json;

const SCHEMA: &str = r#"
entity Agent; entity Repo;
type Cred = { id: String, issued_at: datetime, expires_at: datetime };
action read appliesTo { principal: Agent, resource: Repo,
  context: { now: datetime, credential: Cred, session: { id: String } } };
"#;
const POLICIES: &str = r#"permit (principal, action, resource);"#;

fn engine() -> Engine {
    Engine::from_strings(SCHEMA, POLICIES, None).unwrap()
}

fn json_request(issued: &str, expires: &str) -> Request {
    Request::from_json(&json!({
        "principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"",
        "context": {"credential": {"id": "c-1", "issued_at": issued, "expires_at": expires}, "session": {"id": "s-1"}}
    }))
    .unwrap()
}

fn typed_request(issued: &str, expires: &str) -> Request {
    let cred = RestrictedExpression::from_str(&format!(
        r#"{{"id": "c-1", "issued_at": datetime("{issued}"), "expires_at": datetime("{expires}")}}"#
    ))
    .unwrap();
    let session = RestrictedExpression::from_str(r#"{"id": "s-1"}"#).unwrap();
    Request::with_action_uid(
        EntityUid::from_str("Agent::\"a\"").unwrap(),
        EntityUid::from_str("Action::\"read\"").unwrap(),
        EntityUid::from_str("Repo::\"r\"").unwrap(),
    )
    .with_context_values(vec![("credential".into(), cred), ("session".into(), session)])
}

fn at(t: &str) -> std::time::SystemTime {
    parse_rfc3339(t).unwrap()
}

fn guard_of(d: &agentauthz::Decision) -> Option<String> {
    d.reasons.iter().find(|r| r.id.starts_with("guard:")).map(|r| r.id.clone())
}

#[test]
fn every_cedar_datetime_spelling_is_checked_in_json_and_typed_requests() {
    let e = engine();
    let now = at("2026-11-25T12:00:00Z");
    // (issued_at, expires_at, expected guard)
    let table = [
        ("2026-11-25T11:00:00Z", "2026-11-25T13:00:00Z", None),
        ("2026-11-25T11:00:00Z", "2026-11-25T11:59:59.999Z", Some("guard:credential-expired")),
        ("2026-11-25", "2026-11-25T12:00:00Z", Some("guard:credential-expired")),
        ("2026-11-24", "2026-11-25", Some("guard:credential-expired")),
        ("2026-11-25T11:00:00Z", "2026-11-25T13:30:00+0200", Some("guard:credential-expired")),
        ("2026-11-25T11:00:00Z", "2026-11-25T10:30:00-0200", None),
        ("2026-11-25T13:00:00+0000", "2026-11-25T14:00:00Z", Some("guard:credential-not-yet-valid")),
        ("2026-11-26", "2026-11-27", Some("guard:credential-not-yet-valid")),
        ("1969-07-20T20:17:00Z", "2026-11-25T13:00:00Z", None),
        ("1969-07-20", "1969-07-21T00:00:00.500Z", Some("guard:credential-expired")),
    ];
    for (issued, expires, want) in table {
        for (form, request) in [("json", json_request(issued, expires)), ("typed", typed_request(issued, expires))] {
            let d = e.authorize_at(&request, now);
            assert_eq!(guard_of(&d).as_deref(), want, "{form} {issued} .. {expires}: {:?}", d.to_json());
            assert_eq!(d.outcome == Outcome::Allow, want.is_none(), "{form} {issued} .. {expires}");
        }
    }
}

#[test]
fn an_unreadable_credential_time_is_denied_not_ignored() {
    let e = engine();
    for bad in ["soon", "2026-13-45T00:00:00Z", "", "2026-11-25T10:00:00"] {
        let d = e.authorize_at(&json_request("2026-11-25T11:00:00Z", bad), at("2026-11-25T12:00:00Z"));
        assert_eq!(d.outcome, Outcome::Deny, "{bad}");
        assert_eq!(guard_of(&d).as_deref(), Some("guard:credential-invalid"), "{bad}: {:?}", d.to_json());
    }
    let r = Request::from_json(&json!({
        "principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"",
        "context": {"credential": {"id": "c-1", "issued_at": "2026-11-25T11:00:00Z", "expires_at": 1764072000}, "session": {"id": "s-1"}}
    }))
    .unwrap();
    assert_eq!(guard_of(&e.authorize(&r)).as_deref(), Some("guard:credential-invalid"));
    // Cedar's JSON escapes for a datetime are read, not refused.
    for expires in [
        json!({"__extn": {"fn": "datetime", "arg": "2026-11-25T11:30:00Z"}}),
        json!({"fn": "datetime", "arg": "2026-11-25T11:30:00Z"}),
    ] {
        let r = Request::from_json(&json!({
            "principal": "Agent::\"a\"", "action": "read", "resource": "Repo::\"r\"",
            "context": {"credential": {"id": "c-1", "issued_at": "2026-11-25T11:00:00Z", "expires_at": expires}, "session": {"id": "s-1"}}
        }))
        .unwrap();
        assert_eq!(
            guard_of(&e.authorize_at(&r, at("2026-11-25T12:00:00Z"))).as_deref(),
            Some("guard:credential-expired")
        );
        assert_eq!(guard_of(&e.authorize_at(&r, at("2026-11-25T11:10:00Z"))), None);
    }
}

#[test]
fn revoked_sessions_and_credentials_are_denied_in_typed_requests_too() {
    let e = engine();
    let now = at("2026-11-25T12:00:00Z");
    let typed = typed_request("2026-11-25T11:00:00Z", "2026-11-25T13:00:00Z");
    assert!(e.authorize_at(&typed, now).allowed());
    e.revoke(Subject::Session("s-1".into()), "runaway loop");
    let d = e.authorize_at(&typed, now);
    assert_eq!(guard_of(&d).as_deref(), Some("guard:revoked"), "{:?}", d.to_json());
    assert!(e.restore(&Subject::Session("s-1".into())));
    e.revoke(Subject::Credential("c-1".into()), "leaked");
    assert_eq!(guard_of(&e.authorize_at(&typed, now)).as_deref(), Some("guard:revoked"));
    assert_eq!(
        guard_of(&e.authorize_at(&json_request("2026-11-25T11:00:00Z", "2026-11-25T13:00:00Z"), now)).as_deref(),
        Some("guard:revoked")
    );
}
