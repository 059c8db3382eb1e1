//! Python binding of agentauthz: the native module `agentauthz._native`.
//!
//! Thin by design: it converts Python objects to the core's types and calls
//! the same entry points as the CLI ([`agentauthz::Engine::authorize`],
//! [`agentauthz::Engine::authorize_at`], [`agentauthz::cases::load_cases`]).
//! The public Python API (exceptions, the `guard` decorator) lives in
//! `python/agentauthz/`.

mod convert;
mod errors;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentauthz::audit::{AuditLog, OnFull};
use agentauthz::cedar_policy::{Effect, EntityUid};
use agentauthz::{ApprovalError, Enforcement, ErrorMode, GrantSpec, PolicyInfo, PolicySources, SessionLimits, Subject};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyList, PyString, PyTuple};
use std::str::FromStr;

use crate::convert::{ConvError, Limits};
use crate::errors::{load_error, request_error};

/// The allocator for the module's Rust allocations: a decision allocates and
/// frees a few dozen small objects, which glibc's malloc makes a quarter of a
/// call's cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One policy: a determining policy of a decision, or a loaded policy.
#[pyclass(frozen, eq, module = "agentauthz._native", name = "Reason")]
#[derive(PartialEq)]
pub struct Reason {
    info: Arc<PolicyInfo>,
}

#[pymethods]
impl Reason {
    /// The policy id: its `@id` annotation, else Cedar's `policyN`.
    #[getter]
    fn policy_id(&self) -> &str {
        &self.info.id
    }

    /// Every annotation of the policy (`owner`, `ask`, `control`, ...), by name.
    #[getter]
    fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.info.annotations {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// `"permit"` or `"forbid"`.
    #[getter]
    fn effect(&self) -> &'static str {
        effect_str(self.info.effect)
    }

    /// The `@owner` annotation, if any.
    #[getter]
    fn owner(&self) -> Option<&str> {
        self.info.owner()
    }

    /// The `@ask` owner (forbid policies only), if any.
    #[getter]
    fn ask(&self) -> Option<&str> {
        self.info.ask.as_deref()
    }

    /// The file the policy was read from.
    #[getter]
    fn file(&self) -> &str {
        &self.info.file
    }

    fn __repr__(&self) -> String {
        format!(
            "Reason(policy_id={:?}, effect={:?}, annotations={:?})",
            self.info.id,
            effect_str(self.info.effect),
            self.info.annotations
        )
    }
}

fn effect_str(effect: Effect) -> &'static str {
    match effect {
        Effect::Permit => "permit",
        Effect::Forbid => "forbid",
    }
}

/// The engine's answer to one request: allow, deny or ask, and why.
#[pyclass(frozen, module = "agentauthz._native", name = "Decision")]
pub struct Decision {
    inner: agentauthz::Decision,
}

#[pymethods]
impl Decision {
    /// `"allow"`, `"deny"` or `"ask"`.
    #[getter]
    fn outcome<'py>(&self, py: Python<'py>) -> &Bound<'py, PyString> {
        match self.inner.outcome {
            agentauthz::Outcome::Allow => pyo3::intern!(py, "allow"),
            agentauthz::Outcome::Deny => pyo3::intern!(py, "deny"),
            agentauthz::Outcome::Ask => pyo3::intern!(py, "ask"),
        }
    }

    /// True only for allow.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed()
    }

    fn __bool__(&self) -> bool {
        self.inner.allowed()
    }

    /// The determining policies: satisfied permits for allow, satisfied
    /// forbids for deny and ask (empty when denied for lack of a permit).
    #[getter]
    fn reasons(&self) -> Vec<Reason> {
        self.inner.reasons.iter().map(|r| Reason { info: Arc::clone(r) }).collect()
    }

    /// The ids of the determining policies.
    #[getter]
    fn policy_ids(&self) -> Vec<&str> {
        self.inner.reason_ids()
    }

    /// Errors met while deciding, as `(policy_id or None, message)` pairs.
    #[getter]
    fn errors(&self) -> Vec<(Option<&str>, &str)> {
        self.inner.errors.iter().map(|e| (e.policy.as_deref(), e.message.as_str())).collect()
    }

    /// For ask: the first owner whose approval is needed, else None.
    #[getter]
    fn ask_owner(&self) -> Option<&str> {
        self.inner.ask_owner()
    }

    /// For ask: every owner whose approval is needed (sorted); else empty.
    #[getter]
    fn ask_owners(&self) -> Vec<&str> {
        self.inner.ask_owners.iter().map(String::as_str).collect()
    }

    /// For ask: the stable id to pass to the engine's approval once the owner
    /// approves (also set on an allow granted by an approval); else None.
    #[getter]
    fn approval_id(&self) -> Option<&str> {
        self.inner.approval_id.as_deref()
    }

    /// The version (content hash) of the policy set that decided.
    #[getter]
    fn policy_version(&self) -> &str {
        &self.inner.policy_version
    }

    /// What enforcing the shadow policies would decide, as a dict
    /// `{"outcome", "reasons", "ask_owners", "policies", "changed"}`; None when
    /// no policy is in shadow mode (`@mode("shadow")` or `enforcement="shadow"`).
    #[getter]
    fn shadow<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.shadow.as_ref().map(|s| convert::json_to_py(py, &s.to_json())).transpose()
    }

    /// Time spent deciding, in microseconds.
    #[getter]
    fn eval_us(&self) -> f64 {
        self.inner.eval_time.as_nanos() as f64 / 1000.0
    }

    /// The decision as a dict, the same shape as the CLI's JSON output line.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::json_to_py(py, &self.inner.to_json())
    }

    fn __repr__(&self) -> String {
        format!(
            "Decision(outcome={:?}, reasons={:?}, errors={}, ask_owners={:?})",
            self.inner.outcome.as_str(),
            self.inner.reason_ids(),
            self.inner.errors.len(),
            self.inner.ask_owners
        )
    }
}

