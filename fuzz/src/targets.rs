//! The fuzz targets' logic, one function per target, each taking the raw
//! fuzzer input. Shared by `fuzz/fuzz_targets/*.rs` and by
//! `core/tests/fuzz_regressions.rs` (included there with `#[path]`), so it may
//! only use `agentauthz`, `serde_json` and `arbitrary`.
//!
//! Every target asserts, beyond "does not panic", what a caller relies on:
//! - a decision is fail-closed: allow only with a satisfied permit as reason and
//!   no erroring forbid or request error; ask only with `@ask` forbids;
//! - a request that does not parse is denied;
//! - the audit verifier reports any change to a genuine log that changes its
//!   records;
//! - in `ErrorMode::Cedar` the engine decides exactly as `cedar_policy::Authorizer`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use agentauthz::audit::{verify, AuditLog};
use agentauthz::cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Effect, Entities, EntityUid, PolicyId,
    PolicySet, Request as CedarRequest, Schema,
};
use agentauthz::{
    format_rfc3339_millis, parse_rfc3339, Decision, Engine, ErrorMode, FixedClock, NamedText, Outcome, PolicySources,
    Request,
};
use arbitrary::{Result as ArbResult, Unstructured};
use serde_json::{json, Value};

/// The coding-agent example (schema, policies, entities).
fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent")
}

fn example_sources() -> &'static PolicySources {
    static S: OnceLock<PolicySources> = OnceLock::new();
    S.get_or_init(|| PolicySources::from_dir(example_dir()).expect("the example policies load"))
}

fn fixed_now() -> SystemTime {
    parse_rfc3339("2026-11-25T12:00:00Z").expect("a valid time")
}

/// Requests every loaded engine is asked, over the example model.
const EXAMPLE_REQUESTS: &[&str] = &[
    r#"{"principal":"Agent::\"ci-bot\"","action":"read_repo","resource":"Repository::\"acme/api\"","context":{"credential":{"id":"c","issued_at":"2026-11-25T11:00:00Z","expires_at":"2026-11-25T13:00:00Z","scopes":["repo:read"]},"session":{"id":"s","actions":1,"repos_touched":1}}}"#,
    r#"{"principal":"Agent::\"deploy-bot\"","action":"deploy","resource":"Environment::\"production\"","context":{"credential":{"id":"c","issued_at":"2026-11-25T11:00:00Z","expires_at":"2026-11-25T13:00:00Z","scopes":["deploy"]},"session":{"id":"s","actions":3,"repos_touched":1}}}"#,
    r#"{"principal":"Agent::\"intern-bot\"","action":"call_api","resource":"ApiHost::\"webhook.site\"","context":{"host":"webhook.site","credential":{"id":"c","issued_at":"2026-11-25T11:00:00Z","expires_at":"2026-11-25T13:00:00Z","scopes":["api"]},"session":{"id":"s","actions":1,"repos_touched":0}}}"#,
];

/// Asserts the fail-closed shape of a decision made by `engine` in its mode.
pub fn check_decision(engine: &Engine, d: &Decision) {
    let policies = engine.policies();
    let effect = |id: &str| policies.iter().find(|p| p.id == id).map(|p| p.effect);
    if d.outcome == Outcome::Allow {
        assert!(!d.reasons.is_empty(), "allow without a reason: {}", d.to_json());
        for r in &d.reasons {
            assert_eq!(r.effect, Effect::Permit, "allow for a non-permit reason: {}", d.to_json());
        }
        if engine.error_mode() != ErrorMode::Cedar {
            for e in &d.errors {
                let policy = e.policy.as_deref();
                assert!(policy.is_some(), "allow despite a request error: {}", d.to_json());
                assert_ne!(
                    policy.and_then(effect),
                    Some(Effect::Forbid),
                    "allow despite an erroring forbid: {}",
                    d.to_json()
                );
            }
        }
    }
    if d.outcome == Outcome::Ask {
        assert!(!d.ask_owners.is_empty(), "ask without owners: {}", d.to_json());
        assert!(d.reasons.iter().all(|r| r.ask.is_some()), "ask for a forbid without @ask: {}", d.to_json());
    }
    let text = serde_json::to_string(&d.to_json()).expect("a decision serializes");
    assert!(text.contains(d.outcome.as_str()));
}

fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Decides the example requests with `engine` and checks every decision.
fn decide_examples(engine: &Engine) {
    for r in EXAMPLE_REQUESTS {
        let d = engine.authorize_json_str(r);
        check_decision(engine, &d);
    }
}

/// Policy text (one file) over the example schema and entities: loading either
/// succeeds or fails with an error, never panics; an engine that loads (also
/// with invalid policies accepted, so that runtime errors happen) decides
/// fail-closed.
pub fn load_policies(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let base = example_sources();
    let sources = PolicySources { policies: vec![NamedText::new("fuzz.cedar", text)], ..base.clone() };
    let _ = agentauthz::validate(&sources);
    let strict = Engine::builder(sources.clone()).clock(Arc::new(FixedClock(fixed_now()))).build();
    let lenient =
        Engine::builder(sources).accept_invalid_policies(true).clock(Arc::new(FixedClock(fixed_now()))).build();
    if strict.is_ok() {
        assert!(lenient.is_ok(), "policies that validate must load when invalid ones are accepted");
    }
    for engine in [strict, lenient].into_iter().flatten() {
        decide_examples(&engine);
    }
}

/// Schema text with the example policies and without: loading never panics,
/// and an engine that loads decides fail-closed.
pub fn load_schema(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let base = example_sources();
    let bare = PolicySources::from_strings(text, "", None);
    let _ = agentauthz::validate(&bare);
    if let Ok(engine) = Engine::builder(bare).build() {
        let d = engine.authorize_json_str(EXAMPLE_REQUESTS[0]);
        assert_ne!(d.outcome, Outcome::Allow, "no policies, yet allowed: {}", d.to_json());
        check_decision(&engine, &d);
    }
    let with_policies = PolicySources { schema: NamedText::new("fuzz.cedarschema", text), ..base.clone() };
    if let Ok(engine) = Engine::builder(with_policies).accept_invalid_policies(true).build() {
        decide_examples(&engine);
    }
}

/// Entity JSON over the example schema and policies: loading never panics,
/// and an engine that loads decides fail-closed.
pub fn entities_json(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let base = example_sources();
    let sources = PolicySources { entities: Some(NamedText::new("fuzz.entities.json", text)), ..base.clone() };
    if let Ok(engine) = Engine::builder(sources).clock(Arc::new(FixedClock(fixed_now()))).build() {
        decide_examples(&engine);
    }
}

fn request_engines() -> &'static [Engine; 2] {
    static E: OnceLock<[Engine; 2]> = OnceLock::new();
    E.get_or_init(|| {
        let build = |mode| {
            let audit = AuditLog::builder().ring(4).open().expect("an in-memory audit log opens");
            Engine::builder(example_sources().clone())
                .error_mode(mode)
                .clock(Arc::new(FixedClock(fixed_now())))
                .audit(audit)
                .build()
                .expect("the example engine builds")
        };
        [build(ErrorMode::FailClosed), build(ErrorMode::Cedar)]
    })
}

/// Request JSON text (the form the CLI, the hook and the bindings pass) on
/// the example engine, with an audit log: never panics; a request that does
/// not parse is denied; every decision is fail-closed and is audited.
pub fn request_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = Request::from_json_str(&text);
    for engine in request_engines() {
        let d = engine.authorize_json_str(&text);
        if let Err(e) = &parsed {
            assert_eq!(d.outcome, Outcome::Deny, "unparsable request ({e}) not denied: {}", d.to_json());
            assert!(!d.errors.is_empty(), "a refused request names its error");
        }
        check_decision(engine, &d);
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            let d2 = engine.authorize_json(&value);
            assert_eq!(d2.outcome, d.outcome, "text and value forms decide alike");
        }
        if let Some(log) = engine.audit() {
            log.flush().expect("the audit log flushes");
            assert_eq!(log.stats().write_errors, 0, "the audit writer failed: {:?}", log.stats().last_error);
        }
    }
}

