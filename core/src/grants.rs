//! Time-bound grants: permits added at run time that stop matching at their
//! expiry, with no reload and no background thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use cedar_policy::{Effect, Entities, EntityUid};

use crate::clock::format_rfc3339_millis;
use crate::compile::PolicyInfo;

/// A permit for one principal to do some actions to a resource (or anything
/// in it), until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The grant's id, `grant-N`.
    pub id: String,
    /// Who is granted.
    pub principal: EntityUid,
    /// Which actions.
    pub actions: Vec<EntityUid>,
    /// Which resource; descendants of it are included (`resource in ...`).
    pub resource: EntityUid,
    /// When it stops matching.
    pub expires_at: SystemTime,
    /// Why it was granted.
    pub reason: String,
    /// Shown in decisions as a determining permit.
    pub(crate) info: Arc<PolicyInfo>,
}

/// The grants in force; replaced whole on every change (readers never lock).
#[derive(Debug, Default, Clone)]
pub(crate) struct Grants {
    pub by_principal: BTreeMap<String, Vec<Grant>>,
    pub next_id: u64,
}

impl Grants {
    /// A copy with `grant` added and every grant expired at `now` dropped (bounded memory).
    pub fn with(&self, mut grant: GrantSpec, now: SystemTime) -> (Self, String) {
        let mut next = self.without_expired(now);
        next.next_id += 1;
        let id = format!("grant-{}", next.next_id);
        let mut annotations = BTreeMap::new();
        annotations.insert("id".to_string(), id.clone());
        annotations.insert("owner".to_string(), "agentauthz".to_string());
        annotations.insert("reason".to_string(), std::mem::take(&mut grant.reason));
        annotations.insert("expires_at".to_string(), format_rfc3339_millis(grant.expires_at));
        let info = Arc::new(PolicyInfo {
            id: id.clone(),
            file: "<runtime grant>".into(),
            effect: Effect::Permit,
            annotations: annotations.clone(),
            ask: None,
            shadow: false,
        });
        let g = Grant {
            id: id.clone(),
            principal: grant.principal,
            actions: grant.actions,
            resource: grant.resource,
            expires_at: grant.expires_at,
            reason: annotations.get("reason").cloned().unwrap_or_default(),
            info,
        };
        next.by_principal.entry(g.principal.to_string()).or_default().push(g);
        (next, id)
    }

    /// A copy without grant `id`; also whether it was there.
    pub fn without(&self, id: &str) -> (Self, bool) {
        let mut next = self.clone();
        let mut found = false;
        for list in next.by_principal.values_mut() {
            let before = list.len();
            list.retain(|g| g.id != id);
            found |= list.len() != before;
        }
        next.by_principal.retain(|_, l| !l.is_empty());
        (next, found)
    }

    pub fn without_expired(&self, now: SystemTime) -> Self {
        let mut next = self.clone();
        for list in next.by_principal.values_mut() {
            list.retain(|g| g.expires_at > now);
        }
        next.by_principal.retain(|_, l| !l.is_empty());
        next
    }

    /// The unexpired grants that permit this request.
    pub fn matching(
        &self,
        entities: &Entities,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
        now: SystemTime,
    ) -> Vec<Arc<PolicyInfo>> {
        if self.by_principal.is_empty() {
            return Vec::new();
        }
        let Some(list) = self.by_principal.get(&principal.to_string()) else { return Vec::new() };
        list.iter()
            .filter(|g| {
                g.expires_at > now
                    && g.actions.iter().any(|a| a == action)
                    && (&g.resource == resource || entities.is_ancestor_of(&g.resource, resource))
            })
            .map(|g| Arc::clone(&g.info))
            .collect()
    }
}

/// What to grant (see [`crate::Engine::grant`]).
#[derive(Debug, Clone)]
pub struct GrantSpec {
    /// Who is granted.
    pub principal: EntityUid,
    /// Which actions.
    pub actions: Vec<EntityUid>,
    /// Which resource (descendants included).
    pub resource: EntityUid,
    /// When it stops matching.
    pub expires_at: SystemTime,
    /// Why.
    pub reason: String,
}
