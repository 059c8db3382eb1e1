//! JavaScript values to JSON for the core, with the guards the core expects.
//!
//! Requests are converted directly from JS values (no `JSON.stringify`), so
//! every problem is reported with the path where it occurs:
//!
//! - cycles and nesting deeper than the limit are refused;
//! - the total size (string bytes plus a small cost per value) is bounded, so a
//!   huge string or a shared sub-object repeated many times is refused before
//!   it is copied;
//! - numbers must be safe integers (Cedar has no floats; `NaN` and `Infinity`
//!   are refused), `BigInt`s must fit in an `i64`;
//! - `Date`s become RFC 3339 strings (`2026-11-25T10:00:00.000Z`, as
//!   `toISOString` writes them), which the core parses as Cedar `datetime`
//!   where the schema says so; an invalid `Date` is refused; other objects
//!   with a `toJSON` method are converted through it, as `JSON.stringify` would;
//! - an `undefined` property is omitted (as `JSON.stringify` does); `undefined`
//!   elsewhere, functions and symbols are refused.

use std::time::{Duration, UNIX_EPOCH};

use agentauthz::ContextValue;
use napi::bindgen_prelude::{Function, JsObjectValue, KeyCollectionMode, KeyConversion, KeyFilter, Object, Unknown};
use napi::{Env, JsValue, ValueType};
use serde_json::{Map, Value};

