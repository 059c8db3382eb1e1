//! Writing a record line straight from the decision, in canonical form.
//!
//! The writer never builds an [`AuditRecord`](super::AuditRecord) or a
//! `serde_json::Value` tree for a record: it writes the canonical
//! serialization (keys in bytewise order, see [`canonical_json`]) into one
//! reused buffer that already starts with a placeholder for `"hash"`, hashes
//! the body in place and fills the placeholder in. One pass, no copies; the
//! result is byte-for-byte what [`verify`](super::verify()) recomputes from
//! the parsed line (a unit test below checks this field by field).

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use super::record::{write_map, write_string, write_value};
use super::Verdict;
use crate::decision::{DecisionError, Outcome};

/// `{"hash":"` — the hash's hex digits start here.
const HASH_AT: usize = 9;
/// `{"hash":"<64 hex digits>",` — the hashed fields start here.
const BODY_AT: usize = HASH_AT + 64 + 2;

/// The fields of one record, borrowed from the decision and request; `None`
/// and empty fields are left out of the line.
#[derive(Default)]
pub(crate) struct Fields<'a> {
    pub action: Option<&'a str>,
    pub context: Option<&'a Map<String, Value>>,
    pub decision: Option<&'a Verdict>,
    /// The policy version that decided (written with the decision).
    pub policy_version: &'a str,
    /// The decision's errors when redaction rewrote their messages.
    pub errors: Option<&'a [DecisionError]>,
    pub boot_id: &'a str,
    pub gap: Option<u64>,
    pub principal: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub ts: &'a str,
}

/// Writes the record with `seq` and `prev_hash` into `out` (cleared first) as
/// a complete line without newline, and returns its hash (hex).
pub(crate) fn write_line(out: &mut String, f: &Fields<'_>, seq: u64, prev_hash: &str) -> String {
    out.clear();
    out.push_str("{\"hash\":\"");
    out.push_str(super::GENESIS_HASH);
    out.push_str("\",");
    let d = f.decision;
    if let Some(a) = f.action {
        key(out, "action");
        write_string(a, out);
    }
    if let Some(id) = d.and_then(|d| d.approval_id.as_deref()) {
        key(out, "approval_id");
        write_string(id, out);
    }
    if let Some(owners) = d.map(|d| &d.ask_owners).filter(|o| !o.is_empty()) {
        key(out, "ask_owners");
        out.push('[');
        for (i, o) in owners.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(o, out);
        }
        out.push(']');
    }
    if let Some(c) = f.context {
        key(out, "context");
        write_map(c, out);
    }
    if d.is_some() {
        key(out, "decision_id");
        out.push('"');
        out.push_str(f.boot_id);
        let _ = write!(out, "-{seq}\"");
    }
    let errors = f.errors.or(d.map(|d| d.errors.as_slice())).unwrap_or_default();
    if !errors.is_empty() {
        key(out, "errors");
        out.push('[');
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Same keys and nulls as the serde form of `DecisionError`.
            out.push_str("{\"message\":");
            write_string(&e.message, out);
            out.push_str(",\"policy\":");
            match &e.policy {
                Some(p) => write_string(p, out),
                None => out.push_str("null"),
            }
            out.push('}');
        }
        out.push(']');
    }
    if let Some(us) = d.and_then(|d| Number::from_f64((d.eval_time.as_nanos() as f64 / 10.0).round() / 100.0)) {
        key(out, "eval_us");
        let _ = write!(out, "{us}");
    }
    if let Some(lost) = f.gap {
        key(out, "gap");
        let _ = write!(out, "{{\"lost\":{lost}}}");
    }
    if let Some(d) = d {
        key(out, "outcome");
        out.push_str(match d.outcome {
            Outcome::Allow => "\"allow\"",
            Outcome::Deny => "\"deny\"",
            Outcome::Ask => "\"ask\"",
        });
        key(out, "policy_version");
        write_string(f.policy_version, out);
    }
    key(out, "prev_hash");
    write_string(prev_hash, out);
    if let Some(p) = f.principal {
        key(out, "principal");
        write_string(p, out);
    }
    if let Some(d) = d.filter(|d| d.reasons().next().is_some()) {
        key(out, "reasons");
        out.push('[');
        for (i, p) in d.reasons().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Keys in order: ask, control, effect, id, owner.
            out.push('{');
            for name in ["ask", "control"] {
                if let Some(v) = p.annotations.get(name) {
                    write_string(name, out);
                    out.push(':');
                    write_string(v, out);
                    out.push(',');
                }
            }
            out.push_str(match p.effect {
                cedar_policy::Effect::Permit => "\"effect\":\"permit\",\"id\":",
                cedar_policy::Effect::Forbid => "\"effect\":\"forbid\",\"id\":",
            });
            write_string(&p.id, out);
            if let Some(v) = p.annotations.get("owner") {
                out.push_str(",\"owner\":");
                write_string(v, out);
            }
            out.push('}');
        }
        out.push(']');
    }
    if let Some(r) = f.resource {
        key(out, "resource");
        write_string(r, out);
    }
    key(out, "seq");
    let _ = write!(out, "{seq}");
    if let Some(shadow) = d.and_then(|d| d.shadow.as_ref()) {
        key(out, "shadow");
        write_value(&shadow.to_json(), out);
    }
    key(out, "ts");
    write_string(f.ts, out);
    out.push('}');
    seal(out)
}

