#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Load and faults: threads deciding while others reload policies, revoke and
//! restore, and the audit log writes; the audit log on a failing disk. Bounded
//! in time; counts are asserted, never timings. Run with `--nocapture` to see
//! the figures.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use agentauthz::audit::{log_files, verify, AuditLog, OnFull};
use agentauthz::{Engine, FixedClock, NamedText, Outcome, PolicySources, Subject};
use serde_json::{json, Value};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies-examples/coding-agent");
const DECIDERS: usize = 2;

fn run_for() -> Duration {
    let ms = std::env::var("AGENTAUTHZ_STRESS_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    Duration::from_millis(ms)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agentauthz-stress-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An allowed request (at the engine's fixed clock) in session `session`.
fn request(session: &str) -> Value {
    json!({
        "principal": "Agent::\"ci-bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\"",
        "context": {
            "credential": {"id": "cred-1", "issued_at": "2026-11-25T09:58:00Z", "expires_at": "2026-11-25T10:58:00Z", "scopes": ["repo:read"]},
            "session": {"id": session, "actions": 1, "repos_touched": 1}
        }
    })
}

fn engine(log: AuditLog) -> Engine {
    Engine::builder(PolicySources::from_dir(DIR).unwrap())
        .clock(Arc::new(FixedClock::at("2026-11-25T10:05:00Z").unwrap()))
        .audit(log)
        .build()
        .unwrap()
}

/// The example policies plus one extra policy (a new version that decides the
/// same for the requests used here).
fn variant() -> PolicySources {
    let mut s = PolicySources::from_dir(DIR).unwrap();
    s.policies.push(NamedText::new(
        "extra.cedar",
        "@id(\"stress-extra\") forbid(principal, action, resource) when { context has path && context.path == \"/etc/shadow\" };",
    ));
    s
}

#[derive(Debug, Default)]
struct Figures {
    decisions: u64,
    allowed: u64,
    denied_revoked: u64,
    reloads: u64,
    revocations: u64,
}

/// Two threads decide (alternating a session that gets revoked and one that
/// does not) while a third reloads between two policy versions and a fourth
/// revokes and restores the session; every decision goes to a hash-chained
/// audit file with rotation and a tiny queue (so deciders also block on it).
///
/// Checked: no decision lost (audit records == decisions, chain intact across
/// rotated files, nothing dropped); a session is never allowed by a decision
/// that started after `revoke` returned; the untouched session is always
/// allowed; every decision names one of the two policy versions.
#[test]
fn decisions_reloads_revocations_and_audit_writes_concurrently() {
    let dir = tmp("mixed");
    let path = dir.join("audit.jsonl");
    let log =
        AuditLog::builder().file(&path).rotate_at_bytes(1 << 20).capacity(64).on_full(OnFull::Block).open().unwrap();
    let engine = Arc::new(engine(log));
    let base = PolicySources::from_dir(DIR).unwrap();
    let v1 = engine.policy_version();
    let v2 = engine.reload(&variant()).unwrap();
    engine.reload(&base).unwrap();
    assert_ne!(v1, v2);
    let (revocable, steady) = (request("s-revocable"), request("s-steady"));
    assert_eq!(
        engine.authorize_json(&revocable).outcome,
        Outcome::Allow,
        "{:?}",
        engine.authorize_json(&revocable).to_json()
    );

    let stop = Arc::new(AtomicBool::new(false));
    // Odd while revoked: incremented after `revoke` returns and before `restore` is called.
    let epoch = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(DECIDERS + 2));
    let start = Instant::now();
    let deciders: Vec<_> = (0..DECIDERS)
        .map(|_| {
            let (engine, stop, epoch, barrier) = (engine.clone(), stop.clone(), epoch.clone(), barrier.clone());
            let (revocable, steady, v1, v2) = (revocable.clone(), steady.clone(), v1.clone(), v2.clone());
            std::thread::spawn(move || {
                let mut f = Figures::default();
                barrier.wait();
                while !stop.load(Ordering::Relaxed) {
                    let before = epoch.load(Ordering::SeqCst);
                    let d = engine.authorize_json(&revocable);
                    let after = epoch.load(Ordering::SeqCst);
                    let version = d.policy_version.to_string();
                    assert!(version == v1 || version == v2, "unknown version {version}");
                    // Decided wholly between `revoke` returning and `restore` starting.
                    if before == after && before % 2 == 1 {
                        assert_eq!(d.outcome, Outcome::Deny, "allowed after revoke returned: {}", d.to_json());
                        f.denied_revoked += 1;
                    }
                    f.allowed += u64::from(d.outcome == Outcome::Allow);
                    let d = engine.authorize_json(&steady);
                    assert_eq!(d.outcome, Outcome::Allow, "{}", d.to_json());
                    f.allowed += 1;
                    f.decisions += 2;
                }
                f
            })
        })
        .collect();
    let reloader = {
        let (engine, stop, barrier) = (engine.clone(), stop.clone(), barrier.clone());
        std::thread::spawn(move || {
            let sources = [variant(), base];
            let mut n = 0u64;
            barrier.wait();
            while !stop.load(Ordering::Relaxed) {
                engine.reload(&sources[(n % 2) as usize]).unwrap();
                n += 1;
            }
            n
        })
    };
    let revoker = {
        let (engine, stop, epoch, barrier) = (engine.clone(), stop.clone(), epoch.clone(), barrier.clone());
        std::thread::spawn(move || {
            let subject = Subject::Session("s-revocable".into());
            let mut n = 0u64;
            barrier.wait();
            while !stop.load(Ordering::Relaxed) {
                engine.revoke(subject.clone(), "stress");
                epoch.fetch_add(1, Ordering::SeqCst);
                n += 1;
                std::thread::sleep(Duration::from_micros(500));
                epoch.fetch_add(1, Ordering::SeqCst);
                assert!(engine.restore(&subject));
                std::thread::sleep(Duration::from_micros(200));
            }
            n
        })
    };
    std::thread::sleep(run_for());
    stop.store(true, Ordering::Relaxed);
    let mut total = Figures::default();
    for t in deciders {
        let f = t.join().unwrap();
        total.decisions += f.decisions;
        total.allowed += f.allowed;
        total.denied_revoked += f.denied_revoked;
    }
    total.reloads = reloader.join().unwrap();
    total.revocations = revoker.join().unwrap();
    let elapsed = start.elapsed();
    let log = engine.audit().unwrap();
    log.flush().unwrap();
    let stats = log.stats();
    let files = log_files(&path).unwrap();
    let report = verify(&files).unwrap();
    println!(
        "stress: {DECIDERS} deciding threads + reloader + revoker, {:.1} s: {} decisions ({} allowed, {} denied while revoked), {} reloads, {} revoke/restore cycles, {} audit records in {} file(s), {} write errors",
        elapsed.as_secs_f64(),
        total.decisions,
        total.allowed,
        total.denied_revoked,
        total.reloads,
        total.revocations,
        report.records,
        files.len(),
        stats.write_errors
    );
    assert!(report.intact(), "{:?}", report.broken);
    assert_eq!((stats.dropped, stats.write_errors), (0, 0), "{stats:?}");
    // +1: the decision made before the threads started.
    assert_eq!(report.records, total.decisions + 1, "every decision is in the log");
    assert!(total.decisions > 0 && total.reloads > 0 && total.revocations > 0, "{total:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A failing disk (`/dev/full`: every write is ENOSPC) under load, in both
/// queue modes: decisions go on with unchanged outcomes and never wait forever,
/// the failure is counted and reported by `flush`, and memory stays bounded
/// (unwritten lines are capped).
#[test]
fn a_failing_disk_never_changes_or_stalls_decisions() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    for mode in [OnFull::Block, OnFull::Drop] {
        let log = AuditLog::builder().file("/dev/full").capacity(16).on_full(mode).open().unwrap();
        let engine = Arc::new(engine(log));
        engine.revoke(Subject::Session("s-revoked".into()), "fault test");
        let counted = Arc::new(AtomicU64::new(0));
        let stop = Instant::now() + run_for() / 3;
        let threads: Vec<_> = (0..DECIDERS)
            .map(|_| {
                let (engine, counted) = (engine.clone(), counted.clone());
                std::thread::spawn(move || {
                    let (ok, revoked) = (request("s-ok"), request("s-revoked"));
                    while Instant::now() < stop {
                        assert_eq!(engine.authorize_json(&ok).outcome, Outcome::Allow);
                        assert_eq!(engine.authorize_json(&revoked).outcome, Outcome::Deny);
                        counted.fetch_add(2, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let log = engine.audit().unwrap();
        let err = log.flush().unwrap_err().to_string();
        assert!(err.contains("/dev/full"), "{err}");
        let stats = log.stats();
        let n = counted.load(Ordering::Relaxed);
        println!("failing disk, {mode:?}: {n} decisions, {stats:?}");
        assert!(stats.write_errors > 0, "{stats:?}");
        assert!(stats.last_error.as_deref().unwrap_or("").contains("/dev/full"), "{stats:?}");
        // Every decision reached the writer (Block), or was dropped and counted
        // (Drop: the writer's records are the kept decisions plus at most one
        // gap record per dropped decision).
        match mode {
            OnFull::Block => assert_eq!((stats.records, stats.dropped), (n, 0), "{stats:?}"),
            _ => assert!(n - stats.dropped <= stats.records && stats.records <= n, "{n}: {stats:?}"),
        }
    }
}

/// A real full disk that recovers: set `AGENTAUTHZ_FULL_DISK_DIR` to a small
/// tmpfs (e.g. `mount -t tmpfs -o size=256k tmpfs /mnt/full`); skipped
/// otherwise. Fill it, decide (writes fail, lines are kept), free the space,
/// flush: every decision is written and the chain verifies.
#[test]
fn a_full_disk_that_recovers_loses_nothing() {
    let Ok(dir) = std::env::var("AGENTAUTHZ_FULL_DISK_DIR") else { return };
    let dir = PathBuf::from(dir);
    let path = dir.join("audit.jsonl");
    let filler = dir.join("filler");
    let _ = std::fs::remove_file(&path);
    let engine = engine(AuditLog::builder().file(&path).open().unwrap());
    // Fill the disk.
    let chunk = vec![0u8; 4096];
    let mut f = std::fs::File::create(&filler).unwrap();
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let mut n = 0;
    for _ in 0..100 {
        assert_eq!(engine.authorize_json(&request("s")).outcome, Outcome::Allow);
        n += 1;
    }
    let log = engine.audit().unwrap();
    let err = log.flush().unwrap_err().to_string();
    assert!(err.contains("No space left"), "{err}");
    let before = log.stats();
    std::fs::remove_file(&filler).unwrap();
    log.flush().unwrap();
    let report = verify(&[&path]).unwrap();
    println!(
        "full disk: {n} decisions, errors while full: {before:?}; after freeing: {} records, intact {}",
        report.records,
        report.intact()
    );
    assert!(report.intact(), "{:?}", report.broken);
    assert_eq!(report.records, n);
    assert!(before.write_errors > 0);
    std::fs::remove_file(&path).ok();
}