/// A genuine 6-record audit log, as written by [`AuditLog`].
fn genuine_log() -> &'static [u8] {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        let dir = scratch_dir();
        let path = dir.join("genuine.jsonl");
        let _ = std::fs::remove_file(&path);
        let log = AuditLog::builder().file(&path).open().expect("the audit file opens");
        let engine = Engine::builder(example_sources().clone())
            .clock(Arc::new(FixedClock(fixed_now())))
            .audit(log)
            .build()
            .expect("the example engine builds");
        for r in EXAMPLE_REQUESTS.iter().chain(EXAMPLE_REQUESTS) {
            engine.authorize_json_str(r);
        }
        engine.audit().expect("audit on").flush().expect("flushes");
        drop(engine);
        let bytes = std::fs::read(&path).expect("the log reads");
        let report = verify(&[&path]).expect("verifies");
        assert!(report.intact() && report.records == 6, "the genuine log verifies: {report:?}");
        bytes
    })
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentauthz-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The JSON values of a log's lines (`None` for a line that is not JSON).
fn records(bytes: &[u8]) -> Vec<Option<Value>> {
    let mut out: Vec<Option<Value>> =
        bytes.split(|b| *b == b'\n').map(|l| serde_json::from_slice::<Value>(l).ok()).collect();
    if bytes.last() == Some(&b'\n') {
        out.pop();
    }
    out
}

/// Audit-log verification. The first byte picks the mode:
/// - even: the rest is an arbitrary log file (split into two files at a point
///   the second byte picks); `verify` never panics, reads the files, and its
///   counts are consistent;
/// - odd: the rest edits a genuine log (overwrite, insert or delete bytes at
///   chosen offsets); unless the edit leaves every line's JSON value
///   unchanged, `verify` must report a break.
pub fn audit_verify(data: &[u8]) {
    let dir = scratch_dir();
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let cut = rest.first().map_or(0, |c| usize::from(*c)).min(rest.len());
        let (first, second) = rest.split_at(cut);
        std::fs::write(&a, first).expect("scratch write");
        std::fs::write(&b, second).expect("scratch write");
        let report = verify(&[&a, &b]).expect("readable files verify");
        let lines = rest.split(|c| *c == b'\n').count() as u64;
        assert!(report.records <= lines, "more records than lines: {report:?}");
        assert_eq!(report.last_seq.is_some(), report.records > 0, "{report:?}");
        if let (Some(first), Some(last)) = (report.first_seq, report.last_seq) {
            assert_eq!(last - first + 1, report.records, "seq range and record count disagree: {report:?}");
        }
        return;
    }
    let original = genuine_log();
    let mut log = original.to_vec();
    let mut u = Unstructured::new(rest);
    let edits = u.int_in_range(1..=4u8).unwrap_or(1);
    for _ in 0..edits {
        let Ok(kind) = u.int_in_range(0..=2u8) else { break };
        let at = u.int_in_range(0..=log.len()).unwrap_or(0);
        let byte: u8 = u.arbitrary().unwrap_or(b'x');
        match kind {
            0 if at < log.len() => log[at] = byte,
            1 => log.insert(at, byte),
            _ if at < log.len() => {
                let n = u.int_in_range(1..=64usize).unwrap_or(1).min(log.len() - at);
                log.drain(at..at + n);
            }
            _ => {}
        }
    }
    std::fs::write(&a, &log).expect("scratch write");
    let report = verify(&[&a]).expect("a readable file verifies");
    if records(&log) != records(original) {
        assert!(!report.intact(), "an edited log verified as intact: {report:?}");
    }
}

// ---------------------------------------------------------------------------
// Differential: agentauthz vs plain cedar_policy::Authorizer.

const DIFF_SCHEMA: &str = r#"
entity Team in [Team];
entity Agent in [Team] { tier: Long, suspended: Bool, name: String, skills: Set<String>, boss?: Agent };
entity Repo in [Team] { public: Bool, owner: Agent, size: Long, labels: Set<String> };
type Ctx = { now: datetime, n: Long, s: String, flag?: Bool, tags: Set<String>, until: datetime, peer: Agent };
action read, write, deploy appliesTo { principal: Agent, resource: Repo, context: Ctx };
action admin in [deploy] appliesTo { principal: Agent, resource: Repo, context: Ctx };
"#;

