//! The bindings' decision path (`Engine::prepare` + `Engine::decide_prepared`)
//! over python_bench's 20 requests, for instruction counts under callgrind:
//!
//! ```text
//! cargo build --release -p agentauthz-benches --example profile_prepared
//! valgrind --tool=callgrind --toggle-collect='*profile_prepared::rounds*' \
//!     target/release/examples/profile_prepared 1000
//! ```
//!
//! Instructions per decision = the collected total / (rounds × requests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]
use std::time::SystemTime;

use agentauthz::{Engine, Outcome, PolicySources, Request};
use agentauthz_benches::{example_cases, example_dir};
use serde_json::Value;

/// python_bench's `pick_cases`: about 20 cases spread over the file, every outcome present.
fn pick() -> Vec<(Request, Value, SystemTime)> {
    let cases = example_cases();
    let step = (cases.len() / 20).max(1);
    let mut chosen: Vec<_> = cases.iter().step_by(step).take(20).cloned().collect();
    for outcome in [Outcome::Allow, Outcome::Deny, Outcome::Ask] {
        if !chosen.iter().any(|c| c.outcome == outcome) {
            let last = chosen.len() - 1;
            chosen[last] = cases.iter().find(|c| c.outcome == outcome).unwrap().clone();
        }
    }
    chosen
        .iter()
        .map(|c| {
            let mut r = c.request.clone();
            let context = r.as_object_mut().unwrap().remove("context").unwrap_or(Value::Object(Default::default()));
            let now = agentauthz::parse_rfc3339(c.now.as_deref().unwrap()).unwrap();
            (Request::from_json(&r).unwrap(), context, now)
        })
        .collect()
}

#[inline(never)]
fn rounds(engine: &Engine, requests: &[(Request, Value, SystemTime)], n: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        for (r, ctx, now) in requests {
            let p = engine.prepare(r, ctx, Some(*now)).expect("prepared");
            let d = engine.decide_prepared(r, &p).expect("decided");
            allowed += usize::from(d.allowed());
        }
    }
    allowed
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let engine = Engine::builder(PolicySources::from_dir(example_dir()).unwrap()).build().unwrap();
    let requests = pick();
    rounds(&engine, &requests, 2);
    let t = std::time::Instant::now();
    let allowed = rounds(&engine, &requests, n);
    let per = t.elapsed().as_secs_f64() * 1e9 / (n * requests.len()) as f64;
    println!("{} requests x {n} rounds: {per:.0} ns per decision ({allowed} allowed)", requests.len());
}
