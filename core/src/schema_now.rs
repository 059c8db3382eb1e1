//! Finding the actions whose context type declares `now`.
//!
//! The engine supplies `context.now` from its own clock for exactly those
//! actions, so a caller can neither forget it nor forge it. Schemas without
//! `now` are evaluated exactly as given.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use serde_json::Value;

/// The actions (as Cedar uids) whose context record has an attribute `now` of type `datetime`.
pub(crate) fn actions_declaring_now(schema_text: &str) -> HashSet<EntityUid> {
    let Ok((json, _)) = cedar_policy::schema_str_to_json_with_resolved_types(schema_text) else {
        return HashSet::new();
    };
    let Some(namespaces) = json.as_object() else {
        return HashSet::new();
    };
    let mut common: HashMap<String, &Value> = HashMap::new();
    for (ns, body) in namespaces {
        if let Some(types) = body.get("commonTypes").and_then(Value::as_object) {
            for (name, ty) in types {
                common.insert(qualify(ns, name), ty);
            }
        }
    }
    let mut out = HashSet::new();
    for (ns, body) in namespaces {
        let Some(actions) = body.get("actions").and_then(Value::as_object) else {
            continue;
        };
        for (name, action) in actions {
            let ctx = action.get("appliesTo").and_then(|a| a.get("context"));
            let declares = ctx.is_some_and(|c| record_has_datetime_now(c, ns, &common, 0));
            if !declares {
                continue;
            }
            let type_name = qualify(ns, "Action");
            if let Ok(t) = EntityTypeName::from_str(&type_name) {
                out.insert(EntityUid::from_type_name_and_id(t, EntityId::new(name)));
            }
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

fn resolve<'a>(ty: &'a Value, ns: &str, common: &HashMap<String, &'a Value>, depth: usize) -> Option<&'a Value> {
    if depth > 32 {
        return None;
    }
    let kind = ty.get("type").and_then(Value::as_str)?;
    match kind {
        "Record" => Some(ty),
        "CommonType" | "EntityOrCommon" => {
            let name = ty.get("name").and_then(Value::as_str)?;
            let target = common.get(&qualify(ns, name)).or_else(|| common.get(name))?;
            resolve(target, ns, common, depth + 1)
        }
        other => {
            let target = common.get(&qualify(ns, other)).or_else(|| common.get(other))?;
            resolve(target, ns, common, depth + 1)
        }
    }
}

fn record_has_datetime_now(ty: &Value, ns: &str, common: &HashMap<String, &Value>, depth: usize) -> bool {
    let Some(record) = resolve(ty, ns, common, depth) else {
        return false;
    };
    let Some(now) = record.get("attributes").and_then(|a| a.get("now")) else {
        return false;
    };
    let is_datetime = |v: &Value| {
        v.get("name").and_then(Value::as_str) == Some("datetime")
            || v.get("type").and_then(Value::as_str) == Some("datetime")
    };
    is_datetime(now) || resolve_alias(now, ns, common).is_some_and(is_datetime)
}

fn resolve_alias<'a>(ty: &'a Value, ns: &str, common: &HashMap<String, &'a Value>) -> Option<&'a Value> {
    let name = ty.get("name").and_then(Value::as_str).or_else(|| ty.get("type").and_then(Value::as_str))?;
    common.get(&qualify(ns, name)).or_else(|| common.get(name)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_now_through_common_types_and_namespaces() {
        let schema = r#"
            namespace N {
              type Ctx = { now: datetime, x?: Long };
              entity U;
              action a appliesTo { principal: U, resource: U, context: Ctx };
              action b appliesTo { principal: U, resource: U, context: { now: datetime } };
              action c appliesTo { principal: U, resource: U, context: { now: String } };
              action d appliesTo { principal: U, resource: U };
            }
        "#;
        let found = actions_declaring_now(schema);
        let names: HashSet<String> = found.iter().map(|u| u.to_string()).collect();
        assert!(names.contains(r#"N::Action::"a""#), "{names:?}");
        assert!(names.contains(r#"N::Action::"b""#), "{names:?}");
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
