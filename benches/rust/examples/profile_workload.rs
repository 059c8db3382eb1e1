//! Decides a `gen-workload` folder's requests repeatedly, single-threaded, for
//! profilers; under `valgrind --tool=callgrind` the instruction count per
//! decision is a measure of the engine's work that host noise cannot move:
//!
//! ```text
//! cargo build --release -p agentauthz-benches --example profile_workload
//! N=20 valgrind --tool=callgrind target/release/examples/profile_workload target/bench-workloads/10
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]
use agentauthz::{Engine, Request};

/// As the bindings and the CLI ship.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use agentauthz_benches::workload::{read_dir, tool_call};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: profile_workload WORKLOAD_DIR");
    let (w, _) = read_dir(std::path::Path::new(&dir)).unwrap();
    let requests: Vec<Request> = w.requests.iter().map(|r| tool_call(r).unwrap().build().unwrap()).collect();
    let engine = Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).unwrap();
    let rounds: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let t = std::time::Instant::now();
    let mut allowed = 0usize;
    for _ in 0..rounds {
        for r in &requests {
            allowed += usize::from(std::hint::black_box(engine.authorize(r)).allowed());
        }
    }
    let n = rounds * requests.len();
    println!("{n} decisions ({allowed} allowed), {:.2} µs per decision", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
