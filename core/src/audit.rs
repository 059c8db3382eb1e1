//! Accountability: a hash-chained audit log of every decision.
//!
//! Turn it on with [`EngineBuilder::audit`](crate::EngineBuilder::audit):
//!
//! ```no_run
//! use agentauthz::audit::AuditLog;
//! use agentauthz::{Engine, PolicySources};
//!
//! let log = AuditLog::builder()
//!     .file("audit.jsonl")
//!     .rotate_at_bytes(64 << 20)
//!     .redact("credential.token")
//!     .open()?;
//! let engine = Engine::builder(PolicySources::from_dir("policies")?).audit(log).build()?;
//! // ... decide ...
//! engine.audit().map(|a| a.flush()).transpose()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each decision becomes one JSON line ([`AuditRecord`]) holding the request
//! (context redacted as configured), the outcome, the determining policies with
//! their owners, and `prev_hash`/`hash`: the SHA-256 of the record's canonical
//! form, chained to the previous record. [`verify()`] checks a chain and names the
//! first break (edit, deletion, insertion, reordering, or a line truncated by a
//! crash).
//!
//! # Off the hot path
//!
//! The deciding thread only moves the request and a clone of the decision
//! into a bounded queue: no I/O, no serialization, no hashing, no action
//! lookup (a few hundred instructions). One background writer thread drains
//! the queue and writes each record's canonical JSON straight from the
//! decision into a reused buffer, hashes it in place and hands the line to
//! every sink (file, ring, callbacks); the file sink batches lines and writes
//! them in one `write` per batch (at 256 KiB, or whenever the queue runs
//! empty). The writer polls the queue (every millisecond when idle) instead of
//! being woken by each decision, so a decision never pays for a thread
//! wake-up. [`AuditLog::flush`] returns once every record enqueued before it
//! is written and fsynced; dropping the log (or [`AuditLog::close`]) drains
//! the queue first.
//!
//! # When the writer falls behind
//!
//! The queue holds [`AuditLogBuilder::capacity`] records (default 65,536). When
//! it is full, [`OnFull`] decides. [`OnFull::Drop`] (the default) never waits:
//! the record is dropped, counted in [`AuditStats::dropped`], and a chained
//! `gap` record with the exact number lost is written where they were lost
//! (just before the next record that got through, or as soon as the queue runs
//! empty), with a line on stderr. A loss is therefore never silent, and the
//! deciding thread never waits for the disk. [`OnFull::Block`] (opt-in) makes
//! the deciding thread wait for room, so that no decision goes unrecorded; it
//! never performs I/O itself, but under a sustained load above the writer's
//! throughput decisions run at the writer's pace.
//!
//! # Write errors
//!
//! A failed write (unwritable path, full disk) is counted in
//! [`AuditStats::write_errors`] with the message in [`AuditStats::last_error`];
//! the unwritten lines are kept (up to 64 MiB) and retried on the next write,
//! and [`AuditLog::flush`] reports the error. Decisions are unaffected.
//!
//! # Reopening a log
//!
//! [`AuditLogBuilder::open`] on an existing file continues its chain: the next
//! `seq` and `prev_hash` come from the last record (of the file, or of the
//! newest rotated file if the file is empty). If the file ends in a partial
//! line (a crash mid-write: such a record was never acknowledged by `flush`),
//! the partial bytes are moved to `FILE.torn-<unix-millis>` and cut from the
//! file, so the chain stays verifiable and nothing is silently discarded. If
//! the last complete record does not verify, `open` refuses the file.
//!
//! # Rotation
//!
//! With [`AuditLogBuilder::rotate_at_bytes`], once the file reaches the size it
//! is renamed to `FILE.000001` (then `.000002`, ...) and a new `FILE` is
//! started; the first record of the new file chains to the last of the old one.
//! Verify them oldest first: `FILE.0* FILE` (the shell's sort order).
//!
//! # Typed contexts
//!
//! A request built with typed Cedar values is recorded in Cedar's JSON value
//! form (`{"__extn": ...}`, `{"__entity": ...}`), which the request parser
//! reads back, so replay sees the same values.

mod line;
mod queue;
mod record;
mod verify;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

