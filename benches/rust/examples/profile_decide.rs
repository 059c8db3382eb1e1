//! Runs the example cases repeatedly (for profilers such as callgrind).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]
use agentauthz::Engine;
use agentauthz_benches::example_dir;

fn main() {
    // VARIANT=controls: 100 revocations and 100 grants present; VARIANT=sessions:
    // engine-kept session counters; VARIANT=audit: an audit log with a file sink
    // (compare the deciding thread's instructions: callgrind --separate-threads=yes).
    let variant = std::env::var("VARIANT").unwrap_or_default();
    let sources = agentauthz::PolicySources::from_dir(example_dir()).unwrap();
    // STATS=1 counts policy evaluations by evaluator (printed at the end);
    // AGENTAUTHZ_COMPILED_EVAL=0 turns the compiled evaluator off (the Cedar-only path).
    let mut builder = Engine::builder(sources).count_evaluations(std::env::var("STATS").is_ok());
    if variant == "sessions" {
        builder = builder.session_counters(agentauthz::SessionLimits::default());
    }
    let log_dir = std::env::temp_dir().join(format!("agentauthz-profile-audit-{}", std::process::id()));
    if variant == "audit" {
        std::fs::create_dir_all(&log_dir).unwrap();
        // Block: every record is written, so the writer's cost per record is
        // (writer thread's instructions) / (records).
        let log = agentauthz::audit::AuditLog::builder()
            .file(log_dir.join("audit.jsonl"))
            .on_full(agentauthz::audit::OnFull::Block)
            .open()
            .unwrap();
        builder = builder.audit(log);
    }
    let engine = builder.build().unwrap();
    if variant == "controls" {
        agentauthz_benches::add_sample_controls(&engine);
    }
    let reqs = agentauthz_benches::example_requests();
    let rounds: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        for (r, now) in &reqs {
            std::hint::black_box(engine.authorize_at(r, *now));
        }
    }
    println!("{:.2} µs per decision", t.elapsed().as_secs_f64() * 1e6 / (rounds * reqs.len()) as f64);
    if std::env::var("STATS").is_ok() {
        println!("policy evaluations by evaluator: {:?}", engine.evaluator_stats());
    }
    if let Some(log) = engine.audit() {
        log.flush().unwrap();
        let stats = log.stats();
        let bytes = std::fs::metadata(log_dir.join("audit.jsonl")).map(|m| m.len()).unwrap_or(0);
        println!("audit: {stats:?}, {} bytes per record", bytes / stats.records.max(1));
        drop(engine);
        let _ = std::fs::remove_dir_all(&log_dir);
    }
}
