//! Data-driven policy tests: a TOML file of requests and their expected outcomes.
//!
//! ```toml
//! [defaults]                      # optional, merged into every case
//! now = "2026-11-25T10:00:00Z"    # the engine clock for the case
//! [defaults.context]              # deep-merged under each case's context
//! session = { id = "s-1", actions = 3, repos_touched = 1 }
//!
//! [[case]]
//! name = "ci-bot opens a PR"
//! principal = 'Agent::"ci-bot"'
//! action = "open_pr"
//! resource = 'Repository::"acme/api"'
//! context = { branch = "fix/1" }
//! outcome = "allow"               # allow | deny | ask
//! reasons = ["write-code-baseline"]   # optional; compared as a set
//! ```
//!
//! The CLI's `agentauthz test DIR`, the Rust tests and the Python and Node
//! tests all read the same file, so the languages cannot drift.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};

use crate::clock::parse_rfc3339;
use crate::decision::{Decision, Outcome};
use crate::engine::Engine;

/// One test case: a request, the clock reading and what must come out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Case {
    /// What the case checks, in words.
    pub name: String,
    /// The request in the JSON form accepted by [`crate::Request::from_json`].
    pub request: Value,
    /// The clock reading for the case (RFC 3339), if set.
    pub now: Option<String>,
    /// The expected outcome.
    pub outcome: Outcome,
    /// The expected determining policy ids (a set), if given.
    pub reasons: Option<Vec<String>>,
}

/// Why a cases file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CasesError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a case is malformed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The result of running one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// What the engine decided.
    pub decision: Decision,
    /// `None` if the case passed, else what differed.
    pub failure: Option<String>,
}

/// Reads a cases file (see the module documentation for the format).
pub fn load_cases(path: impl AsRef<Path>) -> Result<Vec<Case>, CasesError> {
    let path = path.as_ref();
    let text =
        std::fs::read_to_string(path).map_err(|source| CasesError::Io { path: path.display().to_string(), source })?;
    parse_cases(&text, &path.display().to_string())
}

/// Parses cases from TOML text; `name` is used in error messages.
pub fn parse_cases(text: &str, name: &str) -> Result<Vec<Case>, CasesError> {
    let invalid = |message: String| CasesError::Invalid { path: name.to_string(), message };
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| invalid(e.to_string()))?;
    let defaults = doc.get("defaults").map(toml_to_json).unwrap_or(Value::Object(Map::new()));
    let default_now = defaults.get("now").and_then(Value::as_str).map(str::to_string);
    let default_ctx = defaults.get("context").cloned().unwrap_or(Value::Object(Map::new()));
    let Some(toml::Value::Array(cases)) = doc.get("case") else {
        return Err(invalid("no [[case]] entries".into()));
    };
    let mut out = Vec::with_capacity(cases.len());
    for (i, raw) in cases.iter().enumerate() {
        let v = toml_to_json(raw);
        let label =
            v.get("name").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("case #{}", i + 1));
        let err = |m: &str| invalid(format!("{label}: {m}"));
        let field = |k: &str| v.get(k).cloned().ok_or_else(|| err(&format!("missing `{k}`")));
        let mut context = default_ctx.clone();
        if let Some(c) = v.get("context") {
            deep_merge(&mut context, c);
        }
        let request = serde_json::json!({
            "principal": field("principal")?,
            "action": field("action")?,
            "resource": field("resource")?,
            "context": context,
        });
        let outcome = v
            .get("outcome")
            .and_then(Value::as_str)
            .ok_or_else(|| err("missing `outcome`"))?
            .parse::<Outcome>()
            .map_err(|e| err(&e))?;
        let reasons = match v.get("reasons") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|r| r.as_str().map(str::to_string).ok_or_else(|| err("reasons must be strings")))
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err(err("`reasons` must be an array of policy ids")),
        };
        let now = v.get("now").and_then(Value::as_str).map(str::to_string).or_else(|| default_now.clone());
        if let Some(n) = &now {
            if parse_rfc3339(n).is_none() {
                return Err(err(&format!("`now` = {n:?} is not an RFC 3339 instant")));
            }
        }
        out.push(Case { name: label, request, now, outcome, reasons });
    }
    Ok(out)
}

/// Runs each case through the engine (at the case's `now`, if set).
pub fn run_cases(engine: &Engine, cases: &[Case]) -> Vec<CaseResult> {
    cases
        .iter()
        .map(|case| {
            let decision = match crate::Request::from_json(&case.request) {
                Ok(req) => match case.now.as_deref().and_then(parse_rfc3339) {
                    Some(now) => engine.authorize_at(&req, now),
                    None => engine.authorize(&req),
                },
                Err(_) => engine.authorize_json(&case.request),
            };
            let failure = check(case, &decision);
            CaseResult { case: case.clone(), decision, failure }
        })
        .collect()
}

fn check(case: &Case, d: &Decision) -> Option<String> {
    let mut problems = Vec::new();
    if d.outcome != case.outcome {
        problems.push(format!("expected {}, got {}", case.outcome, d.outcome));
    }
    if let Some(expected) = &case.reasons {
        let want: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = d.reason_ids().into_iter().collect();
        if want != got {
            problems.push(format!("expected reasons {want:?}, got {got:?}"));
        }
    }
    if !d.errors.is_empty() && case.outcome != Outcome::Deny {
        problems.push(format!("unexpected errors: {:?}", d.errors));
    }
    if problems.is_empty() {
        None
    } else {
        let errors = if d.errors.is_empty() { String::new() } else { format!(" (errors: {:?})", d.errors) };
        Some(format!("{}{}", problems.join("; "), errors))
    }
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}