const DIFF_ENTITIES: &str = r#"[
 {"uid": {"type": "Team", "id": "t0"}, "attrs": {}, "parents": []},
 {"uid": {"type": "Team", "id": "t1"}, "attrs": {}, "parents": [{"type": "Team", "id": "t0"}]},
 {"uid": {"type": "Agent", "id": "a0"}, "attrs": {"tier": 0, "suspended": false, "name": "a0", "skills": []}, "parents": [{"type": "Team", "id": "t0"}]},
 {"uid": {"type": "Agent", "id": "a1"}, "attrs": {"tier": 2, "suspended": false, "name": "bot-a1", "skills": ["rust", "ops"], "boss": {"__entity": {"type": "Agent", "id": "a0"}}}, "parents": [{"type": "Team", "id": "t1"}]},
 {"uid": {"type": "Agent", "id": "a2"}, "attrs": {"tier": 9223372036854775807, "suspended": true, "name": "", "skills": ["ops"]}, "parents": [{"type": "Team", "id": "t1"}]},
 {"uid": {"type": "Agent", "id": "a3"}, "attrs": {"tier": -1, "suspended": false, "name": "bot*", "skills": ["rust"], "boss": {"__entity": {"type": "Agent", "id": "a1"}}}, "parents": []},
 {"uid": {"type": "Repo", "id": "r0"}, "attrs": {"public": true, "owner": {"__entity": {"type": "Agent", "id": "a0"}}, "size": 10, "labels": []}, "parents": [{"type": "Team", "id": "t0"}]},
 {"uid": {"type": "Repo", "id": "r1"}, "attrs": {"public": false, "owner": {"__entity": {"type": "Agent", "id": "a1"}}, "size": 4611686018427387904, "labels": ["ops", "prod"]}, "parents": [{"type": "Team", "id": "t1"}]},
 {"uid": {"type": "Repo", "id": "r2"}, "attrs": {"public": false, "owner": {"__entity": {"type": "Agent", "id": "a3"}}, "size": -5, "labels": ["rust"]}, "parents": []}
]"#;

const ACTIONS: &[&str] = &["read", "write", "deploy", "admin"];
const AGENTS: &[&str] = &["a0", "a1", "a2", "a3", "ghost"];
const REPOS: &[&str] = &["r0", "r1", "r2", "nowhere"];
const STRINGS: &[&str] = &["", "a0", "bot-a1", "rust", "ops", "prod", "bot*", "x\\*y", "\u{e9}"];
const PATTERNS: &[&str] = &["*", "bot*", "*a*", "bot\\*", "", "a?", "**1", "\u{e9}*"];
const LONGS: &[i64] = &[0, 1, 2, -1, 3, 7, i64::MAX, i64::MIN, 4_611_686_018_427_387_904, -4_611_686_018_427_387_904];
const DATETIMES: &[&str] =
    &["2026-11-25", "2026-11-25T12:00:00Z", "2026-11-25T11:30:00.500Z", "2026-11-25T12:00:00+0100", "1970-01-01"];
const DURATIONS: &[&str] = &["1h", "-30m", "0ms", "1d2h3m4s5ms", "-1ms", "106751991167d"];
const ENTITY_LITS: &[&str] = &[
    "Agent::\"a0\"",
    "Agent::\"a1\"",
    "Agent::\"ghost\"",
    "Team::\"t0\"",
    "Team::\"t1\"",
    "Repo::\"r1\"",
    "Action::\"deploy\"",
];
const PRINCIPAL_SCOPES: &[&str] = &[
    "principal",
    "principal == Agent::\"a1\"",
    "principal in Team::\"t0\"",
    "principal is Agent",
    "principal is Agent in Team::\"t1\"",
    "principal in Agent::\"a3\"",
];
const ACTION_SCOPES: &[&str] = &[
    "action",
    "action == Action::\"read\"",
    "action in Action::\"deploy\"",
    "action in [Action::\"write\", Action::\"admin\"]",
];
const RESOURCE_SCOPES: &[&str] =
    &["resource", "resource == Repo::\"r1\"", "resource in Team::\"t0\"", "resource is Repo in Team::\"t1\""];

