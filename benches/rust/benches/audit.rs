//! What the audit log adds to a decision on the coding-agent example.
//!
//! Two different questions, measured separately:
//!
//! 1. **Added latency on the deciding thread** (group "audit: decision
//!    latency"): the acceptance target is ≤ 1 µs added to the median decision.
//!    Each sample times a batch of [`BATCH`] decisions (the same requests, at
//!    their recorded times) and then, *untimed*, flushes the log, so that the
//!    writer has caught up before the next batch: what is timed is only what
//!    the deciding thread does (decide + hand the record to the queue), never
//!    waiting for the writer. Variants: no audit, the file sink, file + ring,
//!    each in the default mode ([`OnFull::Drop`]; the batch is far below the
//!    queue capacity, so nothing is dropped, which the bench asserts).
//!
//!    Every variant pauses [`PAUSE`](agentauthz_benches::audit::PAUSE) (untimed) before each batch. The flush
//!    blocks the deciding thread for milliseconds, and on this kind of VM a
//!    batch that starts after any pause of a millisecond or more runs about
//!    2 µs per decision slower, with or without audit (measured by sleeping
//!    1 ms between batches with nothing queued at all). Without an equal
//!    pause in every variant, that start-up cost would be charged to the log.
//!    Each iteration runs one batch of every variant, in rotating order, and
//!    times only its own variant's, so that every variant's timed batches
//!    run amid the same work. Criterion still measures the variants one after
//!    the other, so host drift lands in their difference;
//!    `src/bin/audit_overhead.rs` measures the same in alternating pairs.
//!
//! 2. **Sustained throughput in [`OnFull::Block`] mode** (group "audit:
//!    sustained, Block"): decisions in a continuous loop with a small queue
//!    (1,024), including a final flush, so the time per decision converges to
//!    the writer's time per record whenever the writer is slower than the
//!    deciding thread. This is the rate a Block-mode log sustains; in the
//!    default Drop mode the deciding thread would not wait, and the excess
//!    would be counted as a gap instead.
//!
//! Run: `cargo bench -p agentauthz-benches --bench audit -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::time::Duration;

use agentauthz::audit::{AuditLog, OnFull};
use agentauthz::Engine;
use agentauthz_benches::audit::{batch, engine};
use agentauthz_benches::example_requests;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Decisions per timed batch (then an untimed flush).
const BATCH: u64 = agentauthz_benches::audit::BATCH as u64;

fn audit(c: &mut Criterion) {
    let requests = example_requests();
    let dir = std::env::temp_dir().join(format!("agentauthz-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| AuditLog::builder().file(dir.join(name)).rotate_at_bytes(256 << 20);

    let variants: Vec<(&str, Engine)> = vec![
        ("no audit", engine(None)),
        ("file sink", engine(Some(file("file.jsonl").open().unwrap()))),
        ("file + ring(1024)", engine(Some(file("ring.jsonl").ring(1024).open().unwrap()))),
    ];
    let mut g = c.benchmark_group("audit: decision latency (batches of 256, writer caught up between)");
    g.throughput(Throughput::Elements(BATCH));
    let mut i = 0usize;
    let mut run = |engine: &Engine| batch(engine, &requests, &mut i);
    for (k, (name, _)) in variants.iter().enumerate() {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                // Every iteration runs one batch of every variant, in rotating
                // order, and times only this variant's: each variant's timed
                // batches run amid the same work as the others'.
                let mut timed = Duration::ZERO;
                for it in 0..iters as usize {
                    for off in 0..variants.len() {
                        let j = (it + off) % variants.len();
                        let t = run(&variants[j].1);
                        if j == k {
                            timed += t;
                        }
                    }
                }
                // Per batch: criterion divides by iters; the throughput line gives per decision.
                timed
            })
        });
    }
    for (name, engine) in &variants {
        if let Some(log) = engine.audit() {
            let s = log.stats();
            eprintln!("{name}: {} records, {} dropped, {} write errors", s.records, s.dropped, s.write_errors);
            assert_eq!((s.dropped, s.write_errors), (0, 0), "the latency bench must not drop records");
        }
    }
    g.finish();
    drop(variants);

    let mut g = c.benchmark_group("audit: sustained, Block");
    g.throughput(Throughput::Elements(BATCH * 8));
    for (name, ring) in [("file sink", None), ("file + ring(1024)", Some(1024))] {
        let mut builder = file(&format!("block-{}.jsonl", ring.is_some())).on_full(OnFull::Block).capacity(1024);
        if let Some(n) = ring {
            builder = builder.ring(n);
        }
        let engine = engine(Some(builder.open().unwrap()));
        let mut i = 0usize;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                for _ in 0..BATCH * 8 {
                    let (r, now) = &requests[i % requests.len()];
                    i += 1;
                    std::hint::black_box(engine.authorize_at(r, *now));
                }
                engine.audit().unwrap().flush().unwrap();
            })
        });
        assert_eq!(engine.audit().unwrap().stats().dropped, 0);
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, audit);
criterion_main!(benches);
