//! Differential test of the entity reader for common forms
//! (`agentauthz::read_entities_common_forms`, used by every engine load)
//! against Cedar's own `Entities::from_json_str`: whenever the reader accepts
//! a text, Cedar must accept it too and read the same entities (attributes,
//! ancestors and tags compared, and the same JSON written back). Inputs: the
//! Cedar conformance corpus's entity files with their schemas, the example
//! folders, and hand-written texts at the edges of the accepted forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use agentauthz::cedar_policy::{Entities, Schema};
use agentauthz::read_entities_common_forms;
use serde_json::Value;

fn schema_from(text: &str) -> Option<Schema> {
    if text.trim_start().starts_with('{') {
        Schema::from_json_str(text).ok()
    } else {
        Schema::from_cedarschema_str(text).ok().map(|(s, _)| s)
    }
}

/// `v` with every array sorted and every object's keys in order: Cedar writes
/// sets, parents and attributes in hash order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let mut items: Vec<String> = items.iter().map(canonical).collect();
            items.sort();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => {
            let fields: std::collections::BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let fields: Vec<String> =
                fields.into_iter().map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))).collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

/// The entities as canonical JSON lines (order-free comparison).
fn lines(e: &Entities) -> BTreeSet<String> {
    match e.to_json_value().unwrap() {
        Value::Array(items) => items.iter().map(canonical).collect(),
        other => panic!("{other}"),
    }
}

/// Whether the reader accepted `text`; panics if it read anything else than Cedar.
fn agrees(what: &str, text: &str, schema: &Schema) -> bool {
    let Some(ours) = read_entities_common_forms(text, schema) else {
        return false;
    };
    let cedar = match Entities::from_json_str(text, Some(schema)) {
        Ok(c) => c,
        Err(e) => panic!("{what}: the reader accepted entities Cedar refuses: {e}"),
    };
    assert!(ours.deep_eq(&cedar), "{what}: the entities differ from Cedar's");
    assert_eq!(lines(&ours), lines(&cedar), "{what}: the entities differ from Cedar's");
    true
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cedar-integration-tests")
}

#[test]
fn reader_matches_cedar_on_the_conformance_corpus() {
    let root = corpus_root();
    if !root.is_dir() {
        eprintln!("SKIPPED: the conformance corpus is not at {} (CI has it there)", root.display());
        return;
    }
    // Every distinct (schema, entities) pair the test files name.
    let mut pairs = BTreeSet::new();
    let mut stack = vec![root.join("tests"), root.join("corpus-tests")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.to_string_lossy().to_string();
            if !name.ends_with(".json") || name.ends_with(".entities.json") {
                continue;
            }
            let Ok(test) = serde_json::from_str::<Value>(&std::fs::read_to_string(&path).unwrap()) else {
                continue;
            };
            if let (Some(s), Some(e)) =
                (test.get("schema").and_then(Value::as_str), test.get("entities").and_then(Value::as_str))
            {
                pairs.insert((s.to_string(), e.to_string()));
            }
        }
    }
    let (mut read, mut declined) = (0usize, 0usize);
    for (schema_path, entities_path) in &pairs {
        let Some(schema) = schema_from(&std::fs::read_to_string(root.join(schema_path)).unwrap()) else {
            continue;
        };
        let text = std::fs::read_to_string(root.join(entities_path)).unwrap();
        if agrees(&format!("{schema_path} + {entities_path}"), &text, &schema) {
            read += 1;
        } else {
            declined += 1;
        }
    }
    eprintln!("{} schema/entities pairs: {read} read by the reader, {declined} left to Cedar", pairs.len());
    assert!(pairs.len() > 1_000, "only {} pairs found", pairs.len());
    // Most corpus entities use the common forms: the reader must really be exercised.
    assert!(read * 2 > pairs.len(), "the reader read only {read} of {}", pairs.len());
}

#[test]
fn reader_reads_the_example_folders_like_cedar() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples");
    let mut read = 0;
    for entry in std::fs::read_dir(&examples).unwrap().flatten() {
        let dir = entry.path();
        let Ok(sources) = agentauthz::PolicySources::from_dir(&dir) else { continue };
        let Some(entities) = &sources.entities else { continue };
        let schema = schema_from(&sources.schema.text).unwrap();
        assert!(agrees(&dir.display().to_string(), &entities.text, &schema), "{}: not read", dir.display());
        read += 1;
    }
    assert!(read >= 1, "{read}");
}

const SCHEMA: &str = r#"
entity Team;
entity Agent in [Team] {
    name: String, level: Long, active: Bool, team?: Team,
    tags: Set<String>, peers: Set<Agent>,
    profile: { email: String, score?: Long, home: { city: String } },
};
entity Host { ip: ipaddr };
entity Color enum ["red"];
entity Doc tags String;
action read appliesTo { principal: Agent, resource: Team };
"#;