fn parse_mode(mode: &str) -> PyResult<ErrorMode> {
    mode.parse::<ErrorMode>().map_err(PyValueError::new_err)
}

fn mode_str(mode: ErrorMode) -> &'static str {
    match mode {
        ErrorMode::FailClosed => "fail-closed",
        ErrorMode::Strict => "strict",
        ErrorMode::Cedar => "cedar",
    }
}

/// Entity data given as text or as Python objects (a list of Cedar entity dicts).
fn entities_text(py: Python<'_>, entities: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = entities.cast::<PyString>() {
        return convert::py_str(s).map_err(|e| request_error(py, e.describe("entities")));
    }
    let value = convert::to_json(entities, 0, &mut Limits::entities())
        .map_err(|e| errors::authz_error(py, e.describe("entities")))?;
    Ok(value.to_string())
}

/// Builds a core request from Python arguments; `label` prefixes error messages.
fn build_request(
    principal: &Bound<'_, PyAny>,
    action: &Bound<'_, PyAny>,
    resource: &Bound<'_, PyAny>,
    context: Option<&Bound<'_, PyAny>>,
) -> Result<agentauthz::Request, String> {
    let principal = convert::entity_ref(principal).map_err(|m| format!("principal: {m}"))?;
    let resource = convert::entity_ref(resource).map_err(|m| format!("resource: {m}"))?;
    let request = if let Ok(s) = action.cast::<PyString>() {
        let name = convert::py_str_ref(s).map_err(|e| e.describe("action"))?;
        if agentauthz::has_path_separator(&name) {
            // A full uid: the same parse as the core's, with the type-name cache.
            let uid = convert::uid_from_str(&name).map_err(|m| format!("action: {m}"))?;
            agentauthz::Request::with_action_uid(principal, uid, resource)
        } else {
            // A bare name, resolved against the schema's actions when decided.
            agentauthz::Request::new(principal, &name, resource).map_err(|e| e.to_string())?
        }
    } else {
        let action = convert::entity_ref(action).map_err(|m| format!("action: {m}"))?;
        agentauthz::Request::with_action_uid(principal, action, resource)
    };
    match context {
        None => Ok(request),
        Some(c) if c.is_none() => Ok(request),
        Some(c) => {
            let record =
                convert::context_record(c, &mut Limits::context()).map_err(|e: ConvError| e.describe("context"))?;
            Ok(request.with_context(record))
        }
    }
}

/// Reads one `authorize_batch` item: a dict with principal, action, resource
/// and optional context, or a 3- or 4-tuple in that order.
fn batch_item(item: &Bound<'_, PyAny>) -> Result<agentauthz::Request, String> {
    if let Ok(d) = item.cast::<PyDict>() {
        for key in d.keys() {
            let known = key
                .cast::<PyString>()
                .is_ok_and(|k| matches!(k.to_cow().as_deref(), Ok("principal" | "action" | "resource" | "context")));
            if !known {
                return Err(format!(
                    "unknown key {} (expected principal, action, resource, context)",
                    key.repr().map(|r| r.to_string_lossy().into_owned()).unwrap_or_default()
                ));
            }
        }
        let field = |name: &str| -> Result<Bound<'_, PyAny>, String> {
            d.get_item(name).ok().flatten().ok_or_else(|| format!("missing key '{name}'"))
        };
        let context = d.get_item("context").ok().flatten();
        return build_request(&field("principal")?, &field("action")?, &field("resource")?, context.as_ref());
    }
    if let Ok(t) = item.cast::<PyTuple>() {
        let parts: Vec<Bound<'_, PyAny>> = t.iter().collect();
        return match parts.as_slice() {
            [p, a, r] => build_request(p, a, r, None),
            [p, a, r, c] => build_request(p, a, r, Some(c)),
            _ => Err(format!(
                "a tuple request needs 3 or 4 items (principal, action, resource[, context]), got {}",
                parts.len()
            )),
        };
    }
    Err(format!(
        "a request must be a dict or a tuple, got {}",
        item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
    ))
}

