//! Authorization requests: the typed Rust form and the JSON form shared by the
//! CLI and the bindings.

use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::{Map, Value};

use crate::error::RequestError;

/// Deepest context nesting accepted (records and sets); deeper input is refused
/// before Cedar sees it, so hostile input cannot exhaust the stack.
pub const MAX_CONTEXT_DEPTH: usize = 32;
/// Largest request accepted as JSON text, in bytes; also the most string bytes
/// a context may hold in total.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Most values (strings, numbers, set elements, record fields, ...) a context
/// may hold. Cedar's context construction grows faster than linearly with set
/// size, so an unbounded set would let one request stall a deciding thread.
pub const MAX_CONTEXT_VALUES: usize = 10_000;

/// The action of a request: a full Cedar uid, or a bare action name such as
/// `open_pr`, resolved against the schema's actions when the request is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActionRef {
    Uid(EntityUid),
    Name(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestContext {
    /// Cedar JSON, parsed against the action's context type when decided.
    /// Shared, so that cloning a request (as the audit log does) is cheap.
    Json(Arc<Map<String, Value>>),
    /// Already-typed Cedar values: no JSON on the decision path.
    Typed(Arc<Vec<(String, RestrictedExpression)>>),
    /// Cedar's JSON data model without JSON (what the bindings build): the
    /// compiled evaluator converts it directly; other paths see it as JSON.
    Values(Arc<Vec<(String, ContextValue)>>),
}

/// A context value in Cedar's JSON data model, built without JSON text or
/// hashed maps: the form the Python and Node bindings convert their host
/// objects to. It means exactly what the same JSON means
/// ([`ContextValue::to_json`]): strings become `datetime`/`duration` where
/// the schema declares one, a record with a key `__extn` or `__entity` is
/// Cedar's escape, and when a record repeats a key the last one counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    /// `true` or `false`.
    Bool(bool),
    /// A Cedar `Long` (64-bit signed).
    Long(i64),
    /// A string (or the text of an extension value the schema declares).
    String(String),
    /// A set, written as a JSON array.
    Set(Vec<ContextValue>),
    /// A record, attributes in order.
    Record(Vec<(String, ContextValue)>),
}

impl ContextValue {
    /// The same value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Bool(b) => Value::Bool(*b),
            Self::Long(n) => Value::from(*n),
            Self::String(s) => Value::String(s.clone()),
            Self::Set(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            Self::Record(attrs) => Value::Object(record_json(attrs)),
        }
    }
}

/// A record of context values as a JSON object (the last of repeated keys wins).
pub(crate) fn record_json(attrs: &[(String, ContextValue)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in attrs {
        map.insert(k.clone(), v.to_json());
    }
    map
}

impl RequestContext {
    /// The context as a JSON map, converted for the [`ContextValue`] form;
    /// `None` for typed Cedar values.
    pub(crate) fn json(&self) -> Option<std::borrow::Cow<'_, Map<String, Value>>> {
        match self {
            Self::Json(m) => Some(std::borrow::Cow::Borrowed(m.as_ref())),
            Self::Values(attrs) => Some(std::borrow::Cow::Owned(record_json(attrs))),
            Self::Typed(_) => None,
        }
    }
}

/// "May this principal do this action to this resource, in this context?"
///
/// Build one with [`Request::new`] and the `with_*` methods, or parse the JSON
/// form with [`Request::from_json`]:
///
/// ```json
/// {"principal": "Agent::\"ci-bot\"", "action": "open_pr",
///  "resource": {"type": "Repository", "id": "acme/api"}, "context": {"branch": "fix/1"}}
/// ```
///
/// Entity references are `Type::"id"` strings or `{"type", "id"}` objects; the
/// action may be a bare name when it is unique in the schema. `context.now` is
/// always supplied by the engine's clock, never by the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub(crate) principal: EntityUid,
    pub(crate) action: ActionRef,
    pub(crate) resource: EntityUid,
    pub(crate) context: RequestContext,
}

/// Builds a Cedar entity uid from a type name (`Agent`, `N::Agent`) and an id.
pub fn entity_uid(type_name: &str, id: &str) -> Result<EntityUid, RequestError> {
    let t = type_name_cached(type_name).map_err(|e| RequestError::Entity {
        field: "entity",
        message: format!("`{type_name}` is not a valid entity type name: {e}"),
    })?;
    Ok(EntityUid::from_type_name_and_id(t, EntityId::new(id)))
}

/// Type names parsed per thread (Cedar's parser costs microseconds a call; a
/// request names two or three types, the same ones call after call).
const TYPE_CACHE_MAX: usize = 1024;

