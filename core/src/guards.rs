//! Engine-enforced guards: checks that run before Cedar and that no policy can
//! weaken. A revoked agent, session or credential is denied; a credential that
//! has expired or is not yet valid is denied.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use cedar_policy::{Context, Effect, EntityUid, EvalResult, RestrictedExpression};
use serde_json::{Map, Value};

use crate::clock::{format_rfc3339_millis, parse_cedar_datetime};
use crate::compile::PolicyInfo;
use crate::request::ContextValue;

/// What can be revoked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Subject {
    /// A principal, by entity reference text such as `Agent::"ci-bot"`.
    Agent(String),
    /// A session, matched against `context.session.id`.
    Session(String),
    /// A credential, matched against `context.credential.id`.
    Credential(String),
}

impl Subject {
    /// The principal `uid`, as a revocable subject.
    pub fn agent(uid: &EntityUid) -> Self {
        Subject::Agent(uid.to_string())
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Agent(id) => write!(f, "agent {id}"),
            Subject::Session(id) => write!(f, "session {id:?}"),
            Subject::Credential(id) => write!(f, "credential {id:?}"),
        }
    }
}

/// One revocation: who, why, when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Revocation {
    /// The revoked subject.
    pub subject: Subject,
    /// Why (shown in every decision it causes).
    pub reason: String,
    /// When it was revoked (RFC 3339).
    pub revoked_at: String,
}

/// The current revocations, replaced as a whole on every change (readers never lock).
#[derive(Debug, Default, Clone)]
pub(crate) struct Revocations {
    pub by_subject: BTreeMap<Subject, Revocation>,
}

impl Revocations {
    pub fn with(&self, r: Revocation) -> Self {
        let mut next = self.clone();
        next.by_subject.insert(r.subject.clone(), r);
        next
    }

    pub fn without(&self, s: &Subject) -> Self {
        let mut next = self.clone();
        next.by_subject.remove(s);
        next
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let list: Vec<&Revocation> = self.by_subject.values().collect();
        let text = serde_json::to_string_pretty(&list).map_err(std::io::Error::other)?;
        // Write then rename, so a crash never leaves a half-written list.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let list: Vec<Revocation> = serde_json::from_str(&text).map_err(std::io::Error::other)?;
        Ok(Self { by_subject: list.into_iter().map(|r| (r.subject.clone(), r)).collect() })
    }
}

pub(crate) fn revocation(subject: Subject, reason: &str, now: SystemTime) -> Revocation {
    Revocation { subject, reason: reason.to_string(), revoked_at: format_rfc3339_millis(now) }
}

fn guard(id: &str, detail: String) -> Arc<PolicyInfo> {
    let mut annotations = BTreeMap::new();
    annotations.insert("id".to_string(), id.to_string());
    annotations.insert("owner".to_string(), "agentauthz".to_string());
    annotations.insert("reason".to_string(), detail);
    Arc::new(PolicyInfo {
        id: id.to_string(),
        file: "<engine guard>".into(),
        effect: Effect::Forbid,
        annotations,
        ask: None,
        shadow: false,
    })
}

/// A request's context as the guards read it: `session.id`, `credential.id`,
/// `credential.issued_at` and `credential.expires_at`.
#[derive(Clone, Copy)]
pub(crate) enum GuardContext<'a> {
    /// The JSON form.
    Json(&'a Map<String, Value>),
    /// The [`ContextValue`] form, read in place (the last of repeated keys
    /// counts, as when it is read as JSON).
    Values(&'a [(String, ContextValue)]),
    /// The compiled evaluator's form (`Engine::prepare`), datetimes already
    /// read: see [`prepared_readable`] for what it must hold.
    Prepared(&'a crate::fast::Value),
}

/// A credential time as given: text, or (the compiled evaluator's form) the
/// instant `fast::time::parse_datetime` read from the text.
enum Time<'a> {
    Text(&'a str),
    Millis(i64),
}

fn prepared_field<'a>(v: &'a crate::fast::Value, key: &str) -> Option<&'a crate::fast::Value> {
    match v {
        crate::fast::Value::Record(attrs) => crate::fast::lookup(attrs, key),
        _ => None,
    }
}