/// Texts at the edges of the accepted forms: each is read (and equal to
/// Cedar's reading) or left to Cedar, never read differently.
#[test]
fn edge_forms_are_read_like_cedar_or_left_to_it() {
    let schema = schema_from(SCHEMA).unwrap();
    let agent = |attrs: &str, parents: &str| {
        format!(
            r#"[{{"uid": {{"type": "Team", "id": "t"}}, "attrs": {{}}, "parents": []}},
               {{"uid": {{"type": "Agent", "id": "a"}}, "attrs": {attrs}, "parents": {parents}}}]"#
        )
    };
    let full = r#"{"name": "A", "level": 3, "active": true, "tags": ["x", "y", "x"], "peers": [{"type": "Agent", "id": "a"}],
                   "profile": {"email": "e", "home": {"city": "c"}}}"#;
    // Read: the common forms, nested, with both entity reference forms.
    for (attrs, parents) in [
        (full.to_string(), r#"[{"type": "Team", "id": "t"}]"#),
        (full.replace(r#""level": 3"#, r#""level": 3, "team": {"__entity": {"type": "Team", "id": "t"}}"#), "[]"),
        (
            full.replace(r#""home""#, r#""score": -9223372036854775808, "home""#),
            r#"[{"__entity": {"id": "t", "type": "Team"}}]"#,
        ),
    ] {
        let text = agent(&attrs, parents);
        assert!(agrees(&text, &text, &schema), "not read: {text}");
    }
    // Left to Cedar (whether Cedar then accepts or refuses them).
    let declined = [
        agent(&full.replace(r#""level": 3"#, r#""level": 3.5"#), "[]"),
        agent(&full.replace(r#""level": 3"#, r#""level": 3, "level": 4"#), "[]"),
        agent(&full.replace(r#""name": "A""#, r#""name": {"__extn": {"fn": "ip", "arg": "1.2.3.4"}}"#), "[]"),
        agent(&full.replace(r#""level": 3"#, r#""level": 3, "extra": 1"#), "[]"),
        agent(&full.replace(r#""level": 3"#, r#""level": "3""#), "[]"),
        agent(&full.replace(r#""city": "c""#, r#""city": "c", "zip": "1""#), "[]"),
        agent(
            &full
                .replace(r#""team""#, r#""x""#)
                .replace(r#""level": 3"#, r#""level": 3, "team": {"type": "Team", "id": "t", "x": 1}"#),
            "[]",
        ),
        agent(full, r#"["Team::\"t\""]"#),
        agent(full, r#"[{"__expr": "Team::\"t\""}]"#),
        agent(full, r#"[{"type": " Team", "id": "t"}]"#),
        agent(full, r#"[{"type": "Team // c", "id": "t"}]"#),
        r#"[{"uid": {"type": "Host", "id": "h"}, "attrs": {"ip": "10.0.0.1"}, "parents": []}]"#.to_string(),
        r#"[{"uid": {"type": "Doc", "id": "d"}, "attrs": {}, "parents": [], "tags": {"k": "v"}}]"#.to_string(),
        r#"[{"uid": {"type": "Action", "id": "read"}, "attrs": {"a": 1}, "parents": []}]"#.to_string(),
        r#"[{"uid": {"type": "Team", "id": "t"}, "attrs": {}}]"#.to_string(),
        r#"[{"uid": {"type": "Nope", "id": "t"}, "attrs": {}, "parents": []}]"#.to_string(),
        r#"{"uid": {"type": "Team", "id": "t"}, "attrs": {}, "parents": []}"#.to_string(),
    ];
    for text in declined {
        assert!(!agrees(&text, &text, &schema), "read, but should be left to Cedar: {text}");
    }
    // Enumerated entities: Cedar's schema check (run on what the reader read)
    // refuses an id that is not a choice.
    let red = r#"[{"uid": {"type": "Color", "id": "red"}, "attrs": {}, "parents": []}]"#;
    assert!(agrees(red, red, &schema));
    let blue = red.replace("red", "blue");
    assert!(!agrees(&blue, &blue, &schema));
    assert!(Entities::from_json_str(&blue, Some(&schema)).is_err());
    // Refused by the schema check after reading: not read, so the error is
    // Cedar's own. A required attribute missing; a parent of a type the
    // schema does not allow; an entity attribute of the wrong entity type.
    for refused in [
        agent(r#"{"name": "A"}"#, "[]"),
        agent(full, r#"[{"type": "Agent", "id": "a"}]"#),
        agent(&full.replace(r#""level": 3"#, r#""level": 3, "team": {"type": "Agent", "id": "a"}"#), "[]"),
    ] {
        assert!(Entities::from_json_str(&refused, Some(&schema)).is_err(), "{refused}");
        assert!(!agrees(&refused, &refused, &schema), "{refused}");
    }
}
