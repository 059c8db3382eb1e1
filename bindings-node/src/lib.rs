//! Node binding of agentauthz (napi-rs).
//!
//! The native half of the `agentauthz` npm package: the `Engine` class,
//! `loadCases`, and the conversions between JavaScript values and the core's
//! requests and decisions. `index.js` adds the error classes and `guard`.
//! Like every binding, this crate converts and delegates: all policy logic
//! lives in the core crate.

mod convert;
mod errors;
mod output;
mod wire;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agentauthz::audit::{AuditLog, OnFull};
use agentauthz::cedar_policy::EntityUid;
use agentauthz::{
    ApprovalError, ContextValue, Enforcement, ErrorMode, GrantSpec, NamedText, PolicySources, Request, RequestError,
    SessionLimits, Subject,
};
use napi::bindgen_prelude::{
    AsyncTask, BufferSlice, Either, External, Function, FunctionCallContext, JsObjectValue, Object, Unknown,
};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, JsValue, Task, ValueType};
use napi_derive::napi;
use serde_json::Value;

use crate::convert::{ConvertError, Tree, Walker, DATA_LIMITS, REQUEST_LIMITS};

/// The allocator for the addon's Rust allocations: a decision allocates and
/// frees a few dozen small objects, which glibc's malloc makes a large share
/// of a call's cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::errors::{approval_error, cases_error, file_error, load_error, request_error};
use crate::output::{grant_object, revocation_object, JsCase, JsDecision, JsPolicyInfo};

/// A loaded, validated policy set that decides requests (see the package README).
#[napi]
pub struct Engine {
    inner: Arc<agentauthz::Engine>,
    /// Exceptions thrown by the audit callback (counted on the JS thread).
    callback_errors: Arc<CallbackErrors>,
    /// The policies numbered for index.js's decisions (see `wire`).
    reasons: Arc<Mutex<wire::ReasonTable>>,
}

/// What `__authorizeWire` decides with: the engine and its policy table,
/// handed to index.js once per engine as an `External` (see
/// [`Engine::wire_handle`]).
pub struct WireHandle {
    inner: Arc<agentauthz::Engine>,
    reasons: Arc<Mutex<wire::ReasonTable>>,
}

/// Exceptions thrown by a JS audit callback: the callback runs on the JS
/// thread after the writer queued the record, so they are counted here and
/// added to the core's write errors in `auditStats()`.
#[derive(Default)]
struct CallbackErrors {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

#[napi]
impl Engine {
    /// Builds an engine from a schema, policies and optional entities given as
    /// text. Throws `SchemaError` / `PolicyError` (naming the file and line)
    /// when they do not load, `RequestError` when an option has the wrong type.
    #[napi(constructor, ts_args_type = "options: EngineOptions")]
    pub fn new(env: Env, options: Unknown<'_>) -> napi::Result<Self> {
        let (sources, settings) = engine_options(&env, options)?;
        build(&env, sources, settings)
    }

    /// Loads a policy folder: one `*.cedarschema`, `*.cedar` files (in sorted
    /// order) and an optional `entities.json`.
    #[napi(factory, ts_args_type = "dir: string, options?: LoadOptions")]
    pub fn from_dir(env: Env, dir: Unknown<'_>, options: Option<Unknown<'_>>) -> napi::Result<Self> {
        let Some(dir) = js_string(&dir)? else {
            return Err(request_error(&env, format!("fromDir: dir must be a string path, got {}", kind(&dir)?)));
        };
        let settings = match options {
            None => Settings::default(),
            Some(o) => load_options(&env, o)?,
        };
        let sources = PolicySources::from_dir(&dir).map_err(|e| load_error(&env, &e))?;
        build(&env, sources, settings)
    }

    /// The version (content hash) of the policy set now in force (changes on
    /// a successful `reload`).
    #[napi(getter)]
    pub fn policy_version(&self) -> String {
        self.inner.policy_version().to_string()
    }

    /// Validates new policies and swaps them in atomically: a policy folder,
    /// or `{ schema, policies, entities? }` as for the constructor. Returns
    /// the new version. On any error it throws (`SchemaError`, `PolicyError`)
    /// and the old set keeps serving. Revocations, grants, approvals and
    /// session counters are kept.
    #[napi(ts_args_type = "source: string | ReloadSources")]
    pub fn reload(&self, env: Env, source: Unknown<'_>) -> napi::Result<String> {
        let sources = match js_string(&source)? {
            Some(dir) => PolicySources::from_dir(&dir).map_err(|e| load_error(&env, &e))?,
            None => {
                if source.get_type()? != ValueType::Object || source.is_array()? {
                    return Err(request_error(
                        &env,
                        format!(
                            "reload: expected a policy folder path or {{ schema, policies, entities? }}, got {}",
                            kind(&source)?
                        ),
                    ));
                }
                let obj = source.coerce_to_object()?;
                check_keys(&env, &obj, &["schema", "policies", "entities"], "reload")?;
                sources_from(&env, &obj, "reload")?
            }
        };
        self.inner.reload(&sources).map_err(|e| load_error(&env, &e))
    }

    /// Revokes (kill switch) one agent (`{ agent: 'Agent::"ci-bot"' }`),
    /// session (`{ session: id }`) or credential (`{ credential: id }`): from
    /// the next decision on, on every thread, any request naming it is denied
    /// before policies run (`guard:revoked`, with `reason`).
    #[napi(ts_args_type = "subject: RevocationSubject, reason: string")]
    pub fn revoke(&self, env: Env, subject: Unknown<'_>, reason: Unknown<'_>) -> napi::Result<()> {
        let subject = js_subject(&env, &subject, "revoke")?;
        let Some(reason) = js_string(&reason)? else {
            return Err(request_error(&env, format!("revoke: reason must be a string, got {}", kind(&reason)?)));
        };
        self.inner.revoke(subject, &reason);
        Ok(())
    }

    /// Lifts a revocation; returns whether there was one.
    #[napi(ts_args_type = "subject: RevocationSubject")]
    pub fn restore(&self, env: Env, subject: Unknown<'_>) -> napi::Result<bool> {
        let subject = js_subject(&env, &subject, "restore")?;
        Ok(self.inner.restore(&subject))
    }

