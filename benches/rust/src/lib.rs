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

/// The example cases as ready requests, each with its clock reading.
pub fn example_requests() -> Vec<(agentauthz::Request, std::time::SystemTime)> {
    example_cases()
        .iter()
        .filter_map(|c| {
            let request = agentauthz::Request::from_json(&c.request).ok()?;
            let now = agentauthz::parse_rfc3339(c.now.as_deref()?)?;
            Some((request, now))
        })
        .collect()
}

/// Adds 100 revocations and 100 grants that match none of the example requests,
/// to measure what runtime controls cost when present.
pub fn add_sample_controls(engine: &agentauthz::Engine) {
    use agentauthz::{entity_uid, GrantSpec, Subject};
    for i in 0..100 {
        engine.revoke(Subject::Agent(format!("Agent::\"retired-{i}\"")), "bench");
        if let (Ok(principal), Ok(action), Ok(resource)) = (
            entity_uid("Agent", &format!("temp-{i}")),
            entity_uid("Action", "read_repo"),
            entity_uid("Repository", "acme/api"),
        ) {
            engine.grant(GrantSpec {
                principal,
                actions: vec![action],
                resource,
                expires_at: std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
                reason: "bench".into(),
            });
        }
    }
}
