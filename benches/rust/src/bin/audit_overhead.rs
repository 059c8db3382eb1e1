//! What the audit log adds to a decision, measured in pairs.
//!
//! The criterion bench (`benches/audit.rs`) runs its variants one after the
//! other, so a drift of the host between them (common on shared VMs: 20–50%
//! over minutes) lands in the difference. This runner alternates: each round
//! times one batch of decisions on an engine without audit and one on the same
//! engine with the file sink, in alternating order, then (untimed) flushes the
//! log so that the writer has caught up. It prints the median per-decision
//! time of each and the median of the per-round differences.
//!
//! Run: `cargo run --release -p agentauthz-benches --bin audit-overhead -- [ROUNDS]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use agentauthz::audit::AuditLog;
use agentauthz::{Engine, PolicySources};
use agentauthz_benches::{example_dir, example_requests};

/// Decisions per timed batch.
const BATCH: usize = 256;

fn engine(log: Option<AuditLog>) -> Engine {
    let mut b = Engine::builder(PolicySources::from_dir(example_dir()).unwrap());
    if let Some(log) = log {
        b = b.audit(log);
    }
    b.build().unwrap()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let requests = example_requests();
    let dir = std::env::temp_dir().join(format!("agentauthz-audit-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = AuditLog::builder().file(dir.join("audit.jsonl")).rotate_at_bytes(64 << 20).open().unwrap();
    let plain = engine(None);
    let audited = engine(Some(log));

    let mut i = 0usize;
    let mut batch = |e: &Engine| -> Duration {
        let start = Instant::now();
        for _ in 0..BATCH {
            let (r, now) = &requests[i % requests.len()];
            i += 1;
            std::hint::black_box(e.authorize_at(r, *now));
        }
        let t = start.elapsed();
        if let Some(log) = e.audit() {
            log.flush().unwrap();
        }
        t
    };
    // Warm-up.
    for _ in 0..50 {
        batch(&plain);
        batch(&audited);
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / BATCH as f64;
    let (mut a, mut b, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (x, y) = if round % 2 == 0 {
            let x = batch(&plain);
            (x, batch(&audited))
        } else {
            let y = batch(&audited);
            (batch(&plain), y)
        };
        a.push(per(x));
        b.push(per(y));
        diff.push(per(y) - per(x));
        if round % 2 == 0 {
            second.push(per(y) - per(x))
        } else {
            first.push(per(y) - per(x))
        }
    }
    let s = audited.audit().unwrap().stats();
    assert_eq!((s.dropped, s.write_errors), (0, 0), "records were dropped or failed");
    println!(
        "{rounds} rounds of {BATCH} decisions: no audit {:.2} µs, file sink {:.2} µs, added {:+.2} µs (median of paired differences)",
        median(&mut a),
        median(&mut b),
        median(&mut diff)
    );
    let mean = diff.iter().sum::<f64>() / diff.len() as f64;
    println!(
        "  mean of differences {mean:+.2} µs; median with the audited batch first {:+.2} µs, second {:+.2} µs",
        median(&mut first),
        median(&mut second)
    );
    drop(audited);
    let _ = std::fs::remove_dir_all(&dir);
}