    /// The revocations in force, sorted by kind and id.
    #[napi(ts_return_type = "Array<Revocation>")]
    pub fn revocations<'e>(&self, env: &'e Env) -> napi::Result<Vec<Object<'e>>> {
        self.inner.revocations().into_iter().map(|r| revocation_object(env, r)).collect()
    }

    /// Writes the revocations to a JSON file (atomically). Throws `FileError`.
    #[napi(ts_args_type = "path: string")]
    pub fn save_revocations(&self, env: Env, path: Unknown<'_>) -> napi::Result<()> {
        let path = js_path(&env, &path, "saveRevocations")?;
        self.inner.save_revocations(&path).map_err(|e| file_error(&env, &e, &path, "save revocations to"))
    }

    /// Replaces the revocations with those saved in a JSON file (by
    /// `saveRevocations` or the CLI's `agentauthz revoke`). Throws `FileError`
    /// (`kind` `io` or `invalid`); the revocations in force are then unchanged.
    #[napi(ts_args_type = "path: string")]
    pub fn load_revocations(&self, env: Env, path: Unknown<'_>) -> napi::Result<()> {
        let path = js_path(&env, &path, "loadRevocations")?;
        self.inner.load_revocations(&path).map_err(|e| file_error(&env, &e, &path, "load revocations from"))
    }

    /// Adds a time-bound grant: `principal` may do `actions` to `resource` (or
    /// anything in it) until `expiresAt` or for `ttlSeconds` from now (exactly
    /// one of the two). Effective at once, it stops matching at expiry with no
    /// reload; forbid policies still apply. Returns the grant id.
    #[napi(ts_args_type = "grant: GrantOptions")]
    pub fn grant(&self, env: Env, grant: Unknown<'_>) -> napi::Result<String> {
        let spec = js_grant(&env, &grant)?;
        Ok(self.inner.grant(spec))
    }

    /// Removes a grant; returns whether it existed.
    #[napi(ts_args_type = "grantId: string")]
    pub fn revoke_grant(&self, env: Env, grant_id: Unknown<'_>) -> napi::Result<bool> {
        let Some(id) = js_string(&grant_id)? else {
            return Err(request_error(
                &env,
                format!("revokeGrant: grantId must be a string, got {}", kind(&grant_id)?),
            ));
        };
        Ok(self.inner.revoke_grant(&id))
    }

    /// The unexpired grants.
    #[napi(ts_return_type = "Array<Grant>")]
    pub fn grants<'e>(&self, env: &'e Env) -> napi::Result<Vec<Object<'e>>> {
        self.inner.grants().into_iter().map(|g| grant_object(env, g)).collect()
    }

    /// Records a human approval of an ask's `approvalId`: the same request
    /// (principal, action, resource, asking policies) is then allowed for
    /// `ttlSeconds` and at most `uses` times (default 1), then asks again.
    /// Throws `ApprovalError` for an id this engine never issued. A request
    /// that a forbid without `@ask` denies is never allowed by it.
    #[napi(ts_args_type = "approvalId: string, approver: string, options: ApproveOptions")]
    pub fn approve(
        &self,
        env: Env,
        approval_id: Unknown<'_>,
        approver: Unknown<'_>,
        options: Unknown<'_>,
    ) -> napi::Result<()> {
        let Some(id) = js_string(&approval_id)? else {
            return Err(request_error(
                &env,
                format!("approve: approvalId must be a string, got {}", kind(&approval_id)?),
            ));
        };
        let Some(approver) = js_string(&approver)? else {
            return Err(request_error(&env, format!("approve: approver must be a string, got {}", kind(&approver)?)));
        };
        let obj = options_object(&env, &options, "approve(approvalId, approver, options)")?;
        check_keys(&env, &obj, &["ttlSeconds", "uses"], "approve")?;
        let ttl_value: Unknown<'_> = obj.get_named_property("ttlSeconds")?;
        let Some(ttl) = positive_seconds(&env, &ttl_value, "approve: options.ttlSeconds")? else {
            return Err(request_error(&env, "approve: options.ttlSeconds is required".into()));
        };
        let uses_value: Unknown<'_> = obj.get_named_property("uses")?;
        let uses = match positive_integer(&env, &uses_value, "approve: options.uses", u64::from(u32::MAX))? {
            None => 1,
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        };
        match self.inner.approve(&id, &approver, ttl, uses) {
            Ok(()) => Ok(()),
            Err(e @ ApprovalError::Unknown(_)) => Err(approval_error(&env, e.to_string(), &id)),
            Err(e) => Err(request_error(&env, format!("approve: {e}"))),
        }
    }

    /// How many sessions the session counters track now (0 when they are off).
    #[napi(getter)]
    pub fn tracked_sessions(&self) -> u32 {
        u32::try_from(self.inner.tracked_sessions()).unwrap_or(u32::MAX)
    }

    /// The number of loaded policies.
    #[napi(getter)]
    pub fn policy_count(&self) -> u32 {
        u32::try_from(self.inner.policy_count()).unwrap_or(u32::MAX)
    }

    /// How policy evaluation errors affect outcomes.
    #[napi(getter, ts_return_type = "ErrorMode")]
    pub fn error_mode(&self) -> &'static str {
        match self.inner.error_mode() {
            ErrorMode::Strict => "strict",
            ErrorMode::Cedar => "cedar",
            _ => "fail-closed",
        }
    }

    /// Every loaded policy's id, file, effect and annotations, sorted by id.
    #[napi]
    pub fn policies(&self) -> Vec<JsPolicyInfo> {
        self.inner.policies().iter().map(|p| JsPolicyInfo::from(p.as_ref())).collect()
    }

    /// Waits until every decision made so far is written to every audit sink
    /// (the file fsynced; records for a `callback` are queued to the JS
    /// thread, which runs them once this call returns and JavaScript regains
    /// control). Throws `AuthzError` if a write failed (the records are kept
    /// and retried) and `RequestError` when the engine has no audit log.
    #[napi]
    pub fn audit_flush(&self, env: Env) -> napi::Result<()> {
        let log = self.audit_log(&env)?;
        log.flush()
            .map_err(|e| errors::js_error(&env, errors::FILE_ERROR, format!("audit: {e}"), errors::Details::default()))
    }

    /// The audit log's counters: `records` written (gap records included),
    /// `dropped` (decisions not recorded because the queue was full),
    /// `writeErrors` (write failures and callback exceptions), `lastError`
    /// and `nextSeq`.
    #[napi(ts_return_type = "AuditStats")]
    pub fn audit_stats<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        let s = self.audit_log(env)?.stats();
        let callback_errors = self.callback_errors.count.load(Ordering::Relaxed);
        let callback_last = self.callback_errors.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut o = Object::new(env)?;
        o.set("records", s.records as f64)?;
        o.set("dropped", s.dropped as f64)?;
        o.set("writeErrors", (s.write_errors + callback_errors) as f64)?;
        o.set("lastError", callback_last.or(s.last_error))?;
        o.set("nextSeq", s.next_seq as f64)?;
        Ok(o)
    }

    /// The records in the audit ring (`audit: { ring: N }`), oldest first;
    /// empty without a ring.
    #[napi(ts_return_type = "Array<AuditRecord>")]
    pub fn audit_records(&self, env: Env) -> napi::Result<Vec<Value>> {
        let lines = self.audit_log(&env)?.recent();
        lines
            .iter()
            .map(|l| serde_json::from_str(l).map_err(|e| request_error(&env, format!("auditRecords: {e}"))))
            .collect()
    }

    /// Decides a request now. Never throws for a bad request: it is denied,
    /// with the problem in `errors`.
    #[napi(ts_args_type = "request: AuthorizeRequest")]
    pub fn authorize(&self, env: Env, request: Unknown<'_>) -> napi::Result<JsDecision> {
        let start = Instant::now();
        let req = js_request(&env, request)?;
        Ok(decide(&self.inner, &req, None, start))
    }

    /// Decides a request as if the clock read `now` (a `Date`, epoch
    /// milliseconds or an RFC 3339 string): for replays and tests.
    #[napi(ts_args_type = "request: AuthorizeRequest, now: Date | number | string")]
    pub fn authorize_at(&self, env: Env, request: Unknown<'_>, now: Unknown<'_>) -> napi::Result<JsDecision> {
        let start = Instant::now();
        let now = js_time(&env, &now, "authorizeAt: now")?;
        let req = js_request(&env, request)?;
        Ok(decide(&self.inner, &req, Some(now), start))
    }

    /// The JSON fast path behind `authorize` (index.js): the request as JSON
    /// text, already checked by index.js to be plain data within the limits
    /// (anything else goes through `authorize`'s own conversion); the
    /// decision as JSON text, for `JSON.parse`. Crossing into JS once per
    /// direction is several times cheaper than reading and creating every
    /// property through N-API.
    #[napi(js_name = "__authorizeJson", skip_typescript)]
    pub fn authorize_json(&self, env: Env, text: String) -> napi::Result<String> {
        let start = Instant::now();
        decision_json(&env, &self.inner, &text, None, start)
    }

    /// `authorizeAt`'s JSON fast path (see `__authorizeJson`).
    #[napi(js_name = "__authorizeAtJson", skip_typescript)]
    pub fn authorize_at_json(&self, env: Env, text: String, now: Unknown<'_>) -> napi::Result<String> {
        let start = Instant::now();
        let now = js_time(&env, &now, "authorizeAt: now")?;
        decision_json(&env, &self.inner, &text, Some(now), start)
    }

    /// The engine and its policy table for `__authorizeWire` (index.js
    /// fetches it once per engine). A free function called with it skips the
    /// bookkeeping napi-rs does for every method call on a class instance
    /// (a borrow registered in a global table and released after the call,
    /// about 2,000 instructions).
    #[napi(js_name = "__wireHandle", skip_typescript)]
    pub fn wire_handle(&self) -> External<WireHandle> {
        External::new(WireHandle { inner: Arc::clone(&self.inner), reasons: Arc::clone(&self.reasons) })
    }

    /// The policy table behind `__authorizeWire`'s numeric decisions, as JSON:
    /// `{generation, version, reasons}`.
    #[napi(js_name = "__reasonTable", skip_typescript)]
    pub fn reason_table(&self) -> String {
        wire::table_json(&self.reasons, &self.inner)
    }

    /// Decides many requests in one call; the decisions are in request order.
    /// With `now`, every request is decided as if the clock read `now` (as
    /// `authorizeAt`).
    #[napi(ts_args_type = "requests: AuthorizeRequest[], now?: Date | number | string")]
    pub fn authorize_batch(
        &self,
        env: Env,
        requests: Unknown<'_>,
        now: Option<Unknown<'_>>,
    ) -> napi::Result<Vec<JsDecision>> {
        if !(requests.get_type()? == ValueType::Object && requests.is_array()?) {
            return Err(request_error(
                &env,
                format!("authorizeBatch: requests must be an array, got {}", kind(&requests)?),
            ));
        }
        let now = match now {
            Some(t) if t.get_type()? != ValueType::Undefined => Some(js_time(&env, &t, "authorizeBatch: now")?),
            _ => None,
        };
        let list = requests.coerce_to_object()?;
        let len = list.get_array_length_unchecked()?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let start = Instant::now();
            let item: Unknown<'_> = list.get_element(i)?;
            let req = js_request(&env, item)?;
            out.push(decide(&self.inner, &req, now, start));
        }
        Ok(out)
    }

    /// Decides a request on the libuv thread pool, off the JavaScript thread.
    /// The request is converted before the call returns, so later changes to
    /// the object do not affect the decision.
    #[napi(ts_args_type = "request: AuthorizeRequest", ts_return_type = "Promise<Decision>")]
    pub fn authorize_async(&self, env: Env, request: Unknown<'_>) -> napi::Result<AsyncTask<AuthorizeTask>> {
        let start = Instant::now();
        let request = js_request(&env, request)?;
        Ok(AsyncTask::new(AuthorizeTask { engine: Arc::clone(&self.inner), request, start }))
    }
}