/// `"name":` after a comma unless it is the first field.
fn key(out: &mut String, name: &str) {
    if out.len() > BODY_AT {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

/// Hashes `{` + the fields (the canonical form without `hash`) and writes the
/// hex digest into the placeholder.
fn seal(out: &mut String) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"{");
    hasher.update(out.get(BODY_AT..).unwrap_or_default().as_bytes());
    let hex = to_hex(&hasher.finalize());
    out.replace_range(HASH_AT..HASH_AT + 64, &hex);
    hex
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::audit::record::expected_hash;
    use crate::audit::{canonical_json, AuditRecord};
    use crate::compile::PolicyInfo;
    use crate::decision::Decision;

    fn policy(id: &str, effect: cedar_policy::Effect, annotations: &[(&str, &str)]) -> Arc<PolicyInfo> {
        let annotations: BTreeMap<String, String> =
            annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Arc::new(PolicyInfo { id: id.into(), file: "f.cedar".into(), effect, annotations, ask: None, shadow: false })
    }

    /// Every field written directly parses back to a record whose canonical
    /// form hashes to the written hash, and serde reads the same values.
    #[test]
    fn direct_lines_match_the_canonical_form_verify_uses() {
        let decision = Decision {
            outcome: Outcome::Ask,
            reasons: vec![
                policy(
                    "ask-push",
                    cedar_policy::Effect::Forbid,
                    &[("ask", "owner"), ("owner", "sec\"team"), ("id", "x")],
                ),
                policy("base", cedar_policy::Effect::Permit, &[("control", "C-1")]),
            ],
            errors: vec![
                DecisionError { policy: None, message: "bad \n value".into() },
                DecisionError { policy: Some("p".into()), message: "m".into() },
            ],
            ask_owners: vec!["owner".into(), "ünï".into()],
            approval_id: Some("ap-1".into()),
            policy_version: "v1".into(),
            eval_time: Duration::from_nanos(12_345),
            shadow: None,
        };
        let ctx = json!({"z": [1, 2.5, null, true], "a": {"k": "v\u{1}"}, "é": "x"});
        let Value::Object(ctx) = ctx else { unreachable!() };
        let fields = Fields {
            action: Some("Action::\"push\""),
            context: Some(&ctx),
            decision: Some(&Verdict::of(&decision)),
            policy_version: &decision.policy_version,
            errors: None,
            boot_id: "00ff",
            gap: None,
            principal: Some("Agent::\"a\""),
            resource: Some("Repo::\"r\""),
            ts: "2026-01-01T00:00:00.000Z",
        };
        let mut out = String::new();
        let hash = write_line(&mut out, &fields, 7, &"ab".repeat(32));
        let parsed: Value = serde_json::from_str(&out).unwrap();
        let map = parsed.as_object().unwrap();
        assert_eq!(map["hash"], json!(hash));
        assert_eq!(expected_hash(map), hash);
        let mut without = map.clone();
        without.remove("hash");
        assert_eq!(format!("{{{}", &out[BODY_AT..]), canonical_json(&Value::Object(without)));
        let r = AuditRecord::from_line(&out).unwrap();
        assert_eq!((r.seq, r.decision_id.as_deref(), r.eval_us), (7, Some("00ff-7"), Some(12.35)));
        assert_eq!(r.reasons[0].owner.as_deref(), Some("sec\"team"));
        assert_eq!(r.reasons[1].control.as_deref(), Some("C-1"));
        assert_eq!(r.errors, decision.errors);

        let gap = Fields { gap: Some(3), ts: "t", ..Fields::default() };
        let hash = write_line(&mut out, &gap, 8, &hash);
        let map: Map<String, Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(expected_hash(&map), hash);
        assert_eq!(AuditRecord::from_line(&out).unwrap().gap.map(|g| g.lost), Some(3));
    }
}