fn pick<'a>(u: &mut Unstructured, from: &'a [&'a str]) -> ArbResult<&'a str> {
    u.choose(from).copied()
}

/// A Cedar expression of roughly the wanted type; now and then deliberately
/// of another, so that both evaluators meet type errors.
struct Gen<'u, 'a> {
    u: &'u mut Unstructured<'a>,
}

impl Gen<'_, '_> {
    fn ill_typed(&mut self, depth: u32) -> ArbResult<Option<String>> {
        if self.u.ratio(1u8, 24u8)? {
            return Ok(Some(match self.u.int_in_range(0..=3u8)? {
                0 => self.long(depth)?,
                1 => self.string(depth)?,
                2 => self.set(depth)?,
                _ => self.entity(depth)?,
            }));
        }
        Ok(None)
    }

    fn boolean(&mut self, depth: u32) -> ArbResult<String> {
        if let Some(e) = self.ill_typed(depth)? {
            return Ok(e);
        }
        let leaf = depth == 0;
        let choice = self.u.int_in_range(0..=if leaf { 6 } else { 22u8 })?;
        let d = depth.saturating_sub(1);
        Ok(match choice {
            0 => "true".into(),
            1 => "false".into(),
            2 => "principal.suspended".into(),
            3 => "resource.public".into(),
            4 => "context.flag".into(),
            5 => pick(self.u, &["context has flag", "principal has boss", "resource has owner", "principal has tier"])?
                .into(),
            6 => "principal.boss.suspended".into(),
            7 => format!("!({})", self.boolean(d)?),
            8 => format!("({}) && ({})", self.boolean(d)?, self.boolean(d)?),
            9 => format!("({}) || ({})", self.boolean(d)?, self.boolean(d)?),
            10 => format!("if {} then {} else {}", self.boolean(d)?, self.boolean(d)?, self.boolean(d)?),
            11 => {
                let op = pick(self.u, &["==", "!=", "<", "<=", ">", ">="])?;
                format!("({}) {op} ({})", self.long(d)?, self.long(d)?)
            }
            12 => {
                let op = pick(self.u, &["==", "!="])?;
                format!("({}) {op} ({})", self.string(d)?, self.string(d)?)
            }
            13 => format!("({}) like \"{}\"", self.string(d)?, pick(self.u, PATTERNS)?),
            14 => {
                let op = pick(self.u, &["in", "=="])?;
                format!("({}) {op} ({})", self.entity(d)?, self.entity(d)?)
            }
            15 => format!("({}) in [{}, {}]", self.entity(d)?, self.entity(d)?, self.entity(d)?),
            16 => format!("({}) is {}", self.entity(d)?, pick(self.u, &["Agent", "Repo", "Team"])?),
            17 => format!("({}).contains({})", self.set(d)?, self.string(d)?),
            18 => {
                let op = pick(self.u, &["containsAll", "containsAny"])?;
                format!("({}).{op}({})", self.set(d)?, self.set(d)?)
            }
            19 => format!("({}).isEmpty()", self.set(d)?),
            20 => {
                let op = pick(self.u, &["<", "<=", "==", "!=", ">", ">="])?;
                format!("({}) {op} ({})", self.datetime(d)?, self.datetime(d)?)
            }
            21 => {
                let op = pick(self.u, &["<", "==", ">="])?;
                format!("({}) {op} ({})", self.duration(d)?, self.duration(d)?)
            }
            _ => format!("{{a: {}, b: {}}}.{}", self.boolean(d)?, self.long(d)?, pick(self.u, &["a", "b", "c"])?),
        })
    }

    fn long(&mut self, depth: u32) -> ArbResult<String> {
        let choice = self.u.int_in_range(0..=if depth == 0 { 4 } else { 11u8 })?;
        let d = depth.saturating_sub(1);
        Ok(match choice {
            0 => {
                let v = *self.u.choose(LONGS)?;
                // i64::MIN has no literal; Cedar parses `-9223372036854775808`.
                v.to_string()
            }
            1 => "principal.tier".into(),
            2 => "resource.size".into(),
            3 => "context.n".into(),
            4 => "context.peer.tier".into(),
            5 => format!("({}) + ({})", self.long(d)?, self.long(d)?),
            6 => format!("({}) - ({})", self.long(d)?, self.long(d)?),
            7 => format!("({}) * {}", self.long(d)?, self.u.choose(LONGS)?),
            8 => format!("-({})", self.long(d)?),
            9 => format!("if {} then {} else {}", self.boolean(d)?, self.long(d)?, self.long(d)?),
            10 => {
                let m = pick(self.u, &["toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays"])?;
                format!("({}).{m}()", self.duration(d)?)
            }
            _ => "principal.boss.tier".into(),
        })
    }

    fn string(&mut self, depth: u32) -> ArbResult<String> {
        let choice = self.u.int_in_range(0..=if depth == 0 { 3 } else { 4u8 })?;
        Ok(match choice {
            0 => format!("\"{}\"", pick(self.u, STRINGS)?.replace('\\', "\\\\")),
            1 => "principal.name".into(),
            2 => "context.s".into(),
            3 => "resource.owner.name".into(),
            _ => format!(
                "if {} then {} else {}",
                self.boolean(depth - 1)?,
                self.string(depth - 1)?,
                self.string(depth - 1)?
            ),
        })
    }

    fn set(&mut self, depth: u32) -> ArbResult<String> {
        let choice = self.u.int_in_range(0..=if depth == 0 { 3 } else { 5u8 })?;
        Ok(match choice {
            0 => "principal.skills".into(),
            1 => "context.tags".into(),
            2 => "resource.labels".into(),
            3 => "[]".into(),
            4 => format!("[{}, {}]", self.string(depth - 1)?, self.string(depth - 1)?),
            _ => format!("[{}, {}]", self.entity(depth - 1)?, self.long(depth - 1)?),
        })
    }

    fn entity(&mut self, depth: u32) -> ArbResult<String> {
        let choice = self.u.int_in_range(0..=if depth == 0 { 3 } else { 5u8 })?;
        Ok(match choice {
            0 => "principal".into(),
            1 => "resource".into(),
            2 => "action".into(),
            3 => pick(self.u, ENTITY_LITS)?.into(),
            4 => pick(self.u, &["resource.owner", "principal.boss", "context.peer", "resource.owner.boss"])?.into(),
            _ => format!(
                "if {} then {} else {}",
                self.boolean(depth - 1)?,
                self.entity(depth - 1)?,
                self.entity(depth - 1)?
            ),
        })
    }

    fn datetime(&mut self, depth: u32) -> ArbResult<String> {
        let choice = self.u.int_in_range(0..=if depth == 0 { 2 } else { 4u8 })?;
        Ok(match choice {
            0 => "context.now".into(),
            1 => "context.until".into(),
            2 => format!("datetime(\"{}\")", pick(self.u, DATETIMES)?),
            3 => format!("({}).offset({})", self.datetime(depth - 1)?, self.duration(depth - 1)?),
            _ => format!("({}).toDate()", self.datetime(depth - 1)?),
        })
    }

    fn duration(&mut self, depth: u32) -> ArbResult<String> {
        let choice = self.u.int_in_range(0..=if depth == 0 { 0 } else { 2u8 })?;
        Ok(match choice {
            0 => format!("duration(\"{}\")", pick(self.u, DURATIONS)?),
            1 => format!("({}).durationSince({})", self.datetime(depth - 1)?, self.datetime(depth - 1)?),
            _ => format!("({}).toTime()", self.datetime(depth - 1)?),
        })
    }
}

/// One generated case: policy text, request JSON and the decision time.
#[derive(Debug)]
pub struct DiffCase {
    /// The policies, each with `@id("pN")`.
    pub policies: String,
    /// The request in the engine's JSON form (without `now`).
    pub request: Value,
    /// The decision time.
    pub now: SystemTime,
}

/// Builds a case from fuzzer bytes.
pub fn diff_case(u: &mut Unstructured) -> ArbResult<DiffCase> {
    let count = u.int_in_range(1..=5u8)?;
    let mut policies = String::new();
    for i in 0..count {
        let permit: bool = u.arbitrary()?;
        policies.push_str(&format!("@id(\"p{i}\")\n"));
        if !permit && u.ratio(2u8, 3u8)? {
            policies.push_str(&format!("@ask(\"{}\")\n", pick(u, &["security", "platform"])?));
        }
        policies.push_str(&format!(
            "{}({}, {}, {})",
            if permit { "permit" } else { "forbid" },
            pick(u, PRINCIPAL_SCOPES)?,
            pick(u, ACTION_SCOPES)?,
            pick(u, RESOURCE_SCOPES)?
        ));
        for _ in 0..u.int_in_range(0..=2u8)? {
            let kw = if u.ratio(1u8, 4u8)? { "unless" } else { "when" };
            let depth = u.int_in_range(0..=3u32)?;
            policies.push_str(&format!(" {kw} {{ {} }}", Gen { u }.boolean(depth)?));
        }
        policies.push_str(";\n");
    }
    let now = fixed_now() + Duration::from_secs(u.int_in_range(0..=86_400u64)?);
    let until = if u.arbitrary()? {
        now + Duration::from_millis(u.int_in_range(0..=7_200_000u64)?)
    } else {
        now - Duration::from_millis(u.int_in_range(0..=7_200_000u64)?)
    };
    let mut context = json!({
        "n": *u.choose(LONGS)?,
        "s": pick(u, STRINGS)?,
        "tags": (0..u.int_in_range(0..=3u8)?).map(|_| pick(u, STRINGS)).collect::<ArbResult<Vec<_>>>()?,
        "until": format_rfc3339_millis(until),
        "peer": {"__entity": {"type": "Agent", "id": pick(u, &AGENTS[..4])?}},
    });
    if u.arbitrary()? {
        context["flag"] = json!(u.arbitrary::<bool>()?);
    }
    let request = json!({
        "principal": format!("Agent::\"{}\"", pick(u, AGENTS)?),
        "action": pick(u, ACTIONS)?,
        "resource": format!("Repo::\"{}\"", pick(u, REPOS)?),
        "context": context,
    });
    Ok(DiffCase { policies, request, now })
}

struct DiffFixture {
    schema: Schema,
    entities: Entities,
}

fn diff_fixture() -> &'static DiffFixture {
    static F: OnceLock<DiffFixture> = OnceLock::new();
    F.get_or_init(|| {
        let (schema, _) = Schema::from_cedarschema_str(DIFF_SCHEMA).expect("the differential schema parses");
        let entities = Entities::from_json_str(DIFF_ENTITIES, Some(&schema)).expect("the differential entities parse");
        DiffFixture { schema, entities }
    })
}

