//! What the schema says a request for each action must look like, prepared at
//! load time so that deciding needs neither Cedar's JSON context parser nor its
//! request validator on the common path.
//!
//! Cedar's schema-directed JSON parsing and request validation are correct but
//! slow (tens of microseconds per request, mostly in untagged serde decoding).
//! Here a context is converted straight from `serde_json` into typed Cedar
//! values, checked against the action's declared context type as it goes. When
//! anything falls outside what this fast path understands (entity references or
//! explicit `__extn` escapes in context, enumerated entity types, types it
//! cannot resolve), the request takes Cedar's own path instead, so semantics
//! never depend on this module's completeness.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::{Map, Value};

/// A context value type, as far as the fast path understands it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    String,
    Long,
    Bool,
    Set(Box<Ty>),
    Record(Arc<Record>),
    Ext(Ext),
    /// Entity references and anything unresolved: the fast path gives up.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ext {
    Datetime,
    Duration,
    Ip,
    Decimal,
}

/// A declared record attribute: its shared name, type and whether it is required.
pub(crate) type Attr = (Arc<str>, Ty, bool);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// attribute -> (type, required)
    pub attrs: HashMap<String, (Ty, bool)>,
    /// The same attributes sorted by name (for the compiled evaluator's
    /// context conversion: no hashing, shared names).
    pub sorted: Vec<Attr>,
    /// How many attributes are required.
    pub required: usize,
    /// Positions in `sorted` by the name's length in bytes.
    by_len: Vec<Box<[usize]>>,
    /// Copies of the names for name slots 1.. (slot 0 uses `sorted`'s), see [`Record::name`].
    copies: Box<[Box<[Arc<str>]>]>,
}

/// How many copies of each context attribute name a record type keeps (see [`Record::name`]).
pub(crate) const NAME_SLOTS: usize = 8;

/// This thread's name slot: threads take slots in turn as they first convert a context.
pub(crate) fn name_slot() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % NAME_SLOTS;
    }
    SLOT.try_with(|s| *s).unwrap_or(0)
}

impl Record {
    /// A record type; `names` shares one allocation per attribute name
    /// across every record of the schema.
    pub(crate) fn new(attrs: HashMap<String, (Ty, bool)>, names: &RefCell<HashMap<String, Arc<str>>>) -> Self {
        let mut names = names.borrow_mut();
        let mut sorted: Vec<(Arc<str>, Ty, bool)> = attrs
            .iter()
            .map(|(k, (t, r))| {
                let name = names.entry(k.clone()).or_insert_with(|| Arc::from(k.as_str()));
                (Arc::clone(name), t.clone(), *r)
            })
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let required = sorted.iter().filter(|a| a.2).count();
        let longest = sorted.iter().map(|a| a.0.len()).max().unwrap_or(0);
        let by_len = (0..=longest)
            .map(|len| sorted.iter().enumerate().filter(|(_, a)| a.0.len() == len).map(|(at, _)| at).collect())
            .collect();
        // Slot by slot, so that one slot's names sit together in memory.
        let copies = (1..NAME_SLOTS).map(|_| sorted.iter().map(|a| Arc::from(&*a.0)).collect()).collect();
        Self { attrs, sorted, required, by_len, copies }
    }

    /// The declared attribute `name`: its position in `sorted`, and there its
    /// shared name, type and whether it is required. Only names of the same
    /// length are compared (usually one).
    pub(crate) fn position(&self, name: &str) -> Option<(usize, &Attr)> {
        let same_length = self.by_len.get(name.len())?;
        same_length.iter().find_map(|&at| self.sorted.get(at).filter(|a| *a.0 == *name).map(|a| (at, a)))
    }

    /// The name of the attribute at `at` in `sorted`, for a context converted
    /// on a thread of name slot `slot` (see [`name_slot`]). A context's
    /// records hold names that the converting thread clones: if every
    /// thread cloned the schema's shared name, they would all increment and
    /// decrement one reference count, and that cache line would bounce
    /// between cores (measured with `thread_scaling CPU=1`: a shared engine's
    /// CPU time per decision rose by about a fifth on two threads). Threads of
    /// different slots clone different copies. Slot 0 uses the shared name,
    /// which is also the policies' (see `fast::lookup_name`).
    pub(crate) fn name(&self, at: usize, slot: usize) -> Option<Arc<str>> {
        let name = match slot.checked_sub(1) {
            None => &self.sorted.get(at)?.0,
            Some(copy) => self.copies.get(copy)?.get(at)?,
        };
        Some(Arc::clone(name))
    }
}

