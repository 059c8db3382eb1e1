//! Engine-enforced guards: checks that run before Cedar and that no policy can
//! weaken. A revoked agent, session or credential is denied; a credential that
//! has expired or is not yet valid is denied.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use cedar_policy::{Effect, EntityUid};
use serde_json::{Map, Value};

use crate::clock::{format_rfc3339_millis, parse_rfc3339};
use crate::compile::PolicyInfo;

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

fn context_id<'a>(context: Option<&'a Map<String, Value>>, record: &str) -> Option<&'a str> {
    context?.get(record)?.get("id")?.as_str()
}

/// The guard that denies this request, if any. `context` is the request's JSON
/// context, when it has one.
pub(crate) fn check(
    revoked: &Revocations,
    principal: &EntityUid,
    context: Option<&Map<String, Value>>,
    now: SystemTime,
) -> Option<Arc<PolicyInfo>> {
    if !revoked.by_subject.is_empty() {
        let candidates = [
            Some(Subject::agent(principal)),
            context_id(context, "session").map(|s| Subject::Session(s.to_string())),
            context_id(context, "credential").map(|c| Subject::Credential(c.to_string())),
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
    let credential = context.and_then(|c| c.get("credential"));
    let instant = |key: &str| credential.and_then(|c| c.get(key)).and_then(Value::as_str).and_then(parse_rfc3339);
    if let Some(expires) = instant("expires_at") {
        if expires <= now {
            return Some(guard(
                "guard:credential-expired",
                format!("credential expired at {}", format_rfc3339_millis(expires)),
            ));
        }
    }
    if let Some(issued) = instant("issued_at") {
        if issued > now {
            return Some(guard(
                "guard:credential-not-yet-valid",
                format!("credential is valid from {}", format_rfc3339_millis(issued)),
            ));
        }
    }
    None
}
