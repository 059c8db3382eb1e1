//! The engine: load once, decide many times, from any number of threads.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use std::time::{Duration, Instant, SystemTime};

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Effect, EntityUid, PolicyId,
    RestrictedExpression,
};
use serde_json::Value;

use crate::approvals::{approval_id, ApprovalError, Approvals};
use crate::audit::{AuditLog, Recorded, RequestParts, Verdict};
use crate::clock::{format_rfc3339_millis, Clock, SystemClock};
use crate::compile::{compile, Compiled, OnInvalid, PolicyInfo};
use crate::decision::{Decision, DecisionError, Outcome, Shadow};
use crate::error::{LoadError, PolicyIssue, RequestError};
use crate::fast::HostValue;
use crate::grants::{Grant, GrantSpec, Grants};
use crate::guards::{self, revocation, Revocation, Revocations, Subject};
use crate::request::{
    check_depth, check_values, ActionRef, Request, RequestContext, MAX_CONTEXT_DEPTH, MAX_CONTEXT_VALUES,
    MAX_REQUEST_BYTES,
};
use crate::request_shape::{context_pairs, Fast};
use crate::scope_index::CedarSets;
use crate::sessions::{Reservation, SessionLimits, SessionTracker};
use crate::source::PolicySources;

/// How policy evaluation errors affect the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorMode {
    /// The default. A `forbid` that errors denies (plain Cedar would skip it,
    /// silently dropping a prohibition); a `permit` that errors is skipped.
    #[default]
    FailClosed,
    /// Any policy error denies.
    Strict,
    /// Exactly Cedar's semantics: erroring policies are skipped, `@ask` is
    /// ignored (no ask outcome). Used for conformance testing.
    Cedar,
}

impl std::str::FromStr for ErrorMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail-closed" => Ok(Self::FailClosed),
            "strict" => Ok(Self::Strict),
            "cedar" => Ok(Self::Cedar),
            other => Err(format!("unknown error mode `{other}` (expected fail-closed, strict or cedar)")),
        }
    }
}

/// Whether the engine's policies decide, or only advise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// The default: policies decide (except `@mode("shadow")` ones).
    #[default]
    Enforce,
    /// Every policy is advisory: a request that passes the engine guards
    /// (revocations, credential validity) and parses is allowed, and
    /// [`Decision::shadow`] records what enforcing would have decided. For a
    /// first rollout. Revocations, bad credentials and malformed requests are
    /// still denied: a kill switch stays a kill switch.
    Shadow,
}

impl std::str::FromStr for Enforcement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enforce" => Ok(Self::Enforce),
            "shadow" => Ok(Self::Shadow),
            other => Err(format!("unknown enforcement `{other}` (expected enforce or shadow)")),
        }
    }
}

/// How many policy evaluations each evaluator did, summed over decisions
/// (for tests and benchmarks of the compiled evaluator; not a stable API).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvaluatorStats {
    /// Policies decided by the compiled evaluator.
    pub compiled: u64,
    /// Policies evaluated by Cedar because their bucket holds a policy the
    /// compiled evaluator does not support.
    pub unsupported_policy: u64,
    /// Policies evaluated by Cedar because the request could not be converted
    /// (typed context, context the fast path does not model, bad value), or
    /// the compiled evaluator is off.
    pub unconverted_request: u64,
    /// Policies evaluated by Cedar after the compiled evaluator met an error
    /// (Cedar then reports it).
    pub after_error: u64,
}

#[derive(Debug, Default)]
struct StatCounters {
    compiled: AtomicU64,
    unsupported_policy: AtomicU64,
    unconverted_request: AtomicU64,
    after_error: AtomicU64,
}

