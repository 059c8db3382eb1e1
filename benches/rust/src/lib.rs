//! Shared inputs for the criterion benches: the coding-agent example's cases as requests.

use std::path::{Path, PathBuf};

use agentauthz::cases::{load_cases, Case};

/// The example policy folder.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies-examples/coding-agent")
}

/// The example cases (requests, clock readings and expected outcomes).
pub fn example_cases() -> Vec<Case> {
    load_cases(example_dir().join("cases.toml")).unwrap_or_default()
}

pub mod workload;