/// Whether the guards read a prepared context exactly as its other forms:
/// every credential time is a datetime, a string, a number or a boolean (a
/// guard reports any other value as given, which only the other forms hold).
pub(crate) fn prepared_readable(context: &crate::fast::Value) -> bool {
    use crate::fast::Value as V;
    let Some(credential) = prepared_field(context, "credential") else { return true };
    ["issued_at", "expires_at"].iter().all(|key| {
        matches!(prepared_field(credential, key), None | Some(V::Datetime(_) | V::Str(_) | V::Long(_) | V::Bool(_)))
    })
}

fn last<'a>(attrs: &'a [(String, ContextValue)], key: &str) -> Option<&'a ContextValue> {
    attrs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn field<'a>(v: &'a ContextValue, key: &str) -> Option<&'a ContextValue> {
    match v {
        ContextValue::Record(attrs) => last(attrs, key),
        _ => None,
    }
}

impl<'a> GuardContext<'a> {
    fn id(self, record: &str) -> Option<&'a str> {
        match self {
            Self::Json(m) => m.get(record)?.get("id")?.as_str(),
            Self::Values(attrs) => match field(last(attrs, record)?, "id")? {
                ContextValue::String(s) => Some(s),
                _ => None,
            },
            Self::Prepared(v) => match prepared_field(prepared_field(v, record)?, "id")? {
                crate::fast::Value::Str(s) => Some(s),
                _ => None,
            },
        }
    }

    /// `credential.<key>`: absent, its datetime text, or (unreadable) how it reads.
    fn credential_time(self, key: &str) -> Option<Result<Time<'a>, String>> {
        use crate::fast::Value as V;
        match self {
            Self::Json(m) => {
                let v = m.get("credential")?.get(key)?;
                Some(datetime_text(v).map(Time::Text).ok_or_else(|| v.to_string()))
            }
            Self::Values(attrs) => {
                let v = field(last(attrs, "credential")?, key)?;
                Some(values_datetime_text(v).map(Time::Text).ok_or_else(|| v.to_json().to_string()))
            }
            Self::Prepared(v) => Some(match prepared_field(prepared_field(v, "credential")?, key)? {
                V::Datetime(ms) => Ok(Time::Millis(*ms)),
                V::Str(s) => Ok(Time::Text(s)),
                V::Long(n) => Err(n.to_string()),
                V::Bool(b) => Err(b.to_string()),
                // Not prepared (`prepared_readable`).
                _ => Err("(unreadable)".into()),
            }),
        }
    }
}