fn instant(py: Python<'_>, now: &Bound<'_, PyAny>) -> PyResult<SystemTime> {
    convert::instant(now).map_err(|e| request_error(py, e.describe("now")))
}

/// The session-counter settings of a constructor, or None when they are off.
fn session_limits(
    enabled: bool,
    max_sessions: Option<usize>,
    idle_seconds: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<SessionLimits>> {
    let idle_seconds = idle_seconds.filter(|i| !i.is_none());
    if !enabled {
        if max_sessions.is_some() || idle_seconds.is_some() {
            return Err(PyValueError::new_err("max_sessions and session_idle_seconds need session_counters=True"));
        }
        return Ok(None);
    }
    let mut limits = SessionLimits::default();
    if let Some(n) = max_sessions {
        if n == 0 {
            return Err(PyValueError::new_err("max_sessions must be at least 1"));
        }
        limits.max_sessions = n;
    }
    if let Some(idle) = idle_seconds {
        limits.idle_timeout =
            convert::duration(idle).map_err(|e| PyValueError::new_err(e.describe("session_idle_seconds")))?;
    }
    Ok(Some(limits))
}

/// The subject of `revoke` / `restore`: exactly one of agent, session, credential.
fn subject(
    py: Python<'_>,
    agent: Option<&Bound<'_, PyAny>>,
    session: Option<&str>,
    credential: Option<&str>,
) -> PyResult<Subject> {
    match (agent, session, credential) {
        (Some(a), None, None) => {
            let uid = convert::entity_ref(a).map_err(|m| request_error(py, format!("agent: {m}")))?;
            Ok(Subject::agent(&uid))
        }
        (None, Some(s), None) => Ok(Subject::Session(s.to_string())),
        (None, None, Some(c)) => Ok(Subject::Credential(c.to_string())),
        _ => Err(PyTypeError::new_err("give exactly one of agent=, session=, credential=")),
    }
}

/// A grant's actions: one action or an iterable of them; a bare name means `Action::"name"`.
fn grant_actions(actions: &Bound<'_, PyAny>) -> Result<Vec<EntityUid>, String> {
    let one = |a: &Bound<'_, PyAny>| -> Result<EntityUid, String> {
        if let Ok(s) = a.cast::<PyString>() {
            let name = convert::py_str_ref(s).map_err(|e| e.describe("action"))?;
            if !name.contains("::") {
                return convert::uid_from_parts("Action", &name);
            }
        }
        convert::entity_ref(a)
    };
    if actions.is_instance_of::<PyString>() || actions.is_instance_of::<PyDict>() {
        return Ok(vec![one(actions)?]);
    }
    let mut out = Vec::new();
    for (i, a) in actions.try_iter().map_err(|_| "expected an action or a list of actions".to_string())?.enumerate() {
        let a = a.map_err(|e| e.to_string())?;
        out.push(one(&a).map_err(|m| format!("[{i}]: {m}"))?);
    }
    if out.is_empty() {
        return Err("at least one action is needed".into());
    }
    Ok(out)
}

static CONTROLS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// A class of `agentauthz._controls` (`Revocation`, `Grant`).
fn control_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let module = CONTROLS.get_or_try_init(py, || py.import("agentauthz._controls").map(Bound::unbind))?;
    module.bind(py).getattr(name)
}