/// Plain Cedar's answer: (allow, reasons, erroring policies, errored forbids).
fn plain_cedar(f: &DiffFixture, set: &PolicySet, c: &DiffCase) -> (bool, BTreeSet<String>, BTreeSet<String>) {
    let r = &c.request;
    let uid = |key: &str| EntityUid::from_str(r[key].as_str().unwrap_or_default()).expect("generated uids parse");
    let action = EntityUid::from_str(&format!("Action::\"{}\"", r["action"].as_str().unwrap_or_default()))
        .expect("generated actions parse");
    let mut ctx = r["context"].clone();
    ctx["now"] = json!({"__extn": {"fn": "datetime", "arg": format_rfc3339_millis(c.now)}});
    let context = Context::from_json_value(ctx, Some((&f.schema, &action))).expect("generated context conforms");
    let request = CedarRequest::new(uid("principal"), action, uid("resource"), context, Some(&f.schema))
        .expect("request conforms");
    let response = Authorizer::new().is_authorized(&request, set, &f.entities);
    let reasons = response.diagnostics().reason().map(PolicyId::to_string).collect();
    let errors = response
        .diagnostics()
        .errors()
        .map(|e| match e {
            AuthorizationError::PolicyEvaluationError(pe) => pe.policy_id().to_string(),
        })
        .collect();
    (response.decision() == CedarDecision::Allow, reasons, errors)
}

