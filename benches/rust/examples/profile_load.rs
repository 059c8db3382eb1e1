//! Where engine load time goes at a given size of the generated workload
//! (rough, single run): `cargo run --release -p agentauthz-benches --example profile_load -- 100000`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]
use std::str::FromStr;
use std::time::Instant;

use agentauthz::cedar_policy::{Entities, PolicySet, Schema, ValidationMode, Validator};
use agentauthz::Engine;
use agentauthz_benches::workload::workload;

// As the benchmark runners, the CLI and the bindings allocate.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// When the timed `Engine::from_strings` began (for the phase hook).
static LOAD_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let w = workload(n);
    // `ENGINE_ONLY=1`: only the engine load (for a profiler).
    if std::env::var_os("ENGINE_ONLY").is_some() {
        let t = Instant::now();
        let _engine = Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).unwrap();
        println!("Engine::from_strings: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        return;
    }
    let t = Instant::now();
    let (schema, _) = Schema::from_cedarschema_str(&w.schema).unwrap();
    let _entities = Entities::from_json_str(&w.entities, Some(&schema)).unwrap();
    println!("schema + entities: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let set = PolicySet::from_str(&w.policies).unwrap();
    println!("PolicySet::from_str: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    assert!(result.validation_passed());
    println!("strict validation: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    // The scope index adds each policy to per-cell policy sets (`all`, and `permits` for permits).
    let t = Instant::now();
    let mut cells: Vec<PolicySet> = Vec::new();
    for p in set.policies() {
        for _ in 0..2 {
            let mut cell = PolicySet::new();
            cell.add(p.clone()).unwrap();
            cells.push(cell);
        }
    }
    println!("two single-policy PolicySets per policy: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    drop(cells);
    agentauthz::set_load_phase_hook(|name| {
        let start = LOAD_START.get().copied().unwrap_or_else(Instant::now);
        println!("  phase '{name}' ended at {:.0} ms", start.elapsed().as_secs_f64() * 1e3);
    });
    let t = Instant::now();
    let _ = LOAD_START.set(t);
    let _engine = Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).unwrap();
    println!("Engine::from_strings (all of it): {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
}