/// A converted JS value: JSON's data model, objects in property order.
pub(crate) enum Tree {
    Null,
    Bool(bool),
    Long(i64),
    String(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

impl Tree {
    /// The value as JSON.
    pub(crate) fn into_json(self) -> Value {
        match self {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(b),
            Tree::Long(n) => Value::from(n),
            Tree::String(s) => Value::String(s),
            Tree::Array(items) => Value::Array(items.into_iter().map(Tree::into_json).collect()),
            Tree::Object(fields) => {
                let mut map = Map::new();
                for (k, v) in fields {
                    map.insert(k, v.into_json());
                }
                Value::Object(map)
            }
        }
    }

    /// The value as a core context value; `Err` gives it back as JSON when it
    /// holds a `null` (which only the JSON path reports as the core does).
    pub(crate) fn into_context(self) -> Result<ContextValue, Value> {
        if self.has_null() {
            return Err(self.into_json());
        }
        Ok(self.context_value())
    }

    fn has_null(&self) -> bool {
        match self {
            Tree::Null => true,
            Tree::Array(items) => items.iter().any(Tree::has_null),
            Tree::Object(fields) => fields.iter().any(|(_, v)| v.has_null()),
            _ => false,
        }
    }

    fn context_value(self) -> ContextValue {
        match self {
            // Excluded by `has_null`.
            Tree::Null => ContextValue::Set(Vec::new()),
            Tree::Bool(b) => ContextValue::Bool(b),
            Tree::Long(n) => ContextValue::Long(n),
            Tree::String(s) => ContextValue::String(s),
            Tree::Array(items) => ContextValue::Set(items.into_iter().map(Tree::context_value).collect()),
            Tree::Object(fields) => {
                ContextValue::Record(fields.into_iter().map(|(k, v)| (k, v.context_value())).collect())
            }
        }
    }
}

/// JSON text read straight into a [`Tree`] (no hashed maps): the form
/// index.js's fast path sends. Numbers must be integers that fit in an `i64`.
impl<'de> serde::Deserialize<'de> for Tree {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Tree;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value with integer numbers")
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Tree, E> {
                Ok(Tree::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Tree, E> {
                Ok(Tree::Long(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Tree, E> {
                i64::try_from(n).map(Tree::Long).map_err(|_| E::custom("an integer beyond i64"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Tree, E> {
                Ok(Tree::String(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Tree, E> {
                Ok(Tree::String(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
                // serde_json gives no size hint: start with room for a short
                // array or object instead of growing from empty (each growth
                // is a reallocation and a copy).
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(4096));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Tree::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8).min(4096));
                while let Some(entry) = map.next_entry::<String, Tree>()? {
                    fields.push(entry);
                }
                Ok(Tree::Object(fields))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Size charged per value on top of string bytes, so that many small values
/// (a huge array of numbers, a repeated shared object) also hit the budget.
const VALUE_COST: usize = 8;

/// Bounds for one conversion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Deepest nesting of arrays and objects, counted from the root value.
    pub max_depth: usize,
    /// The depth limit as messages state it (the request limit is stated as
    /// the core's context depth, below the request object and its context).
    pub depth_shown: usize,
    /// Largest total size, in bytes (see [`VALUE_COST`]).
    pub max_bytes: usize,
}

/// Limits for a request: the core's context depth (plus the request object and
/// its `context` field) and its request size.
pub(crate) const REQUEST_LIMITS: Limits = Limits {
    max_depth: agentauthz::MAX_CONTEXT_DEPTH + 2,
    depth_shown: agentauthz::MAX_CONTEXT_DEPTH,
    max_bytes: agentauthz::MAX_REQUEST_BYTES,
};

/// Limits for entity data given as objects to the constructor.
pub(crate) const DATA_LIMITS: Limits = Limits { max_depth: 128, depth_shown: 128, max_bytes: 256 << 20 };

/// Why a value could not be converted.
pub(crate) enum ConvertError {
    /// The value cannot be represented, or is beyond a limit.
    Invalid {
        /// Where, e.g. `context.credential.expires_at` or `context.scopes[2]`.
        path: String,
        /// What is wrong.
        message: String,
        /// True when a size or depth limit was exceeded.
        limit: bool,
    },
    /// JavaScript threw (a getter or `toJSON`); the exception is pending.
    Js(napi::Error),
}

impl From<napi::Error> for ConvertError {
    fn from(e: napi::Error) -> Self {
        ConvertError::Js(e)
    }
}

impl ConvertError {
    /// `path: message` for problems with the value; the JS error otherwise.
    pub(crate) fn describe(&self) -> String {
        match self {
            ConvertError::Invalid { path, message, .. } if path.is_empty() => message.clone(),
            ConvertError::Invalid { path, message, .. } => format!("{path}: {message}"),
            ConvertError::Js(e) => e.reason.clone(),
        }
    }
}

enum Segment {
    Key(String),
    Index(u32),
}

/// Converts one JS value tree; see the module documentation for the rules.
pub(crate) struct Walker<'env> {
    env: &'env Env,
    limits: Limits,
    root: &'static str,
    used: usize,
    path: Vec<Segment>,
    /// The objects being converted, outermost first, with their path lengths.
    ancestors: Vec<(Object<'env>, usize)>,
}

impl<'env> Walker<'env> {
    /// A walker whose error paths start with `root` (e.g. `request`).
    pub(crate) fn new(env: &'env Env, limits: Limits, root: &'static str) -> Self {
        Self { env, limits, root, used: 0, path: Vec::new(), ancestors: Vec::new() }
    }

    /// Converts `value`; `Ok(None)` for `undefined`.
    pub(crate) fn convert(&mut self, value: Unknown<'env>) -> Result<Option<Tree>, ConvertError> {
        self.charge(VALUE_COST)?;
        match value.get_type()? {
            ValueType::Undefined => Ok(None),
            ValueType::Null => Ok(Some(Tree::Null)),
            ValueType::Boolean => Ok(Some(Tree::Bool(value.coerce_to_bool()?))),
            ValueType::Number => {
                let n = value.coerce_to_number()?.get_double()?;
                self.number(n).map(Some)
            }
            ValueType::String => self.string(&value).map(|s| Some(Tree::String(s))),
            ValueType::BigInt => self.bigint(&value).map(Some),
            ValueType::Object => self.object(value).map(Some),
            ValueType::Function => Err(self.invalid("a function is not a value")),
            ValueType::Symbol => Err(self.invalid("a symbol is not a value")),
            _ => Err(self.invalid("unsupported value")),
        }
    }

    fn object(&mut self, value: Unknown<'env>) -> Result<Tree, ConvertError> {
        if value.is_date()? {
            let ms = value.coerce_to_number()?.get_double()?;
            if ms.is_nan() {
                return Err(self.invalid("Invalid Date"));
            }
            if ms >= 0.0 {
                return Ok(date_text(ms));
            }
            // Before 1970: through Date.prototype.toJSON, like JSON.stringify.
        }
        let obj = value.coerce_to_object()?;
        if self.ancestors.len() >= self.limits.max_depth {
            return Err(self.too_deep(obj));
        }
        self.ancestors.push((obj, self.path.len()));
        let out = if value.is_array()? { self.array(&obj) } else { self.record(&obj) };
        self.ancestors.pop();
        out
    }

    /// The error for an object beyond the depth limit: a cycle (reported where
    /// it first closes) when the chain of ancestors repeats, else the limit.
    /// Checking for cycles only here keeps the common path free of identity
    /// comparisons; the depth limit bounds this search.
    fn too_deep(&mut self, obj: Object<'env>) -> ConvertError {
        let mut chain: Vec<(Object<'env>, usize)> = self.ancestors.clone();
        chain.push((obj, self.path.len()));
        for (j, (later, path_len)) in chain.iter().enumerate().skip(1) {
            for (earlier, _) in chain.iter().take(j) {
                match self.env.strict_equals(*later, *earlier) {
                    Ok(true) => {
                        self.path.truncate(*path_len);
                        return self.invalid("cyclic reference (the object contains itself)");
                    }
                    Ok(false) => {}
                    Err(e) => return ConvertError::Js(e),
                }
            }
        }
        self.limit(format!("nested deeper than {} levels", self.limits.depth_shown))
    }

    fn array(&mut self, arr: &Object<'env>) -> Result<Tree, ConvertError> {
        let len = arr.get_array_length_unchecked()?;
        self.charge((len as usize).saturating_mul(VALUE_COST))?;
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            self.path.push(Segment::Index(i));
            let item: Unknown<'env> = arr.get_element(i)?;
            match self.convert(item)? {
                Some(v) => items.push(v),
                None => return Err(self.invalid("undefined is not a value")),
            }
            self.path.pop();
        }
        Ok(Tree::Array(items))
    }

    fn record(&mut self, obj: &Object<'env>) -> Result<Tree, ConvertError> {
        let to_json: Unknown<'env> = obj.get_named_property("toJSON")?;
        if to_json.get_type()? == ValueType::Function {
            let f: Function<'env, String, Unknown<'env>> = obj.get_named_property("toJSON")?;
            let key = match self.path.last() {
                Some(Segment::Key(k)) => k.clone(),
                Some(Segment::Index(i)) => i.to_string(),
                None => String::new(),
            };
            let replaced = f.apply(obj, key)?;
            return match self.convert(replaced)? {
                Some(v) => Ok(v),
                None => Err(self.invalid("toJSON() returned undefined")),
            };
        }
        let keys = obj.get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        )?;
        let len = keys.get_array_length_unchecked()?;
        let mut fields = Vec::with_capacity(len as usize);
        for i in 0..len {
            let key: Unknown<'env> = keys.get_element(i)?;
            if key.get_type()? != ValueType::String {
                continue; // symbol keys, as JSON.stringify
            }
            let name = self.string(&key)?;
            let item: Unknown<'env> = obj.get_property(key)?;
            self.path.push(Segment::Key(name));
            let converted = self.convert(item)?;
            if let Some(Segment::Key(name)) = self.path.pop() {
                if let Some(v) = converted {
                    fields.push((name, v));
                }
            }
        }
        Ok(Tree::Object(fields))
    }

    fn string(&mut self, value: &Unknown<'env>) -> Result<String, ConvertError> {
        let s = value.coerce_to_string()?;
        let len = s.utf8_len()?;
        if len > self.limits.max_bytes {
            return Err(self.limit(format!("a string of {len} bytes; at most {} are accepted", self.limits.max_bytes)));
        }
        self.charge(len)?;
        utf8_text(value)?.map_err(|problem| self.invalid(&problem))
    }

    fn number(&self, n: f64) -> Result<Tree, ConvertError> {
        if n.is_nan() {
            Err(self.invalid("NaN is not a number Cedar can hold"))
        } else if n.is_infinite() {
            Err(self.invalid("Infinity is not a number Cedar can hold"))
        } else if n.fract() != 0.0 {
            Err(self.invalid(&format!("{n} is not an integer (Cedar has no floating-point numbers)")))
        } else if n.abs() > MAX_SAFE_INTEGER {
            Err(self
                .invalid(&format!("{n} is beyond Number.MAX_SAFE_INTEGER and may have lost precision; pass a BigInt")))
        } else {
            // Exact: |n| <= 2^53 and n has no fraction.
            #[allow(clippy::cast_possible_truncation)]
            Ok(Tree::Long(n as i64))
        }
    }

    fn bigint(&self, value: &Unknown<'env>) -> Result<Tree, ConvertError> {
        let text = value.coerce_to_string()?.into_utf8()?.into_owned()?;
        match text.parse::<i64>() {
            Ok(i) => Ok(Tree::Long(i)),
            Err(_) => Err(self.invalid(&format!("{text}n does not fit in a 64-bit signed integer (Cedar's Long)"))),
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), ConvertError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limits.max_bytes {
            Err(self.limit(format!("larger than {} bytes in total", self.limits.max_bytes)))
        } else {
            Ok(())
        }
    }

    fn path_text(&self) -> String {
        let mut out = String::from(self.root);
        for seg in &self.path {
            match seg {
                Segment::Key(k) if is_identifier(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Key(k) => {
                    out.push('[');
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(']');
                }
                Segment::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    fn invalid(&self, message: &str) -> ConvertError {
        ConvertError::Invalid { path: self.path_text(), message: message.to_string(), limit: false }
    }

    fn limit(&self, message: String) -> ConvertError {
        ConvertError::Invalid { path: self.path_text(), message, limit: true }
    }
}

/// A JS string as UTF-8. V8 silently replaces a lone surrogate (which UTF-8
/// cannot hold) with U+FFFD, so two different strings would become the same
/// text, e.g. the same entity id; such a string is refused instead
/// (`Ok(Err(problem))`). The UTF-16 check runs only when the UTF-8 text holds
/// a U+FFFD, so ordinary strings pay nothing for it.
pub(crate) fn utf8_text(value: &Unknown<'_>) -> napi::Result<Result<String, String>> {
    let text = value.coerce_to_string()?.into_utf8()?.into_owned()?;
    if text.contains('\u{FFFD}') {
        let utf16 = value.coerce_to_string()?.into_utf16()?;
        let units = utf16.as_slice();
        let units = units.strip_suffix(&[0]).unwrap_or(units);
        if char::decode_utf16(units.iter().copied()).any(|c| c.is_err()) {
            return Ok(Err("a string with a lone surrogate is not valid Unicode text".into()));
        }
    }
    Ok(Ok(text))
}

/// An RFC 3339 UTC instant with milliseconds, for non-negative epoch milliseconds.
fn date_text(ms: f64) -> Tree {
    // Finite, non-negative and at most 8.64e15 (the JS Date range): exact in u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let t = UNIX_EPOCH + Duration::from_millis(ms as u64);
    Tree::String(agentauthz::format_rfc3339_millis(t))
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}
