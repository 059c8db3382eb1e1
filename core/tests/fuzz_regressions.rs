#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Replays every input under `fuzz/regressions/<target>/` (crashes the fuzzers
//! found, kept after the fix, plus curated seeds) through the very code the
//! fuzz target runs: `fuzz/src/targets.rs` is compiled into this test.

#[path = "../../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

use std::path::Path;

/// Runs `target` on every file in `fuzz/regressions/<name>/`; returns how many.
fn replay(name: &str, target: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(outcome.is_ok(), "fuzz regression {} fails again", file.display());
    }
    files.len()
}

#[test]
fn load_policies_regressions() {
    replay("load_policies", targets::load_policies);
}

#[test]
fn load_schema_regressions() {
    replay("load_schema", targets::load_schema);
}

#[test]
fn entities_json_regressions() {
    replay("entities_json", targets::entities_json);
}

#[test]
fn request_json_regressions() {
    replay("request_json", targets::request_json);
}

#[test]
fn audit_verify_regressions() {
    replay("audit_verify", targets::audit_verify);
}

#[test]
fn differential_regressions() {
    replay("differential", targets::differential);
}

/// The differential target is not vacuous: pseudo-random inputs mostly become
/// cases (policies, request, time) that both evaluators decide and compare.
#[test]
fn differential_target_decides_generated_cases() {
    use arbitrary::Unstructured;
    let mut decided = 0;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..100 {
        let bytes: Vec<u8> = (0..256)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        if targets::diff_case(&mut Unstructured::new(&bytes)).is_ok() {
            decided += 1;
        }
        targets::differential(&bytes);
    }
    assert!(decided > 80, "the generator builds cases from most inputs ({decided}/100)");
}