/// The work of one `authorizeAsync` call.
pub struct AuthorizeTask {
    engine: Arc<agentauthz::Engine>,
    request: Result<Request, RequestError>,
    start: Instant,
}

impl Task for AuthorizeTask {
    type Output = JsDecision;
    type JsValue = JsDecision;

    fn compute(&mut self) -> napi::Result<JsDecision> {
        Ok(decide(&self.engine, &self.request, None, self.start))
    }

    fn resolve(&mut self, _env: Env, output: JsDecision) -> napi::Result<JsDecision> {
        Ok(output)
    }
}

/// Reads a cases file (`cases.toml`): every case's name, request, clock
/// reading, expected outcome and expected reasons. Throws `CasesError`.
#[napi(ts_args_type = "path: string")]
pub fn load_cases(env: Env, path: Unknown<'_>) -> napi::Result<Vec<JsCase>> {
    let Some(path) = js_string(&path)? else {
        return Err(request_error(&env, format!("loadCases: path must be a string, got {}", kind(&path)?)));
    };
    let cases = agentauthz::cases::load_cases(&path).map_err(|e| cases_error(&env, &e))?;
    Ok(cases.into_iter().map(JsCase::from).collect())
}

/// Checks an audit log's hash chain across files (oldest first: the rotated
/// `FILE.000001`, ... then `FILE`). `broken` names the file, line, seq and
/// kind of the first break (edited, deleted, inserted, reordered, truncated).
#[napi(ts_args_type = "files: string[]", ts_return_type = "AuditVerifyReport")]
pub fn audit_verify<'e>(env: &'e Env, files: Vec<String>) -> napi::Result<Object<'e>> {
    let report = agentauthz::audit::verify(&files).map_err(|e| {
        errors::js_error(env, errors::FILE_ERROR, format!("auditVerify: {e}"), errors::Details::default())
    })?;
    let mut o = Object::new(env)?;
    o.set("intact", report.intact())?;
    o.set("records", report.records as f64)?;
    o.set("firstSeq", report.first_seq.map(|n| n as f64))?;
    o.set("lastSeq", report.last_seq.map(|n| n as f64))?;
    o.set("gaps", report.gaps as f64)?;
    o.set("lost", report.lost as f64)?;
    o.set("broken", report.broken.map(|b| b.to_string()))?;
    Ok(o)
}

