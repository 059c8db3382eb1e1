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
use std::sync::Arc;
use std::time::SystemTime;

use agentauthz::cedar_policy::Effect;
use agentauthz::{ErrorMode, PolicyInfo, PolicySources};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::convert::{ConvError, Limits};
use crate::errors::{load_error, request_error};

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
        let name = convert::py_str(s).map_err(|e| e.describe("action"))?;
        if name.contains("::") {
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
            let map = convert::context_map(c, &mut Limits::context()).map_err(|e: ConvError| e.describe("context"))?;
            Ok(request.with_context_json(map))
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

/// A loaded, validated policy set. Decides requests from any number of
/// threads at once; the GIL is released while deciding.
#[pyclass(frozen, module = "agentauthz._native", name = "Engine")]
pub struct Engine {
    inner: agentauthz::Engine,
}

impl Engine {
    fn build(py: Python<'_>, sources: PolicySources, error_mode: &str) -> PyResult<Self> {
        let mode = parse_mode(error_mode)?;
        let built = py.detach(move || agentauthz::Engine::builder(sources).error_mode(mode).build());
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
        let request = build_request(principal, action, resource, context).map_err(|m| request_error(py, m))?;
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
    #[new]
    #[pyo3(signature = (schema, policies, entities = None, *, error_mode = "fail-closed"))]
    fn new(
        py: Python<'_>,
        schema: &str,
        policies: &str,
        entities: Option<&Bound<'_, PyAny>>,
        error_mode: &str,
    ) -> PyResult<Self> {
        let entities = match entities {
            Some(e) if !e.is_none() => Some(entities_text(py, e)?),
            _ => None,
        };
        let sources = PolicySources::from_strings(schema, policies, entities.as_deref());
        Self::build(py, sources, error_mode)
    }

    /// Loads a policy folder: one `*.cedarschema`, `*.cedar` files and an
    /// optional `entities.json`.
    #[staticmethod]
    #[pyo3(signature = (path, *, error_mode = "fail-closed"))]
    fn from_dir(py: Python<'_>, path: PathBuf, error_mode: &str) -> PyResult<Self> {
        let sources = py.detach(|| PolicySources::from_dir(&path)).map_err(|e| load_error(py, e))?;
        Self::build(py, sources, error_mode)
    }

    /// The version (content hash) of the loaded policy set.
    #[getter]
    fn policy_version(&self) -> String {
        self.inner.policy_version()
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

/// The native module `agentauthz._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Decision>()?;
    m.add_class::<Reason>()?;
    m.add_function(wrap_pyfunction!(load_cases, m)?)?;
    m.add("MAX_CONTEXT_DEPTH", agentauthz::MAX_CONTEXT_DEPTH)?;
    m.add("MAX_REQUEST_BYTES", agentauthz::MAX_REQUEST_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