impl StatCounters {
    fn add(&self, s: EvaluatorStats) {
        for (counter, n) in [
            (&self.compiled, s.compiled),
            (&self.unsupported_policy, s.unsupported_policy),
            (&self.unconverted_request, s.unconverted_request),
            (&self.after_error, s.after_error),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// A loaded, validated policy set ready to decide requests.
///
/// `Engine` is `Send + Sync`: share it (e.g. in an `Arc`) between threads;
/// deciding takes no lock.
#[derive(Debug)]
pub struct Engine {
    /// Swapped whole by [`Engine::reload`]; each decision uses one snapshot.
    compiled: ArcSwap<Compiled>,
    /// Swapped whole on every revoke/restore; readers never lock.
    revocations: ArcSwap<Revocations>,
    /// Swapped whole on every grant change; readers never lock.
    grants: ArcSwap<Grants>,
    /// Serialises writers of `revocations` and `grants`, never readers.
    revocation_writer: Mutex<()>,
    on_invalid: OnInvalid,
    mode: ErrorMode,
    enforcement: Enforcement,
    clock: Arc<dyn Clock>,
    authorizer: Authorizer,
    sessions: Option<SessionTracker>,
    approvals: Approvals,
    compiled_evaluator: bool,
    /// Present when counting was asked for (a shared counter written on every
    /// decision would cost every thread a contended cache line).
    stats: Option<StatCounters>,
    audit: Option<AuditLog>,
}

/// Settings for building an [`Engine`]; see [`Engine::builder`].
#[derive(Debug)]
pub struct EngineBuilder {
    sources: PolicySources,
    mode: ErrorMode,
    enforcement: Enforcement,
    clock: Arc<dyn Clock>,
    on_invalid: OnInvalid,
    sessions: Option<SessionLimits>,
    compiled_evaluator: bool,
    count_evaluations: bool,
    audit: Option<AuditLog>,
}

impl EngineBuilder {
    /// Record every decision in a hash-chained audit log (see [`crate::audit`]):
    /// decisions of `authorize`, `authorize_at` and `authorize_json[_str]`,
    /// including guard denials and requests that do not parse. The deciding
    /// thread only enqueues; a background thread writes.
    pub fn audit(mut self, log: AuditLog) -> Self {
        self.audit = Some(log);
        self
    }

    /// How policy errors affect outcomes (default [`ErrorMode::FailClosed`]).
    pub fn error_mode(mut self, mode: ErrorMode) -> Self {
        self.mode = mode;
        self
    }

    /// Enforce the policies (the default) or only record what they would decide;
    /// see [`Enforcement`]. Ignored in [`ErrorMode::Cedar`].
    pub fn enforcement(mut self, enforcement: Enforcement) -> Self {
        self.enforcement = enforcement;
        self
    }

    /// The clock that supplies `context.now` (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Load policies even if they fail strict validation against the schema.
    /// Off by default: an engine normally refuses to start on invalid policies.
    /// Meant for conformance testing and tooling, not for enforcement.
    pub fn accept_invalid_policies(mut self, accept: bool) -> Self {
        self.on_invalid = if accept { OnInvalid::Accept } else { OnInvalid::Refuse };
        self
    }

    /// Keep per-session counters and supply them to policies: for a request
    /// whose `context.session.id` is set, the engine fills `context.session.actions`
    /// (allowed actions in the session, this one included), `.same_action`
    /// (of this action) and `.repos_touched` (distinct `Repository` entities
    /// touched: the resource or its ancestor), for whichever of them the
    /// schema declares; callers' values for them are overwritten. Off by default.
    pub fn session_counters(mut self, limits: SessionLimits) -> Self {
        self.sessions = Some(limits);
        self
    }

    /// Whether to decide with the compiled evaluator where it applies (default
    /// on, unless the environment variable `AGENTAUTHZ_COMPILED_EVAL` is `0`).
    /// Decisions are the same either way; off is for differential tests and
    /// benchmarks.
    #[doc(hidden)]
    pub fn compiled_evaluator(mut self, on: bool) -> Self {
        self.compiled_evaluator = on;
        self
    }

    /// Count policy evaluations by evaluator (see [`Engine::evaluator_stats`]).
    /// Off by default; for tests and benchmarks.
    #[doc(hidden)]
    pub fn count_evaluations(mut self, on: bool) -> Self {
        self.count_evaluations = on;
        self
    }

    /// Parses, validates and indexes the sources.
    pub fn build(self) -> Result<Engine, LoadError> {
        let compiled = compile(&self.sources, self.on_invalid)?;
        Ok(Engine {
            compiled: ArcSwap::from_pointee(compiled),
            revocations: ArcSwap::from_pointee(Revocations::default()),
            grants: ArcSwap::from_pointee(Grants::default()),
            revocation_writer: Mutex::new(()),
            on_invalid: self.on_invalid,
            mode: self.mode,
            enforcement: self.enforcement,
            clock: self.clock,
            authorizer: Authorizer::new(),
            sessions: self.sessions.map(SessionTracker::new),
            approvals: Approvals::default(),
            compiled_evaluator: self.compiled_evaluator,
            stats: self.count_evaluations.then(StatCounters::default),
            audit: self.audit,
        })
    }
}

/// Strictly validates policies against the schema and returns every problem
/// (empty when valid). Fails only if the schema or a policy file does not parse.
pub fn validate(sources: &PolicySources) -> Result<Vec<PolicyIssue>, LoadError> {
    crate::compile::validate_sources(sources)
}

/// A request's context converted by [`Engine::prepare`], for
/// [`Engine::decide_prepared`] with the same request (which it borrows).
#[derive(Debug)]
pub struct PreparedContext<'r> {
    value: crate::fast::Value,
    /// The clock reading the request is decided at.
    now: SystemTime,
    /// The policy version it was converted against (the schema's context types).
    version: VersionStamp,
    /// The request it was converted for, and that request's principal,
    /// action and resource as the compilation `generation` numbers them:
    /// used only for that request and that compilation.
    request: &'r Request,
    refs: [crate::fast::EntRef; 3],
    generation: u64,
}

impl PreparedContext<'_> {
    /// The clock reading the request is decided at (to decide it with
    /// [`Engine::authorize_at`] when [`Engine::decide_prepared`] declines).
    pub fn now(&self) -> SystemTime {
        self.now
    }
}

/// A policy version (`sha256:` and 16 hex digits), copied: compared without
/// sharing a reference count between deciding threads. A longer version
/// never matches (the request is then decided the other way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VersionStamp {
    bytes: [u8; 32],
    len: usize,
}

impl VersionStamp {
    fn of(version: &str) -> Self {
        let mut bytes = [0u8; 32];
        for (o, b) in bytes.iter_mut().zip(version.bytes()) {
            *o = b;
        }
        Self { bytes, len: version.len() }
    }

    fn matches(&self, version: &str) -> bool {
        self.len <= self.bytes.len() && *self == Self::of(version)
    }
}

/// The prepared context cannot decide the request alone.
#[derive(Debug)]
struct Unprepared;

/// Why an evaluation stopped.
enum Stop {
    /// The request is denied with this error.
    Request(RequestError),
    /// A prepared context needs Cedar's path (see [`Engine::decide_prepared`]).
    Unprepared,
}

impl From<RequestError> for Stop {
    fn from(e: RequestError) -> Self {
        Stop::Request(e)
    }
}

/// What the policies that can apply to a request did.
#[derive(Default)]
struct Evaluation {
    satisfied_permits: Vec<PolicyId>,
    satisfied_forbids: Vec<PolicyId>,
    /// Runtime grants that permit the request.
    granted: Vec<Arc<PolicyInfo>>,
    /// (policy, message, is the policy a forbid)
    errors: Vec<(PolicyId, String, bool)>,
}

