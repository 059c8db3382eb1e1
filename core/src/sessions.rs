//! Per-session counters kept by the engine: allowed actions in total and per
//! action, and distinct repositories touched, exposed to policies as
//! `context.session.*` so they can bound a session's blast radius.
//!
//! Counts are reserved before a decision (so concurrent decisions in one session
//! see distinct counts) and released if the decision is not allow. Memory is
//! bounded: sessions idle longer than `idle_timeout` are dropped, and at most
//! `max_sessions` are kept, the least recently used dropped first.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Limits on the memory the session counters may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions not seen for this long are forgotten.
    pub idle_timeout: Duration,
    /// At most this many sessions are tracked; the least recently seen go first.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self { idle_timeout: Duration::from_secs(8 * 3600), max_sessions: 100_000 }
    }
}

#[derive(Debug, Default)]
struct SessionState {
    actions: i64,
    per_action: HashMap<String, i64>,
    /// repository -> number of allowed (or in-flight) actions that touched it
    repos: HashMap<String, u32>,
    last_seen: Option<SystemTime>,
}

/// The counts a decision sees (this action included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub actions: i64,
    pub same_action: i64,
    pub repos_touched: i64,
}

/// What was reserved, to commit or roll back.
#[derive(Debug)]
pub(crate) struct Reservation {
    session: String,
    action: String,
    repo: Option<String>,
}

const SHARDS: usize = 16;

#[derive(Debug)]
pub(crate) struct SessionTracker {
    shards: Vec<Mutex<HashMap<String, SessionState>>>,
    hasher: RandomState,
    limits: SessionLimits,
}

impl SessionTracker {
    pub fn new(limits: SessionLimits) -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), hasher: RandomState::new(), limits }
    }

    #[allow(clippy::indexing_slicing)] // the index is taken modulo SHARDS == shards.len()
    fn shard(&self, session: &str) -> &Mutex<HashMap<String, SessionState>> {
        &self.shards[(self.hasher.hash_one(session) as usize) % SHARDS]
    }

    /// Counts the action in before deciding; the caller commits or rolls back.
    pub fn reserve(&self, session: &str, action: &str, repo: Option<&str>, now: SystemTime) -> (Counts, Reservation) {
        let per_shard = self.limits.max_sessions.div_ceil(SHARDS).max(1);
        let mut shard = self.shard(session).lock().unwrap_or_else(|p| p.into_inner());
        if !shard.contains_key(session) && shard.len() >= per_shard {
            evict(&mut shard, now, self.limits.idle_timeout, per_shard);
        }
        let state = shard.entry(session.to_string()).or_default();
        state.actions += 1;
        let same = state.per_action.entry(action.to_string()).or_default();
        *same += 1;
        let same_action = *same;
        if let Some(r) = repo {
            *state.repos.entry(r.to_string()).or_default() += 1;
        }
        state.last_seen = Some(now);
        let counts = Counts { actions: state.actions, same_action, repos_touched: state.repos.len() as i64 };
        (
            counts,
            Reservation { session: session.to_string(), action: action.to_string(), repo: repo.map(str::to_string) },
        )
    }

    /// Undoes a reservation whose decision was not allow.
    pub fn release(&self, r: Reservation) {
        let mut shard = self.shard(&r.session).lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = shard.get_mut(&r.session) else { return };
        state.actions -= 1;
        if let Some(n) = state.per_action.get_mut(&r.action) {
            *n -= 1;
        }
        if let Some(repo) = &r.repo {
            if let Some(n) = state.repos.get_mut(repo) {
                *n -= 1;
                if *n == 0 {
                    state.repos.remove(repo);
                }
            }
        }
    }

    /// Sessions currently tracked.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }
}

/// Drops idle sessions; if that frees nothing, drops the least recently seen
/// eighth of the shard at once, so eviction costs O(log n) per new session
/// amortised rather than a scan per insert.
fn evict(shard: &mut HashMap<String, SessionState>, now: SystemTime, idle: Duration, capacity: usize) {
    shard.retain(|_, s| s.last_seen.is_some_and(|t| t + idle > now));
    if shard.len() < capacity {
        return;
    }
    let mut by_age: Vec<(Option<SystemTime>, String)> = shard.iter().map(|(k, s)| (s.last_seen, k.clone())).collect();
    by_age.sort_unstable();
    let drop = (capacity / 8).max(1).max(shard.len() + 1 - capacity);
    for (_, k) in by_age.into_iter().take(drop) {
        shard.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reserve_and_release() {
        let t = SessionTracker::new(SessionLimits::default());
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (c1, r1) = t.reserve("s", "push", Some("acme/api"), now);
        assert_eq!(c1, Counts { actions: 1, same_action: 1, repos_touched: 1 });
        let (c2, r2) = t.reserve("s", "read", Some("acme/web"), now);
        assert_eq!(c2, Counts { actions: 2, same_action: 1, repos_touched: 2 });
        t.release(r2);
        let (c3, _) = t.reserve("s", "push", Some("acme/api"), now);
        assert_eq!(c3, Counts { actions: 2, same_action: 2, repos_touched: 1 });
        drop(r1);
    }

    #[test]
    fn memory_stays_bounded_under_a_million_sessions() {
        let limits = SessionLimits { idle_timeout: Duration::from_secs(3600), max_sessions: 10_000 };
        let t = SessionTracker::new(limits);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..1_000_000u64 {
            let now = start + Duration::from_millis(i);
            let _ = t.reserve(&format!("session-{i}"), "read_repo", Some("acme/api"), now);
        }
        let n = t.len();
        assert!(n <= 10_000 + SHARDS, "{n} sessions tracked");
        assert!(n >= 8_000, "eviction dropped far too much: {n}");
        // The most recent session is still there with its counts.
        let (c, _) = t.reserve("session-999999", "read_repo", None, start + Duration::from_secs(1_000));
        assert_eq!(c.actions, 2);
    }

    #[test]
    fn idle_sessions_are_forgotten() {
        let limits = SessionLimits { idle_timeout: Duration::from_secs(60), max_sessions: SHARDS };
        let t = SessionTracker::new(limits);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..SHARDS * 4 {
            let _ = t.reserve(&format!("old-{i}"), "a", None, t0);
        }
        // Much later, new sessions push the idle ones out.
        for i in 0..SHARDS * 4 {
            let _ = t.reserve(&format!("new-{i}"), "a", None, t0 + Duration::from_secs(3600));
        }
        assert!(t.len() <= SHARDS * 2, "{}", t.len());
    }
}
