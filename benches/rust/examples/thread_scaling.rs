//! Is a shared engine what keeps two threads from doubling the decisions per
//! second? Runs, on one workload folder (`gen-workload`), 1 and 2 threads
//! deciding in a loop (a) with one shared `Engine`, (b) each thread with its
//! own engine (nothing shared), and (c) a pure arithmetic loop (what the host's
//! two CPUs give at best), and prints the 2-thread / 1-thread ratios, three
//! rounds:
//!
//! ```text
//! cargo run --release -p agentauthz-benches --example thread_scaling -- target/bench-workloads/10
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentauthz::{Engine, Request};
use agentauthz_benches::workload::{read_dir, tool_call};

/// Calls per second of `threads` threads each calling `f(thread, i)` in a loop for `d`.
fn run(threads: usize, d: Duration, f: &(dyn Fn(usize, usize) + Sync)) -> f64 {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, total) = (&stop, &total);
            s.spawn(move || {
                let (mut i, mut count) = (t * 97, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    f(t, i);
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

fn main() {
    let dir = std::env::args().nth(1).expect("usage: thread_scaling WORKLOAD_DIR");
    let (w, _) = read_dir(std::path::Path::new(&dir)).unwrap();
    let requests: Vec<Request> = w.requests.iter().map(|r| tool_call(r).unwrap().build().unwrap()).collect();
    let engines = [
        Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).unwrap(),
        Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).unwrap(),
    ];
    let copies = [requests.clone(), requests];
    let n = copies[0].len();
    let shared = |_t: usize, i: usize| {
        std::hint::black_box(engines[0].authorize(&copies[0][i % n]));
    };
    let separate = |t: usize, i: usize| {
        std::hint::black_box(engines[t].authorize(&copies[t][i % n]));
    };
    let spin = |_t: usize, i: usize| {
        let mut x = i as u64;
        for _ in 0..200 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
    };
    let d = Duration::from_millis(300);
    for _ in 0..3 {
        let (s1, s2) = (run(1, d, &shared), run(2, d, &shared));
        let (p1, p2) = (run(1, d, &separate), run(2, d, &separate));
        let (c1, c2) = (run(1, d, &spin), run(2, d, &spin));
        println!(
            "2 threads / 1: shared engine {:.2}x, separate engines {:.2}x, pure arithmetic {:.2}x (1 thread, shared: {:.0} decisions/s)",
            s2 / s1,
            p2 / p1,
            c2 / c1,
            s1
        );
    }
}