impl Engine {
    /// Loads a policy folder (one `*.cedarschema`, `*.cedar` files, optional
    /// `entities.json`) with default settings.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::builder(PolicySources::from_dir(dir)?).build()
    }

    /// Loads schema, policies and entities given as text, with default settings.
    pub fn from_strings(schema: &str, policies: &str, entities: Option<&str>) -> Result<Self, LoadError> {
        Self::builder(PolicySources::from_strings(schema, policies, entities)).build()
    }

    /// Starts building an engine from sources, to change settings.
    pub fn builder(sources: PolicySources) -> EngineBuilder {
        EngineBuilder {
            sources,
            mode: ErrorMode::default(),
            enforcement: Enforcement::default(),
            clock: Arc::new(SystemClock),
            on_invalid: OnInvalid::Refuse,
            sessions: None,
            compiled_evaluator: std::env::var("AGENTAUTHZ_COMPILED_EVAL").map_or(true, |v| v != "0"),
            count_evaluations: false,
            audit: None,
        }
    }

    /// The audit log, if one was configured: to `flush()` it or read its `stats()`.
    pub fn audit(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }

    /// The version (content hash) of the policy set now in force.
    pub fn policy_version(&self) -> String {
        self.compiled.load().version.to_string()
    }

    /// The number of loaded policies.
    pub fn policy_count(&self) -> usize {
        self.compiled.load().policy_count
    }

    /// Validates and indexes new sources, then swaps them in atomically: every
    /// decision uses either the old set or the new one, never a mix. On error
    /// the old set keeps serving. Returns the new version.
    pub fn reload(&self, sources: &PolicySources) -> Result<String, LoadError> {
        let compiled = compile(sources, self.on_invalid)?;
        let version = compiled.version.to_string();
        self.compiled.store(Arc::new(compiled));
        Ok(version)
    }

    /// Revokes an agent, session or credential: from the next decision on, on
    /// every thread, any request naming it is denied before policies run, with
    /// `reason` in the decision.
    pub fn revoke(&self, subject: Subject, reason: &str) {
        let _writer = self.revocation_writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = self.revocations.load().with(revocation(subject, reason, self.clock.now()));
        self.revocations.store(Arc::new(next));
    }

    /// Adds a time-bound grant: a permit for `spec.principal` to do
    /// `spec.actions` to `spec.resource` (or anything in it) until
    /// `spec.expires_at`, effective at once and ending by itself (no reload, no
    /// timer). Forbid policies still apply. Expired grants are dropped whenever
    /// grants change. Returns the grant's id.
    pub fn grant(&self, spec: GrantSpec) -> String {
        let _writer = self.revocation_writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (next, id) = self.grants.load().with(spec, self.clock.now());
        self.grants.store(Arc::new(next));
        id
    }

    /// Removes a grant; returns whether it existed.
    pub fn revoke_grant(&self, id: &str) -> bool {
        let _writer = self.revocation_writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (next, found) = self.grants.load().without(id);
        self.grants.store(Arc::new(next));
        found
    }

    /// The grants in force (unexpired at the engine clock's current time).
    pub fn grants(&self) -> Vec<Grant> {
        let now = self.clock.now();
        self.grants.load().by_principal.values().flatten().filter(|g| g.expires_at > now).cloned().collect()
    }

    /// Lifts a revocation; returns whether there was one.
    pub fn restore(&self, subject: &Subject) -> bool {
        let _writer = self.revocation_writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.revocations.load();
        let had = current.by_subject.contains_key(subject);
        self.revocations.store(Arc::new(current.without(subject)));
        had
    }

    /// How many sessions the session counters currently track (0 when off).
    pub fn tracked_sessions(&self) -> usize {
        self.sessions.as_ref().map_or(0, SessionTracker::len)
    }

    /// The revocations in force, sorted by subject.
    pub fn revocations(&self) -> Vec<Revocation> {
        self.revocations.load().by_subject.values().cloned().collect()
    }

    /// Writes the revocations to a JSON file (atomically: write, then rename).
    pub fn save_revocations(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        self.revocations.load().save(path.as_ref())
    }

    /// Replaces the revocations with those saved in a JSON file.
    pub fn load_revocations(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let loaded = Revocations::load(path.as_ref())?;
        let _writer = self.revocation_writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.revocations.store(Arc::new(loaded));
        Ok(())
    }

    /// Policy evaluations so far, by evaluator (see [`EvaluatorStats`]); all
    /// zero unless the engine was built with `count_evaluations(true)`.
    #[doc(hidden)]
    pub fn evaluator_stats(&self) -> EvaluatorStats {
        let Some(s) = &self.stats else { return EvaluatorStats::default() };
        EvaluatorStats {
            compiled: s.compiled.load(Ordering::Relaxed),
            unsupported_policy: s.unsupported_policy.load(Ordering::Relaxed),
            unconverted_request: s.unconverted_request.load(Ordering::Relaxed),
            after_error: s.after_error.load(Ordering::Relaxed),
        }
    }

    /// The error mode in force.
    pub fn error_mode(&self) -> ErrorMode {
        self.mode
    }

    /// Every loaded policy's id, file, effect and annotations, sorted by id.
    pub fn policies(&self) -> Vec<Arc<PolicyInfo>> {
        let mut out: Vec<Arc<PolicyInfo>> = self.compiled.load().meta.values().cloned().collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Decides a request at the engine clock's current time.
    pub fn authorize(&self, request: &Request) -> Decision {
        self.authorize_at(request, self.clock.now())
    }

    /// Decides a request as if the clock read `now`: for replaying recorded
    /// requests and for tests. Enforcement paths use [`Engine::authorize`].
    pub fn authorize_at(&self, request: &Request, now: SystemTime) -> Decision {
        let (decision, counted) = self.decide_at(request, now);
        if let Some(log) = &self.audit {
            // With session counters on, the record holds the counts the policies
            // saw, so that a replay decides the same request. A bare action
            // name is recorded resolved (a lookup, no allocation).
            let source = counted.as_ref().unwrap_or(request);
            let compiled;
            let action = match &source.action {
                ActionRef::Uid(uid) => Ok(std::borrow::Cow::Borrowed(uid)),
                ActionRef::Name(name) => {
                    compiled = self.compiled.load();
                    resolve_action(&compiled, &source.action).map_err(|_| name.as_str())
                }
            };
            let parts = RequestParts {
                principal: &source.principal,
                action: action.as_deref().map_err(|name| *name),
                resource: &source.resource,
                context: &source.context,
            };
            log.submit_request(&parts, Verdict::of(&decision), now, &decision.policy_version);
        }
        decision
    }

    /// The decision, and the request as decided when session counters filled it in.
    fn decide_at(&self, request: &Request, now: SystemTime) -> (Decision, Option<Request>) {
        match self.decide_with(request, now, None) {
            Ok(decided) => decided,
            // Only a prepared context stops early; none was given.
            Err(Unprepared) => {
                let c = self.compiled.load();
                let e = RequestError::Internal("the decision stopped without a prepared context".into());
                (self.early(&c, request_denied(&c, e, Instant::now())), None)
            }
        }
    }

    /// [`Engine::decide_at`], with the context already converted when
    /// `prepared` is given; `Err(Unprepared)` (before any side effect) when
    /// the prepared context cannot decide the request alone.
    fn decide_with(
        &self,
        request: &Request,
        now: SystemTime,
        prepared: Option<&PreparedContext<'_>>,
    ) -> Result<(Decision, Option<Request>), Unprepared> {
        let start = Instant::now();
        let compiled = self.compiled.load();
        if let Some(p) = prepared {
            // Converted against another action's context type, or checked
            // for another request's principal and resource types.
            if !p.version.matches(&compiled.version) || !std::ptr::eq(p.request, request) {
                return Err(Unprepared);
            }
        }
        if self.mode != ErrorMode::Cedar {
            let typed;
            let context = match (prepared, &request.context) {
                (Some(p), _) => guards::GuardContext::Prepared(&p.value),
                (None, RequestContext::Json(m)) => guards::GuardContext::Json(m),
                (None, RequestContext::Values(attrs)) => guards::GuardContext::Values(attrs),
                (None, RequestContext::Typed(pairs)) => {
                    typed = guards::typed_view(pairs);
                    guards::GuardContext::Json(&typed)
                }
            };
            if let Some(g) = guards::check(&self.revocations.load(), &request.principal, Some(context), now) {
                return Ok((self.early(&compiled, denied(&compiled, vec![g], vec![], start)), None));
            }
        }
        let (counted, reservation) = match self.count_session(&compiled, request, now) {
            Some((r, res)) => (Some(r), Some(res)),
            None => (None, None),
        };
        let evaluated = self.evaluate(&compiled, counted.as_ref().unwrap_or(request), now, prepared);
        let mut decision = match evaluated {
            Ok(eval) => self.conclude(&compiled, eval, start),
            Err(Stop::Request(e)) => self.early(&compiled, request_denied(&compiled, e, start)),
            Err(Stop::Unprepared) => {
                if let (Some(tracker), Some(res)) = (&self.sessions, reservation) {
                    tracker.release(res);
                }
                return Err(Unprepared);
            }
        };
        if decision.outcome == Outcome::Ask {
            self.apply_approval(&compiled, request, &mut decision, now);
        }
        if let (Some(tracker), Some(res)) = (&self.sessions, reservation) {
            if decision.outcome != Outcome::Allow {
                tracker.release(res);
            }
        }
        Ok((decision, counted))
    }

    /// Converts a request's context in place from host-language values (see
    /// [`HostValue`]) for [`Engine::decide_prepared`], skipping the
    /// intermediate [`ContextValue`](crate::ContextValue) tree: what the
    /// bindings do before releasing their interpreter lock. `request` is the
    /// request without its context; `now` is the clock reading to decide at
    /// (`None`: the engine's clock, now).
    ///
    /// `None` whenever the prepared form might not decide exactly as
    /// [`Engine::authorize_at`] with the same context as [`ContextValue`]s:
    /// the engine keeps an audit log or session counters, a value is of a
    /// kind or size the conversion leaves to that path, or the context does
    /// not match the action's context type. The caller then attaches the
    /// context to the request and calls [`Engine::authorize_at`].
    ///
    /// [`ContextValue`]: crate::ContextValue
    pub fn prepare<'r, H: HostValue>(
        &self,
        request: &'r Request,
        context: &H,
        now: Option<SystemTime>,
    ) -> Option<PreparedContext<'r>> {
        if self.audit.is_some() || self.sessions.is_some() || !self.compiled_evaluator {
            return None;
        }
        let now = now.unwrap_or_else(|| self.clock.now());
        let c = self.compiled.load();
        let action = resolve_action(&c, &request.action).ok()?;
        let refs = resolve_refs(&c, request, &action);
        let (record, now_ms) = compiled_context_type(&c, refs, now)?;
        // Well inside every limit the other path enforces (the binding's
        // conversion budget, `check_values`), so that nothing it would refuse
        // is decided here.
        let budget = crate::fast::Budget::new(MAX_CONTEXT_VALUES / 4, MAX_REQUEST_BYTES / 4, MAX_CONTEXT_DEPTH / 2);
        let value = crate::fast::convert_host_context(context, record, now_ms, budget)?;
        guards::prepared_readable(&value).then(|| PreparedContext {
            value,
            now,
            version: VersionStamp::of(&c.version),
            request,
            refs,
            generation: c.generation,
        })
    }

    /// Decides `request` (without its context) with the context
    /// [`Engine::prepare`] converted for it, exactly as
    /// [`Engine::authorize_at`] would decide it with its context as
    /// [`ContextValue`](crate::ContextValue)s. `None`, having changed
    /// nothing, when the prepared form cannot decide it alone: `request` is
    /// not the very request (the same object) `prepare` was given, the
    /// policies were reloaded since, or a policy needs Cedar's own evaluator
    /// (which needs the context in Cedar's form). The caller then attaches the
    /// context and calls [`Engine::authorize_at`] at [`PreparedContext::now`].
    pub fn decide_prepared(&self, request: &Request, prepared: &PreparedContext<'_>) -> Option<Decision> {
        self.decide_with(request, prepared.now, Some(prepared)).ok().map(|(decision, _)| decision)
    }

    /// Decides a request in the JSON form (see [`Request`]); a request that
    /// does not parse is denied with the error.
    pub fn authorize_json(&self, request: &Value) -> Decision {
        let start = Instant::now();
        match Request::from_json(request) {
            Ok(r) => self.authorize(&r),
            Err(e) => {
                let c = self.compiled.load();
                let decision = self.early(&c, request_denied(&c, e, start));
                self.audit_unparsed(|| Recorded::Json(request.clone()), &decision);
                decision
            }
        }
    }

    /// Like [`Engine::authorize_json`], from JSON text.
    pub fn authorize_json_str(&self, request: &str) -> Decision {
        let start = Instant::now();
        match Request::from_json_str(request) {
            Ok(r) => self.authorize(&r),
            Err(e) => {
                let c = self.compiled.load();
                let decision = self.early(&c, request_denied(&c, e, start));
                let recorded = || match serde_json::from_str::<Value>(request) {
                    Ok(v) if request.len() <= crate::request::MAX_REQUEST_BYTES => Recorded::Json(v),
                    _ => Recorded::Text,
                };
                self.audit_unparsed(recorded, &decision);
                decision
            }
        }
    }

    /// Records the denial of a request that did not parse.
    fn audit_unparsed(&self, recorded: impl FnOnce() -> Recorded, decision: &Decision) {
        if let Some(log) = &self.audit {
            log.submit(recorded(), Verdict::of(decision), self.clock.now(), &decision.policy_version);
        }
    }

    /// An ask with a live approval becomes allow (consuming one use); any other
    /// ask is remembered so that its id can be approved.
    fn apply_approval(&self, c: &Compiled, req: &Request, decision: &mut Decision, now: SystemTime) {
        let action = resolve_action(c, &req.action).map(|a| a.to_string()).unwrap_or_else(|_| req.action_text());
        let id = approval_id(&req.principal.to_string(), &action, &req.resource.to_string(), &decision.reason_ids());
        if let Some(approval) = self.approvals.consume_or_record(&id, now) {
            decision.outcome = Outcome::Allow;
            decision.reasons = vec![approval];
            decision.ask_owners.clear();
        }
        decision.approval_id = Some(id);
    }

    /// Records a human approval for an ask's `approval_id`: the same request is
    /// allowed for `ttl` (by the engine clock) and at most `uses` times.
    pub fn approve(&self, approval_id: &str, approver: &str, ttl: Duration, uses: u32) -> Result<(), ApprovalError> {
        self.approvals.approve(approval_id, approver, ttl, uses, self.clock.now())
    }

    /// With session counters on: reserves this action in its session and returns
    /// the request with the engine's counts in `context.session`.
    fn count_session(&self, c: &Compiled, req: &Request, now: SystemTime) -> Option<(Request, Reservation)> {
        let tracker = self.sessions.as_ref()?;
        if self.mode == ErrorMode::Cedar {
            return None;
        }
        let map = req.context.json()?;
        let session_id = map.get("session")?.get("id")?.as_str()?;
        let action = resolve_action(c, &req.action).ok()?;
        let declared = c.shapes.get(&action)?.session_counters();
        if declared.is_empty() {
            return None;
        }
        let repo_type = "Repository";
        let repo = if req.resource.type_name().to_string() == repo_type {
            Some(req.resource.id().unescaped().to_string())
        } else {
            c.entities.ancestors(&req.resource).and_then(|mut a| {
                a.find(|u| u.type_name().to_string() == repo_type).map(|u| u.id().unescaped().to_string())
            })
        };
        let (counts, reservation) = tracker.reserve(session_id, &action.to_string(), repo.as_deref(), now);
        let mut map = map.into_owned();
        if let Some(Value::Object(session)) = map.get_mut("session") {
            for name in declared {
                let value = match name {
                    "actions" => counts.actions,
                    "same_action" => counts.same_action,
                    _ => counts.repos_touched,
                };
                session.insert(name.to_string(), Value::from(value));
            }
        }
        Some((req.clone().with_context_json(map), reservation))
    }

    /// The Cedar request, built (and checked against the schema) as before the
    /// compiled evaluator existed: every error message is Cedar's or the
    /// request shape's.
    fn cedar_request(
        &self,
        c: &Compiled,
        req: &Request,
        action: &EntityUid,
        now: SystemTime,
    ) -> Result<cedar_policy::Request, RequestError> {
        Ok(match fast_request(c, req, action, now) {
            Fast::Done(r) => r?,
            Fast::Invalid(message) => return Err(RequestError::Schema(message)),
            Fast::Fallback => {
                let context = build_context(c, action, &req.context, now)?;
                cedar_policy::Request::new(
                    req.principal.clone(),
                    action.clone(),
                    req.resource.clone(),
                    context,
                    Some(&c.schema),
                )
                .map_err(|e| RequestError::Schema(e.to_string()))?
            }
        })
    }

    fn evaluate(
        &self,
        c: &Compiled,
        req: &Request,
        now: SystemTime,
        prepared: Option<&PreparedContext<'_>>,
    ) -> Result<Evaluation, Stop> {
        match &req.context {
            // Requests built in Rust (`with_context_json`) skip `Request::from_json`.
            RequestContext::Json(map) => check_depth(map)?,
            RequestContext::Values(attrs) => check_values(attrs)?,
            RequestContext::Typed(_) => {}
        }
        let action = resolve_action(c, &req.action)?;
        // The request's entities as numbered by the store (the index's keys
        // too): as `prepare` resolved them when this is its request and
        // compilation.
        let store = &c.fast;
        let refs = match prepared {
            Some(p) if std::ptr::eq(p.request, req) && p.generation == c.generation => p.refs,
            _ => resolve_refs(c, req, &action),
        };
        let env = match prepared {
            Some(p) => {
                let [principal, action, resource] = refs;
                Some(crate::fast::Env { store, principal, action, resource, context: p.value.clone() })
            }
            None if self.compiled_evaluator => fast_env(c, req, refs, now),
            None => None,
        };
        // Built only when some bucket needs Cedar (always when `env` is None,
        // which is also when the request may be invalid).
        let mut cedar_request = match env {
            Some(_) => None,
            None => Some(self.cedar_request(c, req, &action, now)?),
        };
        let mut request_error: Option<Stop> = None;
        let mut eval = Evaluation::default();
        let mut permits_unknown: Vec<&CedarSets> = Vec::new();
        // Satisfied permits of compiled buckets whose forbids decided them:
        // what Cedar would report for `bucket.permits` alone.
        let mut deferred_permits: Vec<PolicyId> = Vec::new();
        let mut stats = EvaluatorStats::default();
        let [principal, action_ref, resource] = refs;
        c.index.candidates(store, principal, action_ref, resource, |bucket| {
            if bucket.is_empty() {
                return;
            }
            let size = bucket.fast.len() as u64 + bucket.cedar_only as u64;
            match &env {
                Some(env) if bucket.cedar_only == 0 => {
                    // The bucket's satisfied policies go straight into the
                    // evaluation, and are taken out again when it falls back.
                    let (permits, forbids) = (eval.satisfied_permits.len(), eval.satisfied_forbids.len());
                    let mut decided = true;
                    for p in &bucket.fast {
                        match crate::fast::eval_policy(p, env) {
                            Ok(false) => {}
                            Ok(true) if p.effect == Effect::Permit => eval.satisfied_permits.push(p.id.clone()),
                            Ok(true) => eval.satisfied_forbids.push(p.id.clone()),
                            Err(crate::fast::Fallback) => {
                                decided = false;
                                break;
                            }
                        }
                    }
                    if decided {
                        stats.compiled += size;
                        if eval.satisfied_forbids.len() > forbids {
                            deferred_permits.extend(eval.satisfied_permits.drain(permits..));
                        }
                        return;
                    }
                    eval.satisfied_permits.truncate(permits);
                    eval.satisfied_forbids.truncate(forbids);
                    stats.after_error += size;
                }
                Some(_) => stats.unsupported_policy += size,
                None => stats.unconverted_request += size,
            }
            if cedar_request.is_none() {
                if prepared.is_some() {
                    // Cedar's evaluator needs the context in Cedar's form.
                    request_error = Some(Stop::Unprepared);
                    return;
                }
                match self.cedar_request(c, req, &action, now) {
                    Ok(r) => cedar_request = Some(r),
                    Err(e) => {
                        request_error = Some(Stop::Request(e));
                        return;
                    }
                }
            }
            let Some(cedar_request) = &cedar_request else { return };
            let sets = match c.index.cedar_sets(bucket) {
                Ok(sets) => sets,
                Err(message) => {
                    request_error = Some(Stop::Request(RequestError::Internal(message)));
                    return;
                }
            };
            let response = self.authorizer.is_authorized(cedar_request, &sets.all, &c.entities);
            let satisfied = response.diagnostics().reason().cloned();
            if response.decision() == CedarDecision::Allow {
                eval.satisfied_permits.extend(satisfied);
            } else {
                let before = eval.satisfied_forbids.len();
                eval.satisfied_forbids.extend(satisfied);
                if eval.satisfied_forbids.len() > before && bucket.has_permit() {
                    permits_unknown.push(sets);
                }
            }
            for err in response.diagnostics().errors() {
                match err {
                    AuthorizationError::PolicyEvaluationError(pe) => {
                        let is_forbid = c.meta.get(pe.policy_id()).is_some_and(|m| m.effect == Effect::Forbid);
                        eval.errors.push((pe.policy_id().clone(), pe.inner().to_string(), is_forbid));
                    }
                }
            }
        });
        if let Some(e) = request_error {
            return Err(e);
        }
        if let Some(counters) = &self.stats {
            counters.add(stats);
        }
        if self.mode != ErrorMode::Cedar {
            eval.granted = self.grants.load().matching(&c.entities, &req.principal, &action, &req.resource, now);
        }
        // Whether a permit holds matters only for ask-versus-deny, when no
        // enforced permit is known yet and every satisfied forbid asks.
        // A satisfied shadow permit does not count: the enforced outcome is
        // decided without it.
        let may_ask = self.mode != ErrorMode::Cedar
            && eval.satisfied_permits.iter().all(|id| c.meta.get(id).is_some_and(|m| m.shadow))
            && eval.granted.is_empty()
            && eval.satisfied_forbids.iter().all(|id| c.meta.get(id).is_some_and(|m| m.ask.is_some()));
        // A satisfied shadow forbid must not hide the permits its bucket holds:
        // the enforced outcome is decided without it.
        let shadow_forbid = self.mode != ErrorMode::Cedar
            && c.has_shadow
            && eval.satisfied_forbids.iter().any(|id| c.meta.get(id).is_some_and(|m| m.shadow));
        if may_ask || shadow_forbid {
            eval.satisfied_permits.extend(deferred_permits);
            if let Some(cedar_request) = &cedar_request {
                for sets in permits_unknown {
                    let response = self.authorizer.is_authorized(cedar_request, &sets.permits, &c.entities);
                    if response.decision() == CedarDecision::Allow {
                        eval.satisfied_permits.extend(response.diagnostics().reason().cloned());
                    }
                }
            }
        }
        Ok(eval)
    }

    fn conclude(&self, c: &Compiled, eval: Evaluation, start: Instant) -> Decision {
        let info = |id: &PolicyId| c.meta.get(id).cloned();
        let errors: Vec<DecisionError> = eval
            .errors
            .iter()
            .map(|(id, message, _)| DecisionError {
                policy: Some(info(id).map(|m| m.id.clone()).unwrap_or_else(|| id.to_string())),
                message: message.clone(),
            })
            .collect();
        let forbids: Vec<Arc<PolicyInfo>> = eval.satisfied_forbids.iter().filter_map(info).collect();
        let mut permits: Vec<Arc<PolicyInfo>> = eval.satisfied_permits.iter().filter_map(info).collect();
        permits.extend(eval.granted.iter().cloned());
        // (errored at all, a forbid errored), for the policies a view counts.
        let errored = |counts: &dyn Fn(&PolicyId) -> bool| {
            eval.errors
                .iter()
                .filter(|(id, _, _)| counts(id))
                .fold((false, false), |(_, forbid), (_, _, is_forbid)| (true, forbid || *is_forbid))
        };
        let shadowed = self.mode != ErrorMode::Cedar && (c.has_shadow || self.enforcement == Enforcement::Shadow);
        let (outcome, reasons, ask_owners, shadow) = if !shadowed {
            let (any, forbid) = errored(&|_| true);
            let (o, r, a) = self.judge(permits, forbids, any, forbid);
            (o, r, a, None)
        } else {
            let is_shadow =
                |id: &PolicyId| self.enforcement == Enforcement::Shadow || c.meta.get(id).is_some_and(|m| m.shadow);
            let enforced =
                |v: &[Arc<PolicyInfo>]| -> Vec<Arc<PolicyInfo>> { v.iter().filter(|p| !p.shadow).cloned().collect() };
            let (all_any, all_forbid) = errored(&|_| true);
            let (would, would_reasons, would_owners) =
                self.judge(permits.clone(), forbids.clone(), all_any, all_forbid);
            let mut policies: Vec<Arc<PolicyInfo>> = eval
                .satisfied_permits
                .iter()
                .chain(&eval.satisfied_forbids)
                .filter(|id| is_shadow(id))
                .filter_map(info)
                .collect();
            policies.sort_by(|a, b| a.id.cmp(&b.id));
            let (outcome, reasons, owners) = if self.enforcement == Enforcement::Shadow {
                let mut reasons = enforced(&permits);
                reasons.sort_by(|a, b| a.id.cmp(&b.id));
                (Outcome::Allow, reasons, vec![])
            } else {
                let (any, forbid) = errored(&|id| !is_shadow(id));
                self.judge(enforced(&permits), enforced(&forbids), any, forbid)
            };
            let shadow = Shadow {
                outcome: would,
                reasons: would_reasons,
                ask_owners: would_owners,
                policies,
                changed: would != outcome,
            };
            (outcome, reasons, owners, Some(shadow))
        };
        Decision {
            outcome,
            reasons,
            errors,
            ask_owners,
            approval_id: None,
            policy_version: c.version.to_string(),
            eval_time: start.elapsed(),
            shadow,
        }
    }

    /// A decision made before policy evaluation (engine guard, bad request)
    /// denies whatever the policies say: with shadow evaluation on, its shadow
    /// section says so.
    fn early(&self, c: &Compiled, mut d: Decision) -> Decision {
        if self.mode != ErrorMode::Cedar && (c.has_shadow || self.enforcement == Enforcement::Shadow) {
            d.shadow = Some(Shadow {
                outcome: d.outcome,
                reasons: d.reasons.clone(),
                ask_owners: d.ask_owners.clone(),
                policies: vec![],
                changed: false,
            });
        }
        d
    }

    /// The outcome, determining policies and owners to ask for a set of
    /// satisfied permits and forbids, given whether any policy (or any forbid) errored.
    fn judge(
        &self,
        permits: Vec<Arc<PolicyInfo>>,
        forbids: Vec<Arc<PolicyInfo>>,
        any_errored: bool,
        forbid_errored: bool,
    ) -> (Outcome, Vec<Arc<PolicyInfo>>, Vec<String>) {
        let (outcome, mut reasons, mut ask_owners) = match self.mode {
            ErrorMode::Cedar => {
                if !permits.is_empty() && forbids.is_empty() {
                    (Outcome::Allow, permits, vec![])
                } else {
                    (Outcome::Deny, forbids, vec![])
                }
            }
            ErrorMode::FailClosed | ErrorMode::Strict => {
                let errored = match self.mode {
                    ErrorMode::Strict => any_errored,
                    _ => forbid_errored,
                };
                if errored || forbids.iter().any(|f| f.ask.is_none()) || permits.is_empty() {
                    (Outcome::Deny, forbids, vec![])
                } else if !forbids.is_empty() {
                    let owners = forbids.iter().filter_map(|f| f.ask.clone()).collect();
                    (Outcome::Ask, forbids, owners)
                } else {
                    (Outcome::Allow, permits, vec![])
                }
            }
        };
        reasons.sort_by(|a, b| a.id.cmp(&b.id));
        ask_owners.sort();
        ask_owners.dedup();
        (outcome, reasons, ask_owners)
    }
}