/// A per-thread cache from text to what it parsed to.
type TextCache<V> = std::cell::RefCell<crate::fast::FxMap<Box<str>, V>>;

thread_local! {
    static TYPE_NAMES: TextCache<EntityTypeName> = TextCache::default();
}

/// What `cache` holds for `text`.
fn recall<V: Clone>(cache: &'static std::thread::LocalKey<TextCache<V>>, text: &str) -> Option<V> {
    cache.try_with(|c| c.try_borrow().ok()?.get(text).cloned()).ok().flatten()
}

/// Adds `text` -> `value` to `cache`, emptying it first when it holds `max` entries.
fn remember<V: Clone>(cache: &'static std::thread::LocalKey<TextCache<V>>, max: usize, text: &str, value: &V) {
    let _ = cache.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.len() >= max {
                c.clear();
            }
            c.insert(text.into(), value.clone());
        }
    });
}

/// `EntityTypeName::from_str`, remembering each name that parsed.
fn type_name_cached(name: &str) -> Result<EntityTypeName, Box<cedar_policy::ParseErrors>> {
    if let Some(t) = recall(&TYPE_NAMES, name) {
        return Ok(t);
    }
    let t = EntityTypeName::from_str(name).map_err(Box::new)?;
    remember(&TYPE_NAMES, TYPE_CACHE_MAX, name, &t);
    Ok(t)
}

/// Parses entity reference text (`Type::"id"`) exactly as
/// `EntityUid::from_str` does. The common form (a type of letters, digits,
/// `_` and `::`, an id of printable ASCII without `"` or `\`) skips Cedar's
/// parser for the whole text: only the type name is parsed, once per thread; anything else
/// (whitespace, escapes, comments, errors) goes to Cedar's parser, so results
/// and error messages are Cedar's.
pub fn parse_uid(text: &str) -> Result<EntityUid, Box<cedar_policy::ParseErrors>> {
    // Requests name the same few entities call after call: a text parsed on
    // the fast path below is remembered per thread, as type names are.
    if text.len() <= UID_CACHE_TEXT_MAX {
        if let Some(uid) = recall(&UIDS, text) {
            return Ok(uid);
        }
    }
    let (uid, common) = parse_uid_uncached(text)?;
    if common && text.len() <= UID_CACHE_TEXT_MAX {
        remember(&UIDS, UID_CACHE_MAX, text, &uid);
    }
    Ok(uid)
}

/// Entity references remembered per thread, and the longest text remembered
/// (a few hundred kilobytes per thread at most).
const UID_CACHE_MAX: usize = 1024;
const UID_CACHE_TEXT_MAX: usize = 160;

thread_local! {
    static UIDS: TextCache<EntityUid> = TextCache::default();
}

/// [`parse_uid`] without its cache: the uid, and whether it is in the common
/// form (which the cache remembers).
fn parse_uid_uncached(text: &str) -> Result<(EntityUid, bool), Box<cedar_policy::ParseErrors>> {
    // The first `"` opens the id (a plain type has none); a byte scan, not a
    // substring search, whose set-up costs more than the scan.
    let quote = text.bytes().position(|b| b == b'"');
    if let Some(pos) = quote.and_then(|q| q.checked_sub(2)).filter(|&p| text.get(p..p + 3) == Some("::\"")) {
        if let (Some(ty), Some(rest)) = (text.get(..pos), text.get(pos + 3..)) {
            if let Some(id) = rest.strip_suffix('"') {
                let plain_type = ty.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && ty.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
                // Cedar accepts only the normalized form, in which an id shows
                // every character other than printable ASCII as an escape.
                let plain_id = id.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
                if plain_type && plain_id {
                    if let Ok(t) = type_name_cached(ty) {
                        return Ok((EntityUid::from_type_name_and_id(t, EntityId::new(id)), true));
                    }
                }
            }
        }
    }
    EntityUid::from_str(text).map(|uid| (uid, false)).map_err(Box::new)
}

impl Request {
    /// A request with an empty context. `action` is either a bare action name
    /// (`open_pr`) or a full uid (`Action::"open_pr"`).
    pub fn new(principal: EntityUid, action: &str, resource: EntityUid) -> Result<Self, RequestError> {
        Ok(Self {
            principal,
            action: parse_action_str(action)?,
            resource,
            context: RequestContext::Json(Arc::default()),
        })
    }

    /// A request whose action is given as a Cedar uid.
    pub fn with_action_uid(principal: EntityUid, action: EntityUid, resource: EntityUid) -> Self {
        Self { principal, action: ActionRef::Uid(action), resource, context: RequestContext::Json(Arc::default()) }
    }