pub use record::{canonical_json, AuditRecord, Gap, RecordedPolicy, GENESIS_HASH, REDACTED};
pub use verify::{verify, verify_after, BreakKind, ChainBreak, VerifyReport};

use queue::{Entry, Msg, Queue, QueueState, RecordedRequest, RecordedUid, MAX_TYPES};
pub(crate) use queue::{Recorded, RequestParts, Verdict};

use crate::clock::format_rfc3339_millis;
use crate::request::{check_depth, RequestContext};

/// What happens when a decision is made while the audit queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// The deciding thread waits for room: nothing is ever lost, but a writer
    /// slower than the decisions (a slow disk or callback) slows them down.
    Block,
    /// The default: the record is dropped and counted, and a `gap` record in
    /// the log says how many were lost; the deciding thread never waits.
    #[default]
    Drop,
}

/// A function that receives each record's JSON line (no newline), on the
/// writer thread. An `Err` (or a panic) is counted as a write error with its
/// message in [`AuditStats::last_error`]; the other sinks are unaffected. It
/// must not call [`AuditLog::flush`] or decide with the audited engine (the
/// writer would wait for itself); a slow callback slows the writer, and with
/// it, once the queue is full, the decisions ([`OnFull::Block`]) or the
/// records ([`OnFull::Drop`]: a counted gap).
pub type Callback = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Why the audit log could not be opened or flushed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading or writing a log file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An existing log's last record does not verify, so its chain cannot be continued.
    #[error("{path}: cannot continue the chain: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A sink failed to write; the message is the last error.
    #[error("audit write failed: {0}")]
    Write(String),
    /// The writer thread is gone (the log was closed).
    #[error("the audit log is closed")]
    Closed,
}

/// Counters of an [`AuditLog`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AuditStats {
    /// Records produced by the writer (decisions and gap records).
    pub records: u64,
    /// Decisions dropped because the queue was full ([`OnFull::Drop`]).
    pub dropped: u64,
    /// Write failures of any sink.
    pub write_errors: u64,
    /// The last write failure.
    pub last_error: Option<String>,
    /// The `seq` the next record will get.
    pub next_seq: u64,
}

/// Settings for an [`AuditLog`]; see [`AuditLog::builder`].
pub struct AuditLogBuilder {
    file: Option<PathBuf>,
    rotate_at: Option<u64>,
    ring: Option<usize>,
    callbacks: Vec<Callback>,
    redact: Vec<Vec<String>>,
    capacity: usize,
    on_full: OnFull,
}

impl std::fmt::Debug for AuditLogBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLogBuilder")
            .field("file", &self.file)
            .field("rotate_at", &self.rotate_at)
            .field("ring", &self.ring)
            .field("callbacks", &self.callbacks.len())
            .field("redact", &self.redact)
            .field("capacity", &self.capacity)
            .field("on_full", &self.on_full)
            .finish()
    }
}

impl AuditLogBuilder {
    /// Append records to this JSONL file (created if missing; an existing
    /// log's chain is continued).
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Rotate the file once it reaches `bytes` (checked after each record).
    pub fn rotate_at_bytes(mut self, bytes: u64) -> Self {
        self.rotate_at = Some(bytes.max(1));
        self
    }

    /// Keep the last `capacity` records in memory (see [`AuditLog::recent`]).
    pub fn ring(mut self, capacity: usize) -> Self {
        self.ring = Some(capacity);
        self
    }

    /// Also hand every record line to `callback` (on the writer thread).
    pub fn callback(mut self, callback: Callback) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Replace the context value at a dotted path (`credential.token`) with
    /// `"[REDACTED]"` before the record is hashed or reaches any sink.
    pub fn redact(mut self, path: &str) -> Self {
        self.redact.push(path.split('.').map(str::to_string).collect());
        self
    }

    /// How many records may wait for the writer (default 65,536; at least 1).
    pub fn capacity(mut self, records: usize) -> Self {
        self.capacity = records.max(1);
        self
    }

    /// What a decision does when the queue is full (default [`OnFull::Drop`]).
    pub fn on_full(mut self, mode: OnFull) -> Self {
        self.on_full = mode;
        self
    }

