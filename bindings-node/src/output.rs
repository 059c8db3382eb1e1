//! What the binding hands back to JavaScript: decisions, policies, test cases.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use agentauthz::cedar_policy::Effect;
use agentauthz::{Decision, Outcome, PolicyInfo, RequestError};
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::Env;
use napi_derive::napi;

/// One determining policy of a decision.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[napi(object, js_name = "Reason")]
pub struct JsReason {
    /// The policy id (its `@id` annotation, else Cedar's `policyN`).
    pub policy_id: String,
    /// `permit` or `forbid`.
    #[napi(ts_type = "'permit' | 'forbid'")]
    pub effect: String,
    /// Every annotation of the policy (`owner`, `ask`, `control`, ...).
    pub annotations: BTreeMap<String, String>,
}

/// An error met while deciding.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[napi(object, js_name = "DecisionError", use_nullable = true)]
pub struct JsDecisionError {
    /// The policy that could not be evaluated; `null` when the request itself was at fault.
    pub policy: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// What enforcing the shadow policies would decide.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[napi(object, js_name = "Shadow")]
pub struct JsShadow {
    /// The would-be outcome with every policy (shadow ones included) enforced.
    #[napi(ts_type = "Outcome")]
    pub outcome: String,
    /// The would-be determining policy ids.
    pub reasons: Vec<String>,
    /// For a would-be ask: the owners who would be asked.
    pub ask_owners: Vec<String>,
    /// The satisfied policies that are not enforced.
    pub policies: Vec<String>,
    /// Whether enforcing the shadow policies would change the outcome.
    pub changed: bool,
}

/// The engine's answer to one request.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[napi(object, js_name = "Decision", use_nullable = true)]
pub struct JsDecision {
    /// `allow`, `deny` or `ask` (a human named in `askOwners` must approve).
    #[napi(ts_type = "Outcome")]
    pub outcome: String,
    /// True only when `outcome` is `allow`.
    pub allowed: bool,
    /// The determining policies: satisfied permits for allow, satisfied forbids
    /// for deny and ask; empty when denied because no permit applied.
    pub reasons: Vec<JsReason>,
    /// Errors met while deciding (policy evaluation errors, request errors).
    pub errors: Vec<JsDecisionError>,
    /// For ask: the first owner to ask; otherwise `null`.
    pub ask_owner: Option<String>,
    /// For ask: every owner whose approval is needed (sorted).
    pub ask_owners: Vec<String>,
    /// For ask (and for an allow granted by an approval): the stable id to
    /// pass to `engine.approve` once the owner approves; otherwise `null`.
    pub approval_id: Option<String>,
    /// The version (content hash) of the policy set that decided.
    pub policy_version: String,
    /// Time spent deciding, in microseconds.
    pub eval_us: f64,
    /// What enforcing the shadow policies would decide; `null` when no policy
    /// is in shadow mode (`@mode("shadow")` or `enforcement: 'shadow'`).
    pub shadow: Option<JsShadow>,
}

/// A revocation as the object `engine.revocations()` returns (`Revocation` in
/// src/header.d.ts): `{ kind, id, reason, revokedAt: Date }`.
pub(crate) fn revocation_object<'e>(env: &'e Env, r: agentauthz::Revocation) -> napi::Result<Object<'e>> {
    let (kind, id) = match r.subject {
        agentauthz::Subject::Agent(id) => ("agent", id),
        agentauthz::Subject::Session(id) => ("session", id),
        agentauthz::Subject::Credential(id) => ("credential", id),
    };
    let mut obj = Object::new(env)?;
    obj.set_named_property("kind", kind)?;
    obj.set_named_property("id", id)?;
    obj.set_named_property("reason", r.reason)?;
    let revoked_at = agentauthz::parse_rfc3339(&r.revoked_at).map_or(f64::NAN, epoch_millis);
    obj.set_named_property("revokedAt", env.create_date(revoked_at)?)?;
    Ok(obj)
}

/// A grant as the object `engine.grants()` returns (`Grant` in
/// src/header.d.ts): `{ id, principal, actions, resource, expiresAt: Date, reason }`.
pub(crate) fn grant_object<'e>(env: &'e Env, g: agentauthz::Grant) -> napi::Result<Object<'e>> {
    let mut obj = Object::new(env)?;
    obj.set_named_property("id", g.id)?;
    obj.set_named_property("principal", g.principal.to_string())?;
    obj.set_named_property("actions", g.actions.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    obj.set_named_property("resource", g.resource.to_string())?;
    obj.set_named_property("expiresAt", env.create_date(epoch_millis(g.expires_at))?)?;
    obj.set_named_property("reason", g.reason)?;
    Ok(obj)
}

