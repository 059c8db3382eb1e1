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

/// What the audit benches share: an engine on the example policies (with or
/// without a log) and one timed batch of decisions.
pub mod audit {
    use std::time::{Duration, Instant, SystemTime};

    use agentauthz::audit::AuditLog;
    use agentauthz::{Engine, PolicySources, Request};

    /// Decisions per timed batch.
    pub const BATCH: usize = 256;
    /// The untimed pause before every batch, in every variant (see the audit bench).
    pub const PAUSE: Duration = Duration::from_millis(2);

    /// An engine on the example policies, recording to `log` if given.
    ///
    /// # Panics
    /// If the example policies do not load (a bench setup error).
    #[allow(clippy::expect_used)]
    pub fn engine(log: Option<AuditLog>) -> Engine {
        let sources = PolicySources::from_dir(super::example_dir()).expect("example policies");
        let mut b = Engine::builder(sources);
        if let Some(log) = log {
            b = b.audit(log);
        }
        b.build().expect("example engine")
    }

    /// One batch: the [`PAUSE`], [`BATCH`] timed decisions (the requests in
    /// turn from `*next`), then, untimed, a flush of the engine's log so that
    /// the writer has caught up. Returns the timed part.
    ///
    /// # Panics
    /// If the flush fails (a bench setup error).
    #[allow(clippy::expect_used, clippy::indexing_slicing)]
    pub fn batch(engine: &Engine, requests: &[(Request, SystemTime)], next: &mut usize) -> Duration {
        std::thread::sleep(PAUSE);
        let start = Instant::now();
        for _ in 0..BATCH {
            let (r, now) = &requests[*next % requests.len()];
            *next += 1;
            std::hint::black_box(engine.authorize_at(r, *now));
        }
        let timed = start.elapsed();
        if let Some(log) = engine.audit() {
            log.flush().expect("audit flush");
        }
        timed
    }
}

/// Deciding on several threads at once (the scale report's decisions/s and
/// the `thread_scaling` example).
pub mod threads {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    /// Calls per second of `threads` threads each calling `f(thread, i)` in a
    /// loop for `d`: thread `t` starts at `i = t * len / threads` and goes on
    /// modulo `len` (so threads work on different items).
    pub fn throughput(threads: usize, d: Duration, len: usize, f: &(dyn Fn(usize, usize) -> bool + Sync)) -> f64 {
        let stop = AtomicBool::new(false);
        let total = AtomicU64::new(0);
        let len = len.max(1);
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let (stop, total) = (&stop, &total);
                s.spawn(move || {
                    let mut i = t * len / threads.max(1);
                    let mut count = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::black_box(f(t, i % len));
                        i += 1;
                        count += 1;
                    }
                    total.fetch_add(count, Ordering::Relaxed);
                });
            }
            std::thread::sleep(d);
            stop.store(true, Ordering::Relaxed);
        });
        total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    }

    /// A few hundred nanoseconds of integer arithmetic that touches no
    /// memory: what two threads give at best on this host at this moment.
    pub fn spin(_thread: usize, i: usize) -> bool {
        let mut x = i as u64;
        for _ in 0..200 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x) & 1 == 0
    }
}