/// Entity types, hashed with the Fx hash (the set is built from the schema;
/// requests only look names up).
pub(crate) type TypeSet =
    std::collections::HashSet<EntityTypeName, std::hash::BuildHasherDefault<crate::fast::FxHasher>>;

/// The request shape of one action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionShape {
    /// The principal types the action applies to (parsed once here, so that
    /// checking a request compares type names without formatting them).
    pub principal_types: TypeSet,
    /// The resource types the action applies to.
    pub resource_types: TypeSet,
    /// The context record, or `None` when the fast path cannot handle this action.
    pub context: Option<Arc<Record>>,
    /// The context declares `now: datetime`, which the engine supplies.
    pub declares_now: bool,
}

/// An [`ActionShape`] with a context record, as the compiled evaluator's
/// store numbers it: the principal and resource types as the store's type
/// numbers (sorted), so that a request whose entities are resolved against
/// the store is checked without hashing its uids again.
#[derive(Debug, Clone)]
pub(crate) struct ShapeRef {
    pub principal_types: Box<[u32]>,
    pub resource_types: Box<[u32]>,
    pub context: Arc<Record>,
    pub declares_now: bool,
}

impl ShapeRef {
    /// Numbers `shapes` in `store` (interning each action and every type they
    /// name, so that no declared type is left without a number), keyed by
    /// the action's number. Actions whose context the fast path cannot take
    /// are left out.
    pub(crate) fn number(
        shapes: &crate::fast::FxMap<EntityUid, ActionShape>,
        store: &mut crate::fast::Store,
    ) -> crate::fast::FxMap<u32, ShapeRef> {
        let mut out = crate::fast::FxMap::default();
        for (action, shape) in shapes {
            let Some(context) = &shape.context else { continue };
            let mut types = |set: &TypeSet| {
                let mut ids: Vec<u32> = set.iter().map(|t| store.type_id(&t.to_string())).collect();
                ids.sort_unstable();
                ids.dedup();
                ids.into_boxed_slice()
            };
            let (principal_types, resource_types) = (types(&shape.principal_types), types(&shape.resource_types));
            let id = store.intern(action).id;
            out.insert(
                id,
                ShapeRef {
                    principal_types,
                    resource_types,
                    context: Arc::clone(context),
                    declares_now: shape.declares_now,
                },
            );
        }
        out
    }
}

impl ActionShape {
    /// The engine-kept session counters (`actions`, `same_action`,
    /// `repos_touched`) that this action's `context.session` declares as `Long`.
    pub(crate) fn session_counters(&self) -> Vec<&'static str> {
        let Some(Ty::Record(session)) = self.context.as_ref().and_then(|c| c.attrs.get("session")).map(|(t, _)| t)
        else {
            return Vec::new();
        };
        ["actions", "same_action", "repos_touched"]
            .into_iter()
            .filter(|n| session.attrs.get(*n).is_some_and(|(t, _)| *t == Ty::Long))
            .collect()
    }
}

/// The outcome of the fast path.
pub(crate) enum Fast<T> {
    Done(T),
    /// Not understood here: use Cedar's own parser and validator.
    Fallback,
    /// Definitely invalid, with the reason.
    Invalid(String),
}