/// The audit log described by the `audit` option: a dict with the keys
/// `file`, `rotate_bytes`, `ring`, `redact`, `on_full` ("drop" or "block"),
/// `capacity` and `callback` (all optional). A callback is called on the
/// writer thread (with the GIL) with each record as a dict; an exception in
/// it is counted in `audit_stats()["write_errors"]`. From interpreter exit on
/// (`atexit`) the callback is no longer called (records still reach the
/// file and ring); call `audit_flush()` before exit to deliver everything.
fn audit_log(py: Python<'_>, options: &Bound<'_, PyAny>) -> PyResult<AuditLog> {
    let options = options.cast::<PyDict>().map_err(|_| PyTypeError::new_err("audit must be a dict"))?;
    let mut builder = AuditLog::builder();
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        if value.is_none() {
            continue;
        }
        builder = match key.as_str() {
            "file" => builder.file(value.extract::<PathBuf>()?),
            "rotate_bytes" => builder.rotate_at_bytes(value.extract()?),
            "ring" => builder.ring(value.extract()?),
            "capacity" => builder.capacity(value.extract()?),
            "redact" => {
                let paths: Vec<String> = value.extract()?;
                paths.iter().fold(builder, |b, p| b.redact(p))
            }
            "on_full" => match value.extract::<String>()?.as_str() {
                "drop" => builder.on_full(OnFull::Drop),
                "block" => builder.on_full(OnFull::Block),
                other => return Err(PyValueError::new_err(format!("audit on_full must be \"drop\" or \"block\", not {other:?}"))),
            },
            "callback" => {
                if !value.is_callable() {
                    return Err(PyTypeError::new_err("audit callback must be callable"));
                }
                builder.callback(python_callback(py, value.clone().unbind())?)
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown audit option {other:?} (expected file, rotate_bytes, ring, redact, on_full, capacity, callback)"
                )))
            }
        };
    }
    let log = py.detach(|| builder.open());
    log.map_err(|e| errors::authz_error(py, format!("cannot open the audit log: {e}")))
}

