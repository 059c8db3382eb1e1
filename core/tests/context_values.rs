#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! `Request::with_context` (the bindings' JSON-free context) decides exactly
//! as `Request::with_context_json` on the same data: every example case, and
//! random mutations of them (missing, extra, repeated and mistyped
//! attributes, Cedar escapes, datetimes as text), compared on outcome,
//! reasons, errors and ask owners, with and without session counters.

use std::path::Path;
use std::time::SystemTime;

use agentauthz::cases::{load_cases, Case};
use agentauthz::{parse_rfc3339, ContextValue, Decision, Engine, PolicySources, Request, SessionLimits};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies-examples/coding-agent");

fn to_values(v: &Value) -> ContextValue {
    match v {
        Value::Bool(b) => ContextValue::Bool(*b),
        Value::Number(n) => ContextValue::Long(n.as_i64().unwrap()),
        Value::String(s) => ContextValue::String(s.clone()),
        Value::Array(items) => ContextValue::Set(items.iter().map(to_values).collect()),
        Value::Object(m) => ContextValue::Record(m.iter().map(|(k, v)| (k.clone(), to_values(v))).collect()),
        Value::Null => panic!("no null in contexts"),
    }
}

fn record(v: &ContextValue) -> Vec<(String, ContextValue)> {
    match v {
        ContextValue::Record(attrs) => attrs.clone(),
        other => panic!("not a record: {other:?}"),
    }
}