    /// Opens the file sink (continuing an existing chain) and starts the writer.
    pub fn open(self) -> Result<AuditLog, AuditError> {
        let (file, next_seq, prev_hash) = match &self.file {
            Some(path) => {
                let (sink, seq, prev) = FileSink::open(path, self.rotate_at)?;
                (Some(sink), seq, prev)
            }
            None => (None, 0, GENESIS_HASH.to_string()),
        };
        let shared = Arc::new(Shared {
            ring: self.ring.map(|cap| (cap, Mutex::new(VecDeque::with_capacity(cap.min(4096))))),
            records: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            last_error: Mutex::new(None),
            next_seq: AtomicU64::new(next_seq),
        });
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                items: Vec::with_capacity(self.capacity.min(1024)),
                lost: 0,
                closed: false,
                version: String::new(),
                types: Vec::new(),
            }),
            space: Condvar::new(),
        });
        let writer = Writer {
            queue: Arc::clone(&queue),
            shared: Arc::clone(&shared),
            file,
            callbacks: self.callbacks,
            redact: self.redact,
            boot_id: boot_id(),
            next_seq,
            prev_hash,
            version: String::new(),
            types: Vec::new(),
            line: String::with_capacity(4096),
        };
        let handle = std::thread::Builder::new()
            .name("agentauthz-audit".into())
            .spawn(move || writer.run())
            .map_err(|e| AuditError::Write(format!("cannot start the audit writer: {e}")))?;
        Ok(AuditLog {
            queue,
            capacity: self.capacity.max(1),
            thread: handle.thread().clone(),
            handle: Mutex::new(Some(handle)),
            shared,
            on_full: self.on_full,
        })
    }
}

/// A hash-chained audit log: a queue and a background writer feeding sinks.
/// See the [module documentation](self).
pub struct AuditLog {
    queue: Arc<Queue>,
    capacity: usize,
    thread: Thread,
    handle: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
    on_full: OnFull,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("on_full", &self.on_full).field("stats", &self.stats()).finish()
    }
}

struct Shared {
    ring: Option<(usize, Mutex<VecDeque<String>>)>,
    records: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    next_seq: AtomicU64,
}

impl Shared {
    fn error(&self, message: String) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }
}

impl AuditLog {
    /// Starts configuring a log (no sinks yet; add a file, a ring or callbacks).
    pub fn builder() -> AuditLogBuilder {
        AuditLogBuilder {
            file: None,
            rotate_at: None,
            ring: None,
            callbacks: Vec::new(),
            redact: Vec::new(),
            capacity: 65_536,
            on_full: OnFull::default(),
        }
    }

    /// Hands a decision on a parsed request to the writer (called by the
    /// engine on every decision); `version` is the policy version that decided it.
    pub(crate) fn submit_request(&self, parts: &RequestParts<'_>, verdict: Verdict, now: SystemTime, version: &str) {
        self.enqueue(version, verdict, now, |q| {
            if q.types.len() > MAX_TYPES - 3 {
                q.types.clear();
                q.items.push(Msg::ClearTypes);
            }
            let request = RecordedRequest {
                principal: q.recorded_uid(parts.principal),
                action: match parts.action {
                    Ok(uid) => Ok(q.recorded_uid(uid)),
                    Err(name) => Err(name.to_owned()),
                },
                resource: q.recorded_uid(parts.resource),
                context: parts.context.clone(),
            };
            Recorded::Request(request)
        });
    }

    /// Hands a decision on a request that did not parse to the writer.
    pub(crate) fn submit(&self, request: Recorded, verdict: Verdict, now: SystemTime, version: &str) {
        self.enqueue(version, verdict, now, |_| request);
    }