/// [`datetime_text`] for the [`ContextValue`] form.
fn values_datetime_text(v: &ContextValue) -> Option<&str> {
    match v {
        ContextValue::String(s) => Some(s),
        ContextValue::Record(attrs) => {
            let call = last(attrs, "__extn").unwrap_or(v);
            match (field(call, "fn")?, field(call, "arg")?) {
                (ContextValue::String(f), ContextValue::String(arg)) if f == "datetime" => Some(arg),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A credential time's text as an instant: as Cedar (and the compiled
/// evaluator) reads a `datetime` literal, or else as RFC 3339 (the guards
/// also accept forms Cedar does not, such as other fractions of a second).
fn guard_datetime(text: &str) -> Option<SystemTime> {
    match crate::fast::time::parse_datetime(text) {
        Some(ms) => from_millis(ms),
        None => parse_cedar_datetime(text),
    }
}

/// Milliseconds since the Unix epoch as an instant.
fn from_millis(ms: i64) -> Option<SystemTime> {
    let d = std::time::Duration::from_millis(ms.unsigned_abs());
    match ms >= 0 {
        true => std::time::UNIX_EPOCH.checked_add(d),
        false => std::time::UNIX_EPOCH.checked_sub(d),
    }
}

/// The guard that denies this request, if any. `context` is the request's
/// context, when it has one.
pub(crate) fn check(
    revoked: &Revocations,
    principal: &EntityUid,
    context: Option<GuardContext<'_>>,
    now: SystemTime,
) -> Option<Arc<PolicyInfo>> {
    if !revoked.by_subject.is_empty() {
        let candidates = [
            Some(Subject::agent(principal)),
            context.and_then(|c| c.id("session")).map(|s| Subject::Session(s.to_string())),
            context.and_then(|c| c.id("credential")).map(|c| Subject::Credential(c.to_string())),
        ];
        for subject in candidates.into_iter().flatten() {
            if let Some(r) = revoked.by_subject.get(&subject) {
                return Some(guard(
                    "guard:revoked",
                    format!("{} revoked at {}: {}", r.subject, r.revoked_at, r.reason),
                ));
            }
        }
    }
    // Absent: nothing to check. Present but unreadable: deny (fail closed).
    let instant = |key: &str| -> Result<Option<SystemTime>, Arc<PolicyInfo>> {
        let unreadable = |v: &str| {
            guard("guard:credential-invalid", format!("credential.{key} is not a datetime the engine can read: {v}"))
        };
        match context.and_then(|c| c.credential_time(key)) {
            None => Ok(None),
            Some(Ok(Time::Text(text))) => {
                guard_datetime(text).map(Some).ok_or_else(|| unreadable(&Value::from(text).to_string()))
            }
            Some(Ok(Time::Millis(ms))) => from_millis(ms).map(Some).ok_or_else(|| unreadable(&ms.to_string())),
            Some(Err(shown)) => Err(unreadable(&shown)),
        }
    };
    let (expires, issued) = match (instant("expires_at"), instant("issued_at")) {
        (Ok(e), Ok(i)) => (e, i),
        (Err(g), _) | (_, Err(g)) => return Some(g),
    };
    if let Some(expires) = expires {
        if expires <= now {
            return Some(guard(
                "guard:credential-expired",
                format!("credential expired at {}", format_rfc3339_millis(expires)),
            ));
        }
    }
    if let Some(issued) = issued {
        if issued > now {
            return Some(guard(
                "guard:credential-not-yet-valid",
                format!("credential is valid from {}", format_rfc3339_millis(issued)),
            ));
        }
    }
    None
}

/// The text of a datetime in Cedar's JSON forms: `"2026-11-25T10:00:00Z"`,
/// `{"__extn": {"fn": "datetime", "arg": "..."}}` or the implicit
/// `{"fn": "datetime", "arg": "..."}`.
fn datetime_text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) => {
            let call = o.get("__extn").unwrap_or(v);
            if call.get("fn")?.as_str()? == "datetime" {
                call.get("arg")?.as_str()
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The part of a typed context the guards read (`session.id`, `credential.id`,
/// `.issued_at`, `.expires_at`), as JSON, so that typed requests meet the same
/// guards as JSON ones. A time that cannot be read is kept as text, which the
/// credential guard then refuses.
pub(crate) fn typed_view(pairs: &[(String, RestrictedExpression)]) -> Map<String, Value> {
    let mut view = Map::new();
    for (key, expr) in pairs.iter().filter(|(k, _)| k == "session" || k == "credential") {
        let Ok(ctx) = Context::from_pairs([(key.clone(), expr.clone())]) else { continue };
        let Some(EvalResult::Record(record)) = ctx.get(key) else { continue };
        let mut out = Map::new();
        for field in ["id", "issued_at", "expires_at"] {
            let value = match record.get(field) {
                Some(EvalResult::String(s)) => Value::String(s.clone()),
                Some(EvalResult::ExtensionValue(repr)) => {
                    Value::String(datetime_repr(repr).unwrap_or_else(|| repr.clone()))
                }
                Some(other) => Value::String(format!("{other:?}")),
                None => continue,
            };
            out.insert(field.to_string(), value);
        }
        view.insert(key.clone(), Value::Object(out));
    }
    view
}

/// Reads Cedar's rendering of a `datetime` value: `datetime("...")` as written,
/// or the canonical `datetime("1970-01-01").offset(duration("<ms>ms"))`.
fn datetime_repr(repr: &str) -> Option<String> {
    let inner = |s: &str, prefix: &str| -> Option<String> {
        let rest = s.strip_prefix(prefix)?;
        Some(rest.get(..rest.find('"')?)?.to_string())
    };
    if let Some(ms) = repr.find("duration(\"").and_then(|i| inner(repr.get(i..)?, "duration(\"")) {
        let base = inner(repr.trim_start_matches("offset("), "datetime(\"")?;
        let base = parse_cedar_datetime(&base)?;
        let ms: i64 = ms.strip_suffix("ms")?.parse().ok()?;
        let t = if ms >= 0 {
            base.checked_add(std::time::Duration::from_millis(ms.unsigned_abs()))?
        } else {
            base.checked_sub(std::time::Duration::from_millis(ms.unsigned_abs()))?
        };
        return Some(format_rfc3339_millis(t));
    }
    inner(repr, "datetime(\"")
}
