//! The audit record, its canonical serialization and its hash.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::decision::{DecisionError, Outcome};

/// The `prev_hash` of the first record of a log: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The string that replaces redacted context values.
pub const REDACTED: &str = "[REDACTED]";

/// One line of the audit log: a decision, or a gap (decisions that were not
/// recorded because the queue was full in [`OnFull::Drop`](super::OnFull::Drop) mode).
///
/// Fields that do not apply are absent from the JSON (never `null`); readers
/// ignore fields they do not know, so later versions can add fields (such as
/// `shadow`) without breaking replay or verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// Position in the chain: 0, 1, 2, ... with no holes (gap records included).
    pub seq: u64,
    /// The `now` the decision used (RFC 3339, milliseconds, UTC); for a gap,
    /// when the writer noticed it.
    pub ts: String,
    /// A unique id for the decision: the log's random boot id and `seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The version (content hash) of the policy set that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// The principal, as `Type::"id"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The action, as `Action::"name"` when the schema resolves it, else as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The resource, as `Type::"id"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The request context in Cedar JSON, as the caller gave it, with the
    /// configured fields redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// allow, deny or ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The determining policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<RecordedPolicy>,
    /// Errors met while deciding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<DecisionError>,
    /// For ask: the owners whose approval is needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ask_owners: Vec<String>,
    /// For ask (and an allow granted by an approval): the approval id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// Time spent deciding, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_us: Option<f64>,
    /// For a gap record: what was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
    /// Shadow evaluation (see [`crate::Shadow::to_json`]), when the engine has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Value>,
    /// The previous record's `hash` ([`GENESIS_HASH`] for the first record).
    pub prev_hash: String,
    /// Hex SHA-256 of the record's canonical serialization without `hash`
    /// (see [`canonical_json`]).
    #[serde(default)]
    pub hash: String,
}

/// A determining policy as recorded: its id, effect and accountability annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecordedPolicy {
    /// The policy id.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: String,
    /// `@owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `@ask`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    /// `@control`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// Decisions that were not recorded: `lost` of them, between the records
/// `seq - 1` and `seq + 1` of the gap record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Gap {
    /// How many decisions were dropped.
    pub lost: u64,
}

impl AuditRecord {
    /// Parses one log line (no verification; see [`verify`](super::verify)).
    pub fn from_line(line: &str) -> Result<Self, String> {
        serde_json::from_str(line).map_err(|e| e.to_string())
    }
}

/// Recomputes a parsed line's hash: SHA-256 over the canonical form of the
/// object without its `hash` field.
pub(crate) fn expected_hash(record: &Map<String, Value>) -> String {
    let mut text = String::new();
    write_object(record.iter().filter(|(k, _)| k.as_str() != "hash"), &mut text);
    hash_hex(&text)
}

pub(crate) fn hash_hex(text: &str) -> String {
    super::line::to_hex(&Sha256::digest(text.as_bytes()))
}

/// The canonical serialization the hash covers: object keys sorted
/// (bytewise, recursively), no whitespace, strings escaped minimally
/// (`"`, `\`, control characters), numbers as serde_json prints them.
/// Independent of serde_json's map ordering.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

pub(crate) fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_map(map, out),
    }
}

/// An object in canonical form; serde_json's map usually iterates in
/// bytewise key order already, and then no sorting (or allocation) is needed.
pub(crate) fn write_map(map: &Map<String, Value>, out: &mut String) {
    let mut prev: Option<&String> = None;
    let sorted = map.keys().all(|k| {
        let ok = prev.is_none_or(|p| p.as_bytes() < k.as_bytes());
        prev = Some(k);
        ok
    });
    if !sorted {
        return write_object(map.iter(), out);
    }
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

fn write_object<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = entries.collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

pub(crate) fn write_string(s: &str, out: &mut String) {
    out.push('"');
    // Copy runs of characters that need no escape in one go. Every character
    // that needs one is ASCII, so scanning bytes is exact (the bytes of a
    // multi-byte UTF-8 character are all >= 0x80 and never match).
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            b if b < 0x20 => "",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Replaces the value at each dotted path (`credential.token`) with
/// [`REDACTED`]. Arrays on the way apply the rest of the path to each element.
/// Returns the replaced values (strings as they are, others as JSON text), so
/// that they can be scrubbed from error messages too.
pub(crate) fn redact(context: &mut Map<String, Value>, paths: &[Vec<String>]) -> Vec<String> {
    let mut removed = Vec::new();
    for path in paths {
        if let Some((head, rest)) = path.split_first() {
            if let Some(child) = context.get_mut(head) {
                redact_value(child, rest, &mut removed);
            }
        }
    }
    removed
}

fn redact_value(value: &mut Value, path: &[String], removed: &mut Vec<String>) {
    let Some((head, rest)) = path.split_first() else {
        let old = std::mem::replace(value, Value::String(REDACTED.into()));
        match old {
            Value::String(s) => removed.push(s),
            other => {
                collect_strings(&other, removed);
                removed.push(canonical_json(&other));
            }
        }
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(child) = map.get_mut(head) {
                redact_value(child, rest, removed);
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_value(item, path, removed);
            }
        }
        _ => {}
    }
}

/// Strings inside a redacted compound value; short ones (such as Cedar's
/// `"fn": "ip"`) are left out so that messages stay readable.
fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.chars().count() >= 4 => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Replaces every occurrence of a redacted value in `text` (error messages
/// may quote context values).
pub(crate) fn scrub(text: &str, removed: &[String]) -> String {
    let mut out = text.to_string();
    for secret in removed.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_recursively_and_escapes() {
        let v = json!({"b": 1, "a": {"z": [true, null, "x\"\n\u{1}"], "y": 2.5}});
        assert_eq!(canonical_json(&v), r#"{"a":{"y":2.5,"z":[true,null,"x\"\n\u0001"]},"b":1}"#);
        // The canonical text parses back to the same canonical text.
        let back: Value = serde_json::from_str(&canonical_json(&v)).unwrap();
        assert_eq!(canonical_json(&back), canonical_json(&v));
    }

    #[test]
    fn redaction_follows_paths_through_objects_and_arrays() {
        let mut ctx = json!({"credential": {"token": "s3cret", "id": "c"}, "items": [{"k": 1}, {"k": 2}]});
        let Value::Object(map) = &mut ctx else { unreachable!() };
        let removed = redact(map, &[vec!["credential".into(), "token".into()], vec!["items".into(), "k".into()]]);
        assert_eq!(removed, ["s3cret", "1", "2"]);
        assert_eq!(scrub("bad value \"s3cret\"", &removed), "bad value \"[REDACTED]\"");
        assert_eq!(
            ctx,
            json!({"credential": {"token": REDACTED, "id": "c"}, "items": [{"k": REDACTED}, {"k": REDACTED}]})
        );
    }
}