    /// Queues a record of `verdict` on the request `recorded` builds (under
    /// the queue's lock), unless the queue is full in drop mode or the log is
    /// closed.
    fn enqueue(
        &self,
        version: &str,
        verdict: Verdict,
        now: SystemTime,
        recorded: impl FnOnce(&mut QueueState) -> Recorded,
    ) {
        let mut q = self.queue.lock();
        if q.closed {
            return;
        }
        if q.items.len() >= self.capacity {
            match self.on_full {
                OnFull::Drop => {
                    q.lost += 1;
                    drop(q);
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                OnFull::Block => {
                    while q.items.len() >= self.capacity && !q.closed {
                        self.thread.unpark();
                        q = match self.queue.space.wait_timeout(q, Duration::from_millis(50)) {
                            Ok((q, _)) => q,
                            Err(p) => p.into_inner().0,
                        };
                        if self.writer_gone() {
                            // Nothing will write it: count it as lost rather than wait forever.
                            drop(q);
                            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }
        }
        let lost_before = std::mem::take(&mut q.lost);
        if q.version != version {
            version.clone_into(&mut q.version);
            q.items.push(Msg::Version(version.to_owned()));
        }
        let request = recorded(&mut q);
        q.items.push(Msg::Record(Entry { request, verdict, now, lost_before }));
    }

    /// Whether the writer thread has stopped (it only stops on close, or by a bug).
    fn writer_gone(&self) -> bool {
        self.handle.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits until every record enqueued before this call is written to every
    /// sink and the file is fsynced. Fails if a write failed (the unwritten
    /// records are kept and retried) or the log is closed.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        {
            let mut q = self.queue.lock();
            if q.closed {
                return Err(AuditError::Closed);
            }
            let lost = std::mem::take(&mut q.lost);
            q.items.push(Msg::Flush(lost, reply_tx));
        }
        self.thread.unpark();
        loop {
            match reply_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(message)) => return Err(AuditError::Write(message)),
                Err(RecvTimeoutError::Timeout) if !self.writer_gone() => {}
                Err(_) => return Err(AuditError::Closed),
            }
        }
    }

    /// Drains the queue, writes and fsyncs everything, and stops the writer
    /// (dropping the log does the same, ignoring errors).
    pub fn close(self) -> Result<(), AuditError> {
        self.flush()
    }

    /// Counters: records written, dropped, write errors.
    pub fn stats(&self) -> AuditStats {
        AuditStats {
            records: self.shared.records.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            write_errors: self.shared.write_errors.load(Ordering::Relaxed),
            last_error: self.shared.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            next_seq: self.shared.next_seq.load(Ordering::Relaxed),
        }
    }

    /// The records in the ring sink, oldest first (empty without a ring).
    pub fn recent(&self) -> Vec<String> {
        match &self.shared.ring {
            Some((_, ring)) => ring.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect(),
            None => Vec::new(),
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.flush();
        self.queue.lock().closed = true;
        self.queue.space.notify_all();
        self.thread.unpark();
        if let Some(handle) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

/// A random id for this log instance: decision ids are `<boot id>-<seq>`.
fn boot_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Pending bytes kept for retry after a write failure, at most.
const MAX_PENDING: usize = 64 << 20;
/// Write out once this much is batched.
const BATCH_BYTES: usize = 256 << 10;

struct Writer {
    queue: Arc<Queue>,
    shared: Arc<Shared>,
    file: Option<FileSink>,
    callbacks: Vec<Callback>,
    redact: Vec<Vec<String>>,
    boot_id: String,
    next_seq: u64,
    prev_hash: String,
    /// The policy version of the records being written.
    version: String,
    /// The type table (see [`Msg::Type`]).
    types: Vec<String>,
    /// The line being written (reused: one allocation for the writer's life).
    line: String,
}

impl Writer {
    fn run(mut self) {
        let mut idle = Duration::from_micros(200);
        // Swapped with the queue's vector: the two buffers are reused for the writer's life.
        let mut batch: Vec<Msg> = Vec::new();
        loop {
            let (lost, closed) = {
                let mut q = self.queue.lock();
                std::mem::swap(&mut q.items, &mut batch);
                (std::mem::take(&mut q.lost), q.closed)
            };
            if batch.is_empty() && lost == 0 {
                self.write_out();
                if closed {
                    let _ = self.sync();
                    return;
                }
                std::thread::park_timeout(idle);
                idle = (idle * 2).min(Duration::from_millis(1));
                continue;
            }
            self.queue.space.notify_all();
            for msg in batch.drain(..) {
                match msg {
                    Msg::Record(entry) => {
                        if entry.lost_before > 0 {
                            self.gap(entry.lost_before);
                        }
                        self.record(&entry);
                    }
                    Msg::Version(v) => self.version = v,
                    Msg::Type(t) => self.types.push(t),
                    Msg::ClearTypes => self.types.clear(),
                    Msg::Flush(lost, reply) => {
                        if lost > 0 {
                            self.gap(lost);
                        }
                        let _ = reply.send(self.sync());
                    }
                }
            }
            // Drops after the last queued record go after it.
            if lost > 0 {
                self.gap(lost);
            }
            idle = Duration::from_micros(200);
        }
    }

    /// A chained record of `lost` dropped decisions, also reported on stderr.
    fn gap(&mut self, lost: u64) {
        let ts = format_rfc3339_millis(SystemTime::now());
        eprintln!(
            "agentauthz audit: {lost} decision(s) not recorded (queue full, on_full=drop); gap record seq {}",
            self.next_seq
        );
        self.emit(&line::Fields { gap: Some(lost), ts: &ts, ..line::Fields::default() });
    }

    /// A recorded uid as Cedar displays it: `Type::"id"`, the id escaped as
    /// Cedar's `Display` does (Rust's `escape_debug`), with a shortcut for the
    /// common ids that need no escape.
    fn uid_text(&self, uid: &RecordedUid) -> String {
        let ty = usize::try_from(uid.ty).ok().and_then(|n| self.types.get(n)).map_or("?", String::as_str);
        let id = uid.id.unescaped();
        let mut out = String::with_capacity(ty.len() + id.len() + 4);
        out.push_str(ty);
        out.push_str("::\"");
        if id.bytes().all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\'' | b'\\')) {
            out.push_str(id);
        } else {
            let _ = write!(out, "{}", id.escape_debug());
        }
        out.push('"');
        out
    }

    /// Builds a decision's record and hands it to the sinks.
    fn record(&mut self, entry: &Entry) {
        let ts = format_rfc3339_millis(entry.now);
        let (mut principal, mut action, mut resource) = (None, None, None);
        let mut owned: Option<Map<String, Value>> = None;
        let mut context: Option<&Map<String, Value>> = None;
        match &entry.request {
            Recorded::Request(request) => {
                principal = Some(self.uid_text(&request.principal));
                resource = Some(self.uid_text(&request.resource));
                action = Some(match &request.action {
                    Ok(uid) => self.uid_text(uid),
                    Err(name) => name.clone(),
                });
                match &request.context {
                    RequestContext::Json(map) => context = Some(map.as_ref()),
                    RequestContext::Typed(pairs) => owned = Some(typed_context_json(pairs)),
                    RequestContext::Values(attrs) => owned = Some(crate::request::record_json(attrs)),
                }
            }
            Recorded::Json(value) => {
                let text = |name: &str| {
                    value.get(name).map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => canonical_json(other),
                    })
                };
                principal = text("principal");
                action = text("action");
                resource = text("resource");
                match value.get("context") {
                    Some(Value::Object(m)) if check_depth(m).is_ok() => context = Some(m),
                    _ => {}
                }
            }
            Recorded::Text => {}
        }
        // Redaction works on a copy (the request's context is shared with the caller).
        let mut scrubbed: Option<Vec<crate::decision::DecisionError>> = None;
        if !self.redact.is_empty() {
            let mut map = match (owned.take(), context) {
                (Some(m), _) => Some(m),
                (None, Some(m)) => Some(m.clone()),
                (None, None) => None,
            };
            if let Some(map) = &mut map {
                let removed = record::redact(map, &self.redact);
                if !removed.is_empty() && !entry.verdict.errors.is_empty() {
                    let mut errors = entry.verdict.errors.clone();
                    for e in &mut errors {
                        e.message = record::scrub(&e.message, &removed);
                    }
                    scrubbed = Some(errors);
                }
            }
            owned = map;
        }
        let fields = line::Fields {
            action: action.as_deref(),
            context: owned.as_ref().or(context),
            decision: Some(&entry.verdict),
            policy_version: &self.version,
            errors: scrubbed.as_deref(),
            boot_id: &self.boot_id,
            gap: None,
            principal: principal.as_deref(),
            resource: resource.as_deref(),
            ts: &ts,
        };
        let mut out = std::mem::take(&mut self.line);
        let hash = line::write_line(&mut out, &fields, self.next_seq, &self.prev_hash);
        self.sink(hash, out);
    }