/// Registers the `Error` subclass to construct for each code
/// (`{ SCHEMA_ERROR: SchemaError, ... }`); called once by `index.js`.
#[napi(js_name = "__registerErrorClasses", skip_typescript)]
pub fn register_error_classes(classes: Object<'_>) -> napi::Result<()> {
    errors::register(classes)
}

/// The binary fast path behind `authorize` / `authorizeAt` (index.js and
/// `wire`) for the engine behind `handle` ([`Engine::wire_handle`]): the
/// request written by index.js in `buf` (`len` bytes from
/// `wire::REQUEST_AT`, its strings' text `textLen` bytes from
/// `wire::TEXT_AT`, see `wire`), decided at `nowMs` (epoch milliseconds; `NaN`: the
/// engine's clock). Returns `1` when the decision was written into `buf`
/// in the numeric form, else the decision as JSON text (with the table
/// generation at bytes 4..8, for index.js to see that its table is stale).
#[napi(js_name = "__authorizeWire", skip_typescript)]
pub fn authorize_wire(
    env: Env,
    handle: &External<WireHandle>,
    mut buf: BufferSlice<'_>,
    len: u32,
    text_len: u32,
    now_ms: f64,
) -> napi::Result<Either<u32, String>> {
    let start = Instant::now();
    let now = if now_ms.is_nan() {
        None
    } else {
        Some(ms_time(now_ms).map_err(|p| {
            request_error(
                &env,
                format!(
                    "authorizeAt: now must be a Date, epoch milliseconds or an RFC 3339 string; {}",
                    now_problem(&p)
                ),
            )
        })?)
    };
    // No JavaScript runs during this call (the engine calls none
    // synchronously), so nothing else touches the buffer meanwhile.
    let bytes: &mut [u8] = &mut buf;
    let generation = wire::u32_at(bytes, 0).unwrap_or(0);
    let span = |at: usize, n: usize| at.checked_add(n).and_then(|end| bytes.get(at..end));
    let utf8 = |at: usize, n: usize| span(at, n).and_then(|b| std::str::from_utf8(b).ok());
    // The kept strings' region's used part, and the text after the region.
    let kept = wire::u32_at(bytes, wire::KEPT_AT).filter(|n| *n <= wire::KEPT_BYTES);
    let after = (text_len as usize).checked_sub(wire::KEPT_BYTES);
    let strings =
        kept.and_then(|n| utf8(wire::TEXT_AT, n)).zip(after.and_then(|n| utf8(wire::TEXT_AT + wire::KEPT_BYTES, n)));
    let decided = match (span(wire::REQUEST_AT, len as usize), strings) {
        (Some(values), Some((kept, text))) => decide_wire(&handle.inner, wire::Wire::new(values, kept, text), now),
        _ => Err(RequestError::Malformed("the request buffer is malformed".into())),
    };
    let js = match decided {
        Ok(d) => {
            if wire::write_decision(&d, &handle.reasons, &handle.inner, generation, bytes).is_some() {
                return Ok(Either::A(1));
            }
            JsDecision::from(&d)
        }
        Err(e) => JsDecision::request_denied(&handle.inner.policy_version(), &e, start),
    };
    let current = handle.reasons.lock().unwrap_or_else(std::sync::PoisonError::into_inner).generation();
    if let Some(b) = bytes.get_mut(4..8) {
        b.copy_from_slice(&current.to_le_bytes());
    }
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, &js).map_err(|e| request_error(&env, format!("authorize: {e}")))?;
    String::from_utf8(out).map(Either::B).map_err(|e| request_error(&env, format!("authorize: {e}")))
}

/// The settings of a constructor or `fromDir` besides the sources.
#[derive(Default)]
struct Settings {
    mode: ErrorMode,
    enforcement: Enforcement,
    sessions: Option<SessionLimits>,
    audit: Option<AuditLog>,
    callback_errors: Arc<CallbackErrors>,
}

fn build(env: &Env, sources: PolicySources, settings: Settings) -> napi::Result<Engine> {
    let mut builder = agentauthz::Engine::builder(sources).error_mode(settings.mode).enforcement(settings.enforcement);
    if let Some(limits) = settings.sessions {
        builder = builder.session_counters(limits);
    }
    if let Some(log) = settings.audit {
        builder = builder.audit(log);
    }
    let engine = builder.build().map_err(|e| load_error(env, &e))?;
    Ok(Engine { inner: Arc::new(engine), callback_errors: settings.callback_errors, reasons: Arc::default() })
}

impl Engine {
    fn audit_log(&self, env: &Env) -> napi::Result<&AuditLog> {
        self.inner.audit().ok_or_else(|| request_error(env, "this engine has no audit log (pass options.audit)".into()))
    }
}

/// Reads `options.audit` (see `AuditOptions` in index.d.ts) and opens the log.
fn audit_option(
    env: &Env,
    obj: &Object<'_>,
    call: &str,
    callback_errors: &Arc<CallbackErrors>,
) -> napi::Result<Option<AuditLog>> {
    let value: Unknown<'_> = obj.get_named_property("audit")?;
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(None),
        ValueType::Object if !value.is_array()? => {}
        _ => return Err(request_error(env, format!("{call}: options.audit must be an object, got {}", kind(&value)?))),
    }
    let a = value.coerce_to_object()?;
    let what = format!("{call}: options.audit");
    check_keys(env, &a, &["file", "rotateBytes", "ring", "redact", "onFull", "capacity", "callback"], &what)?;
    let mut b = AuditLog::builder();
    let file: Unknown<'_> = a.get_named_property("file")?;
    if !matches!(file.get_type()?, ValueType::Undefined | ValueType::Null) {
        let Some(path) = js_string(&file)? else {
            return Err(request_error(env, format!("{what}.file must be a string path, got {}", kind(&file)?)));
        };
        b = b.file(path);
    }
    let limit = u64::from(u32::MAX) * 1024;
    let n: Unknown<'_> = a.get_named_property("rotateBytes")?;
    if let Some(bytes) = positive_integer(env, &n, &format!("{what}.rotateBytes"), limit)? {
        b = b.rotate_at_bytes(bytes);
    }
    let n: Unknown<'_> = a.get_named_property("ring")?;
    if let Some(ring) = positive_integer(env, &n, &format!("{what}.ring"), 1 << 24)? {
        b = b.ring(usize::try_from(ring).unwrap_or(1 << 24));
    }
    let n: Unknown<'_> = a.get_named_property("capacity")?;
    if let Some(cap) = positive_integer(env, &n, &format!("{what}.capacity"), 1 << 24)? {
        b = b.capacity(usize::try_from(cap).unwrap_or(1 << 24));
    }
    let redact: Unknown<'_> = a.get_named_property("redact")?;
    if !matches!(redact.get_type()?, ValueType::Undefined | ValueType::Null) {
        let bad = || request_error(env, format!("{what}.redact must be an array of dotted context paths"));
        if !redact.is_array()? {
            return Err(bad());
        }
        let list = redact.coerce_to_object()?;
        for i in 0..list.get_array_length_unchecked()? {
            let item: Unknown<'_> = list.get_element(i)?;
            let Some(path) = js_string(&item)? else { return Err(bad()) };
            b = b.redact(&path);
        }
    }
    let on_full: Unknown<'_> = a.get_named_property("onFull")?;
    if on_full.get_type()? != ValueType::Undefined {
        b = match js_string(&on_full)?.as_deref() {
            Some("drop") => b.on_full(OnFull::Drop),
            Some("block") => b.on_full(OnFull::Block),
            _ => return Err(request_error(env, format!("{what}.onFull must be 'drop' or 'block'"))),
        };
    }
    let callback: Unknown<'_> = a.get_named_property("callback")?;
    match callback.get_type()? {
        ValueType::Undefined | ValueType::Null => {}
        ValueType::Function => {
            let f: Function<'_, Value, Unknown<'static>> = a.get_named_property("callback")?;
            b = b.callback(js_callback(env, &f, Arc::clone(callback_errors))?);
        }
        _ => return Err(request_error(env, format!("{what}.callback must be a function, got {}", kind(&callback)?))),
    }
    b.open()
        .map(Some)
        .map_err(|e| errors::js_error(env, errors::FILE_ERROR, format!("{what}: {e}"), errors::Details::default()))
}

