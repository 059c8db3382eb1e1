//! Interleaved A/B measurement of what the audit log adds to a decision: two
//! engines (no audit; file sink) decide the same example requests in
//! alternating batches of 256, so that drift in machine speed hits both
//! alike; the median batch time per decision of each, and the difference.
//! The writer is caught up (flush, untimed) after every audited batch.
//! `cargo run --release -p agentauthz-benches --example audit_ab -- [batches]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]
use std::time::Instant;

use agentauthz::audit::AuditLog;
use agentauthz::{Engine, PolicySources};
use agentauthz_benches::{example_dir, example_requests};

const BATCH: usize = 256;

fn main() {
    let batches: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let requests = example_requests();
    let dir = std::env::temp_dir().join(format!("agentauthz-audit-ab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = Engine::builder(PolicySources::from_dir(example_dir()).unwrap()).build().unwrap();
    let log = AuditLog::builder().file(dir.join("ab.jsonl")).rotate_at_bytes(256 << 20).open().unwrap();
    let audited = Engine::builder(PolicySources::from_dir(example_dir()).unwrap()).audit(log).build().unwrap();
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut i = 0usize;
    for b in 0..batches * 2 + 200 {
        let which = b % 2;
        let engine = if which == 0 { &plain } else { &audited };
        let start = Instant::now();
        for _ in 0..BATCH {
            let (r, now) = &requests[i % requests.len()];
            i += 1;
            std::hint::black_box(engine.authorize_at(r, *now));
        }
        let t = start.elapsed().as_secs_f64() * 1e6 / BATCH as f64;
        if let Some(log) = engine.audit() {
            log.flush().unwrap();
        }
        if b >= 200 {
            times[which].push(t);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (a, f) = (median(&mut times[0]), median(&mut times[1]));
    let s = audited.audit().unwrap().stats();
    println!(
        "no audit {a:.3} µs, file sink {f:.3} µs, added {:.3} µs ({} records, {} dropped)",
        f - a,
        s.records,
        s.dropped
    );
    let _ = std::fs::remove_dir_all(&dir);
}