    /// Replaces the context with Cedar JSON (parsed against the schema when decided).
    pub fn with_context_json(mut self, context: Map<String, Value>) -> Self {
        self.context = RequestContext::Json(Arc::new(context));
        self
    }

    /// Replaces the context with values in Cedar's JSON data model (see
    /// [`ContextValue`]): the same meaning as [`Request::with_context_json`]
    /// without building JSON maps; what the bindings use.
    pub fn with_context(mut self, context: Vec<(String, ContextValue)>) -> Self {
        self.context = RequestContext::Values(Arc::new(context));
        self
    }

    /// Replaces the context with typed Cedar values: the fastest path, no JSON involved.
    pub fn with_context_values(mut self, context: Vec<(String, RestrictedExpression)>) -> Self {
        self.context = RequestContext::Typed(Arc::new(context));
        self
    }

    /// The principal.
    pub fn principal(&self) -> &EntityUid {
        &self.principal
    }

    /// The resource.
    pub fn resource(&self) -> &EntityUid {
        &self.resource
    }

    /// The action as written: a full uid, or the bare name.
    pub fn action_text(&self) -> String {
        match &self.action {
            ActionRef::Uid(u) => u.to_string(),
            ActionRef::Name(n) => n.clone(),
        }
    }

    /// Parses the JSON request form (see the type's documentation).
    pub fn from_json(value: &Value) -> Result<Self, RequestError> {
        let obj = value.as_object().ok_or_else(|| RequestError::Malformed("a request must be a JSON object".into()))?;
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "principal" | "action" | "resource" | "context")) {
            return Err(RequestError::Malformed(format!(
                "unknown field `{k}` (expected principal, action, resource, context)"
            )));
        }
        let field = |name: &'static str| {
            obj.get(name).ok_or_else(|| RequestError::Malformed(format!("missing field `{name}`")))
        };
        let principal = parse_entity_ref(field("principal")?, "principal")?;
        let resource = parse_entity_ref(field("resource")?, "resource")?;
        let action = match field("action")? {
            Value::String(s) => parse_action_str(s)?,
            other => ActionRef::Uid(parse_entity_ref(other, "action")?),
        };
        let context = match obj.get("context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => {
                check_depth(m)?;
                m.clone()
            }
            Some(_) => return Err(RequestError::Context("context must be a JSON object".into())),
        };
        Ok(Self { principal, action, resource, context: RequestContext::Json(Arc::new(context)) })
    }

    /// Parses the JSON request form from text, refusing text over [`MAX_REQUEST_BYTES`].
    pub fn from_json_str(text: &str) -> Result<Self, RequestError> {
        if text.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::Limit(format!(
                "request is {} bytes; at most {MAX_REQUEST_BYTES} are accepted",
                text.len()
            )));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| RequestError::Malformed(e.to_string()))?;
        Self::from_json(&value)
    }
}

/// Parses `Type::"id"`, `{"type": T, "id": I}` or `{"__entity": {...}}`.
pub(crate) fn parse_entity_ref(value: &Value, field: &'static str) -> Result<EntityUid, RequestError> {
    let bad = |message: String| RequestError::Entity { field, message };
    match value {
        Value::String(s) => {
            parse_uid(s).map_err(|e| bad(format!("`{s}` is not an entity reference like Type::\"id\": {e}")))
        }
        Value::Object(o) => {
            let inner = match o.get("__entity") {
                Some(Value::Object(i)) => i,
                _ => o,
            };
            match (inner.get("type"), inner.get("id")) {
                (Some(Value::String(t)), Some(Value::String(id))) if inner.len() == 2 => {
                    entity_uid(t, id).map_err(|e| bad(e.to_string()))
                }
                _ => Err(bad("an entity object needs exactly string fields `type` and `id`".into())),
            }
        }
        other => Err(bad(format!("expected an entity reference, got {}", json_kind(other)))),
    }
}

/// Whether `s` holds `::` (a uid rather than a bare action name): a byte
/// scan, as `str::contains` sets up a substring searcher on every call.
#[doc(hidden)]
pub fn has_path_separator(s: &str) -> bool {
    s.as_bytes().windows(2).any(|w| w == b"::")
}

