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

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agentauthz::{ErrorMode, NamedText, PolicySources, Request, RequestError};
use napi::bindgen_prelude::{AsyncTask, JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, Task, ValueType};
use napi_derive::napi;
use serde_json::Value;

use crate::convert::{ConvertError, Walker, DATA_LIMITS, REQUEST_LIMITS};
use crate::errors::{cases_error, load_error, request_error};
use crate::output::{JsCase, JsDecision, JsPolicyInfo};

/// A loaded, validated policy set that decides requests (see the package README).
#[napi]
pub struct Engine {
    inner: Arc<agentauthz::Engine>,
}

#[napi]
impl Engine {
    /// Builds an engine from a schema, policies and optional entities given as
    /// text. Throws `SchemaError` / `PolicyError` (naming the file and line)
    /// when they do not load, `RequestError` when an option has the wrong type.
    #[napi(constructor, ts_args_type = "options: EngineOptions")]
    pub fn new(env: Env, options: Unknown<'_>) -> napi::Result<Self> {
        let (sources, mode) = engine_options(&env, options)?;
        build(&env, sources, mode)
    }

    /// Loads a policy folder: one `*.cedarschema`, `*.cedar` files (in sorted
    /// order) and an optional `entities.json`.
    #[napi(factory, ts_args_type = "dir: string, options?: LoadOptions")]
    pub fn from_dir(env: Env, dir: Unknown<'_>, options: Option<Unknown<'_>>) -> napi::Result<Self> {
        let Some(dir) = js_string(&dir)? else {
            return Err(request_error(&env, format!("fromDir: dir must be a string path, got {}", kind(&dir)?)));
        };
        let mode = match options {
            None => ErrorMode::default(),
            Some(o) => load_options(&env, o)?,
        };
        let sources = PolicySources::from_dir(&dir).map_err(|e| load_error(&env, &e))?;
        build(&env, sources, mode)
    }

    /// The version (content hash) of the loaded policy set.
    #[napi(getter)]
    pub fn policy_version(&self) -> String {
        self.inner.policy_version().to_string()
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
        let now = js_time(&env, &now, "authorizeAt")?;
        let req = js_request(&env, request)?;
        Ok(decide(&self.inner, &req, Some(now), start))
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
            Some(t) if t.get_type()? != ValueType::Undefined => Some(js_time(&env, &t, "authorizeBatch")?),
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

/// Registers the `Error` subclass to construct for each code
/// (`{ SCHEMA_ERROR: SchemaError, ... }`); called once by `index.js`.
#[napi(js_name = "__registerErrorClasses", skip_typescript)]
pub fn register_error_classes(classes: Object<'_>) -> napi::Result<()> {
    errors::register(classes)
}

fn build(env: &Env, sources: PolicySources, mode: ErrorMode) -> napi::Result<Engine> {
    let engine = agentauthz::Engine::builder(sources).error_mode(mode).build().map_err(|e| load_error(env, &e))?;
    Ok(Engine { inner: Arc::new(engine) })
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
        Ok(Some(v)) => Ok(Request::from_json(&v)),
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

/// `Date`, epoch milliseconds or RFC 3339 text to an instant.
fn js_time(env: &Env, value: &Unknown<'_>, call: &str) -> napi::Result<SystemTime> {
    let bad = |what: String| {
        request_error(env, format!("{call}: now must be a Date, epoch milliseconds or an RFC 3339 string; {what}"))
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
    if !ms.is_finite() {
        return Err(bad("got an invalid Date".into()));
    }
    let offset = Duration::try_from_secs_f64(ms.abs() / 1000.0).map_err(|_| bad(format!("{ms} is out of range")))?;
    let t = if ms >= 0.0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
    t.ok_or_else(|| bad(format!("{ms} is out of range")))
}

/// Reads the constructor's options object.
fn engine_options(env: &Env, options: Unknown<'_>) -> napi::Result<(PolicySources, ErrorMode)> {
    let obj = options_object(env, &options, "new Engine(options)")?;
    check_keys(env, &obj, &["schema", "policies", "entities", "errorMode"], "new Engine")?;
    let schema_value: Unknown<'_> = obj.get_named_property("schema")?;
    let Some(schema) = js_string(&schema_value)? else {
        return Err(request_error(
            env,
            format!(
                "new Engine: options.schema must be the Cedar schema text (a string), got {}",
                kind(&schema_value)?
            ),
        ));
    };
    let policies_value: Unknown<'_> = obj.get_named_property("policies")?;
    let policies = policy_texts(env, &policies_value)?;
    let entities_value: Unknown<'_> = obj.get_named_property("entities")?;
    let entities = match entities_value.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        ValueType::String => js_string(&entities_value)?,
        ValueType::Object => {
            let mut walker = Walker::new(env, DATA_LIMITS, "options.entities");
            match walker.convert(entities_value) {
                Ok(v) => Some(v.unwrap_or(Value::Null).to_string()),
                Err(ConvertError::Js(e)) => return Err(e),
                Err(e) => return Err(request_error(env, format!("new Engine: {}", e.describe()))),
            }
        }
        _ => {
            return Err(request_error(
                env,
                format!(
                    "new Engine: options.entities must be Cedar entity JSON (text or an array), got {}",
                    kind(&entities_value)?
                ),
            ))
        }
    };
    let mode = error_mode(env, &obj)?;
    let sources = PolicySources {
        schema: NamedText::new("<schema>", schema),
        policies,
        entities: entities.map(|e| NamedText::new("<entities>", e)),
    };
    Ok((sources, mode))
}

/// `policies` as one text or an array of texts (`<policies>`, `<policies#2>`, ...).
fn policy_texts(env: &Env, value: &Unknown<'_>) -> napi::Result<Vec<NamedText>> {
    if let Some(text) = js_string(value)? {
        return Ok(vec![NamedText::new("<policies>", text)]);
    }
    let wrong = |got: String| {
        request_error(
            env,
            format!(
                "new Engine: options.policies must be Cedar policy text (a string or an array of strings), got {got}"
            ),
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
fn load_options(env: &Env, options: Unknown<'_>) -> napi::Result<ErrorMode> {
    if matches!(options.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(ErrorMode::default());
    }
    let obj = options_object(env, &options, "fromDir(dir, options)")?;
    check_keys(env, &obj, &["errorMode"], "fromDir")?;
    error_mode(env, &obj)
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
    Ok(Some(value.coerce_to_string()?.into_utf8()?.into_owned()?))
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