fn request_denied(c: &Compiled, error: RequestError, start: Instant) -> Decision {
    denied(c, vec![], vec![DecisionError { policy: None, message: error.to_string() }], start)
}

/// A deny decided before policy evaluation (an engine guard or a bad request).
fn denied(c: &Compiled, reasons: Vec<Arc<PolicyInfo>>, errors: Vec<DecisionError>, start: Instant) -> Decision {
    Decision {
        outcome: Outcome::Deny,
        reasons,
        errors,
        ask_owners: vec![],
        approval_id: None,
        policy_version: c.version.to_string(),
        eval_time: start.elapsed(),
        shadow: None,
    }
}

/// The action's uid, borrowed where it exists already: cloning a uid would
/// update reference counts that every deciding thread shares.
pub(crate) fn resolve_action<'a>(
    c: &'a Compiled,
    action: &'a ActionRef,
) -> Result<std::borrow::Cow<'a, EntityUid>, RequestError> {
    use std::borrow::Cow;
    match action {
        ActionRef::Uid(u) => Ok(Cow::Borrowed(u)),
        ActionRef::Name(name) => match c.action_shorthand.get(name) {
            Some(uid) => Ok(Cow::Borrowed(uid)),
            None => crate::request::entity_uid("Action", name).map(Cow::Owned),
        },
    }
}

