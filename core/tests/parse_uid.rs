#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! `agentauthz::parse_uid` (the request path's entity reference parser, which
//! skips Cedar's parser for the common `Type::"id"` form) agrees with
//! `EntityUid::from_str` on every input: the same uid, or an error with the
//! same message. Inputs mix valid and invalid type names, separators with
//! whitespace, and ids with quotes, backslashes, escapes, control characters
//! and non-ASCII text. Each is parsed twice (the second time, a uid in the
//! common form comes from the per-thread cache).

use std::str::FromStr;

use agentauthz::cedar_policy::EntityUid;
use agentauthz::parse_uid;
use proptest::prelude::*;

fn same(text: &str) {
    let cedar = EntityUid::from_str(text).map_err(|e| e.to_string());
    // Twice: the second answer may come from the per-thread cache.
    for _ in 0..2 {
        let ours = parse_uid(text).map_err(|e| e.to_string());
        assert_eq!(ours, cedar, "{text:?}");
    }
}

const TYPES: &[&str] = &[
    "Agent",
    "A::B",
    "_x",
    "x_1",
    "if",
    "in",
    "true",
    "1a",
    "Agent:",
    ":Agent",
    "a b",
    "",
    "Action",
    "__cedar",
    "__cedar::X",
    "résumé",
    "A::::B",
    "A::",
    "A::1",
    "Agent ",
    "is",
    "has",
    "like",
    "principal",
    "Bad-Type",
];
const SEPARATORS: &[&str] = &["::", ":: ", " ::", ":::", ":"];

fn id_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just("ci-bot".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\\n".to_string()),
            Just("\\u{41}".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            Just("\0".to_string()),
            Just("é".to_string()),
            Just(" ".to_string()),
            Just("*".to_string()),
            Just("::".to_string()),
            Just("//".to_string()),
            Just("\u{FEFF}".to_string()),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parse_uid_agrees_with_cedar(
        ty in proptest::sample::select(TYPES),
        sep in proptest::sample::select(SEPARATORS),
        id in id_strategy(),
        open in prop_oneof![Just("\""), Just(""), Just(" \"")],
        close in prop_oneof![Just("\""), Just(""), Just("\" "), Just("\" // c")],
    ) {
        same(&format!("{ty}{sep}{open}{id}{close}"));
    }
}

/// `entity_uid` (type name and id given apart): the uid Cedar builds from
/// the parsed type name and the id, or an error when the type name does not
/// parse; the same the second time.
fn same_parts(ty: &str, id: &str) {
    use agentauthz::cedar_policy::{EntityId, EntityTypeName};
    let cedar = EntityTypeName::from_str(ty).ok().map(|t| EntityUid::from_type_name_and_id(t, EntityId::new(id)));
    for _ in 0..2 {
        assert_eq!(agentauthz::entity_uid(ty, id).ok(), cedar, "{ty:?} {id:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn entity_uid_agrees_with_cedar(ty in proptest::sample::select(TYPES), id in id_strategy()) {
        same_parts(ty, &id);
    }
}

#[test]
fn common_and_edge_forms_agree_with_cedar() {
    for text in [
        r#"Agent::"ci-bot""#,
        r#"Repository::"acme/api""#,
        r#"Action::"open_pr""#,
        r#"A::B::"x""#,
        r#"A::"x"::"y""#,
        r#"Agent::"""#,
        r#"Agent:::"x""#,
        r#"Agent::"a\"b""#,
        r#"Agent::"a\\b""#,
        "Agent::\"line\nbreak\"",
        "Agent::\"nul\0\"",
        r#"Agent::"x" "#,
        r#" Agent::"x""#,
        r#"Agent::"x"//comment"#,
        r#"if::"x""#,
        r#"__cedar::"x""#,
        r#"Agent"#,
        "",
    ] {
        same(text);
    }
}