fn parse_action_str(s: &str) -> Result<ActionRef, RequestError> {
    if has_path_separator(s) {
        parse_uid(s).map(ActionRef::Uid).map_err(|e| RequestError::Entity {
            field: "action",
            message: format!("`{s}` is not an action reference like Action::\"name\": {e}"),
        })
    } else if s.is_empty() {
        Err(RequestError::Entity { field: "action", message: "empty action name".into() })
    } else {
        Ok(ActionRef::Name(s.to_string()))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Running totals of a context within the limits: values, bytes of text.
struct Tally {
    values: usize,
    bytes: usize,
}

impl Tally {
    /// Adds `values` and `bytes`; false once past a limit.
    fn add(&mut self, values: usize, bytes: usize) -> bool {
        self.values += values;
        self.bytes += bytes;
        self.values <= MAX_CONTEXT_VALUES && self.bytes <= MAX_REQUEST_BYTES
    }
}

/// Whether a context value (either form) at `depth` and everything in it
/// stays within the limits (no allocation; recursion stops past the depth
/// limit). The totals only grow, so counting attribute by attribute reaches
/// the same verdict as counting a record at once.
fn within<S: crate::fast::ContextSource>(v: &S, depth: usize, t: &mut Tally) -> bool {
    if depth > MAX_CONTEXT_DEPTH {
        return false;
    }
    if let Some(items) = v.as_set() {
        return t.add(items.len(), 0) && items.iter().all(|i| within(i, depth + 1, t));
    }
    if let Some(mut attrs) = v.as_record() {
        return attrs.all(|(k, i)| t.add(1, k.len()) && within(i, depth + 1, t));
    }
    v.as_str().is_none_or(|s| t.add(0, s.len()))
}

/// Like [`check_depth`], for the [`ContextValue`] form.
pub(crate) fn check_values(context: &[(String, ContextValue)]) -> Result<(), RequestError> {
    // Within every limit (the common case): no walk with a heap stack. The
    // totals only grow, so this holds exactly when the walk below finds no
    // violation; the walk names the first one it meets.
    let mut t = Tally { values: 0, bytes: 0 };
    if t.add(context.len(), context.iter().map(|(k, _)| k.len()).sum())
        && context.iter().all(|(_, v)| within(v, 1, &mut t))
    {
        return Ok(());
    }
    let mut stack: Vec<(&ContextValue, usize)> = context.iter().map(|(_, v)| (v, 1)).collect();
    let (mut values, mut bytes) = (context.len(), context.iter().map(|(k, _)| k.len()).sum::<usize>());
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_CONTEXT_DEPTH {
            return Err(RequestError::Limit(format!("context is nested deeper than {MAX_CONTEXT_DEPTH} levels")));
        }
        match v {
            ContextValue::Set(items) => {
                values += items.len();
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            ContextValue::Record(attrs) => {
                values += attrs.len();
                bytes += attrs.iter().map(|(k, _)| k.len()).sum::<usize>();
                stack.extend(attrs.iter().map(|(_, i)| (i, depth + 1)));
            }
            ContextValue::String(s) => bytes += s.len(),
            ContextValue::Bool(_) | ContextValue::Long(_) => {}
        }
        if values > MAX_CONTEXT_VALUES {
            return Err(RequestError::Limit(format!("context holds more than {MAX_CONTEXT_VALUES} values")));
        }
        if bytes > MAX_REQUEST_BYTES {
            return Err(RequestError::Limit(format!("context holds more than {MAX_REQUEST_BYTES} bytes of text")));
        }
    }
    Ok(())
}

/// Refuses context nested deeper than [`MAX_CONTEXT_DEPTH`], holding more than
/// [`MAX_CONTEXT_VALUES`] values or more than [`MAX_REQUEST_BYTES`] of strings;
/// without recursion.
pub(crate) fn check_depth(context: &Map<String, Value>) -> Result<(), RequestError> {
    // As in `check_values`: the walk below runs only past a limit.
    let mut t = Tally { values: 0, bytes: 0 };
    if t.add(context.len(), context.keys().map(String::len).sum()) && context.values().all(|v| within(v, 1, &mut t)) {
        return Ok(());
    }
    let mut stack: Vec<(&Value, usize)> = context.values().map(|v| (v, 1)).collect();
    let (mut values, mut bytes) = (context.len(), context.keys().map(String::len).sum::<usize>());
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_CONTEXT_DEPTH {
            return Err(RequestError::Limit(format!("context is nested deeper than {MAX_CONTEXT_DEPTH} levels")));
        }
        match v {
            Value::Array(items) => {
                values += items.len();
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Value::Object(m) => {
                values += m.len();
                bytes += m.keys().map(String::len).sum::<usize>();
                stack.extend(m.values().map(|i| (i, depth + 1)));
            }
            Value::String(s) => bytes += s.len(),
            _ => {}
        }
        if values > MAX_CONTEXT_VALUES {
            return Err(RequestError::Limit(format!("context holds more than {MAX_CONTEXT_VALUES} values")));
        }
        if bytes > MAX_REQUEST_BYTES {
            return Err(RequestError::Limit(format!("context holds more than {MAX_REQUEST_BYTES} bytes of text")));
        }
    }
    Ok(())
}
