//! Decision time as the policy set grows: agentauthz (scope index) vs plain
//! Cedar evaluating the whole set, on the same pre-built requests. (The full
//! side-by-side table, with Python and Node, is `scripts/bench-all.sh`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::time::Duration;

use agentauthz::{Engine, Outcome};
use agentauthz_benches::workload::{tool_call, workload, PlainCedar};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn scale(c: &mut Criterion) {
    let mut g = c.benchmark_group("scale");
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for n in [10usize, 100, 1_000, 10_000, 100_000] {
        let w = workload(n);
        let engine = Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).unwrap();
        // Requests from the typed builder, built once.
        let reqs: Vec<agentauthz::Request> =
            w.requests.iter().map(|r| tool_call(r).unwrap().build().unwrap()).collect();
        let cedar = PlainCedar::new(&w).unwrap();
        // Same answers from both (ask counts as deny), or the comparison is meaningless.
        for (i, r) in reqs.iter().enumerate() {
            assert_eq!(engine.authorize(r).outcome == Outcome::Allow, cedar.allows(i), "request {i} at {n}");
        }
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("agentauthz", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                engine.authorize(&reqs[i % reqs.len()])
            })
        });
        // Plain Cedar at 100,000 policies takes tens of ms per decision: skipped here.
        if n <= 10_000 {
            let mut i = 0;
            g.bench_with_input(BenchmarkId::new("plain cedar", n), &n, |b, _| {
                b.iter(|| {
                    i += 1;
                    cedar.allows(i % cedar.requests.len())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