fn json_map(attrs: &[(String, ContextValue)]) -> Map<String, Value> {
    match ContextValue::Record(attrs.to_vec()).to_json() {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn base(case: &Case) -> Request {
    let r = &case.request;
    Request::from_json(&json!({"principal": r["principal"], "action": r["action"], "resource": r["resource"]})).unwrap()
}

fn same(a: &Decision, b: &Decision) -> Result<(), String> {
    let errors = |d: &Decision| d.errors.iter().map(|e| (e.policy.clone(), e.message.clone())).collect::<Vec<_>>();
    if a.outcome != b.outcome
        || a.reason_ids() != b.reason_ids()
        || errors(a) != errors(b)
        || a.ask_owners != b.ask_owners
        || a.approval_id != b.approval_id
    {
        return Err(format!("values: {}\njson:   {}", a.to_json(), b.to_json()));
    }
    Ok(())
}

fn cases() -> Vec<Case> {
    load_cases(Path::new(DIR).join("cases.toml")).unwrap()
}

/// Two plain engines and two with session counters; each pair always sees the
/// same requests, so their state (counts, pending asks) stays in step.
static ENGINES: std::sync::LazyLock<(Engine, Engine, Engine, Engine)> = std::sync::LazyLock::new(build_engines);

fn engines() -> &'static (Engine, Engine, Engine, Engine) {
    &ENGINES
}

fn build_engines() -> (Engine, Engine, Engine, Engine) {
    let plain = || Engine::builder(PolicySources::from_dir(DIR).unwrap()).build().unwrap();
    let counted = || {
        Engine::builder(PolicySources::from_dir(DIR).unwrap())
            .session_counters(SessionLimits::default())
            .build()
            .unwrap()
    };
    (plain(), plain(), counted(), counted())
}

fn now(case: &Case) -> std::time::SystemTime {
    parse_rfc3339(case.now.as_deref().unwrap_or("2026-11-25T10:00:00Z")).unwrap()
}

#[test]
fn every_example_case_decides_the_same_either_way() {
    let (a, b, ca, cb) = engines();
    let mut compared = 0;
    for case in cases() {
        let Some(ctx) = case.request.get("context") else { continue };
        let attrs = record(&to_values(ctx));
        let values = base(&case).with_context(attrs.clone());
        let json = base(&case).with_context_json(json_map(&attrs));
        same(&a.authorize_at(&values, now(&case)), &b.authorize_at(&json, now(&case))).unwrap();
        // Session counters read and rewrite the context: same counts either way.
        same(&ca.authorize_at(&values, now(&case)), &cb.authorize_at(&json, now(&case))).unwrap();
        compared += 1;
    }
    assert!(compared > 20, "{compared} cases compared");
}

#[test]
fn a_repeated_key_means_the_last_one_as_in_json() {
    let case = cases().into_iter().find(|c| c.request.get("context").is_some()).unwrap();
    let (a, _, _, _) = engines();
    let mut attrs = record(&to_values(&case.request["context"]));
    // An expired credential first, the real one last: the last one counts.
    let real = attrs.iter().find(|(k, _)| k == "credential").cloned().unwrap();
    let expired = ContextValue::Record(vec![
        ("id".into(), ContextValue::String("old".into())),
        ("issued_at".into(), ContextValue::String("2000-01-01T00:00:00Z".into())),
        ("expires_at".into(), ContextValue::String("2000-01-02T00:00:00Z".into())),
        ("scopes".into(), ContextValue::Set(vec![])),
    ]);
    attrs.retain(|(k, _)| k != "credential");
    attrs.insert(0, ("credential".into(), expired.clone()));
    attrs.push(real.clone());
    let d = a.authorize_at(&base(&case).with_context(attrs.clone()), now(&case));
    same(&d, &a.authorize_at(&base(&case).with_context_json(json_map(&attrs)), now(&case))).unwrap();
    assert_ne!(d.reason_ids(), vec!["guard:credential-expired"]);
    // And the other way round: the expired one last is refused.
    let n = attrs.len();
    attrs.swap(0, n - 1);
    let d = a.authorize_at(&base(&case).with_context(attrs), now(&case));
    assert_eq!(d.reason_ids(), vec!["guard:credential-expired"]);
}

#[test]
fn limits_apply_to_the_values_form() {
    let case = cases().into_iter().find(|c| c.request.get("context").is_some()).unwrap();
    let (a, _, _, _) = engines();
    let mut deep = ContextValue::Long(1);
    for _ in 0..100 {
        deep = ContextValue::Record(vec![("x".into(), deep)]);
    }
    let d = a.authorize_at(&base(&case).with_context(vec![("deep".into(), deep)]), now(&case));
    assert!(d.errors.iter().any(|e| e.message.contains("nested deeper")), "{}", d.to_json());
    let wide = ContextValue::Set((0..20_000).map(ContextValue::Long).collect());
    let d = a.authorize_at(&base(&case).with_context(vec![("wide".into(), wide)]), now(&case));
    assert!(d.errors.iter().any(|e| e.message.contains("more than")), "{}", d.to_json());
}

/// One random change to a context.
#[derive(Debug, Clone)]
enum Mutation {
    Remove(usize),
    Repeat(usize),
    Replace(usize, ContextValue),
    Add(String, ContextValue),
    Nested(usize, Box<Mutation>),
}

fn leaf() -> impl Strategy<Value = ContextValue> {
    prop_oneof![
        any::<bool>().prop_map(ContextValue::Bool),
        prop_oneof![Just(0i64), Just(3), Just(-1), Just(i64::MAX)].prop_map(ContextValue::Long),
        prop_oneof![
            Just("x".to_string()),
            Just("2026-11-25T10:30:00Z".to_string()),
            Just("2026-11-25".to_string()),
            Just("1h".to_string()),
            Just("repo:read".to_string()),
        ]
        .prop_map(ContextValue::String),
        Just(ContextValue::Set(vec![ContextValue::String("repo:read".into())])),
        Just(ContextValue::Record(vec![(
            "__extn".into(),
            ContextValue::Record(vec![
                ("fn".into(), ContextValue::String("datetime".into())),
                ("arg".into(), ContextValue::String("2026-11-25T10:30:00Z".into())),
            ])
        )])),
        Just(ContextValue::Record(vec![])),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let flat = prop_oneof![
        (0..8usize).prop_map(Mutation::Remove),
        (0..8usize).prop_map(Mutation::Repeat),
        (0..8usize, leaf()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        (prop_oneof![Just("now"), Just("branch"), Just("zzz"), Just("credential")], leaf())
            .prop_map(|(k, v)| Mutation::Add(k.to_string(), v)),
    ];
    flat.prop_recursive(2, 8, 1, |inner| (0..8usize, inner).prop_map(|(i, m)| Mutation::Nested(i, Box::new(m))))
}

fn apply(attrs: &mut Vec<(String, ContextValue)>, m: &Mutation) {
    let n = attrs.len();
    match m {
        Mutation::Remove(i) if n > 0 => {
            attrs.remove(i % n);
        }
        Mutation::Repeat(i) if n > 0 => {
            let a = attrs[i % n].clone();
            attrs.push(a);
        }
        Mutation::Replace(i, v) if n > 0 => attrs[i % n].1 = v.clone(),
        Mutation::Add(k, v) => attrs.push((k.clone(), v.clone())),
        Mutation::Nested(i, inner) if n > 0 => {
            if let ContextValue::Record(fields) = &mut attrs[i % n].1 {
                apply(fields, inner);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_contexts_decide_the_same_either_way(pick in 0..1000usize, muts in prop::collection::vec(mutation(), 1..4)) {
        let all: Vec<Case> = cases().into_iter().filter(|c| c.request.get("context").is_some()).collect();
        let case = &all[pick % all.len()];
        let mut attrs = record(&to_values(&case.request["context"]));
        for m in &muts {
            apply(&mut attrs, m);
        }
        let (a, b, ca, cb) = engines();
        let values = base(case).with_context(attrs.clone());
        let json = base(case).with_context_json(json_map(&attrs));
        let by_values = a.authorize_at(&values, now(case));
        same(&by_values, &b.authorize_at(&json, now(case))).map_err(TestCaseError::fail)?;
        same(&ca.authorize_at(&values, now(case)), &cb.authorize_at(&json, now(case))).map_err(TestCaseError::fail)?;
        // Read in place (a host object has unique keys: the last one, as in JSON).
        let host = Value::Object(json_map(&attrs));
        same(&prepared(prepared_engine(), base(case), &host, &attrs, now(case)), &by_values).map_err(TestCaseError::fail)?;
    }
}

/// A third plain engine, for the prepared path (its state stays in step with the others').
static PREPARED_ENGINE: std::sync::LazyLock<Engine> =
    std::sync::LazyLock::new(|| Engine::builder(PolicySources::from_dir(DIR).unwrap()).build().unwrap());

fn prepared_engine() -> &'static Engine {
    &PREPARED_ENGINE
}

/// Decides as a binding does: prepared when the engine takes it, else with the values.
fn prepared(e: &Engine, req: Request, host: &Value, attrs: &[(String, ContextValue)], at: SystemTime) -> Decision {
    if let Some(p) = e.prepare(&req, host, Some(at)) {
        assert_eq!(p.now(), at);
        if let Some(d) = e.decide_prepared(&req, &p) {
            return d;
        }
    }
    e.authorize_at(&req.with_context(attrs.to_vec()), at)
}

#[test]
fn a_prepared_request_is_handed_back_after_a_reload_and_by_engines_it_does_not_suit() {
    let case = cases().into_iter().find(|c| c.request.get("context").is_some()).unwrap();
    let host = case.request["context"].clone();
    let e = Engine::builder(PolicySources::from_dir(DIR).unwrap()).build().unwrap();
    let req = base(&case);
    let p = e.prepare(&req, &host, Some(now(&case))).unwrap();
    // Same sources: the same version, still decided the prepared way.
    e.reload(&PolicySources::from_dir(DIR).unwrap()).unwrap();
    let d = e.decide_prepared(&req, &p).unwrap();
    assert_eq!(d.outcome.to_string(), case.outcome.to_string());
    let p = e.prepare(&req, &host, Some(now(&case))).unwrap();
    let mut changed = PolicySources::from_dir(DIR).unwrap();
    changed.policies[0].text.push_str("\n// edited\n");
    e.reload(&changed).unwrap();
    assert!(e.decide_prepared(&req, &p).is_none(), "converted against another policy version");
    // Session counters rewrite the context; an audit log records it as given.
    let counted = Engine::builder(PolicySources::from_dir(DIR).unwrap())
        .session_counters(SessionLimits::default())
        .build()
        .unwrap();
    assert!(counted.prepare(&req, &host, Some(now(&case))).is_none());
    // A context the schema does not allow is left to the other path (which reports it).
    let mut extra = host.clone();
    extra["not_declared"] = json!(1);
    assert!(e.prepare(&req, &extra, Some(now(&case))).is_none());
}

/// A context read in place (`Engine::prepare`, what the bindings do) decides
/// exactly as the same context given as values, and every example case is
/// decided that way (not handed back to the values path).
#[test]
fn prepared_contexts_decide_every_example_case_the_same() {
    let (a, b, _, _) = engines();
    let mut compared = 0;
    for case in cases() {
        let Some(ctx) = case.request.get("context") else { continue };
        let attrs = record(&to_values(ctx));
        let req = base(&case);
        let p = a.prepare(&req, &Value::Object(json_map(&attrs)), Some(now(&case)));
        let Some(p) = p else { panic!("{}: not prepared", case.name) };
        let Some(d) = a.decide_prepared(&req, &p) else { panic!("{}: handed back", case.name) };
        same(&d, &b.authorize_at(&base(&case).with_context(attrs), now(&case))).unwrap();
        compared += 1;
    }
    assert!(compared > 20, "{compared} cases compared");
}

/// `decide_prepared` decides only the very request `prepare` converted the
/// context for: given another request (even an equal copy), it hands the
/// request back, and deciding that one with the context as values gives its
/// own decision, not the prepared request's.
#[test]
fn a_prepared_context_decides_only_its_own_request() {
    let (a, b, _, _) = engines();
    let all: Vec<Case> = cases().into_iter().filter(|c| c.request.get("context").is_some()).collect();
    let mut differed = 0;
    for (i, case) in all.iter().enumerate() {
        let other = &all[(i * 7 + 3) % all.len()];
        let attrs = record(&to_values(&case.request["context"]));
        let host = Value::Object(json_map(&attrs));
        let req = base(case);
        let p = a.prepare(&req, &host, Some(now(case))).unwrap();
        assert!(a.decide_prepared(&base(other), &p).is_none(), "{}: decided another request", case.name);
        assert!(a.decide_prepared(&req.clone(), &p).is_none(), "{}: decided a copy", case.name);
        let theirs = prepared(a, base(other), &host, &attrs, now(case));
        same(&theirs, &b.authorize_at(&base(other).with_context(attrs.clone()), now(case))).unwrap();
        let own = a.decide_prepared(&req, &p).unwrap();
        differed += usize::from(own.outcome != theirs.outcome);
    }
    assert!(differed > 5, "only {differed} pairs decide differently: the test would not notice");
}
