//! Fast start. Loading an engine is parse + strict validation + indexing; a
//! hook process pays it on every tool call. Two things are prepared once per
//! policy-folder content (keyed by the SHA-256 of every source, so any edit is
//! a new key and a stale result is never used):
//!
//! - that the content passed strict validation (later loads skip it);
//! - each policy's text and principal scope. A hook process acts for one
//!   principal, so it parses only the policies whose scope is not
//!   `principal == <another principal>`: with 10,000 per-agent policies it
//!   parses the handful that can apply. Policies that cannot match the
//!   principal cannot change a decision for it; ids are `@id`s (the filter is
//!   used only when every policy has one, so no `policyN` id shifts).

use std::path::Path;
use std::str::FromStr;

use agentauthz::cedar_policy::{Policy, PolicySet, PrincipalConstraint};
use agentauthz::{Engine, NamedText, PolicySources};
use sha2::{Digest, Sha256};

use crate::store::{CachedPolicy, Store};

/// SHA-256 (hex) over every source's name and text, in load order.
pub fn content_hash(sources: &PolicySources) -> String {
    let mut h = Sha256::new();
    let mut feed = |tag: &str, name: &str, text: &str| {
        for part in [tag, name, text] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    };
    feed("schema", &sources.schema.name, &sources.schema.text);
    for p in &sources.policies {
        feed("policies", &p.name, &p.text);
    }
    if let Some(e) = &sources.entities {
        feed("entities", &e.name, &e.text);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads a policy folder in full, skipping strict validation when the store
/// has seen this exact content validate; otherwise validates and records it.
pub fn load_engine(dir: &Path, store: &mut Store) -> Result<Engine, String> {
    let sources = PolicySources::from_dir(dir).map_err(|e| e.to_string())?;
    let hash = content_hash(&sources);
    if store.validated(&hash).is_some() {
        let sources = with_prepared_schema(sources, &hash, store);
        return Engine::builder(sources).accept_invalid_policies(true).build().map_err(|e| e.to_string());
    }
    validate_and_record(sources, &hash, store)
}

/// Loads a policy folder for deciding requests of one principal only
/// (`Agent::"ci-bot"`): after the first (validating) load, only the policies
/// that can apply to it are parsed.
pub fn load_engine_for(dir: &Path, store: &mut Store, principal: &str) -> Result<(Engine, String), String> {
    let sources = PolicySources::from_dir(dir).map_err(|e| e.to_string())?;
    let hash = content_hash(&sources);
    load_sources_for(sources, hash, store, principal)
}

/// [`load_engine_for`] on sources already read, whose [`content_hash`] is `hash`
/// (a long-lived process reads and hashes the folder on every call, and loads
/// only when the hash changed).
pub fn load_sources_for(
    sources: PolicySources,
    hash: String,
    store: &mut Store,
    principal: &str,
) -> Result<(Engine, String), String> {
    let sources = with_prepared_schema(sources, &hash, store);
    let engine = match store.validated(&hash) {
        Some(true) => {
            // A cache whose rows do not match their digests is not used: the
            // folder is loaded and validated in full, as if never seen.
            let Some(kept) = store.policies_for(&hash, principal)? else {
                let engine = Engine::builder(sources).build().map_err(|e| e.to_string())?;
                return Ok((engine, hash));
            };
            let mut files: Vec<NamedText> = Vec::new();
            for (file, text) in kept {
                match files.last_mut() {
                    Some(last) if last.name == file => {
                        last.text.push('\n');
                        last.text.push_str(&text);
                    }
                    _ => files.push(NamedText::new(file, text)),
                }
            }
            let filtered = PolicySources { schema: sources.schema, policies: files, entities: sources.entities };
            Engine::builder(filtered).accept_invalid_policies(true).build().map_err(|e| e.to_string())?
        }
        Some(false) => Engine::builder(sources).accept_invalid_policies(true).build().map_err(|e| e.to_string())?,
        None => validate_and_record(sources, &hash, store)?,
    };
    Ok((engine, hash))
}

/// The sources with the schema replaced by its recorded JSON form, when the
/// store has one for this content hash (it parses several times faster).
fn with_prepared_schema(mut sources: PolicySources, hash: &str, store: &Store) -> PolicySources {
    if let Some(json) = store.prepared_schema(hash) {
        sources.schema = NamedText::new(format!("{} (prepared JSON form)", sources.schema.name), json);
    }
    sources
}

fn validate_and_record(sources: PolicySources, hash: &str, store: &mut Store) -> Result<Engine, String> {
    let cached = per_policy(&sources);
    // The schema's JSON form, types resolved, for later loads (a schema
    // already in JSON does not convert, and is kept as it is).
    let schema_json = agentauthz::cedar_policy::schema_str_to_json_with_resolved_types(&sources.schema.text)
        .ok()
        .map(|(json, _)| json.to_string());
    let engine = Engine::builder(sources).build().map_err(|e| e.to_string())?;
    store.mark_validated(hash, cached.as_deref(), schema_json.as_deref())?;
    Ok(engine)
}

/// Each policy's file, principal scope and text, in load order; None when a
/// policy has no `@id` (or a file does not parse: the full load reports it).
fn per_policy(sources: &PolicySources) -> Option<Vec<CachedPolicy>> {
    let mut out = Vec::new();
    for file in &sources.policies {
        let set = PolicySet::from_str(&file.text).ok()?;
        if set.num_of_templates() > 0 {
            return None;
        }
        let mut in_order: Vec<&Policy> = set.policies().collect();
        in_order.sort_by_key(|p| p.id().to_string().strip_prefix("policy").and_then(|n| n.parse::<usize>().ok()));
        for p in in_order {
            p.annotation("id")?;
            let principal = match p.principal_constraint() {
                PrincipalConstraint::Eq(uid) => Some(uid.to_string()),
                _ => None,
            };
            out.push(CachedPolicy { file: file.name.clone(), principal, text: p.to_string() });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentauthz::cases::{load_cases, run_cases};
    use agentauthz::Outcome;

    /// The principal-filtered engine, with the schema read from its recorded
    /// JSON form, decides every example case exactly as the full engine does
    /// (outcome and deciding policies).
    #[test]
    fn filtered_engines_decide_like_the_full_engine() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent");
        let path = std::env::temp_dir().join(format!("agentauthz-prepare-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut store = Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let full = Engine::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let (_first, _) = load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
        // Later loads read the schema's recorded JSON form, not the schema text.
        let hash = content_hash(&PolicySources::from_dir(&dir).unwrap_or_else(|e| panic!("{e}")));
        let json = store.prepared_schema(&hash).unwrap_or_else(|| panic!("no prepared schema"));
        assert!(json.starts_with('{'), "{json}");
        let cases = load_cases(dir.join("cases.toml")).unwrap_or_else(|e| panic!("{e}"));
        let want = run_cases(&full, &cases);
        let mut compared = 0;
        for (case, expected) in cases.iter().zip(&want) {
            let principal = agentauthz::Request::from_json(&case.request)
                .map(|r| r.principal().to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            let (engine, _) = load_engine_for(&dir, &mut store, &principal).unwrap_or_else(|e| panic!("{e}"));
            let got = run_cases(&engine, std::slice::from_ref(case));
            let got = got.first().unwrap_or_else(|| panic!("no result"));
            assert_eq!(got.decision.outcome, expected.decision.outcome, "{}", case.name);
            assert_eq!(got.decision.reason_ids(), expected.decision.reason_ids(), "{}", case.name);
            assert_eq!(got.decision.ask_owners, expected.decision.ask_owners, "{}", case.name);
            compared += 1;
        }
        assert!(compared > 100, "{compared}");
        let _ = std::fs::remove_file(&path);
    }

    fn example() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent")
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("agentauthz-prepare-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
        p
    }

    fn is_ci_bot(case: &agentauthz::cases::Case) -> bool {
        agentauthz::Request::from_json(&case.request).is_ok_and(|r| r.principal().to_string() == "Agent::\"ci-bot\"")
    }

    /// Every example case's (outcome, deciding policies) with `engine`.
    fn decisions(engine: &Engine) -> Vec<(Outcome, Vec<String>)> {
        let cases = load_cases(example().join("cases.toml")).unwrap_or_else(|e| panic!("{e}"));
        run_cases(engine, &cases)
            .iter()
            .map(|r| (r.decision.outcome, r.decision.reason_ids().iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    /// A damaged cache (a row's text replaced, or a forbid's row deleted) is
    /// noticed and the folder is loaded in full: ci-bot's decisions stay those
    /// of the full engine, never the damaged cache's.
    #[test]
    fn a_damaged_cache_is_not_used() {
        let dir = example();
        let path = temp("tamper.db");
        let mut store = Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let (_, hash) = load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
        assert!(store.policies_for(&hash, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}")).is_some());
        let full = decisions(&Engine::from_dir(&dir).unwrap_or_else(|e| panic!("{e}")));
        let raw = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let edits = [
            "UPDATE prepared_policy SET text = '@id(\"x\") permit (principal, action, resource);' \
             WHERE ord = (SELECT min(ord) FROM prepared_policy WHERE text LIKE '%forbid%' AND principal IS NULL)",
            "DELETE FROM prepared_policy WHERE ord = (SELECT max(ord) FROM prepared_policy WHERE text LIKE '%forbid%' \
             AND (principal IS NULL OR principal = 'Agent::\"ci-bot\"'))",
            "UPDATE prepared_policy SET principal = 'Agent::\"someone-else\"' \
             WHERE ord = (SELECT min(ord) FROM prepared_policy WHERE text LIKE '%forbid%' AND principal IS NULL)",
        ];
        for edit in edits {
            // Start each edit from a fresh, intact cache.
            raw.execute_batch("DELETE FROM prepared; DELETE FROM prepared_policy; DELETE FROM prepared_group;")
                .unwrap_or_else(|e| panic!("{e}"));
            load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
            let changed = raw.execute(edit, []).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(changed, 1, "{edit}");
            assert_eq!(
                store.policies_for(&hash, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}")),
                None,
                "{edit}"
            );
            let (engine, _) = load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
            let cases = load_cases(dir.join("cases.toml")).unwrap_or_else(|e| panic!("{e}"));
            let got = decisions(&engine);
            for ((case, g), w) in cases.iter().zip(&got).zip(&full) {
                if is_ci_bot(case) {
                    assert_eq!(g, w, "{edit}: {}", case.name);
                }
            }
        }
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    /// Editing a policy file changes the content hash: the next load validates
    /// and uses the new text, never the cache of the old one.
    #[test]
    fn an_edited_policy_file_is_not_served_from_the_cache() {
        let dir = temp("edited");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for e in std::fs::read_dir(example()).unwrap_or_else(|e| panic!("{e}")) {
            let p = e.unwrap_or_else(|e| panic!("{e}")).path();
            if p.is_file() {
                std::fs::copy(&p, dir.join(p.file_name().unwrap_or_default())).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let (engine, before) = load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
        let allowed_before = decisions(&engine).iter().filter(|d| d.0 == Outcome::Allow).count();
        assert!(allowed_before > 0);
        let (_, again) = load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, before);
        let file = dir.join("20-identity.cedar");
        let mut text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
        text.push_str("\n@id(\"stop-ci-bot\")\nforbid (principal == Agent::\"ci-bot\", action, resource);\n");
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        let (engine, after) = load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(after, before);
        let cases = load_cases(example().join("cases.toml")).unwrap_or_else(|e| panic!("{e}"));
        for (case, d) in cases.iter().zip(decisions(&engine)) {
            if is_ci_bot(case) {
                assert_ne!(d.0, Outcome::Allow, "{}", case.name);
            }
        }
        // The cached (second) load of the edited folder decides the same.
        let (cached, _) = load_engine_for(&dir, &mut store, "Agent::\"ci-bot\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decisions(&cached), decisions(&engine));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
