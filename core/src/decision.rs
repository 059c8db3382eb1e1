//! What the engine answers: allow, deny or ask, and why.

use std::sync::Arc;
use std::time::Duration;

use cedar_policy::Effect;
use serde_json::{json, Map, Value};

use crate::compile::PolicyInfo;

/// The three outcomes of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action may proceed.
    Allow,
    /// The action must not proceed.
    Deny,
    /// The action needs a human approval from the owner(s) named in the decision.
    Ask,
}

impl Outcome {
    /// `"allow"`, `"deny"` or `"ask"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Ask => "ask",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Outcome::Allow),
            "deny" => Ok(Outcome::Deny),
            "ask" => Ok(Outcome::Ask),
            other => Err(format!("unknown outcome `{other}` (expected allow, deny or ask)")),
        }
    }
}

/// An error met while deciding: a policy that could not be evaluated, or a
/// request that could not be understood (then `policy` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecisionError {
    /// The policy whose evaluation failed, if the error belongs to one.
    pub policy: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// What the decision would have been with every shadow policy enforced:
/// present when the policy set has `@mode("shadow")` policies or the engine
/// runs in [`crate::Enforcement::Shadow`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Shadow {
    /// The would-be outcome with every policy (shadow ones included) enforced.
    pub outcome: Outcome,
    /// The would-be determining policies, as [`Decision::reasons`] would list them.
    pub reasons: Vec<Arc<PolicyInfo>>,
    /// For a would-be ask: the owners who would be asked, sorted.
    pub ask_owners: Vec<String>,
    /// The satisfied policies that are not enforced (`@mode("shadow")`, or every
    /// policy in engine-wide shadow mode), sorted by id.
    pub policies: Vec<Arc<PolicyInfo>>,
    /// Whether enforcing the shadow policies would change the outcome.
    pub changed: bool,
}

impl Shadow {
    /// The shadow section of the decision JSON:
    /// `{"outcome", "reasons", "ask_owners", "policies", "changed"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "outcome": self.outcome,
            "reasons": self.reasons.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            "ask_owners": self.ask_owners,
            "policies": self.policies.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            "changed": self.changed,
        })
    }
}

/// The engine's answer to one request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Decision {
    /// allow, deny or ask.
    pub outcome: Outcome,
    /// The determining policies: satisfied permits for allow, satisfied forbids
    /// for deny and ask; empty when denied because no permit applied.
    pub reasons: Vec<Arc<PolicyInfo>>,
    /// Errors met while deciding (policy evaluation errors, request errors).
    pub errors: Vec<DecisionError>,
    /// For ask: the owners whose approval is needed (from `@ask`), sorted.
    pub ask_owners: Vec<String>,
    /// For ask (and for an allow granted by an approval): the stable id to
    /// pass to `Engine::approve` once the owner approves.
    pub approval_id: Option<String>,
    /// The version (content hash) of the policy set that decided. A `String`
    /// of its own (not a shared `Arc`): threads deciding at once do not touch
    /// a common reference count.
    pub policy_version: String,
    /// Time spent deciding, from request to decision.
    pub eval_time: Duration,
    /// Shadow evaluation: what enforcing the shadow policies would decide.
    /// `None` when nothing is in shadow mode.
    pub shadow: Option<Shadow>,
}

impl Decision {
    /// True only for [`Outcome::Allow`].
    pub fn allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// The ids of the determining policies.
    pub fn reason_ids(&self) -> Vec<&str> {
        self.reasons.iter().map(|r| r.id.as_str()).collect()
    }

    /// For ask: the first owner to ask (see [`Decision::ask_owners`] for all).
    pub fn ask_owner(&self) -> Option<&str> {
        self.ask_owners.first().map(String::as_str)
    }

    /// The decision as the JSON object the CLI prints and the bindings return:
    /// `{"outcome", "reasons", "policies", "errors", "ask_owner", "ask_owners",
    /// "policy_version", "eval_us"}`, plus `"shadow"` (see [`Shadow::to_json`])
    /// when there is a shadow evaluation.
    pub fn to_json(&self) -> Value {
        let policies: Vec<Value> = self
            .reasons
            .iter()
            .map(|r| {
                let annotations: Map<String, Value> =
                    r.annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                json!({
                    "id": r.id,
                    "effect": match r.effect { Effect::Permit => "permit", Effect::Forbid => "forbid" },
                    "owner": r.owner(),
                    "annotations": annotations,
                })
            })
            .collect();
        let mut out = json!({
            "outcome": self.outcome,
            "reasons": self.reason_ids(),
            "policies": policies,
            "errors": self.errors,
            "ask_owner": self.ask_owner(),
            "ask_owners": self.ask_owners,
            "approval_id": self.approval_id,
            "policy_version": &*self.policy_version,
            "eval_us": (self.eval_time.as_nanos() as f64) / 1000.0,
        });
        if let (Some(shadow), Value::Object(map)) = (&self.shadow, &mut out) {
            map.insert("shadow".into(), shadow.to_json());
        }
        out
    }
}