    /// Chains, seals and hands a (gap) record to every sink.
    fn emit(&mut self, fields: &line::Fields<'_>) {
        let mut out = std::mem::take(&mut self.line);
        let hash = line::write_line(&mut out, fields, self.next_seq, &self.prev_hash);
        self.sink(hash, out);
    }

    /// Advances the chain past a written line and hands it to every sink.
    fn sink(&mut self, hash: String, line: String) {
        self.prev_hash = hash;
        self.next_seq += 1;
        self.shared.next_seq.store(self.next_seq, Ordering::Relaxed);
        self.shared.records.fetch_add(1, Ordering::Relaxed);
        if let Some(file) = &mut self.file {
            if let Err(e) = file.push(&line) {
                self.shared.error(e);
            }
        }
        for callback in &self.callbacks {
            match catch_unwind(AssertUnwindSafe(|| callback(&line))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.shared.error(format!("audit callback failed: {e}")),
                Err(_) => self.shared.error("an audit callback panicked".into()),
            }
        }
        if let Some((cap, ring)) = &self.shared.ring {
            if *cap > 0 {
                let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
                // A full ring reuses its oldest string's allocation.
                let mut copy = if ring.len() >= *cap { ring.pop_front().unwrap_or_default() } else { String::new() };
                copy.clear();
                copy.push_str(&line);
                ring.push_back(copy);
            }
        }
        self.line = line;
    }

