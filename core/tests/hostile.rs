#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Hostile input through the Rust API: every input gets a clear error or a
//! deny carrying the error; nothing panics, overflows the stack or allows.

use std::path::Path;

use agentauthz::{Engine, LoadError, NamedText, Outcome, PolicySources, MAX_NESTING};
use serde_json::{json, Value};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies-examples/coding-agent");

fn example() -> Engine {
    Engine::from_dir(DIR).unwrap()
}

fn with_policy(text: &str) -> Result<Engine, LoadError> {
    let mut sources = PolicySources::from_dir(DIR).unwrap();
    sources.policies.push(NamedText::new("hostile.cedar", text));
    Engine::builder(sources).build()
}

fn valid_request() -> Value {
    json!({
        "principal": "Agent::\"ci-bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\"",
        "context": {
            "credential": {"id": "c", "issued_at": "2026-11-25T09:58:00Z", "expires_at": "2099-01-01T00:00:00Z", "scopes": ["repo:read"]},
            "session": {"id": "s", "actions": 1, "repos_touched": 1}
        }
    })
}

/// Runs `f` on a thread with a small stack (512 KiB), smaller than Python's or
/// Node's worker threads get on Linux.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(512 << 10).spawn(f).unwrap().join().unwrap()
}

#[test]
fn pathologically_nested_policy_text_is_refused_without_overflowing_the_stack() {
    let n = 20_000;
    let texts = [
        format!("permit(principal, action, resource) when {{ {}true{} }};", "(".repeat(n), ")".repeat(n)),
        format!("permit(principal, action, resource) when {{ {}{} == [] }};", "[".repeat(n), "]".repeat(n)),
        format!("permit(principal, action, resource) when {{ {}1{} == {{}} }};", "{a:".repeat(n), "}".repeat(n)),
    ];
    for text in texts {
        let err = on_small_stack(move || with_policy(&text).map(|_| ()).unwrap_err().to_string());
        assert!(err.contains("nested deeper than"), "{err}");
    }
    // Brackets inside strings and comments do not count.
    let quoted = format!(
        "// {}\npermit(principal, action, resource) when {{ context has path && context.path == \"{}\" }};",
        "(".repeat(500),
        "[".repeat(500)
    );
    with_policy(&quoted).unwrap();
}

#[test]
fn nesting_just_under_the_limit_loads_and_decides_on_a_small_stack() {
    let d = MAX_NESTING - 4;
    let set = format!("{}1{}", "[".repeat(d), "]".repeat(d));
    let text = format!(
        "@id(\"deep\") forbid(principal, action == Action::\"read_repo\", resource) when {{ {set} == {set} }};"
    );
    let decision = on_small_stack(move || {
        let engine = with_policy(&text).unwrap();
        engine.authorize_json(&valid_request())
    });
    assert_eq!(decision.outcome, Outcome::Deny);
    assert!(decision.reason_ids().contains(&"deep"), "{:?}", decision.to_json());
}

#[test]
fn pathologically_nested_schema_is_refused() {
    let n = 10_000;
    let schema = format!("entity A {{ x: {}Long{} }};", "Set<".repeat(n), ">".repeat(n));
    let err = on_small_stack(move || Engine::from_strings(&schema, "", None).map(|_| ()).unwrap_err().to_string());
    assert!(err.contains("nested deeper than"), "{err}");
    let schema = format!("entity A {{ x: {}Long{} }};", "{a: ".repeat(n), "}".repeat(n));
    let err = on_small_stack(move || Engine::from_strings(&schema, "", None).map(|_| ()).unwrap_err().to_string());
    assert!(err.contains("nested deeper than"), "{err}");
}

#[test]
fn deeply_nested_entities_json_is_an_error() {
    let n = 10_000;
    let entities = format!(
        "[{{\"uid\": {{\"type\": \"Team\", \"id\": \"t\"}}, \"attrs\": {{\"x\": {}1{} }}, \"parents\": []}}]",
        "[".repeat(n),
        "]".repeat(n)
    );
    let mut sources = PolicySources::from_dir(DIR).unwrap();
    sources.entities = Some(NamedText::new("entities.json", entities));
    let err = on_small_stack(move || Engine::builder(sources).build().map(|_| ()).unwrap_err().to_string());
    assert!(err.contains("entities.json"), "{err}");
}

/// Each hostile request is denied with an error naming the problem. (Built and
/// dropped on a large stack: serde_json's own clone and drop of a 10,000-deep
/// value recurse; the engine's depth check does not.)
#[test]
fn hostile_requests_are_denied_with_the_error() {
    std::thread::Builder::new().stack_size(256 << 20).spawn(hostile_requests).unwrap().join().unwrap();
}

