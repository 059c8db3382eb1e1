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
use std::time::Duration;

use agentauthz::{Engine, Request};
use agentauthz_benches::threads;
use agentauthz_benches::workload::{read_dir, tool_call};

/// Calls per second on `threads` threads.
fn run(threads: usize, d: Duration, len: usize, f: &(dyn Fn(usize, usize) -> bool + Sync)) -> f64 {
    threads::throughput(threads, d, len, f)
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
    let shared = |_t: usize, i: usize| engines[0].authorize(&copies[0][i]).allowed();
    let own_requests = |t: usize, i: usize| engines[0].authorize(&copies[t][i]).allowed();
    let separate = |t: usize, i: usize| engines[t].authorize(&copies[t][i]).allowed();
    let d = Duration::from_millis(300);
    // ROUNDS=N: more rounds; the medians of the per-round ratios close the run.
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        let (s1, s2) = (run(1, d, n, &shared), run(2, d, n, &shared));
        let (o1, o2) = (run(1, d, n, &own_requests), run(2, d, n, &own_requests));
        let (p1, p2) = (run(1, d, n, &separate), run(2, d, n, &separate));
        let (c1, c2) = (run(1, d, n, &threads::spin), run(2, d, n, &threads::spin));
        let round = [s2 / s1, o2 / o1, p2 / p1, c2 / c1];
        println!(
            "2 threads / 1: shared engine {:.2}x, shared engine with per-thread requests {:.2}x, separate engines {:.2}x, pure arithmetic {:.2}x (1 thread, shared: {:.0} decisions/s)",
            round[0], round[1], round[2], round[3], s1
        );
        for (all, r) in ratios.iter_mut().zip(round) {
            all.push(r);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [a, b, c, e] = &mut ratios;
    println!(
        "medians over {rounds} rounds: shared engine {:.2}x, per-thread requests {:.2}x, separate engines {:.2}x, arithmetic {:.2}x",
        median(a),
        median(b),
        median(c),
        median(e)
    );
}
