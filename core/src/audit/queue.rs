//! The hand-off from deciding threads to the audit writer: what a record
//! keeps of a decision ([`Verdict`]) and of its request ([`RecordedRequest`]),
//! and the queue that carries them ([`Queue`], [`Msg`]).

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use serde_json::Value;

use crate::compile::PolicyInfo;
use crate::decision::{Decision, DecisionError, Outcome, Shadow};
use crate::request::RequestContext;

/// What the deciding thread hands to the writer: the request as it came (no
/// serialization on the deciding thread).
pub(crate) enum Recorded {
    /// A parsed request (its action resolved to a uid when the policy set knew it).
    Request(RecordedRequest),
    Json(Value),
    Text,
}

/// A parsed request as the queue holds it. Entity references are kept as the
/// number of their type in the log's type table (see [`Msg::Type`]) and the
/// id: no Cedar uid is cloned on the deciding thread (a clone bumps reference
/// counts inside type names that every decision reads, and the writer's drop
/// would pull those back to its own core) and the writer formats no uid.
pub(crate) struct RecordedRequest {
    pub(super) principal: RecordedUid,
    pub(super) action: Result<RecordedUid, String>,
    pub(super) resource: RecordedUid,
    pub(super) context: RequestContext,
}

pub(super) struct RecordedUid {
    pub(super) ty: u32,
    pub(super) id: EntityId,
}

/// The request parts [`AuditLog::submit_request`] records, borrowed.
pub(crate) struct RequestParts<'a> {
    pub principal: &'a EntityUid,
    /// The resolved action, or the name that did not resolve.
    pub action: Result<&'a EntityUid, &'a str>,
    pub resource: &'a EntityUid,
    pub context: &'a RequestContext,
}

/// Entity types the queue numbers before it starts over (a bound on memory
/// for requests that name ever new types).
pub(super) const MAX_TYPES: usize = 1024;

pub(crate) struct Entry {
    pub request: Recorded,
    pub verdict: Verdict,
    pub now: SystemTime,
    /// Decisions dropped (queue full) just before this one: the writer puts a
    /// gap record for them right before this record.
    pub lost_before: u64,
}

/// What a record keeps of a decision. Built on the deciding thread, freed by
/// the writer, so it is made to need no heap allocation in the common case:
/// up to [`INLINE_REASONS`] reasons inline, empty vectors for no errors and
/// no owners, and no copy of the policy version (the queue passes a version
/// to the writer only when it changes, see [`Msg::Version`]). A memory block
/// allocated by one thread and freed by another costs far more than its
/// copy (measured: boxing the entry alone added about 0.8 µs per decision).
pub(crate) struct Verdict {
    pub outcome: Outcome,
    pub(super) few: [Option<Arc<PolicyInfo>>; INLINE_REASONS],
    pub(super) more: Vec<Arc<PolicyInfo>>,
    pub errors: Vec<DecisionError>,
    pub ask_owners: Vec<String>,
    pub approval_id: Option<String>,
    pub eval_time: Duration,
    pub shadow: Option<Box<Shadow>>,
}

/// Reasons a [`Verdict`] holds without allocating.
const INLINE_REASONS: usize = 2;

impl Verdict {
    /// The parts of `d` a record shows, except its policy version.
    pub(crate) fn of(d: &Decision) -> Self {
        let mut few: [Option<Arc<PolicyInfo>>; INLINE_REASONS] = Default::default();
        let more = if d.reasons.len() <= INLINE_REASONS {
            for (slot, p) in few.iter_mut().zip(&d.reasons) {
                *slot = Some(Arc::clone(p));
            }
            Vec::new()
        } else {
            d.reasons.clone()
        };
        Verdict {
            outcome: d.outcome,
            few,
            more,
            errors: d.errors.clone(),
            ask_owners: d.ask_owners.clone(),
            approval_id: d.approval_id.clone(),
            eval_time: d.eval_time,
            shadow: d.shadow.clone().map(Box::new),
        }
    }

    /// The determining policies, in the decision's order.
    pub(crate) fn reasons(&self) -> impl Iterator<Item = &Arc<PolicyInfo>> {
        self.few.iter().flatten().chain(&self.more)
    }
}

#[expect(
    clippy::large_enum_variant,
    reason = "records are stored inline in the queue's reused vector: boxing them would allocate per decision"
)]
pub(super) enum Msg {
    Record(Entry),
    /// The policy version of the records that follow (sent when it changes).
    Version(String),
    /// The next entity type in the type table, as text.
    Type(String),
    /// The type table starts over.
    ClearTypes,
    /// Drops since the last queued record (their gap goes before the sync), and the reply.
    Flush(u64, SyncSender<Result<(), String>>),
}

/// The hand-off between deciding threads and the writer: a vector that
/// deciders push onto under a short lock and that the writer swaps out whole
/// when it wakes. A decision costs one uncontended lock and a push, with no
/// allocation and no per-record exchange of cache lines with the writer (a
/// channel costs several per record while the writer drains it).
pub(super) struct Queue {
    pub(super) state: Mutex<QueueState>,
    /// Signalled when the writer takes a batch (Block-mode deciders wait on it).
    pub(super) space: Condvar,
}

pub(super) struct QueueState {
    pub(super) items: Vec<Msg>,
    /// Decisions dropped (queue full) since the last queued record: the next
    /// record carries the count, so the gap is recorded where they were lost.
    pub(super) lost: u64,
    /// The log is closing: the writer drains what is queued and stops.
    pub(super) closed: bool,
    /// The policy version last queued (see [`Msg::Version`]).
    pub(super) version: String,
    /// The entity types numbered so far (see [`Msg::Type`]).
    pub(super) types: Vec<EntityTypeName>,
}

impl QueueState {
    /// The number of `ty` in the type table, adding it (and telling the writer) if new.
    fn type_number(&mut self, ty: &EntityTypeName) -> u32 {
        let n = match self.types.iter().position(|t| t == ty) {
            Some(n) => n,
            None => {
                self.types.push(ty.clone());
                self.items.push(Msg::Type(ty.to_string()));
                self.types.len() - 1
            }
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub(super) fn recorded_uid(&mut self, uid: &EntityUid) -> RecordedUid {
        RecordedUid { ty: self.type_number(uid.type_name()), id: uid.id().clone() }
    }
}

impl Queue {
    pub(super) fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