/// The fast path: a JSON context converted straight to typed values and checked
/// against the schema's request shape (see `request_shape`), with no JSON
/// re-parsing and no second validation by Cedar.
fn fast_request(
    c: &Compiled,
    req: &Request,
    action: &EntityUid,
    now: SystemTime,
) -> Fast<Result<cedar_policy::Request, RequestError>> {
    let (Some(shape), Some(map)) = (c.shapes.get(action), req.context.json()) else {
        return Fast::Fallback;
    };
    let Some(record) = &shape.context else { return Fast::Fallback };
    for (field, uid, allowed) in
        [("principal", &req.principal, &shape.principal_types), ("resource", &req.resource, &shape.resource_types)]
    {
        if !allowed.contains(uid.type_name()) {
            return Fast::Invalid(format!("{field} type `{}` is not allowed for {action}", uid.type_name()));
        }
    }
    let stamp = shape.declares_now.then(|| format_rfc3339_millis(now));
    let pairs = match context_pairs(&map, record, stamp.as_deref()) {
        Fast::Done(p) => p,
        Fast::Fallback => return Fast::Fallback,
        Fast::Invalid(m) => return Fast::Invalid(format!("invalid context: {m}")),
    };
    Fast::Done(Context::from_pairs(pairs).map_err(|e| RequestError::Context(e.to_string())).and_then(|ctx| {
        cedar_policy::Request::new(req.principal.clone(), action.clone(), req.resource.clone(), ctx, None)
            .map_err(|e| RequestError::Schema(e.to_string()))
    }))
}

