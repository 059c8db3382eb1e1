//! What the audit log adds to a decision on the coding-agent example: the
//! same requests decided without audit, with the file sink, and with file and
//! ring. The deciding thread only enqueues; the writer runs on another thread
//! (in Block mode with the default 65,536-record queue, so a writer slower
//! than the decisions would show up here as waiting).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use agentauthz::audit::AuditLog;
use agentauthz::{Engine, PolicySources};
use agentauthz_benches::{example_dir, example_requests};
use criterion::{criterion_group, criterion_main, Criterion};

fn audit(c: &mut Criterion) {
    let requests = example_requests();
    let dir = std::env::temp_dir().join(format!("agentauthz-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let engine = |log: Option<AuditLog>| {
        let mut b = Engine::builder(PolicySources::from_dir(example_dir()).unwrap());
        if let Some(log) = log {
            b = b.audit(log);
        }
        b.build().unwrap()
    };
    let variants: Vec<(&str, Engine)> = vec![
        ("no audit", engine(None)),
        (
            "audit: file sink",
            engine(Some(AuditLog::builder().file(dir.join("file.jsonl")).rotate_at_bytes(256 << 20).open().unwrap())),
        ),
        (
            "audit: file + ring(1024)",
            engine(Some(
                AuditLog::builder().file(dir.join("ring.jsonl")).rotate_at_bytes(256 << 20).ring(1024).open().unwrap(),
            )),
        ),
    ];
    let mut g = c.benchmark_group("audit (coding-agent example, typed request)");
    for (name, engine) in &variants {
        let mut i = 0usize;
        g.bench_function(*name, |b| {
            b.iter(|| {
                let (r, now) = &requests[i % requests.len()];
                i += 1;
                engine.authorize_at(r, *now)
            })
        });
        if let Some(log) = engine.audit() {
            log.flush().unwrap();
            let s = log.stats();
            eprintln!("{name}: {} records written, {} dropped, {} write errors", s.records, s.dropped, s.write_errors);
        }
    }
    g.finish();
    drop(variants);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, audit);
criterion_main!(benches);
