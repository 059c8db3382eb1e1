//! Differential property test for validation by shape: policies that differ
//! only in the ids of their scope entities are validated once per shape (see
//! `ValidationShape` in core/src/compile.rs). The verdict must stay Cedar's:
//! for random policy files with many repeated shapes, the policies the engine
//! reports are exactly those plain Cedar's strict `Validator` flags (an error,
//! or the warning that the scope matches no action, which the engine refuses).
//!
//! The generator covers what could tell two such policies apart: enumerated
//! entity types (whose ids the validator checks), action ids, literal `==`
//! between entities in a condition (typed by id, with a badly typed `else`
//! branch that only some ids reach), scopes of the wrong type, and bodies
//! with type errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::str::FromStr;

use agentauthz::cedar_policy::{PolicySet, Schema, ValidationMode, ValidationWarning, Validator};
use agentauthz::{validate, PolicySources};
use proptest::prelude::*;

const SCHEMA: &str = r#"
entity Team;
entity Agent in [Team] { level: Long };
entity Repo in [Team] { owner?: Agent };
entity Color enum ["red", "green"];
action read, write appliesTo { principal: Agent, resource: Repo, context: { n: Long } };
action paint appliesTo { principal: Agent, resource: Color };
"#;

const COLORS: &[&str] = &["red", "green", "purple"];

/// One policy: which form each part takes, and the ids it names.
#[derive(Debug, Clone)]
struct Gen {
    forbid: bool,
    principal: usize,
    action: usize,
    resource: usize,
    body: usize,
    i: usize,
    j: usize,
    color: usize,
}

fn policy_text(n: usize, g: &Gen) -> String {
    let (i, j, color) = (g.i, g.j, COLORS[g.color]);
    let principal = match g.principal {
        0 => "principal".to_string(),
        1 => format!("principal == Agent::\"a{i}\""),
        2 => format!("principal in Team::\"t{i}\""),
        3 => "principal is Agent".to_string(),
        4 => format!("principal is Agent in Team::\"t{i}\""),
        5 => format!("principal == Repo::\"r{i}\""),
        _ => format!("principal == Color::\"{color}\""),
    };
    let action = match g.action {
        0 => "action",
        1 => "action == Action::\"read\"",
        2 => "action == Action::\"paint\"",
        3 => "action in [Action::\"read\", Action::\"write\"]",
        _ => "action == Action::\"write\"",
    };
    let resource = match g.resource {
        0 => "resource".to_string(),
        1 => format!("resource == Repo::\"r{i}\""),
        2 => format!("resource in Team::\"t{j}\""),
        3 => format!("resource == Color::\"{color}\""),
        4 => "resource is Color".to_string(),
        _ => format!("resource is Repo in Team::\"t{i}\""),
    };
    let body = match g.body {
        0 => String::new(),
        1 => " when { context.n > 1 }".to_string(),
        2 => format!(" when {{ principal.level > {i} }}"),
        3 => format!(" when {{ if Agent::\"a{i}\" == Agent::\"a{j}\" then true else (1 + \"x\") == 2 }}"),
        4 => " when { resource has owner && resource.owner == principal }".to_string(),
        5 => format!(" unless {{ resource == Color::\"{color}\" }}"),
        6 => format!(" when {{ Agent::\"a{i}\" in Team::\"t{j}\" }}"),
        _ => " when { context.n == \"x\" }".to_string(),
    };
    let effect = if g.forbid { "forbid" } else { "permit" };
    format!("@id(\"p{n}\") {effect}({principal}, {action}, {resource}){body};\n")
}

/// A few policy forms, each written out with several different ids: the
/// repeated shapes that validation by shape groups.
fn file() -> impl Strategy<Value = Vec<Gen>> {
    let form = (any::<bool>(), 0..7usize, 0..5usize, 0..6usize, 0..8usize);
    let ids = prop::collection::vec((0..3usize, 0..3usize, 0..3usize), 1..6);
    prop::collection::vec((form, ids), 1..6).prop_map(|forms| {
        let mut out = Vec::new();
        for ((forbid, principal, action, resource, body), ids) in forms {
            for (i, j, color) in ids {
                out.push(Gen { forbid, principal, action, resource, body, i, j, color });
            }
        }
        out
    })
}