/// The request for the compiled evaluator: a JSON context that converts
/// cleanly against the action's context type (see `fast::convert_context`).
/// `None` sends the request down Cedar's path.
fn fast_env<'c>(
    c: &'c Compiled,
    req: &Request,
    [principal, action_ref, resource]: [crate::fast::EntRef; 3],
    now: SystemTime,
) -> Option<crate::fast::Env<'c>> {
    let (record, now_ms) = compiled_context_type(c, [principal, action_ref, resource], now)?;
    let context = match &req.context {
        RequestContext::Json(map) => {
            crate::fast::convert_context(map.iter().map(|(k, v)| (k.as_str(), v)), record, now_ms)?
        }
        RequestContext::Values(attrs) => {
            crate::fast::convert_context(attrs.iter().map(|(k, v)| (k.as_str(), v)), record, now_ms)?
        }
        RequestContext::Typed(_) => return None,
    };
    Some(crate::fast::Env { store: &c.fast, principal, action: action_ref, resource, context })
}

/// The request's principal, action and resource as `c`'s store numbers them
/// (entities it does not hold numbered past its end, equal uids alike).
fn resolve_refs(c: &Compiled, req: &Request, action: &EntityUid) -> [crate::fast::EntRef; 3] {
    let mut unknown = Vec::new();
    [&req.principal, action, &req.resource].map(|u| c.fast.resolve(u, &mut unknown))
}