/// Wraps a JS function as an audit callback. The writer thread queues each
/// record (non-blocking) to a thread-safe function that calls `f` on the JS
/// thread; a wrapper catches what `f` throws and counts it, so a throwing
/// callback never becomes an uncaught exception. The thread-safe function is
/// weak: it does not keep the process alive.
fn js_callback(
    env: &Env,
    f: &Function<'_, Value, Unknown<'static>>,
    errors: Arc<CallbackErrors>,
) -> napi::Result<agentauthz::audit::Callback> {
    let user = f.create_ref()?;
    let wrapper =
        env.create_function_from_closure("agentauthzAuditCallback", move |ctx: FunctionCallContext<'_>| {
            let record: Value = ctx.get(0)?;
            let f = user.borrow_back(ctx.env)?;
            if let Err(e) = f.call(record) {
                errors.count.fetch_add(1, Ordering::Relaxed);
                *errors.last.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("audit callback threw: {}", e.reason));
            }
            Ok(())
        })?;
    let tsfn = wrapper.build_threadsafe_function::<Value>().weak::<true>().build()?;
    Ok(Box::new(move |line: &str| {
        let record: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        match tsfn.call(record, ThreadsafeFunctionCallMode::NonBlocking) {
            napi::Status::Ok => Ok(()),
            status => Err(format!("the record could not be queued for the JS callback ({status})")),
        }
    }))
}

fn decide(
    engine: &agentauthz::Engine,
    request: &Result<Request, RequestError>,
    now: Option<SystemTime>,
    start: Instant,
) -> JsDecision {
    match request {
        Ok(r) => {
            let d = match now {
                Some(t) => engine.authorize_at(r, t),
                None => engine.authorize(r),
            };
            JsDecision::from(&d)
        }
        Err(e) => JsDecision::request_denied(&engine.policy_version(), e, start),
    }
}

/// Decides a request `index.js` wrote in the binary form (see `wire`): the
/// context read in place when the request has the common shape and the
/// engine can decide it so, else the request as the JSON text fast path
/// would have read it. `Err` for a request that is wrong (to be denied).
fn decide_wire(
    engine: &agentauthz::Engine,
    w: wire::Wire<'_>,
    mut now: Option<SystemTime>,
) -> Result<agentauthz::Decision, RequestError> {
    if let Some((request, context)) = wire_request(&w) {
        match context {
            None => return Ok(decide_core(engine, &request, now)),
            Some(c) => {
                if let Some(prepared) = engine.prepare(&request, &c, now) {
                    if let Some(d) = engine.decide_prepared(&request, &prepared) {
                        return Ok(d);
                    }
                    now = Some(prepared.now());
                }
            }
        }
    }
    let tree = w.to_tree(WIRE_MAX_DEPTH).map_err(RequestError::Malformed)?;
    request_from_tree(tree).map(|r| decide_core(engine, &r, now))
}

/// Nesting `to_tree` accepts: serde_json's own limit on the JSON text path
/// (index.js keeps requests far shallower).
const WIRE_MAX_DEPTH: usize = 128;

fn decide_core(engine: &agentauthz::Engine, request: &Request, now: Option<SystemTime>) -> agentauthz::Decision {
    match now {
        Some(t) => engine.authorize_at(request, t),
        None => engine.authorize(request),
    }
}

/// The request and its context, when a binary request has the common shape:
/// only the four fields, principal and resource as `Type::"id"` or `{type,
/// id}`, the action as a name or `Action::"name"`, the context an object.
/// `None` otherwise (the tree path then decides it, with its errors).
fn wire_request<'a>(w: &wire::Wire<'a>) -> Option<(Request, Option<wire::Wire<'a>>)> {
    let (mut principal, mut action, mut resource, mut context) = (None, None, None, None);
    w.each_field(|k, v| {
        match k {
            "principal" => principal = Some(v),
            "action" => action = Some(v),
            "resource" => resource = Some(v),
            "context" => context = Some(v),
            _ => return None,
        }
        Some(())
    })?;
    let principal = wire_uid(principal?)?;
    let resource = wire_uid(resource?)?;
    let action = action?.string()?;
    let request = if agentauthz::has_path_separator(action) {
        Request::with_action_uid(principal, agentauthz::parse_uid(action).ok()?, resource)
    } else {
        Request::new(principal, action, resource).ok()?
    };
    match context {
        None => Some((request, None)),
        Some(c) if c.is_object() => Some((request, Some(c))),
        Some(_) => None,
    }
}

/// An entity reference given as `Type::"id"` or exactly `{type, id}` strings.
fn wire_uid(v: wire::Wire<'_>) -> Option<EntityUid> {
    if let Some(s) = v.string() {
        return agentauthz::parse_uid(s).ok();
    }
    let (mut ty, mut id, mut n) = (None, None, 0);
    v.each_field(|k, x| {
        n += 1;
        match k {
            "type" => ty = Some(x.string()?),
            "id" => id = Some(x.string()?),
            _ => return None,
        }
        Some(())
    })?;
    if n != 2 {
        return None;
    }
    agentauthz::entity_uid(ty?, id?).ok()
}