/// Wraps a Python callable as an audit callback (see [`audit_log`]).
fn python_callback(py: Python<'_>, callable: Py<PyAny>) -> PyResult<agentauthz::audit::Callback> {
    let live = Arc::new(AtomicBool::new(true));
    let at_exit = Arc::clone(&live);
    let stop = PyCFunction::new_closure(py, None, None, move |_args, _kwargs| -> PyResult<()> {
        at_exit.store(false, Ordering::Relaxed);
        Ok(())
    })?;
    py.import("atexit")?.call_method1("register", (stop,))?;
    Ok(Box::new(move |line: &str| {
        if !live.load(Ordering::Relaxed) {
            return Err("not called: the Python interpreter is exiting".into());
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        Python::attach(|py| {
            let record = convert::json_to_py(py, &value).map_err(|e| e.to_string())?;
            callable.call1(py, (record,)).map(drop).map_err(|e| e.to_string())
        })
    }))
}

/// A loaded, validated policy set. Decides requests from any number of
/// threads at once; the GIL is released while deciding.
#[pyclass(frozen, module = "agentauthz._native", name = "Engine")]
pub struct Engine {
    inner: agentauthz::Engine,
}

impl Drop for Engine {
    /// Drains the audit queue with the GIL released: the writer may need the
    /// GIL to call a Python callback, and dropping the log waits for it.
    fn drop(&mut self) {
        if let Some(log) = self.inner.audit() {
            Python::attach(|py| py.detach(|| drop(log.flush())));
        }
    }
}

impl Engine {
    fn audit_log(&self) -> PyResult<&AuditLog> {
        self.inner.audit().ok_or_else(|| PyValueError::new_err("this engine has no audit log (pass audit={...})"))
    }

    fn build(
        py: Python<'_>,
        sources: PolicySources,
        error_mode: &str,
        enforcement: &str,
        sessions: Option<SessionLimits>,
        audit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mode = parse_mode(error_mode)?;
        let enforcement = Enforcement::from_str(enforcement).map_err(PyValueError::new_err)?;
        let audit = match audit {
            Some(options) if !options.is_none() => Some(audit_log(py, options)?),
            _ => None,
        };
        let built = py.detach(move || {
            let mut builder = agentauthz::Engine::builder(sources).error_mode(mode).enforcement(enforcement);
            if let Some(log) = audit {
                builder = builder.audit(log);
            }
            match sessions {
                Some(limits) => builder.session_counters(limits),
                None => builder,
            }
            .build()
        });
        built.map(|inner| Self { inner }).map_err(|e| load_error(py, e))
    }

    fn decide(
        &self,
        py: Python<'_>,
        principal: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        now: Option<SystemTime>,
    ) -> PyResult<Decision> {
        let context = context.filter(|c| !c.is_none());
        let mut now = now;
        let mut request = build_request(principal, action, resource, None).map_err(|m| request_error(py, m))?;
        if let Some(c) = context.filter(|c| c.is_instance_of::<PyDict>()) {
            // The context read in place, with no intermediate tree; the engine
            // declines when this form cannot decide the request exactly.
            if let Some(prepared) = self.inner.prepare(&request, &convert::PyHost(c.clone()), now) {
                if let Some(inner) = py.detach(|| self.inner.decide_prepared(&request, &prepared)) {
                    return Ok(Decision { inner });
                }
                now = Some(prepared.now());
            }
        }
        if let Some(c) = context {
            let record = convert::context_record(c, &mut Limits::context())
                .map_err(|e: ConvError| request_error(py, e.describe("context")))?;
            request = request.with_context(record);
        }
        let inner = py.detach(|| match now {
            Some(t) => self.inner.authorize_at(&request, t),
            None => self.inner.authorize(&request),
        });
        Ok(Decision { inner })
    }
}

#[pymethods]
impl Engine {
    /// Builds an engine from a schema (Cedar schema syntax), policies (Cedar)
    /// and optional entities (Cedar entity JSON text, or a list of entity dicts).
    /// With `session_counters=True` the engine counts each session's allowed
    /// actions and repositories and fills `context.session.actions`,
    /// `.same_action` and `.repos_touched` (those the schema declares),
    /// keeping at most `max_sessions` sessions (default 100,000) and dropping
    /// sessions idle for `session_idle_seconds` (default 8 hours).
    /// `enforcement="shadow"` makes every policy advisory: requests that pass
    /// the engine guards are allowed and `Decision.shadow` records what
    /// enforcing would have decided (for a first rollout).
    /// `audit={...}` records every decision in a hash-chained audit log
    /// written by a background thread: keys `file` (JSONL path; an existing
    /// chain is continued), `rotate_bytes`, `ring` (keep the last N records
    /// for `audit_records()`), `redact` (dotted context paths), `on_full`
    /// ("drop", the default: a full queue drops the record and writes a
    /// counted gap record; "block": the decision waits), `capacity` (queue
    /// length, default 65,536) and `callback` (called with each record dict).
    #[new]
    #[pyo3(signature = (
        schema, policies, entities = None, *, error_mode = "fail-closed", enforcement = "enforce",
        session_counters = false, max_sessions = None, session_idle_seconds = None, audit = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        schema: &str,
        policies: &str,
        entities: Option<&Bound<'_, PyAny>>,
        error_mode: &str,
        enforcement: &str,
        session_counters: bool,
        max_sessions: Option<usize>,
        session_idle_seconds: Option<&Bound<'_, PyAny>>,
        audit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let sessions = session_limits(session_counters, max_sessions, session_idle_seconds)?;
        let entities = match entities {
            Some(e) if !e.is_none() => Some(entities_text(py, e)?),
            _ => None,
        };
        let sources = PolicySources::from_strings(schema, policies, entities.as_deref());
        Self::build(py, sources, error_mode, enforcement, sessions, audit)
    }

    /// Loads a policy folder: one `*.cedarschema`, `*.cedar` files and an
    /// optional `entities.json`. Enforcement, session counters and audit as for the constructor.
    #[staticmethod]
    #[pyo3(signature = (
        path, *, error_mode = "fail-closed", enforcement = "enforce",
        session_counters = false, max_sessions = None, session_idle_seconds = None, audit = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn from_dir(
        py: Python<'_>,
        path: PathBuf,
        error_mode: &str,
        enforcement: &str,
        session_counters: bool,
        max_sessions: Option<usize>,
        session_idle_seconds: Option<&Bound<'_, PyAny>>,
        audit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let sessions = session_limits(session_counters, max_sessions, session_idle_seconds)?;
        let sources = py.detach(|| PolicySources::from_dir(&path)).map_err(|e| load_error(py, e))?;
        Self::build(py, sources, error_mode, enforcement, sessions, audit)
    }

    /// The version (content hash) of the policy set now in force (changes on
    /// a successful `reload`).
    #[getter]
    fn policy_version(&self) -> String {
        self.inner.policy_version()
    }

    /// Validates new sources and swaps them in atomically: a policy folder
    /// (`path`), or `schema=`, `policies=` and optional `entities=` as for
    /// the constructor. Returns the new version. On any error it raises
    /// (`SchemaError`, `PolicyError`, `EntityError`, `AuthzError`) and the
    /// old set keeps serving. Revocations, grants, approvals and session
    /// counters are kept.
    #[pyo3(signature = (path = None, *, schema = None, policies = None, entities = None))]
    fn reload(
        &self,
        py: Python<'_>,
        path: Option<PathBuf>,
        schema: Option<&str>,
        policies: Option<&str>,
        entities: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let sources = match (path, schema, policies) {
            (Some(path), None, None) if entities.is_none_or(|e| e.is_none()) => {
                py.detach(|| PolicySources::from_dir(&path)).map_err(|e| load_error(py, e))?
            }
            (None, Some(schema), Some(policies)) => {
                let entities = match entities {
                    Some(e) if !e.is_none() => Some(entities_text(py, e)?),
                    _ => None,
                };
                PolicySources::from_strings(schema, policies, entities.as_deref())
            }
            _ => {
                return Err(PyTypeError::new_err(
                    "reload takes a policy folder path, or schema= and policies= (and optional entities=)",
                ))
            }
        };
        py.detach(|| self.inner.reload(&sources)).map_err(|e| load_error(py, e))
    }

    /// Revokes (kill switch) exactly one of: an agent (an entity reference
    /// such as `'Agent::"ci-bot"'`), a session id or a credential id. From
    /// the next decision on, on every thread, any request naming it is denied
    /// before policies run (`guard:revoked`, with `reason`).
    #[pyo3(signature = (*, agent = None, session = None, credential = None, reason))]
    fn revoke(
        &self,
        py: Python<'_>,
        agent: Option<&Bound<'_, PyAny>>,
        session: Option<&str>,
        credential: Option<&str>,
        reason: &str,
    ) -> PyResult<()> {
        let subject = subject(py, agent, session, credential)?;
        self.inner.revoke(subject, reason);
        Ok(())
    }

    /// Lifts a revocation (same arguments as `revoke`, without the reason);
    /// returns whether there was one.
    #[pyo3(signature = (*, agent = None, session = None, credential = None))]
    fn restore(
        &self,
        py: Python<'_>,
        agent: Option<&Bound<'_, PyAny>>,
        session: Option<&str>,
        credential: Option<&str>,
    ) -> PyResult<bool> {
        let subject = subject(py, agent, session, credential)?;
        Ok(self.inner.restore(&subject))
    }

    /// The revocations in force, sorted by subject, as `Revocation` objects
    /// (`kind`, `id`, `reason`, `revoked_at`).
    fn revocations<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let class = control_class(py, "Revocation")?;
        self.inner
            .revocations()
            .into_iter()
            .map(|r| {
                let (kind, id) = match r.subject {
                    Subject::Agent(id) => ("agent", id),
                    Subject::Session(id) => ("session", id),
                    Subject::Credential(id) => ("credential", id),
                };
                let revoked_at = match agentauthz::parse_rfc3339(&r.revoked_at) {
                    Some(t) => convert::py_datetime(py, t)?,
                    None => PyString::new(py, &r.revoked_at).into_any(),
                };
                class.call1((kind, id, r.reason, revoked_at))
            })
            .collect()
    }

    /// Writes the revocations to a JSON file (atomically). Raises `OSError`.
    fn save_revocations(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save_revocations(&path))
            .map_err(|e| errors::file_error(py, &e, &path, "save revocations to"))
    }

    /// Replaces the revocations with those saved in a JSON file (by
    /// `save_revocations` or the CLI's `agentauthz revoke`). Raises `OSError`
    /// when it cannot be read, `AuthzError` when it is not a revocations list;
    /// either way the revocations in force are unchanged.
    fn load_revocations(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.load_revocations(&path))
            .map_err(|e| errors::file_error(py, &e, &path, "load revocations from"))
    }

    /// Adds a time-bound grant: `principal` may do `actions` (one action, or
    /// a list of them: bare names or entity references; a tuple is read as a
    /// list) to `resource` or anything in it, until `expires_at` (an aware
    /// datetime or RFC 3339 string) or for `ttl` (seconds or a timedelta) from
    /// now; give exactly one of the two.
    /// Effective at once, it stops matching at expiry with no reload; forbid
    /// policies still apply. Returns the grant id.
    #[pyo3(signature = (principal, actions, resource, *, ttl = None, expires_at = None, reason = ""))]
    #[allow(clippy::too_many_arguments)]
    fn grant(
        &self,
        py: Python<'_>,
        principal: &Bound<'_, PyAny>,
        actions: &Bound<'_, PyAny>,
        resource: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
        expires_at: Option<&Bound<'_, PyAny>>,
        reason: &str,
    ) -> PyResult<String> {
        let principal = convert::entity_ref(principal).map_err(|m| request_error(py, format!("principal: {m}")))?;
        let actions = grant_actions(actions).map_err(|m| request_error(py, format!("actions: {m}")))?;
        let resource = convert::entity_ref(resource).map_err(|m| request_error(py, format!("resource: {m}")))?;
        let expires_at = match (ttl.filter(|t| !t.is_none()), expires_at.filter(|e| !e.is_none())) {
            (Some(ttl), None) => {
                let ttl = convert::duration(ttl).map_err(|e| PyValueError::new_err(e.describe("ttl")))?;
                SystemTime::now().checked_add(ttl).ok_or_else(|| PyValueError::new_err("ttl: too far in the future"))?
            }
            (None, Some(at)) => convert::instant(at).map_err(|e| request_error(py, e.describe("expires_at")))?,
            _ => return Err(PyTypeError::new_err("give exactly one of ttl= and expires_at=")),
        };
        let spec = GrantSpec { principal, actions, resource, expires_at, reason: reason.to_string() };
        Ok(self.inner.grant(spec))
    }

    /// Removes a grant; returns whether it existed.
    fn revoke_grant(&self, grant_id: &str) -> bool {
        self.inner.revoke_grant(grant_id)
    }

    /// The unexpired grants, as `Grant` objects (`id`, `principal`,
    /// `actions`, `resource`, `expires_at`, `reason`).
    fn grants<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let class = control_class(py, "Grant")?;
        self.inner
            .grants()
            .into_iter()
            .map(|g| {
                let actions = PyTuple::new(py, g.actions.iter().map(ToString::to_string))?;
                let expires_at = convert::py_datetime(py, g.expires_at)?;
                class.call1((g.id, g.principal.to_string(), actions, g.resource.to_string(), expires_at, g.reason))
            })
            .collect()
    }

    /// Records a human approval of an ask's `approval_id`: the same request
    /// (principal, action, resource, asking policies) is then allowed for
    /// `ttl` (seconds or a timedelta) and at most `uses` times, then asks
    /// again. Raises `ApprovalError` for an id this engine never issued. A
    /// request some forbid without `@ask` denies is never allowed by it.
    #[pyo3(signature = (approval_id, approver, *, ttl, uses = 1))]
    fn approve(
        &self,
        py: Python<'_>,
        approval_id: &str,
        approver: &str,
        ttl: &Bound<'_, PyAny>,
        uses: i64,
    ) -> PyResult<()> {
        let ttl: Duration = convert::duration(ttl).map_err(|e| PyValueError::new_err(e.describe("ttl")))?;
        let uses = match u32::try_from(uses) {
            Ok(n) if n >= 1 => n,
            _ => return Err(PyValueError::new_err(format!("uses must be from 1 to {}, got {uses}", u32::MAX))),
        };
        match self.inner.approve(approval_id, approver, ttl, uses) {
            Ok(()) => Ok(()),
            Err(e @ ApprovalError::Unknown(_)) => Err(errors::approval_error(py, e.to_string(), approval_id)),
            Err(e) => Err(PyValueError::new_err(e.to_string())),
        }
    }

    /// How many sessions the session counters track now (0 when they are off).
    #[getter]
    fn tracked_sessions(&self) -> usize {
        self.inner.tracked_sessions()
    }

    /// The number of loaded policies.
    #[getter]
    fn policy_count(&self) -> usize {
        self.inner.policy_count()
    }

    /// `"fail-closed"`, `"strict"` or `"cedar"`.
    #[getter]
    fn error_mode(&self) -> &'static str {
        mode_str(self.inner.error_mode())
    }

    /// Every loaded policy (id, effect, file, annotations), sorted by id.
    fn policies(&self) -> Vec<Reason> {
        self.inner.policies().into_iter().map(|info| Reason { info }).collect()
    }

    /// Decides a request at the current time. Entity references are
    /// `'Type::"id"'` strings, `("Type", "id")` tuples or `{"type", "id"}`
    /// dicts; `action` may be a bare action name. Raises `RequestError` for
    /// arguments that cannot be converted; a request the schema rejects is
    /// denied with the error.
    #[pyo3(signature = (principal, action, resource, context = None))]
    fn authorize(
        &self,
        py: Python<'_>,
        principal: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        self.decide(py, principal, action, resource, context, None)
    }

    /// Decides a request as if the clock read `now` (an aware datetime or an
    /// RFC 3339 string): for replays and tests.
    #[pyo3(signature = (principal, action, resource, context = None, *, now))]
    fn authorize_at(
        &self,
        py: Python<'_>,
        principal: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        now: &Bound<'_, PyAny>,
    ) -> PyResult<Decision> {
        let now = instant(py, now)?;
        self.decide(py, principal, action, resource, context, Some(now))
    }

    /// Decides many requests in one call (dicts with principal, action,
    /// resource and optional context, or tuples in that order), optionally
    /// at a fixed `now`. Raises `RequestError` naming the first item that
    /// cannot be converted; otherwise returns one decision per request.
    #[pyo3(signature = (requests, *, now = None))]
    fn authorize_batch(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Decision>> {
        let now = match now {
            Some(n) if !n.is_none() => Some(instant(py, n)?),
            _ => None,
        };
        let mut parsed = Vec::new();
        for (i, item) in requests.try_iter()?.enumerate() {
            let item = item?;
            parsed.push(batch_item(&item).map_err(|m| request_error(py, format!("request #{i}: {m}")))?);
        }
        let decisions = py.detach(|| {
            parsed
                .iter()
                .map(|r| match now {
                    Some(t) => self.inner.authorize_at(r, t),
                    None => self.inner.authorize(r),
                })
                .collect::<Vec<_>>()
        });
        Ok(decisions.into_iter().map(|inner| Decision { inner }).collect())
    }

    /// A decorator that authorizes every call of the decorated function
    /// before its body runs (sync or async). `principal`, `resource` and
    /// `context` (and `action`) are values or callables receiving the call's
    /// arguments. Raises `Denied` on deny and `ApprovalRequired` on ask.
    /// Waits until every decision made so far is written to every audit sink
    /// (file fsynced, callback called). Raises `AuthzError` if a write
    /// failed (the records are kept and retried) and `ValueError` without an
    /// audit log. The GIL is released while waiting.
    fn audit_flush(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.audit_log()?;
        py.detach(|| log.flush()).map_err(|e| errors::authz_error(py, e.to_string()))
    }

    /// The audit log's counters: `records` (written, gap records included),
    /// `dropped` (decisions not recorded because the queue was full),
    /// `write_errors`, `last_error` and `next_seq`.
    fn audit_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.audit_log()?.stats();
        let d = PyDict::new(py);
        d.set_item("records", s.records)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("write_errors", s.write_errors)?;
        d.set_item("last_error", s.last_error)?;
        d.set_item("next_seq", s.next_seq)?;
        Ok(d)
    }

    /// The records in the audit ring (`audit={"ring": N}`), oldest first, as
    /// dicts; empty without a ring.
    fn audit_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for line in self.audit_log()?.recent() {
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| errors::authz_error(py, e.to_string()))?;
            list.append(convert::json_to_py(py, &value)?)?;
        }
        Ok(list)
    }

    #[pyo3(signature = (*, action, resource, principal, context = None))]
    fn guard<'py>(
        slf: &Bound<'py, Self>,
        action: &Bound<'py, PyAny>,
        resource: &Bound<'py, PyAny>,
        principal: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("agentauthz._guard")?.getattr("make_guard")?.call1((slf, action, resource, principal, context))
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine(policies={}, version={:?}, error_mode={:?})",
            self.inner.policy_count(),
            self.inner.policy_version(),
            mode_str(self.inner.error_mode())
        )
    }
}

