//! The workspace patches Cedar's lexer runtime (`vendor/lalrpop-util`) to
//! reuse its lazy-DFA caches between parses. Parsing must not depend on what
//! earlier parses (on any thread, finished or abandoned at an error) left in
//! those caches.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;

use agentauthz::cedar_policy::{EntityUid, PolicySet, Schema};
use agentauthz::PolicySources;

fn example() -> PolicySources {
    PolicySources::from_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent"))
        .unwrap()
}

/// Everything a parse produced, as text.
fn parse_all(sources: &PolicySources) -> Vec<String> {
    let mut out = Vec::new();
    for file in &sources.policies {
        out.push(PolicySet::from_str(&file.text).map(|s| s.to_string()).unwrap_or_else(|e| format!("error: {e}")));
    }
    let schema = Schema::from_cedarschema_str(&sources.schema.text).map(|(s, _)| {
        let mut actions: Vec<String> = s.actions().map(ToString::to_string).collect();
        actions.sort();
        actions.join(",")
    });
    out.push(schema.unwrap_or_else(|e| format!("error: {e}")));
    out
}

#[test]
fn parses_are_identical_after_errors_and_across_threads() {
    let sources = example();
    let want = parse_all(&sources);
    assert!(want.iter().all(|p| !p.starts_with("error")), "{want:?}");
    // Parses abandoned mid-input (lexer and parser errors, a truncated file)
    // hand their caches back in whatever state they reached.
    let broken = [
        "permit(principal, action, resource) when { \"unterminated };",
        "permit(principal == Agent::\"a\", action, resource) when { 1 + };",
        "\u{1F600} forbid",
        "forbid(principal, action, resource) when { context.x like \"*\\",
    ];
    for text in broken {
        assert!(PolicySet::from_str(text).is_err(), "{text}");
        for file in &sources.policies {
            let cut = file.text.char_indices().map(|(i, _)| i).nth(file.text.len() / 2).unwrap_or(0);
            let _ = PolicySet::from_str(&file.text[..cut]);
        }
        assert_eq!(parse_all(&sources), want);
    }
    // Several threads at once, each parse taking and returning caches.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|t| {
                let (sources, want) = (&sources, &want);
                s.spawn(move || {
                    for i in 0..15 {
                        if (i + t) % 3 == 0 {
                            assert!(PolicySet::from_str(broken[i % broken.len()]).is_err());
                        }
                        assert_eq!(&parse_all(sources), want, "thread {t}, round {i}");
                        let uid = EntityUid::from_str(&format!("Agent::\"t{t}-{i}\"")).unwrap();
                        assert_eq!(uid.id().unescaped(), format!("t{t}-{i}"));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}