/// The action's context type, when the request's principal and resource
/// types are the action's and the compiled evaluator can take its context,
/// with the clock reading to stamp as `context.now` where the schema
/// declares it: the instant of the stamp Cedar's path parses (or the same
/// failure). `refs` are the request's entities from [`resolve_refs`].
fn compiled_context_type(
    c: &Compiled,
    [principal, action, resource]: [crate::fast::EntRef; 3],
    now: SystemTime,
) -> Option<(&crate::request_shape::Record, Option<i64>)> {
    let shape = c.shape_refs.get(&action.id)?;
    if !shape.principal_types.contains(&principal.ty) || !shape.resource_types.contains(&resource.ty) {
        return None;
    }
    let record = &*shape.context;
    let now_ms = match shape.declares_now {
        true => Some(crate::fast::time::clock_millis(now)?),
        false => None,
    };
    Some((record, now_ms))
}

/// Builds the Cedar context, inserting the clock's `now` where the schema declares it.
fn build_context(
    c: &Compiled,
    action: &EntityUid,
    ctx: &RequestContext,
    now: SystemTime,
) -> Result<Context, RequestError> {
    let needs_now = c.shapes.get(action).is_some_and(|s| s.declares_now);
    match ctx {
        RequestContext::Json(_) | RequestContext::Values(_) => {
            let mut map = ctx.json().map(std::borrow::Cow::into_owned).unwrap_or_default();
            if needs_now {
                let stamp = format_rfc3339_millis(now);
                map.insert("now".into(), serde_json::json!({"__extn": {"fn": "datetime", "arg": stamp}}));
            }
            Context::from_json_value(Value::Object(map), Some((&c.schema, action)))
                .map_err(|e| RequestError::Context(crate::compile::diagnostic_message(&e)))
        }
        RequestContext::Typed(pairs) => {
            let mut pairs: Vec<(String, RestrictedExpression)> =
                pairs.iter().filter(|(k, _)| !(needs_now && k == "now")).cloned().collect();
            if needs_now {
                pairs.push(("now".into(), RestrictedExpression::new_datetime(format_rfc3339_millis(now))));
            }
            Context::from_pairs(pairs).map_err(|e| RequestError::Context(e.to_string()))
        }
    }
}
