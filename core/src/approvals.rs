//! Human approvals for `ask` decisions.
//!
//! An ask carries a stable approval id (a hash of principal, action, resource
//! and the asking policies). `Engine::approve` turns that id into a bounded
//! approval (a time limit and a number of uses); the same request is then
//! allowed while the approval lasts. Only ids the engine has issued can be
//! approved, and an ask never becomes allow without an approval.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cedar_policy::Effect;
use sha2::{Digest, Sha256};

use crate::clock::format_rfc3339_millis;
use crate::compile::PolicyInfo;

/// Why an approval could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// The id was never issued by an ask of this engine (or was forgotten).
    #[error("no pending approval request `{0}`")]
    Unknown(String),
    /// A use count of zero or a zero time limit approves nothing.
    #[error("an approval needs at least one use and a non-zero time limit")]
    Empty,
}

#[derive(Debug)]
enum State {
    Pending { asked_at: SystemTime },
    Approved { approver: String, until: SystemTime, uses_left: u32 },
}

/// At most this many approval ids are remembered; the oldest go first.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct Approvals {
    states: Mutex<HashMap<String, State>>,
}

/// The stable id of an ask: same principal, action, resource and asking policies, same id.
pub(crate) fn approval_id(principal: &str, action: &str, resource: &str, policies: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in [principal, action, resource].into_iter().chain(policies.iter().copied()) {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(4 + 16);
    id.push_str("apr-");
    for b in h.finalize().iter().take(8) {
        for nibble in [b >> 4, b & 15] {
            id.push(char::from(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    id
}

impl Approvals {
    /// For an ask with this id: consumes one use of a live approval and returns
    /// what to report as the determining reason, or records the id as pending.
    pub fn consume_or_record(&self, id: &str, now: SystemTime) -> Option<Arc<PolicyInfo>> {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        match states.get_mut(id) {
            Some(State::Approved { approver, until, uses_left }) if *until > now && *uses_left > 0 => {
                *uses_left -= 1;
                let mut annotations = BTreeMap::new();
                annotations.insert("id".to_string(), format!("approval:{id}"));
                annotations.insert("approver".to_string(), approver.clone());
                annotations.insert("expires_at".to_string(), format_rfc3339_millis(*until));
                annotations.insert("uses_left".to_string(), uses_left.to_string());
                Some(Arc::new(PolicyInfo {
                    id: format!("approval:{id}"),
                    file: "<human approval>".into(),
                    effect: Effect::Permit,
                    annotations,
                    ask: None,
                    shadow: false,
                }))
            }
            Some(State::Approved { .. }) => {
                // Used up or expired: ask again.
                states.insert(id.to_string(), State::Pending { asked_at: now });
                None
            }
            Some(State::Pending { .. }) => None,
            None => {
                if states.len() >= MAX_TRACKED {
                    forget_oldest(&mut states);
                }
                states.insert(id.to_string(), State::Pending { asked_at: now });
                None
            }
        }
    }

    pub fn approve(
        &self,
        id: &str,
        approver: &str,
        ttl: Duration,
        uses: u32,
        now: SystemTime,
    ) -> Result<(), ApprovalError> {
        if uses == 0 || ttl.is_zero() {
            return Err(ApprovalError::Empty);
        }
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if !states.contains_key(id) {
            return Err(ApprovalError::Unknown(id.to_string()));
        }
        states.insert(
            id.to_string(),
            State::Approved { approver: approver.to_string(), until: now + ttl, uses_left: uses },
        );
        Ok(())
    }
}

fn forget_oldest(states: &mut HashMap<String, State>) {
    let when = |s: &State| match s {
        State::Pending { asked_at } => *asked_at,
        State::Approved { until, .. } => *until,
    };
    let mut by_age: Vec<(SystemTime, String)> = states.iter().map(|(k, s)| (when(s), k.clone())).collect();
    by_age.sort_unstable();
    for (_, k) in by_age.into_iter().take(MAX_TRACKED / 8) {
        states.remove(&k);
    }
}