/// Reads every action's request shape from the schema text (Cedar schema
/// syntax, or Cedar's JSON schema format).
pub(crate) fn action_shapes(schema_text: &str) -> crate::fast::FxMap<EntityUid, ActionShape> {
    let json = if crate::compile::is_json_schema(schema_text) {
        match serde_json::from_str::<Value>(schema_text) {
            Ok(json) => json,
            Err(_) => return Default::default(),
        }
    } else {
        match cedar_policy::schema_str_to_json_with_resolved_types(schema_text) {
            Ok((json, _)) => json,
            Err(_) => return Default::default(),
        }
    };
    let Some(namespaces) = json.as_object() else { return Default::default() };
    let mut common: HashMap<String, &Value> = HashMap::new();
    let mut enums: HashSet<String> = HashSet::new();
    let mut entity_types: HashSet<String> = HashSet::new();
    for (ns, body) in namespaces {
        if let Some(types) = body.get("commonTypes").and_then(Value::as_object) {
            for (name, ty) in types {
                common.insert(qualify(ns, name), ty);
            }
        }
        if let Some(types) = body.get("entityTypes").and_then(Value::as_object) {
            for (name, ty) in types {
                entity_types.insert(qualify(ns, name));
                if ty.get("enum").is_some() {
                    enums.insert(qualify(ns, name));
                }
            }
        }
    }
    let resolver = Resolver { common: &common, entity_types: &entity_types, names: RefCell::new(HashMap::new()) };
    let mut out = crate::fast::FxMap::default();
    for (ns, body) in namespaces {
        let Some(actions) = body.get("actions").and_then(Value::as_object) else { continue };
        let Ok(action_type) = EntityTypeName::from_str(&qualify(ns, "Action")) else { continue };
        for (name, action) in actions {
            let applies = action.get("appliesTo");
            let types = |key: &str| -> HashSet<String> {
                applies
                    .and_then(|a| a.get(key))
                    .and_then(Value::as_array)
                    .map(|ts| ts.iter().filter_map(Value::as_str).map(|t| qualify(ns, t)).collect())
                    .unwrap_or_default()
            };
            let (principal_types, resource_types) = (types("principalTypes"), types("resourceTypes"));
            let touches_enum = principal_types.iter().chain(&resource_types).any(|t| enums.contains(t));
            let context = match applies.and_then(|a| a.get("context")) {
                None => Some(Arc::new(Record::new(HashMap::new(), &resolver.names))),
                Some(c) => match resolver.ty(c, ns, 0) {
                    Ty::Record(r) => Some(r),
                    _ => None,
                },
            };
            let declares_now =
                context.as_ref().is_some_and(|r| r.attrs.get("now").is_some_and(|(t, _)| *t == Ty::Ext(Ext::Datetime)));
            let uid = EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(name));
            let context = if touches_enum || applies.is_none() { None } else { context };
            // A name that does not parse names no entity a request can carry.
            let parsed = |names: HashSet<String>| -> TypeSet {
                names.iter().filter_map(|n| EntityTypeName::from_str(n).ok()).collect()
            };
            let (principal_types, resource_types) = (parsed(principal_types), parsed(resource_types));
            out.insert(uid, ActionShape { principal_types, resource_types, context, declares_now });
        }
    }
    out
}

fn qualify(ns: &str, name: &str) -> String {
    if ns.is_empty() || name.contains("::") {
        name.to_string()
    } else {
        format!("{ns}::{name}")
    }
}

struct Resolver<'a> {
    /// Attribute names, one allocation each (see `Record::new`).
    names: RefCell<HashMap<String, Arc<str>>>,
    common: &'a HashMap<String, &'a Value>,
    /// Every declared entity type, qualified.
    entity_types: &'a HashSet<String>,
}

impl Resolver<'_> {
    fn ty(&self, v: &Value, ns: &str, depth: usize) -> Ty {
        if depth > 32 {
            return Ty::Other;
        }
        let Some(kind) = v.get("type").and_then(Value::as_str) else { return Ty::Other };
        let kind = kind.strip_prefix("__cedar::").unwrap_or(kind);
        match kind {
            "String" => Ty::String,
            "Long" => Ty::Long,
            "Boolean" | "Bool" => Ty::Bool,
            "Set" => match v.get("element") {
                Some(e) => Ty::Set(Box::new(self.ty(e, ns, depth + 1))),
                None => Ty::Other,
            },
            "Record" => {
                if v.get("additionalAttributes").and_then(Value::as_bool) == Some(true) {
                    return Ty::Other;
                }
                let mut attrs = HashMap::new();
                if let Some(a) = v.get("attributes").and_then(Value::as_object) {
                    for (name, at) in a {
                        let required = at.get("required").and_then(Value::as_bool).unwrap_or(true);
                        attrs.insert(name.clone(), (self.ty(at, ns, depth + 1), required));
                    }
                }
                Ty::Record(Arc::new(Record::new(attrs, &self.names)))
            }
            "Extension" => v.get("name").and_then(Value::as_str).map(ext_ty).unwrap_or(Ty::Other),
            "datetime" | "duration" | "ipaddr" | "decimal" => ext_ty(kind),
            "Entity" => Ty::Other,
            "CommonType" | "EntityOrCommon" => match v.get("name").and_then(Value::as_str) {
                Some(name) => self.named(name, ns, depth),
                None => Ty::Other,
            },
            other => self.named(other, ns, depth),
        }
    }

    /// A type referred to by name, resolved as Cedar does: a common type or
    /// entity type of the namespace, then of the empty namespace, then a
    /// built-in type. Entity types are `Other` (the fast path gives up).
    fn named(&self, name: &str, ns: &str, depth: usize) -> Ty {
        for candidate in [qualify(ns, name), name.to_string()] {
            if let Some(t) = self.common.get(&candidate) {
                return self.ty(t, ns, depth + 1);
            }
            if self.entity_types.contains(&candidate) {
                return Ty::Other;
            }
        }
        match name.strip_prefix("__cedar::").unwrap_or(name) {
            "String" => Ty::String,
            "Long" => Ty::Long,
            "Bool" | "Boolean" => Ty::Bool,
            other => ext_ty(other),
        }
    }
}