    fn write_out(&mut self) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.write_out() {
                self.shared.error(e);
            }
        }
    }

    fn sync(&mut self) -> Result<(), String> {
        match &mut self.file {
            Some(file) => file.sync().inspect_err(|e| self.shared.error(e.clone())),
            None => Ok(()),
        }
    }
}

/// Cedar's JSON value form of a typed context.
fn typed_context_json(pairs: &[(String, cedar_policy::RestrictedExpression)]) -> Map<String, Value> {
    let rendered = cedar_policy::Context::from_pairs(pairs.iter().cloned())
        .map_err(|e| e.to_string())
        .and_then(|c| c.to_json_value().map_err(|e| e.to_string()));
    match rendered {
        Ok(Value::Object(map)) => map,
        Ok(_) => Map::new(),
        Err(e) => {
            let mut map = Map::new();
            map.insert("__unrecorded".into(), Value::String(format!("typed context could not be rendered: {e}")));
            map
        }
    }
}

/// The append-only file sink.
struct FileSink {
    path: PathBuf,
    file: File,
    /// Bytes known to be in the file.
    len: u64,
    rotate_at: Option<u64>,
    next_index: u64,
    pending: Vec<u8>,
}

impl FileSink {
    /// Opens (or creates) the log and finds where its chain ends.
    fn open(path: &Path, rotate_at: Option<u64>) -> Result<(Self, u64, String), AuditError> {
        let io = |source: std::io::Error| AuditError::Io { path: path.to_path_buf(), source };
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(io)?;
        repair_torn_tail(path, &mut file)?;
        let rotated = rotated_files(path).map_err(io)?;
        let next_index = rotated.last().map_or(1, |(n, _)| n + 1);
        let mut last = last_line(&mut file).map_err(io)?.map(|l| (path.to_path_buf(), l));
        if last.is_none() {
            if let Some((_, older)) = rotated.last() {
                let mut f = File::open(older).map_err(|source| AuditError::Io { path: older.clone(), source })?;
                last = last_line(&mut f)
                    .map_err(|source| AuditError::Io { path: older.clone(), source })?
                    .map(|l| (older.clone(), l));
            }
        }
        let (seq, prev) = match last {
            None => (0, GENESIS_HASH.to_string()),
            Some((file_path, line)) => {
                let corrupt = |message: String| AuditError::Corrupt { path: file_path.clone(), message };
                let value: Value =
                    serde_json::from_str(&line).map_err(|e| corrupt(format!("last line is not a JSON record: {e}")))?;
                let map = value.as_object().ok_or_else(|| corrupt("last line is not a JSON object".into()))?;
                let seq =
                    map.get("seq").and_then(Value::as_u64).ok_or_else(|| corrupt("last record has no seq".into()))?;
                let hash = map.get("hash").and_then(Value::as_str).unwrap_or_default();
                if record::expected_hash(map) != hash {
                    return Err(corrupt(format!(
                        "last record (seq {seq}) does not match its hash; run `agentauthz audit verify`"
                    )));
                }
                (seq + 1, hash.to_string())
            }
        };
        let len = file.metadata().map_err(io)?.len();
        Ok((Self { path: path.to_path_buf(), file, len, rotate_at, next_index, pending: Vec::new() }, seq, prev))
    }

