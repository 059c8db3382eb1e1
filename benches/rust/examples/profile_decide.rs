//! Runs the example cases repeatedly (for profilers such as callgrind).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]
use agentauthz::{parse_rfc3339, Engine};
use agentauthz_benches::{example_cases, example_dir};

fn main() {
    let engine = Engine::from_dir(example_dir()).unwrap();
    let cases = example_cases();
    let reqs: Vec<_> = cases
        .iter()
        .map(|c| {
            (agentauthz::Request::from_json(&c.request).unwrap(), parse_rfc3339(c.now.as_deref().unwrap()).unwrap())
        })
        .collect();
    let rounds: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        for (r, now) in &reqs {
            std::hint::black_box(engine.authorize_at(r, *now));
        }
    }
    println!("{:.2} µs per decision", t.elapsed().as_secs_f64() * 1e6 / (rounds * reqs.len()) as f64);
}