fn ext_ty(name: &str) -> Ty {
    match name {
        "datetime" => Ty::Ext(Ext::Datetime),
        "duration" => Ty::Ext(Ext::Duration),
        "ipaddr" => Ty::Ext(Ext::Ip),
        "decimal" => Ty::Ext(Ext::Decimal),
        _ => Ty::Other,
    }
}

thread_local! {
    /// Extension constructor expressions by literal. Building one parses the
    /// extension's name with Cedar's full parser (~50k instructions); contexts
    /// repeat the same timestamps (credential issue/expiry) across requests.
    static EXT_CACHE: RefCell<HashMap<(Ext, String), RestrictedExpression>> = RefCell::new(HashMap::new());
}

const EXT_CACHE_MAX: usize = 4096;

/// A Cedar extension-constructor expression for `arg` (validated later, when Cedar evaluates it).
pub(crate) fn ext_expr(ext: Ext, arg: &str) -> RestrictedExpression {
    EXT_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(e) = cache.get(&(ext, arg.to_string())) {
            return e.clone();
        }
        let e = match ext {
            Ext::Datetime => RestrictedExpression::new_datetime(arg),
            Ext::Duration => RestrictedExpression::new_duration(arg),
            Ext::Ip => RestrictedExpression::new_ip(arg),
            Ext::Decimal => RestrictedExpression::new_decimal(arg),
        };
        if cache.len() >= EXT_CACHE_MAX {
            cache.clear();
        }
        cache.insert((ext, arg.to_string()), e.clone());
        e
    })
}

/// Converts a JSON context into typed Cedar values, checking it against the record type.
pub(crate) fn context_pairs(
    map: &Map<String, Value>,
    record: &Record,
    now: Option<&str>,
) -> Fast<Vec<(String, RestrictedExpression)>> {
    let mut pairs = Vec::with_capacity(map.len() + 1);
    for (k, v) in map {
        if now.is_some() && k == "now" {
            continue;
        }
        let Some((ty, _)) = record.attrs.get(k) else {
            return Fast::Invalid(format!("attribute `{k}` is not declared in the action's context type"));
        };
        match value(v, ty, k) {
            Fast::Done(e) => pairs.push((k.clone(), e)),
            Fast::Fallback => return Fast::Fallback,
            Fast::Invalid(m) => return Fast::Invalid(m),
        }
    }
    // In name order, so the message names the same attribute every time.
    for (name, _, required) in &record.sorted {
        let supplied = map.contains_key(&**name) || (now.is_some() && &**name == "now");
        if *required && !supplied {
            return Fast::Invalid(format!("required attribute `{name}` is missing"));
        }
    }
    if let Some(now) = now {
        pairs.push(("now".into(), ext_expr(Ext::Datetime, now)));
    }
    Fast::Done(pairs)
}