/// Policy id -> how many issues plain Cedar's strict validation has for it
/// (errors, and the scope-matches-no-action warning).
fn cedar_issues(text: &str) -> BTreeMap<String, usize> {
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let set = PolicySet::from_str(text).unwrap();
    let result = Validator::new(schema).validate(&set, ValidationMode::Strict);
    let id_of = |cedar: &agentauthz::cedar_policy::PolicyId| {
        set.policy(cedar).and_then(|p| p.annotation("id")).unwrap().to_string()
    };
    let mut out = BTreeMap::new();
    for e in result.validation_errors() {
        *out.entry(id_of(e.policy_id())).or_default() += 1;
    }
    for w in result.validation_warnings() {
        if matches!(w, ValidationWarning::InvalidActionApplication(_)) {
            *out.entry(id_of(w.policy_id())).or_default() += 1;
        }
    }
    out
}

fn engine_issues(text: &str) -> BTreeMap<String, usize> {
    let sources = PolicySources::from_strings(SCHEMA, text, None);
    let mut out = BTreeMap::new();
    for issue in validate(&sources).unwrap() {
        *out.entry(issue.policy_id).or_default() += 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn validation_by_shape_flags_exactly_what_cedar_flags(gens in file()) {
        let text: String = gens.iter().enumerate().map(|(n, g)| policy_text(n, g)).collect();
        prop_assert_eq!(engine_issues(&text), cedar_issues(&text), "policies:\n{}", text);
    }
}

/// The cases the shape must keep apart, one by one: the first policy of each
/// pair validates, the second does not, and only the id differs.
#[test]
fn ids_that_change_the_verdict_are_part_of_the_shape() {
    let pairs = [
        // An enumerated entity type: the validator checks the id.
        (
            r#"permit(principal, action == Action::"paint", resource == Color::"red");"#,
            r#"permit(principal, action == Action::"paint", resource == Color::"purple");"#,
        ),
        // `==` between two entity literals is typed by the ids: true skips the
        // badly typed else branch, false reaches it.
        (
            r#"permit(principal, action == Action::"read", resource) when { if Agent::"a" == Agent::"a" then true else (1 + "x") == 2 };"#,
            r#"permit(principal, action == Action::"read", resource) when { if Agent::"a" == Agent::"b" then true else (1 + "x") == 2 };"#,
        ),
        // An action id.
        (
            r#"permit(principal, action == Action::"read", resource == Repo::"r");"#,
            r#"permit(principal, action == Action::"paint", resource == Repo::"r");"#,
        ),
    ];
    for (good, bad) in pairs {
        // Several copies of the valid one first, so that it would be the
        // representative of a shape that wrongly took in the invalid one.
        let text = format!("{good}\n{good}\n{good}\n{bad}\n");
        let issues = validate(&PolicySources::from_strings(SCHEMA, &text, None)).unwrap();
        assert_eq!(issues.len(), cedar_issues_by_cedar_id(&text), "{text}\n{issues:?}");
        assert!(!issues.is_empty(), "{text}");
        assert!(issues.iter().all(|i| i.policy_id == "policy3"), "{text}\n{issues:?}");
    }
}

fn cedar_issues_by_cedar_id(text: &str) -> usize {
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let set = PolicySet::from_str(text).unwrap();
    let result = Validator::new(schema).validate(&set, ValidationMode::Strict);
    result.validation_errors().count()
        + result.validation_warnings().filter(|w| matches!(w, ValidationWarning::InvalidActionApplication(_))).count()
}

/// Policies that differ only in their scope ids are one shape: a large set of
/// per-agent grants still validates (and a bad one among them is found).
#[test]
fn many_grants_of_one_shape_validate_and_a_bad_one_is_found() {
    let mut text: String = (0..2_000)
        .map(|i| {
            format!(
                "@id(\"g{i}\") permit(principal == Agent::\"a{i}\", action == Action::\"read\", resource == Repo::\"r{i}\") when {{ context.n > 1 }};\n"
            )
        })
        .collect();
    assert!(validate(&PolicySources::from_strings(SCHEMA, &text, None)).unwrap().is_empty());
    text.push_str("@id(\"bad\") permit(principal == Agent::\"x\", action == Action::\"read\", resource == Repo::\"y\") when { context.n > \"1\" };\n");
    let issues = validate(&PolicySources::from_strings(SCHEMA, &text, None)).unwrap();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].policy_id, "bad");
    assert_eq!(issues[0].line, Some(2_001));
}