/// The request a converted JS value (or fast-path JSON) describes. The
/// context goes to the core as values (no JSON maps); the rest is read as the
/// JSON request form, with the same checks.
fn request_from_tree(tree: Tree) -> Result<Request, RequestError> {
    let Tree::Object(mut fields) = tree else {
        return Request::from_json(&tree.into_json());
    };
    let context = match fields.iter().rposition(|(k, _)| k == "context") {
        Some(i) if matches!(fields.get(i), Some((_, Tree::Object(_)))) => Some(fields.remove(i).1),
        _ => None,
    };
    let rest = Tree::Object(fields).into_json();
    match context.map(Tree::into_context) {
        None => Request::from_json(&rest),
        Some(Ok(ContextValue::Record(attrs))) => Request::from_json(&rest).map(|r| r.with_context(attrs)),
        Some(Ok(other)) => Request::from_json(&with_context(rest, other.to_json())),
        Some(Err(json)) => Request::from_json(&with_context(rest, json)),
    }
}

/// Decides a request given as JSON text (see `Engine::authorize_json`) and
/// returns the decision as JSON text.
fn decision_json(
    env: &Env,
    engine: &agentauthz::Engine,
    text: &str,
    now: Option<SystemTime>,
    start: Instant,
) -> napi::Result<String> {
    // index.js bounded the data itself; escapes can make the text several
    // times longer than the data, so the text limit is a multiple of it.
    let req = if text.len() > 8 * agentauthz::MAX_REQUEST_BYTES {
        Err(RequestError::Limit(format!("larger than {} bytes in total", agentauthz::MAX_REQUEST_BYTES)))
    } else {
        match serde_json::from_str::<Tree>(text) {
            Ok(tree) => request_from_tree(tree),
            // Not what index.js writes (e.g. a float): the JSON request form's own errors.
            Err(_) => serde_json::from_str::<Value>(text)
                .map_err(|e| RequestError::Malformed(e.to_string()))
                .and_then(|v| Request::from_json(&v)),
        }
    };
    let decision = decide(engine, &req, now, start);
    // A decision's JSON is a few hundred bytes: one allocation, not a doubling series.
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, &decision).map_err(|e| request_error(env, format!("authorize: {e}")))?;
    String::from_utf8(out).map_err(|e| request_error(env, format!("authorize: {e}")))
}

/// The request limits index.js checks before taking the JSON fast path:
/// `[deepest nesting counted from the request object, most bytes]`, as the
/// native conversion counts them.
#[napi(js_name = "__requestLimits", skip_typescript)]
pub fn request_limits() -> Vec<u32> {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    vec![clamp(REQUEST_LIMITS.max_depth), clamp(REQUEST_LIMITS.max_bytes)]
}

/// Converts a JS request; `Ok(Err(_))` for a request that is wrong (to be
/// denied), `Err(_)` only when JavaScript threw (a getter or `toJSON`).
fn js_request(env: &Env, value: Unknown<'_>) -> napi::Result<Result<Request, RequestError>> {
    if value.get_type()? != ValueType::Object || value.is_array()? {
        return Ok(Err(RequestError::Malformed(format!(
            "a request must be an object {{principal, action, resource, context?}}, got {}",
            kind(&value)?
        ))));
    }
    let mut walker = Walker::new(env, REQUEST_LIMITS, "");
    match walker.convert(value) {
        Ok(Some(tree)) => Ok(request_from_tree(tree)),
        Ok(None) => Ok(Err(RequestError::Malformed("the request is undefined".into()))),
        Err(ConvertError::Js(e)) => Err(e),
        Err(e @ ConvertError::Invalid { limit: true, .. }) => Ok(Err(RequestError::Limit(e.describe()))),
        Err(e @ ConvertError::Invalid { .. }) => {
            let text = e.describe();
            if text.starts_with("context") {
                Ok(Err(RequestError::Context(text)))
            } else {
                Ok(Err(RequestError::Malformed(text)))
            }
        }
    }
}

/// The JSON request `rest` with its `context` put back.
fn with_context(mut rest: Value, context: Value) -> Value {
    if let Value::Object(m) = &mut rest {
        m.insert("context".into(), context);
    }
    rest
}

/// `Date`, epoch milliseconds or RFC 3339 text to an instant; `what` names
/// the argument in errors (`authorizeAt: now`).
fn js_time(env: &Env, value: &Unknown<'_>, what: &str) -> napi::Result<SystemTime> {
    let bad = |problem: String| {
        request_error(env, format!("{what} must be a Date, epoch milliseconds or an RFC 3339 string; {problem}"))
    };
    let ms = match value.get_type()? {
        ValueType::Object if value.is_date()? => value.coerce_to_number()?.get_double()?,
        ValueType::Number => value.coerce_to_number()?.get_double()?,
        ValueType::String => {
            let text = value.coerce_to_string()?.into_utf8()?.into_owned()?;
            return agentauthz::parse_rfc3339(&text).ok_or_else(|| bad(format!("`{text}` is not an RFC 3339 instant")));
        }
        _ => return Err(bad(format!("got {}", kind(value)?))),
    };
    ms_time(ms).map_err(|p| bad(now_problem(&p).to_string()))
}

/// Why epoch milliseconds are not an instant.
enum TimeProblem {
    Invalid,
    OutOfRange(f64),
}

fn now_problem(p: &TimeProblem) -> String {
    match p {
        TimeProblem::Invalid => "got an invalid Date".into(),
        TimeProblem::OutOfRange(ms) => format!("{ms} is out of range"),
    }
}

/// Epoch milliseconds (a JS `Date`'s time) to an instant.
fn ms_time(ms: f64) -> Result<SystemTime, TimeProblem> {
    if !ms.is_finite() {
        return Err(TimeProblem::Invalid);
    }
    let offset = Duration::try_from_secs_f64(ms.abs() / 1000.0).map_err(|_| TimeProblem::OutOfRange(ms))?;
    let t = if ms >= 0.0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
    t.ok_or(TimeProblem::OutOfRange(ms))
}

/// Reads the constructor's options object.
fn engine_options(env: &Env, options: Unknown<'_>) -> napi::Result<(PolicySources, Settings)> {
    let obj = options_object(env, &options, "new Engine(options)")?;
    check_keys(
        env,
        &obj,
        &["schema", "policies", "entities", "errorMode", "enforcement", "sessionCounters", "audit"],
        "new Engine",
    )?;
    let sources = sources_from(env, &obj, "new Engine")?;
    let mode = error_mode(env, &obj)?;
    let enforcement = enforcement(env, &obj)?;
    let sessions = session_counters(env, &obj, "new Engine")?;
    let callback_errors = Arc::default();
    let audit = audit_option(env, &obj, "new Engine", &callback_errors)?;
    Ok((sources, Settings { mode, enforcement, sessions, audit, callback_errors }))
}