/// Differential: a generated policy set, request and time decided by
/// agentauthz in `ErrorMode::Cedar` (compiled evaluator on and off) must equal
/// plain `cedar_policy::Authorizer`: allow/deny, the determining policy ids
/// and the erroring policy ids. The default fail-closed mode must allow only
/// what Cedar allows, deny on an erroring or satisfied non-`@ask` forbid, and
/// otherwise equal Cedar.
pub fn differential(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(case) = diff_case(&mut u) else { return };
    let f = diff_fixture();
    let Ok(parsed) = PolicySet::from_str(&case.policies) else {
        // The generator only writes valid syntax; out-of-range literals are the exception.
        return;
    };
    let mut set = PolicySet::new();
    for p in parsed.policies() {
        let id = p.annotation("id").expect("generated policies carry @id");
        set.add(p.new_id(PolicyId::new(id))).expect("ids are unique");
    }
    let (allow, reasons, errors) = plain_cedar(f, &set, &case);
    let sources = PolicySources::from_strings(DIFF_SCHEMA, &case.policies, Some(DIFF_ENTITIES));
    let build = |mode, compiled| {
        Engine::builder(sources.clone())
            .error_mode(mode)
            .accept_invalid_policies(true)
            .compiled_evaluator(compiled)
            .clock(Arc::new(FixedClock(case.now)))
            .build()
            .unwrap_or_else(|e| panic!("Cedar parses the set but the engine refuses it: {e}\n{}", case.policies))
    };
    let request = Request::from_json(&case.request).expect("generated requests parse");
    let ids = |d: &Decision| d.reason_ids().into_iter().map(str::to_string).collect::<BTreeSet<_>>();
    let error_ids =
        |d: &Decision| d.errors.iter().map(|e| e.policy.clone().unwrap_or_default()).collect::<BTreeSet<_>>();
    for compiled in [true, false] {
        let engine = build(ErrorMode::Cedar, compiled);
        let d = engine.authorize_at(&request, case.now);
        let ctx = || format!("compiled={compiled}\n{}\n{}\n{}", case.policies, case.request, d.to_json());
        assert_eq!(d.outcome == Outcome::Allow, allow, "Cedar mode decides otherwise than the Authorizer: {}", ctx());
        assert_eq!(ids(&d), reasons, "Cedar mode reasons differ: {}", ctx());
        assert_eq!(error_ids(&d), errors, "Cedar mode errors differ: {}", ctx());
        check_decision(&engine, &d);
    }
    let engine = build(ErrorMode::FailClosed, true);
    let d = engine.authorize_at(&request, case.now);
    check_decision(&engine, &d);
    let ctx = || format!("{}\n{}\n{}", case.policies, case.request, d.to_json());
    let info = engine.policies();
    let is_forbid = |id: &String| info.iter().any(|p| &p.id == id && p.effect == Effect::Forbid);
    let hard_forbid = |id: &String| info.iter().any(|p| &p.id == id && p.effect == Effect::Forbid && p.ask.is_none());
    if d.outcome == Outcome::Allow {
        assert!(allow, "fail-closed allows what Cedar denies: {}", ctx());
    }
    if errors.iter().any(is_forbid) {
        assert_ne!(d.outcome, Outcome::Allow, "an erroring forbid allowed: {}", ctx());
    }
    if reasons.iter().any(hard_forbid) {
        assert_eq!(d.outcome, Outcome::Deny, "a satisfied forbid did not deny: {}", ctx());
    }
    if !errors.iter().any(is_forbid) && !reasons.iter().any(is_forbid) {
        assert_eq!(d.outcome == Outcome::Allow, allow, "fail-closed differs without forbids involved: {}", ctx());
        assert_eq!(ids(&d), reasons, "fail-closed reasons differ: {}", ctx());
    }
}