/// Milliseconds since the Unix epoch, as a JavaScript `Date` holds time.
fn epoch_millis(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    }
}

/// A loaded policy: id, file, effect and annotations.
#[napi(object, js_name = "PolicyInfo")]
pub struct JsPolicyInfo {
    /// The policy id.
    pub id: String,
    /// The file it was read from.
    pub file: String,
    /// `permit` or `forbid`.
    #[napi(ts_type = "'permit' | 'forbid'")]
    pub effect: String,
    /// Every annotation, by name.
    pub annotations: BTreeMap<String, String>,
}

/// A problem found in one policy while validating it (see `PolicyError.issues`).
#[napi(object, js_name = "PolicyIssue", use_nullable = true)]
pub struct JsPolicyIssue {
    /// The file the policy came from.
    pub file: String,
    /// 1-based line of the problem, when known.
    pub line: Option<u32>,
    /// The policy id.
    pub policy_id: String,
    /// What is wrong.
    pub message: String,
}

/// One test case of a cases file (`cases.toml`).
#[napi(object, js_name = "Case", use_nullable = true)]
pub struct JsCase {
    /// What the case checks, in words.
    pub name: String,
    /// The request, ready for `authorize` / `authorizeAt`.
    #[napi(ts_type = "AuthorizeRequest")]
    pub request: serde_json::Value,
    /// The clock reading for the case (RFC 3339), if set.
    pub now: Option<String>,
    /// The expected outcome.
    #[napi(ts_type = "Outcome")]
    pub outcome: String,
    /// The expected determining policy ids (a set), if given.
    pub reasons: Option<Vec<String>>,
}

fn effect_str(effect: Effect) -> &'static str {
    match effect {
        Effect::Permit => "permit",
        Effect::Forbid => "forbid",
    }
}

impl From<&agentauthz::PolicyIssue> for JsPolicyIssue {
    fn from(i: &agentauthz::PolicyIssue) -> Self {
        Self {
            file: i.file.clone(),
            line: i.line.and_then(|l| u32::try_from(l).ok()),
            policy_id: i.policy_id.clone(),
            message: i.message.clone(),
        }
    }
}

impl From<&PolicyInfo> for JsPolicyInfo {
    fn from(p: &PolicyInfo) -> Self {
        Self {
            id: p.id.clone(),
            file: p.file.clone(),
            effect: effect_str(p.effect).to_string(),
            annotations: p.annotations.clone(),
        }
    }
}

impl From<agentauthz::cases::Case> for JsCase {
    fn from(c: agentauthz::cases::Case) -> Self {
        Self {
            name: c.name,
            request: c.request,
            now: c.now,
            outcome: c.outcome.as_str().to_string(),
            reasons: c.reasons,
        }
    }
}

impl From<&PolicyInfo> for JsReason {
    fn from(p: &PolicyInfo) -> Self {
        Self { policy_id: p.id.clone(), effect: effect_str(p.effect).to_string(), annotations: p.annotations.clone() }
    }
}

impl From<&Decision> for JsDecision {
    fn from(d: &Decision) -> Self {
        Self {
            outcome: d.outcome.as_str().to_string(),
            allowed: d.allowed(),
            reasons: d.reasons.iter().map(|r| JsReason::from(&**r)).collect(),
            errors: d
                .errors
                .iter()
                .map(|e| JsDecisionError { policy: e.policy.clone(), message: e.message.clone() })
                .collect(),
            ask_owner: d.ask_owner().map(str::to_string),
            ask_owners: d.ask_owners.clone(),
            approval_id: d.approval_id.clone(),
            policy_version: d.policy_version.to_string(),
            eval_us: d.eval_time.as_secs_f64() * 1e6,
            shadow: d.shadow.as_ref().map(|s| JsShadow {
                outcome: s.outcome.as_str().to_string(),
                reasons: s.reasons.iter().map(|r| r.id.clone()).collect(),
                ask_owners: s.ask_owners.clone(),
                policies: s.policies.iter().map(|r| r.id.clone()).collect(),
                changed: s.changed,
            }),
        }
    }
}

impl JsDecision {
    /// A deny for a request that could not be understood (the core's own
    /// behaviour for bad requests, for problems found while converting JS values).
    pub(crate) fn request_denied(policy_version: &str, error: &RequestError, start: Instant) -> Self {
        Self {
            outcome: Outcome::Deny.as_str().to_string(),
            allowed: false,
            reasons: Vec::new(),
            errors: vec![JsDecisionError { policy: None, message: error.to_string() }],
            ask_owner: None,
            ask_owners: Vec::new(),
            approval_id: None,
            policy_version: policy_version.to_string(),
            eval_us: start.elapsed().as_secs_f64() * 1e6,
            shadow: None,
        }
    }
}