/// Reads `schema`, `policies` and `entities` from an options object; `call`
/// starts error messages.
fn sources_from(env: &Env, obj: &Object<'_>, call: &str) -> napi::Result<PolicySources> {
    let schema_value: Unknown<'_> = obj.get_named_property("schema")?;
    let Some(schema) = js_string(&schema_value)? else {
        return Err(request_error(
            env,
            format!("{call}: options.schema must be the Cedar schema text (a string), got {}", kind(&schema_value)?),
        ));
    };
    let policies_value: Unknown<'_> = obj.get_named_property("policies")?;
    let policies = policy_texts(env, &policies_value, call)?;
    let entities_value: Unknown<'_> = obj.get_named_property("entities")?;
    let entities = match entities_value.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        ValueType::String => js_string(&entities_value)?,
        ValueType::Object => {
            let mut walker = Walker::new(env, DATA_LIMITS, "options.entities");
            match walker.convert(entities_value) {
                Ok(v) => Some(v.map_or(Value::Null, Tree::into_json).to_string()),
                Err(ConvertError::Js(e)) => return Err(e),
                Err(e) => return Err(request_error(env, format!("{call}: {}", e.describe()))),
            }
        }
        _ => {
            return Err(request_error(
                env,
                format!(
                    "{call}: options.entities must be Cedar entity JSON (text or an array), got {}",
                    kind(&entities_value)?
                ),
            ))
        }
    };
    Ok(PolicySources {
        schema: NamedText::new("<schema>", schema),
        policies,
        entities: entities.map(|e| NamedText::new("<entities>", e)),
    })
}

/// `policies` as one text or an array of texts (`<policies>`, `<policies#2>`, ...).
fn policy_texts(env: &Env, value: &Unknown<'_>, call: &str) -> napi::Result<Vec<NamedText>> {
    if let Some(text) = js_string(value)? {
        return Ok(vec![NamedText::new("<policies>", text)]);
    }
    let wrong = |got: String| {
        request_error(
            env,
            format!("{call}: options.policies must be Cedar policy text (a string or an array of strings), got {got}"),
        )
    };
    if !(value.get_type()? == ValueType::Object && value.is_array()?) {
        return Err(wrong(kind(value)?.to_string()));
    }
    let list = value.coerce_to_object()?;
    let len = list.get_array_length_unchecked()?;
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let item: Unknown<'_> = list.get_element(i)?;
        let Some(text) = js_string(&item)? else {
            return Err(wrong(format!("{} at index {i}", kind(&item)?)));
        };
        let name = if i == 0 { "<policies>".to_string() } else { format!("<policies#{}>", i + 1) };
        out.push(NamedText::new(name, text));
    }
    Ok(out)
}

/// Reads `fromDir`'s options object.
fn load_options(env: &Env, options: Unknown<'_>) -> napi::Result<Settings> {
    if matches!(options.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(Settings::default());
    }
    let obj = options_object(env, &options, "fromDir(dir, options)")?;
    check_keys(env, &obj, &["errorMode", "enforcement", "sessionCounters", "audit"], "fromDir")?;
    let callback_errors = Arc::default();
    Ok(Settings {
        mode: error_mode(env, &obj)?,
        enforcement: enforcement(env, &obj)?,
        sessions: session_counters(env, &obj, "fromDir")?,
        audit: audit_option(env, &obj, "fromDir", &callback_errors)?,
        callback_errors,
    })
}

/// `sessionCounters: true | { maxSessions?, idleSeconds? }` (off when absent or false).
fn session_counters(env: &Env, obj: &Object<'_>, call: &str) -> napi::Result<Option<SessionLimits>> {
    let value: Unknown<'_> = obj.get_named_property("sessionCounters")?;
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Boolean => Ok(value.coerce_to_bool()?.then(SessionLimits::default)),
        ValueType::Object if !value.is_array()? => {
            let o = value.coerce_to_object()?;
            let label = format!("{call}: options.sessionCounters");
            check_keys(env, &o, &["maxSessions", "idleSeconds"], &label)?;
            let mut limits = SessionLimits::default();
            let max: Unknown<'_> = o.get_named_property("maxSessions")?;
            if let Some(n) = positive_integer(env, &max, &format!("{label}.maxSessions"), u64::from(u32::MAX))? {
                limits.max_sessions = usize::try_from(n).unwrap_or(usize::MAX);
            }
            let idle: Unknown<'_> = o.get_named_property("idleSeconds")?;
            if let Some(d) = positive_seconds(env, &idle, &format!("{label}.idleSeconds"))? {
                limits.idle_timeout = d;
            }
            Ok(Some(limits))
        }
        _ => Err(request_error(
            env,
            format!(
                "{call}: options.sessionCounters must be a boolean or {{ maxSessions?, idleSeconds? }}, got {}",
                kind(&value)?
            ),
        )),
    }
}

/// A positive, finite number of seconds; `None` when undefined.
fn positive_seconds(env: &Env, value: &Unknown<'_>, what: &str) -> napi::Result<Option<Duration>> {
    match value.get_type()? {
        ValueType::Undefined => Ok(None),
        ValueType::Number => {
            let secs = value.coerce_to_number()?.get_double()?;
            if secs.is_finite() && secs > 0.0 {
                if let Ok(d) = Duration::try_from_secs_f64(secs) {
                    return Ok(Some(d));
                }
            }
            Err(request_error(env, format!("{what} must be a positive number of seconds, got {secs}")))
        }
        _ => Err(request_error(env, format!("{what} must be a positive number of seconds, got {}", kind(value)?))),
    }
}

/// A positive integer up to `max`; `None` when undefined.
fn positive_integer(env: &Env, value: &Unknown<'_>, what: &str, max: u64) -> napi::Result<Option<u64>> {
    match value.get_type()? {
        ValueType::Undefined => Ok(None),
        ValueType::Number => {
            let n = value.coerce_to_number()?.get_double()?;
            if n.fract() == 0.0 && n >= 1.0 && n <= max as f64 {
                return Ok(Some(n as u64));
            }
            Err(request_error(env, format!("{what} must be an integer from 1 to {max}, got {n}")))
        }
        _ => Err(request_error(env, format!("{what} must be an integer from 1 to {max}, got {}", kind(value)?))),
    }
}

/// A path argument (a string).
fn js_path(env: &Env, value: &Unknown<'_>, call: &str) -> napi::Result<String> {
    match js_string(value)? {
        Some(p) => Ok(p),
        None => Err(request_error(env, format!("{call}: path must be a string, got {}", kind(value)?))),
    }
}

/// An entity reference: `'Type::"id"'` or `{ type, id }`.
fn js_entity(env: &Env, value: &Unknown<'_>, what: &str) -> napi::Result<EntityUid> {
    let wrong = |problem: String| request_error(env, format!("{what}: {problem}"));
    if let Some(text) = js_string(value)? {
        return EntityUid::from_str(&text)
            .map_err(|e| wrong(format!("`{text}` is not an entity reference like Type::\"id\": {e}")));
    }
    if value.get_type()? == ValueType::Object && !value.is_array()? {
        let obj = value.coerce_to_object()?;
        let t: Unknown<'_> = obj.get_named_property("type")?;
        let i: Unknown<'_> = obj.get_named_property("id")?;
        if let (Some(t), Some(i)) = (js_string(&t)?, js_string(&i)?) {
            return agentauthz::entity_uid(&t, &i).map_err(|e| wrong(e.to_string()));
        }
    }
    Err(wrong(format!("expected an entity reference ('Type::\"id\"' or {{ type, id }}), got {}", kind(value)?)))
}