    fn push(&mut self, line: &str) -> Result<(), String> {
        if self.pending.len() + line.len() > MAX_PENDING {
            return Err(format!("{}: {MAX_PENDING} bytes unwritten; record discarded", self.path.display()));
        }
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.push(b'\n');
        if let Some(limit) = self.rotate_at {
            if self.len + self.pending.len() as u64 >= limit {
                self.sync()?;
                self.rotate()?;
                return Ok(());
            }
        }
        if self.pending.len() >= BATCH_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.len += self.pending.len() as u64;
                self.pending.clear();
                Ok(())
            }
            Err(e) => {
                // Cut any partial write so that a retry appends whole lines.
                let _ = self.file.set_len(self.len);
                Err(format!("{}: {e}", self.path.display()))
            }
        }
    }

    fn sync(&mut self) -> Result<(), String> {
        self.write_out()?;
        self.file.sync_data().map_err(|e| format!("{}: fsync: {e}", self.path.display()))
    }

    fn rotate(&mut self) -> Result<(), String> {
        let target = rotated_name(&self.path, self.next_index);
        std::fs::rename(&self.path, &target)
            .map_err(|e| format!("cannot rotate {} to {}: {e}", self.path.display(), target.display()))?;
        self.next_index += 1;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.len = 0;
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// `FILE.000042`.
fn rotated_name(path: &Path, index: u64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index:06}"));
    PathBuf::from(name)
}

/// The rotated files of a log (`FILE.NNNNNN`), oldest first.
pub fn rotated_files(path: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return Ok(Vec::new()) };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(name)).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if rest.len() >= 6 && rest.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = rest.parse::<u64>() {
                out.push((n, dir.join(&file_name)));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every file of a log in chain order: the rotated files, then the file itself.
pub fn log_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = rotated_files(path)?.into_iter().map(|(_, p)| p).collect();
    files.push(path.to_path_buf());
    Ok(files)
}

/// Position just after the last `\n` before `end`, or 0.
fn line_start_before(file: &mut File, end: u64) -> std::io::Result<u64> {
    let mut pos = end;
    let mut buf = vec![0u8; 8192];
    while pos > 0 {
        let start = pos.saturating_sub(buf.len() as u64);
        let n = usize::try_from(pos - start).unwrap_or(0);
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Moves a partial last line (no trailing newline) aside and cuts it off.
fn repair_torn_tail(path: &Path, file: &mut File) -> Result<(), AuditError> {
    let io = |source: std::io::Error| AuditError::Io { path: path.to_path_buf(), source };
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1)).map_err(io)?;
    file.read_exact(&mut last).map_err(io)?;
    if last == [b'\n'] {
        return Ok(());
    }
    let cut = line_start_before(file, len).map_err(io)?;
    let mut torn = Vec::new();
    file.seek(SeekFrom::Start(cut)).map_err(io)?;
    file.read_to_end(&mut torn).map_err(io)?;
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".torn-{millis}"));
    std::fs::write(&aside, &torn).map_err(|source| AuditError::Io { path: PathBuf::from(&aside), source })?;
    file.set_len(cut).map_err(io)?;
    file.sync_data().map_err(io)
}

/// The last complete line of a file (which ends in `\n`), without the newline.
fn last_line(file: &mut File) -> std::io::Result<Option<String>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let start = line_start_before(file, len - 1)?;
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(start))?;
    file.read_to_end(&mut buf)?;
    while buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}
