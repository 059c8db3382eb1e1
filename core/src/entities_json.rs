//! Entity JSON in its common forms, read without Cedar's JSON value parser.
//!
//! Cedar reads every attribute value through an untagged serde enum: each
//! string, number or object is tried as an `__expr`, `__entity` and `__extn`
//! escape, a bool and a long before it matches, and each failed try formats an
//! error message. For a small folder that is most of the entity load, which a
//! hook process pays on every tool call (76 lines of example entities cost
//! 6.7M instructions, 25% of a hook call).
//!
//! [`parse`] reads the forms a schema makes unambiguous (strings, longs, bools,
//! sets and records of them, and entity references, each where the schema
//! declares that type) and builds the entities through Cedar's own
//! `Entities::from_entities`, which checks them against the schema and
//! computes the hierarchy exactly as the JSON parser does (it ends in the same
//! function). Anything else (an escape, an extension value, an undeclared or
//! open attribute, tags, an action with attributes, duplicate keys, any
//! error) returns `None`, and the caller reads the text with Cedar's parser,
//! whose result (and error message) is then the answer. The differential test
//! `entities_json` compares both readers on the conformance corpus.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema};
use cedar_policy_core::validator::types::{OpenTag, Type};
use cedar_policy_core::validator::{ValidatorEntityTypeKind, ValidatorSchema};

/// A JSON value that keeps an object's keys as written (duplicates included:
/// Cedar refuses a duplicate key, so this reader must see it to decline).
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            out.push((k, v));
        }
        Ok(Json::Object(out))
    }
}

/// An object's fields by name, or `None` if a key repeats.
fn fields(obj: &[(String, Json)]) -> Option<HashMap<&str, &Json>> {
    let mut out = HashMap::with_capacity(obj.len());
    for (k, v) in obj {
        if out.insert(k.as_str(), v).is_some() {
            return None;
        }
    }
    Some(out)
}

struct Reader<'s> {
    schema: &'s ValidatorSchema,
    /// Entity type names parsed so far (Cedar parses each one with its grammar).
    types: HashMap<String, EntityTypeName>,
}

impl Reader<'_> {
    /// `{"type": T, "id": I}` or `{"__entity": {"type": T, "id": I}}`.
    fn uid(&mut self, v: &Json) -> Option<EntityUid> {
        let Json::Object(obj) = v else { return None };
        match obj.as_slice() {
            [(k, Json::Object(inner))] if k == "__entity" => self.type_and_id(inner),
            _ => self.type_and_id(obj),
        }
    }

    /// `{"type": T, "id": I}` (both strings, nothing else).
    fn type_and_id(&mut self, obj: &[(String, Json)]) -> Option<EntityUid> {
        let [(k1, v1), (k2, v2)] = obj else { return None };
        let (ty, id) = match (k1.as_str(), k2.as_str()) {
            ("type", "id") => (v1, v2),
            ("id", "type") => (v2, v1),
            _ => return None,
        };
        let (Json::String(ty), Json::String(id)) = (ty, id) else { return None };
        let name = match self.types.get(ty) {
            Some(name) => name.clone(),
            None => {
                // Cedar's `from_str` takes only the normal form (`A::B`, no
                // spaces or comments), as its JSON reader does.
                let name = EntityTypeName::from_str(ty).ok()?;
                self.types.insert(ty.clone(), name.clone());
                name
            }
        };
        Some(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
    }

    /// A value of the declared type `ty`, in a form that leaves no doubt.
    fn value(&mut self, v: &Json, ty: &Type) -> Option<RestrictedExpression> {
        match (ty, v) {
            (Type::Bool(_), Json::Bool(b)) => Some(RestrictedExpression::new_bool(*b)),
            (Type::Long, Json::Number(n)) => n.as_i64().map(RestrictedExpression::new_long),
            (Type::String, Json::String(s)) => Some(RestrictedExpression::new_string(s.clone())),
            (Type::Set { element_type: Some(element) }, Json::Array(items)) => {
                let items: Option<Vec<_>> = items.iter().map(|item| self.value(item, element)).collect();
                Some(RestrictedExpression::new_set(items?))
            }
            (Type::Record { attrs, open_attributes: OpenTag::ClosedAttributes }, Json::Object(obj)) => {
                fields(obj)?;
                let mut out = Vec::with_capacity(obj.len());
                for (k, v) in obj {
                    let declared = attrs.get_attr(k)?;
                    out.push((k.clone(), self.value(v, &declared.attr_type)?));
                }
                RestrictedExpression::new_record(out).ok()
            }
            (Type::Entity(_), Json::Object(_)) => self.uid(v).map(RestrictedExpression::new_entity_uid),
            _ => None,
        }
    }

    /// One entity: `{"uid": .., "attrs": {..}, "parents": [..]}`.
    fn entity(&mut self, v: &Json) -> Option<Entity> {
        let Json::Object(obj) = v else { return None };
        let f = fields(obj)?;
        if f.len() != 3 {
            return None;
        }
        let uid = self.uid(f.get("uid")?)?;
        let ty: &cedar_policy_core::ast::EntityType = uid.type_name().as_ref();
        let Json::Object(attrs_json) = f.get("attrs")? else { return None };
        fields(attrs_json)?;
        let mut attrs = HashMap::with_capacity(attrs_json.len());
        if ty.is_action() {
            // An action: no attributes here; the schema check compares it
            // with the schema's declaration.
            if !attrs_json.is_empty() {
                return None;
            }
        } else {
            let declared = self.schema.get_entity_type(ty)?;
            if !matches!(declared.kind, ValidatorEntityTypeKind::Standard(_) | ValidatorEntityTypeKind::Enum(_))
                || declared.open_attributes() != OpenTag::ClosedAttributes
            {
                return None;
            }
            for (k, v) in attrs_json {
                let attr_ty: Arc<Type> = declared.attr(k)?.attr_type.clone();
                attrs.insert(k.clone(), self.value(v, &attr_ty)?);
            }
        }
        let Json::Array(parents_json) = f.get("parents")? else { return None };
        let mut parents = HashSet::with_capacity(parents_json.len());
        for p in parents_json {
            parents.insert(self.uid(p)?);
        }
        Entity::new(uid, attrs, parents).ok()
    }
}

/// The entities of `text` checked against `schema`, or `None` when the text
/// uses a form this reader leaves to Cedar's parser (see the module docs).
pub fn parse(text: &str, schema: &Schema) -> Option<Entities> {
    let Ok(Json::Array(items)) = serde_json::from_str::<Json>(text) else { return None };
    let mut reader = Reader { schema: schema.as_ref(), types: HashMap::new() };
    let entities: Option<Vec<Entity>> = items.iter().map(|item| reader.entity(item)).collect();
    Entities::from_entities(entities?, Some(schema)).ok()
}