fn hostile_requests() {
    let engine = example();
    let big = "x".repeat(10 << 20);
    let mut deep = json!("leaf");
    for _ in 0..10_000 {
        let mut m = serde_json::Map::new();
        m.insert("a".into(), deep); // moved, not copied (`json!` would copy it)
        deep = Value::Object(m);
    }
    let huge_set: Vec<Value> = (0..200_000).map(|i| json!(format!("scope-{i}"))).collect();
    let small_set: Vec<Value> = (0..5_000).map(|i| json!(format!("scope-{i}"))).collect();
    let with_ctx = |key: &str, value: Value| {
        let mut r = valid_request();
        r["context"][key] = value;
        r
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "principal is a number",
            json!({"principal": 7, "action": "read_repo", "resource": "Repository::\"acme/api\""}),
            "principal",
        ),
        ("missing resource", json!({"principal": "Agent::\"ci-bot\"", "action": "read_repo"}), "resource"),
        (
            "unknown entity type",
            json!({"principal": "Robot::\"x\"", "action": "read_repo", "resource": "Repository::\"acme/api\""}),
            "Robot",
        ),
        (
            "unknown action",
            json!({"principal": "Agent::\"ci-bot\"", "action": "format_disk", "resource": "Repository::\"acme/api\""}),
            "format_disk",
        ),
        (
            "empty principal",
            json!({"principal": "", "action": "read_repo", "resource": "Repository::\"acme/api\""}),
            "principal",
        ),
        ("request is an array", json!([1, 2, 3]), "object"),
        (
            "context is a string",
            {
                let mut r = valid_request();
                r["context"] = json!("ctx");
                r
            },
            "context",
        ),
        ("context nested 10,000 deep", with_ctx("path", deep.clone()), "nested deeper"),
        ("10 MB string where a string is expected", with_ctx("path", json!(big)), "bytes of text"),
        ("NUL bytes", with_ctx("path", json!("a\u{0}b")), ""),
        (
            "integer beyond i64",
            with_ctx("diff_lines", serde_json::from_str("18446744073709551616").unwrap()),
            "diff_lines",
        ),
        ("float for a Long", with_ctx("diff_lines", json!(1.5)), "diff_lines"),
        ("wrong type for a record", with_ctx("credential", json!("token")), "credential"),
        (
            "200,000-element set for scopes",
            {
                let mut r = valid_request();
                r["context"]["credential"]["scopes"] = Value::Array(huge_set);
                r
            },
            "more than 10000 values",
        ),
        (
            "5,000-element set for scopes",
            {
                let mut r = valid_request();
                r["context"]["credential"]["scopes"] = Value::Array(small_set);
                r
            },
            "",
        ),
        ("undeclared context attribute", with_ctx("evil", json!(true)), "evil"),
        ("caller-supplied now", with_ctx("now", json!("2020-01-01T00:00:00Z")), ""),
    ];
    for (name, request, needle) in cases {
        let d = engine.authorize_json(&request);
        let text = d.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
        match name {
            // Legitimate if odd input: decided normally, never crashes.
            "NUL bytes" | "5,000-element set for scopes" | "caller-supplied now" => {
                assert!(d.errors.is_empty() || d.outcome == Outcome::Deny, "{name}: {text}");
            }
            _ => {
                assert_eq!(d.outcome, Outcome::Deny, "{name}");
                assert!(!d.errors.is_empty(), "{name}: a deny without the error");
                assert!(text.contains(needle), "{name}: `{text}` does not mention `{needle}`");
            }
        }
    }
}

#[test]
fn hostile_request_text_is_denied_with_the_error() {
    let engine = example();
    let big = format!("{{\"principal\": \"{}\"}}", "x".repeat(10 << 20));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (name, text, needle) in [
        ("10 MB request", big.as_str(), "bytes"),
        ("100,000 nested arrays", deep.as_str(), "recursion"),
        ("truncated JSON", "{\"principal\": ", "EOF"),
        ("empty", "", "EOF"),
        ("invalid escape", "{\"principal\": \"\\uZZZZ\"}", "escape"),
        ("lone surrogate", "{\"principal\": \"\\ud800\"}", "escape"),
    ] {
        let d = on_small_stack({
            let engine_text = text.to_string();
            let e = example();
            move || e.authorize_json_str(&engine_text)
        });
        assert_eq!(d.outcome, Outcome::Deny, "{name}");
        let msg = d.errors.first().map(|e| e.message.clone()).unwrap_or_default();
        assert!(msg.to_lowercase().contains(&needle.to_lowercase()), "{name}: {msg}");
    }
    // Non-UTF-8 bytes never reach the API as &str; files with them are refused at load.
    let tmp = std::env::temp_dir().join(format!("agentauthz-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(Path::new(DIR).join("coding-agent.cedarschema"), tmp.join("s.cedarschema")).unwrap();
    std::fs::write(tmp.join("p.cedar"), b"permit(principal, action, resource) when { \"\xff\xfe\" == \"\" };").unwrap();
    let err = Engine::from_dir(&tmp).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("p.cedar"), "{err}");
    std::fs::remove_dir_all(&tmp).ok();
    drop(engine);
}
