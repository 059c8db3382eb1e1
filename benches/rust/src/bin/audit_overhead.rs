//! What the audit log adds to a decision, measured in pairs and with equal
//! pauses.
//!
//! Two pitfalls of measuring this on a shared VM, both seen here:
//!
//! - **Drift.** Variants measured one after the other (as criterion does) put
//!   any drift of the host between them (20–50% over minutes here) into the
//!   difference. This runner alternates: each round times one batch of
//!   decisions without audit and one with the file sink, in alternating order.
//! - **Unequal pauses.** To time only the deciding thread, the log is flushed
//!   (untimed) after each audited batch, so the writer has caught up before
//!   the next. But the flush blocks the thread for a few milliseconds, and a
//!   batch that starts after any pause of a millisecond or more is about 2 µs
//!   per decision slower, audit or not (measured: sleeping 1 ms between
//!   batches with nothing queued to the log at all costs the same +2 µs). So
//!   every batch here, of either variant, starts after the same pause: the
//!   flush (audited only), then [`PAUSE`] of sleep.
//!
//! It prints the median per-decision time of each and the median of the
//! per-round differences.
//!
//! Run: `cargo run --release -p agentauthz-benches --bin audit-overhead -- [ROUNDS]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::print_stdout, missing_docs)]

use std::time::Duration;

use agentauthz::audit::AuditLog;
use agentauthz::Engine;
use agentauthz_benches::audit::{batch, engine, BATCH, PAUSE};
use agentauthz_benches::example_requests;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let requests = example_requests();
    let dir = std::env::temp_dir().join(format!("agentauthz-audit-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = AuditLog::builder().file(dir.join("audit.jsonl")).rotate_at_bytes(64 << 20).open().unwrap();
    let plain = engine(None);
    let audited = engine(Some(log));

    let mut i = 0usize;
    let mut batch = |e: &Engine| -> Duration { batch(e, &requests, &mut i) };
    // Warm-up.
    for _ in 0..50 {
        batch(&plain);
        batch(&audited);
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / BATCH as f64;
    let (mut a, mut b, mut diff) = (Vec::new(), Vec::new(), Vec::new());
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
    }
    let s = audited.audit().unwrap().stats();
    assert_eq!((s.dropped, s.write_errors), (0, 0), "records were dropped or failed");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mean_a, mean_b, mean_diff) = (mean(&a), mean(&b), mean(&diff));
    println!(
        "{rounds} rounds of {BATCH} decisions, each after a {} ms pause: no audit {:.2} µs, file sink {:.2} µs, \
         added {:+.2} µs (median of paired differences; mean {mean_diff:+.2} µs, means {mean_a:.2} / {mean_b:.2} µs)",
        PAUSE.as_millis(),
        median(&mut a),
        median(&mut b),
        median(&mut diff),
    );
    drop(audited);
    let _ = std::fs::remove_dir_all(&dir);
}