fn value(v: &Value, ty: &Ty, path: &str) -> Fast<RestrictedExpression> {
    let mismatch = |want: &str| Fast::Invalid(format!("`{path}` should be {want}"));
    match (ty, v) {
        (Ty::Other, _) => Fast::Fallback,
        // Escapes (`__entity`, `__extn`) are left to Cedar's own parser.
        (_, Value::Object(o)) if o.contains_key("__extn") || o.contains_key("__entity") => Fast::Fallback,
        (Ty::String, Value::String(s)) => Fast::Done(RestrictedExpression::new_string(s.clone())),
        (Ty::String, _) => mismatch("a string"),
        (Ty::Long, Value::Number(n)) => match n.as_i64() {
            Some(i) => Fast::Done(RestrictedExpression::new_long(i)),
            None => mismatch("a 64-bit integer"),
        },
        (Ty::Long, _) => mismatch("an integer"),
        (Ty::Bool, Value::Bool(b)) => Fast::Done(RestrictedExpression::new_bool(*b)),
        (Ty::Bool, _) => mismatch("a boolean"),
        (Ty::Ext(e), Value::String(s)) => Fast::Done(ext_expr(*e, s)),
        (Ty::Ext(_), _) => mismatch("an extension value string"),
        (Ty::Set(elem), Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match value(item, elem, path) {
                    Fast::Done(e) => out.push(e),
                    other => return other,
                }
            }
            Fast::Done(RestrictedExpression::new_set(out))
        }
        (Ty::Set(_), _) => mismatch("an array"),
        (Ty::Record(r), Value::Object(o)) => {
            let mut fields = Vec::with_capacity(o.len());
            for (k, item) in o {
                let Some((t, _)) = r.attrs.get(k) else {
                    return Fast::Invalid(format!("`{path}.{k}` is not declared in the schema"));
                };
                match value(item, t, k) {
                    Fast::Done(e) => fields.push((k.clone(), e)),
                    Fast::Invalid(m) => return Fast::Invalid(format!("in `{path}`: {m}")),
                    Fast::Fallback => return Fast::Fallback,
                }
            }
            if let Some((name, _, _)) = r.sorted.iter().find(|(name, _, req)| *req && !o.contains_key(&**name)) {
                return Fast::Invalid(format!("`{path}.{name}` is required"));
            }
            match RestrictedExpression::new_record(fields) {
                Ok(e) => Fast::Done(e),
                Err(e) => Fast::Invalid(e.to_string()),
            }
        }
        (Ty::Record(_), _) => mismatch("an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(schema: &str) -> HashMap<String, ActionShape> {
        action_shapes(schema).into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn finds_now_through_common_types_and_namespaces() {
        let s = shapes(
            r#"namespace N {
              type Ctx = { now: datetime, x?: Long };
              entity U;
              action a appliesTo { principal: U, resource: U, context: Ctx };
              action b appliesTo { principal: U, resource: U, context: { now: datetime } };
              action c appliesTo { principal: U, resource: U, context: { now: String } };
              action d appliesTo { principal: U, resource: U };
            }"#,
        );
        let with_now: HashSet<&str> = s.iter().filter(|(_, v)| v.declares_now).map(|(k, _)| k.as_str()).collect();
        assert_eq!(with_now, HashSet::from([r#"N::Action::"a""#, r#"N::Action::"b""#]));
        assert!(s[r#"N::Action::"a""#].principal_types.contains(&EntityTypeName::from_str("N::U").unwrap()));
    }

    #[test]
    fn fast_path_checks_types_and_falls_back_on_escapes_and_entities() {
        let s = shapes(
            r#"entity U; entity G enum ["x"];
               action a appliesTo { principal: U, resource: U, context: { n: Long, s?: Set<String>, r: { t: datetime }, u?: U } };
               action e appliesTo { principal: G, resource: U };"#,
        );
        let rec = s[r#"Action::"a""#].context.clone().unwrap();
        let run = |v: Value| context_pairs(v.as_object().unwrap(), &rec, None);
        assert!(matches!(run(serde_json::json!({"n": 1, "r": {"t": "2026-01-01"}})), Fast::Done(_)));
        assert!(matches!(run(serde_json::json!({"n": "1", "r": {"t": "2026-01-01"}})), Fast::Invalid(_)));
        assert!(matches!(run(serde_json::json!({"r": {"t": "2026-01-01"}})), Fast::Invalid(_)));
        assert!(matches!(run(serde_json::json!({"n": 1, "r": {}})), Fast::Invalid(_)));
        assert!(matches!(run(serde_json::json!({"n": 1, "r": {"t": "x"}, "extra": 1})), Fast::Invalid(_)));
        assert!(matches!(run(serde_json::json!({"n": 1.5, "r": {"t": "x"}})), Fast::Invalid(_)));
        assert!(matches!(run(serde_json::json!({"n": 1, "s": ["a", 2], "r": {"t": "x"}})), Fast::Invalid(_)));
        assert!(matches!(run(serde_json::json!({"n": 1, "r": {"t": "x"}, "u": "U::\"a\""})), Fast::Fallback));
        let escaped = serde_json::json!({"n": 1, "r": {"t": {"__extn": {"fn": "datetime", "arg": "2026-01-01"}}}});
        assert!(matches!(run(escaped), Fast::Fallback));
        assert!(s[r#"Action::"e""#].context.is_none(), "enumerated entity types take Cedar's path");
    }
}