/// Reads a cases file (TOML) into a list of dicts with keys `name`,
/// `request` (principal, action, resource, context), `now` (RFC 3339 or
/// None), `outcome` and `reasons` (list of policy ids, or None).
#[pyfunction]
fn load_cases(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyList>> {
    let cases = py.detach(|| agentauthz::cases::load_cases(&path)).map_err(|e| errors::cases_error(py, e))?;
    let list = PyList::empty(py);
    for case in &cases {
        let value =
            serde_json::to_value(case).map_err(|e| errors::authz_error(py, format!("case {:?}: {e}", case.name)))?;
        list.append(convert::json_to_py(py, &value)?)?;
    }
    Ok(list)
}

/// Checks an audit log's hash chain across files (oldest first, e.g. the
/// rotated `FILE.000001 ...` then `FILE`). Returns a dict: `intact`,
/// `records`, `first_seq`, `last_seq`, `gaps`, `lost` and `broken` (None, or
/// a message naming the file, line, seq and kind of the first break).
#[pyfunction]
fn audit_verify(py: Python<'_>, files: Vec<PathBuf>) -> PyResult<Bound<'_, PyDict>> {
    let report = py.detach(|| agentauthz::audit::verify(&files)).map_err(|e| errors::authz_error(py, e.to_string()))?;
    let d = PyDict::new(py);
    d.set_item("intact", report.intact())?;
    d.set_item("records", report.records)?;
    d.set_item("first_seq", report.first_seq)?;
    d.set_item("last_seq", report.last_seq)?;
    d.set_item("gaps", report.gaps)?;
    d.set_item("lost", report.lost)?;
    d.set_item("broken", report.broken.map(|b| b.to_string()))?;
    Ok(d)
}

/// The native module `agentauthz._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Decision>()?;
    m.add_class::<Reason>()?;
    m.add_function(wrap_pyfunction!(load_cases, m)?)?;
    m.add_function(wrap_pyfunction!(audit_verify, m)?)?;
    m.add("MAX_CONTEXT_DEPTH", agentauthz::MAX_CONTEXT_DEPTH)?;
    m.add("MAX_REQUEST_BYTES", agentauthz::MAX_REQUEST_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