/// `{ agent }`, `{ session }` or `{ credential }`: exactly one.
fn js_subject(env: &Env, value: &Unknown<'_>, call: &str) -> napi::Result<Subject> {
    let wrong = || {
        request_error(
            env,
            format!("{call}: subject must be exactly one of {{ agent }}, {{ session }}, {{ credential }}"),
        )
    };
    if value.get_type()? != ValueType::Object || value.is_array()? {
        return Err(wrong());
    }
    let obj = value.coerce_to_object()?;
    let keys = Object::keys(&obj)?;
    let [key] = keys.as_slice() else { return Err(wrong()) };
    let v: Unknown<'_> = obj.get_named_property(key)?;
    match key.as_str() {
        "agent" => Ok(Subject::agent(&js_entity(env, &v, &format!("{call}: subject.agent"))?)),
        "session" | "credential" => {
            let Some(id) = js_string(&v)? else {
                return Err(request_error(
                    env,
                    format!("{call}: subject.{key} must be a string id, got {}", kind(&v)?),
                ));
            };
            Ok(if key == "session" { Subject::Session(id) } else { Subject::Credential(id) })
        }
        _ => Err(wrong()),
    }
}

/// `grant`'s argument: `{ principal, actions, resource, ttlSeconds | expiresAt, reason? }`.
fn js_grant(env: &Env, value: &Unknown<'_>) -> napi::Result<GrantSpec> {
    let obj = options_object(env, value, "grant(options)")?;
    check_keys(env, &obj, &["principal", "actions", "resource", "ttlSeconds", "expiresAt", "reason"], "grant")?;
    let principal: Unknown<'_> = obj.get_named_property("principal")?;
    let principal = js_entity(env, &principal, "grant: principal")?;
    let resource: Unknown<'_> = obj.get_named_property("resource")?;
    let resource = js_entity(env, &resource, "grant: resource")?;
    let actions_value: Unknown<'_> = obj.get_named_property("actions")?;
    let one = |v: &Unknown<'_>, what: &str| -> napi::Result<EntityUid> {
        match js_string(v)? {
            Some(name) if !name.contains("::") => {
                agentauthz::entity_uid("Action", &name).map_err(|e| request_error(env, format!("{what}: {e}")))
            }
            _ => js_entity(env, v, what),
        }
    };
    let actions = if actions_value.get_type()? == ValueType::Object && actions_value.is_array()? {
        let list = actions_value.coerce_to_object()?;
        let len = list.get_array_length_unchecked()?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let item: Unknown<'_> = list.get_element(i)?;
            out.push(one(&item, &format!("grant: actions[{i}]"))?);
        }
        out
    } else {
        vec![one(&actions_value, "grant: actions")?]
    };
    if actions.is_empty() {
        return Err(request_error(env, "grant: actions must name at least one action".into()));
    }
    let ttl: Unknown<'_> = obj.get_named_property("ttlSeconds")?;
    let at: Unknown<'_> = obj.get_named_property("expiresAt")?;
    let expires_at = match (ttl.get_type()? == ValueType::Undefined, at.get_type()? == ValueType::Undefined) {
        (false, true) => {
            let ttl = positive_seconds(env, &ttl, "grant: ttlSeconds")?.unwrap_or_default();
            SystemTime::now()
                .checked_add(ttl)
                .ok_or_else(|| request_error(env, "grant: ttlSeconds is too large".into()))?
        }
        (true, false) => js_time(env, &at, "grant: expiresAt")?,
        _ => return Err(request_error(env, "grant: give exactly one of ttlSeconds and expiresAt".into())),
    };
    let reason_value: Unknown<'_> = obj.get_named_property("reason")?;
    let reason = match reason_value.get_type()? {
        ValueType::Undefined => String::new(),
        _ => js_string(&reason_value)?.ok_or_else(|| request_error(env, "grant: reason must be a string".into()))?,
    };
    Ok(GrantSpec { principal, actions, resource, expires_at, reason })
}

/// `enforcement: 'enforce' | 'shadow'` (default `'enforce'`).
fn enforcement(env: &Env, obj: &Object<'_>) -> napi::Result<Enforcement> {
    let value: Unknown<'_> = obj.get_named_property("enforcement")?;
    if value.get_type()? == ValueType::Undefined {
        return Ok(Enforcement::default());
    }
    let text = js_string(&value)?.unwrap_or_default();
    Enforcement::from_str(&text).map_err(|e| request_error(env, format!("options.enforcement: {e}")))
}

fn error_mode(env: &Env, obj: &Object<'_>) -> napi::Result<ErrorMode> {
    let value: Unknown<'_> = obj.get_named_property("errorMode")?;
    if value.get_type()? == ValueType::Undefined {
        return Ok(ErrorMode::default());
    }
    let text = js_string(&value)?.unwrap_or_default();
    ErrorMode::from_str(&text).map_err(|e| request_error(env, format!("options.errorMode: {e}")))
}

fn options_object<'e>(env: &Env, value: &Unknown<'e>, call: &str) -> napi::Result<Object<'e>> {
    if value.get_type()? != ValueType::Object || value.is_array()? {
        return Err(request_error(env, format!("{call}: options must be an object, got {}", kind(value)?)));
    }
    value.coerce_to_object()
}

fn check_keys(env: &Env, obj: &Object<'_>, known: &[&str], call: &str) -> napi::Result<()> {
    for key in Object::keys(obj)? {
        if !known.contains(&key.as_str()) {
            return Err(request_error(env, format!("{call}: unknown option `{key}` (expected {})", known.join(", "))));
        }
    }
    Ok(())
}

/// The value as a Rust string if it is a JS string.
fn js_string(value: &Unknown<'_>) -> napi::Result<Option<String>> {
    if value.get_type()? != ValueType::String {
        return Ok(None);
    }
    match crate::convert::utf8_text(value)? {
        Ok(text) => Ok(Some(text)),
        Err(problem) => Err(napi::Error::new(napi::Status::InvalidArg, problem)),
    }
}

/// "a number", "undefined", "an array", ... for error messages.
fn kind(value: &Unknown<'_>) -> napi::Result<&'static str> {
    Ok(match value.get_type()? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Function => "a function",
        ValueType::BigInt => "a bigint",
        ValueType::Object if value.is_array()? => "an array",
        ValueType::Object => "an object",
        _ => "an unsupported value",
    })
}
