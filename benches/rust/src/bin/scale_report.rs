//! Measures agentauthz against plain `cedar_policy::Authorizer` on workload
//! folders written by `gen-workload`, and prints one JSON object per size
//! (read by `benches/run_all.py`, which writes `benches/RESULTS.md`).
//!
//! ```text
//! scale-report --dir DIR --sizes 10,1000 [--quick]
//! scale-report --memory DIR engine|cedar-policies|cedar-schema-entities
//! ```
//!
//! Per size: load time (`Engine::from_strings` on the files' texts); median
//! and p99 of single decisions, each timed with `Instant` (agentauthz: every
//! request built once with the typed `ToolCall` builder, outside the timed
//! loop; plain Cedar: the whole policy set, pre-parsed entities and
//! requests); decisions per second on 1 and 2 threads sharing one engine; and
//! heap and RSS growth of loading, each measured in a fresh process
//! (`--memory`) with a counting allocator. Every timed decision is compared
//! with the outcome recorded in `requests.jsonl` (plain Cedar's, ask counted
//! as deny): any difference exits non-zero.

// The counting allocator below is the only unsafe code: it forwards to the
// allocator underneath (mimalloc) unchanged and adds up live bytes when asked to.
#![allow(unsafe_code)]
// Indexing is into vectors by indices taken modulo their (non-zero) lengths.
#![allow(clippy::indexing_slicing)]

use std::alloc::{GlobalAlloc, Layout};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use agentauthz::{Engine, Outcome, Request};
use agentauthz_benches::threads;
use agentauthz_benches::workload::{read_dir, tool_call, Expected, PlainCedar, Workload};
use serde_json::{json, Value};

/// The allocator under the counter: mimalloc, as the `agentauthz` CLI and
/// the Python and Node bindings ship (Cedar's parser and validator allocate
/// heavily; with glibc malloc a 100,000-policy load spent about a fifth of its
/// time in the allocator). Every Rust runner here, plain Cedar included, uses it.
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Counts live heap bytes while `COUNTING` is on (only in `--memory` runs, so
/// that timed runs share no counter between threads).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to mimalloc; the counter has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { INNER.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { INNER.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { INNER.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { INNER.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`), 0 if unknown.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Settings of one run.
struct Settings {
    /// Passes over the requests for agentauthz's latency figures.
    rounds: usize,
    /// Time budget for plain Cedar's latency samples per size.
    cedar_budget: Duration,
    /// Duration of each throughput run.
    throughput: Duration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--memory") {
        return match (args.get(1), args.get(2)) {
            (Some(dir), Some(kind)) => memory_probe(Path::new(dir), kind),
            _ => fail("usage: scale-report --memory DIR engine|cedar-policies|cedar-schema-entities"),
        };
    }
    let mut dir = None;
    let mut sizes: Vec<usize> = Vec::new();
    let mut settings =
        Settings { rounds: 100, cedar_budget: Duration::from_secs(3), throughput: Duration::from_secs(3) };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = it.next().map(PathBuf::from),
            "--sizes" => {
                sizes = it.next().map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect()).unwrap_or_default()
            }
            "--quick" => {
                settings = Settings {
                    rounds: 20,
                    cedar_budget: Duration::from_millis(400),
                    throughput: Duration::from_millis(300),
                }
            }
            _ => return fail(&format!("unknown argument {a}")),
        }
    }
    let (Some(dir), false) = (dir, sizes.is_empty()) else {
        return fail("usage: scale-report --dir DIR --sizes 10,1000 [--quick]");
    };
    for n in sizes {
        match measure(&dir.join(n.to_string()), n, &settings) {
            Ok(v) => println!("{v}"),
            Err(e) => return fail(&format!("{n} policies: {e}")),
        }
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("scale-report: {message}");
    ExitCode::FAILURE
}

fn outcome(s: &str) -> Outcome {
    match s {
        "allow" => Outcome::Allow,
        "ask" => Outcome::Ask,
        _ => Outcome::Deny,
    }
}

/// Median and p99 in microseconds of nanosecond samples.
fn percentiles(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |q: f64| {
        let i = ((q * (ns.len().saturating_sub(1)) as f64).round() as usize).min(ns.len().saturating_sub(1));
        ns.get(i).map_or(0.0, |v| *v as f64 / 1000.0)
    };
    (at(0.5), at(0.99))
}

/// Decisions per second on 1 and on 2 threads: the medians of
/// [`SCALING_ROUNDS`] runs of each, taking turns (1, 2, 1, 2, ...), each run
/// an equal share of `d` for each thread count; and the median of each
/// round's 2-thread / 1-thread ratio. Taking turns spreads the host's load
/// changes over both figures instead of biasing one (on a shared 2-vCPU VM,
/// single back-to-back runs moved the ratio by ±0.3), and the paired ratio
/// compares runs a fraction of a second apart.
fn scaling(d: Duration, len: usize, decide: &(dyn Fn(usize) -> bool + Sync)) -> (f64, f64, f64) {
    let share = d / SCALING_ROUNDS as u32;
    let (mut one, mut two, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..SCALING_ROUNDS {
        let f = |_: usize, i: usize| decide(i);
        let (a, b) = (threads::throughput(1, share, len, &f), threads::throughput(2, share, len, &f));
        one.push(a);
        two.push(b);
        ratios.push(if a > 0.0 { b / a } else { 0.0 });
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    (median(one), median(two), median(ratios))
}

/// The host's own 2-thread / 1-thread ratio: [`scaling`] of a loop of integer
/// arithmetic that touches no memory, measured next to the decisions.
fn host_ratio(d: Duration) -> f64 {
    scaling(d, 1, &|i| threads::spin(0, i)).2
}

/// Turns of 1- and 2-thread runs per throughput figure.
const SCALING_ROUNDS: usize = 5;

fn measure(dir: &Path, n: usize, s: &Settings) -> Result<Value, String> {
    let (w, expected) = read_dir(dir)?;
    let policies = w.policies.matches("permit(").count() + w.policies.matches("forbid(").count();
    if policies != n {
        return Err(format!("{} holds {policies} policies, expected {n}", dir.display()));
    }

    // Load time: the engine built from the texts (parse, validate, index).
    let loads = if n <= 1_000 { 5 } else { 3 };
    let mut load_ns = Vec::new();
    let mut engine = None;
    for _ in 0..loads {
        let t = Instant::now();
        let e = Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).map_err(|e| e.to_string())?;
        load_ns.push(t.elapsed().as_nanos() as u64);
        engine = Some(e);
    }
    let engine = engine.ok_or("no engine")?;
    let (load_us, _) = percentiles(load_ns);
    let t = Instant::now();
    let cedar = PlainCedar::new(&w)?;
    let cedar_load_us = t.elapsed().as_secs_f64() * 1e6;

    // Requests from the typed builder, built once.
    let requests: Vec<Request> = w
        .requests
        .iter()
        .map(|r| tool_call(r).ok_or("not a ToolCall request")?.build().map_err(|e| e.to_string()))
        .collect::<Result<_, String>>()?;
    let want: Vec<Outcome> = expected.iter().map(|e| outcome(&e.agentauthz)).collect();
    let want_cedar: Vec<bool> = expected.iter().map(|e| e.cedar == "allow").collect();
    check_consistent(&expected)?;

    // agentauthz latency: every request `rounds` times, one timed call each.
    let len = requests.len();
    for r in &requests {
        std::hint::black_box(engine.authorize(r));
    }
    let mut ns = Vec::with_capacity(len * s.rounds);
    for _ in 0..s.rounds {
        for (i, r) in requests.iter().enumerate() {
            let t = Instant::now();
            let d = engine.authorize(r);
            ns.push(t.elapsed().as_nanos() as u64);
            if d.outcome != want[i] {
                return Err(format!("request {i}: agentauthz {}, expected {}", d.outcome, want[i]));
            }
        }
    }
    let samples = ns.len();
    let (median, p99) = percentiles(ns);

    // Plain Cedar latency: the whole set per decision, within a time budget.
    let mut cns = Vec::new();
    let budget = Instant::now();
    let mut i = 0usize;
    while (budget.elapsed() < s.cedar_budget || cns.len() < 10) && cns.len() < len * s.rounds {
        let k = i % len;
        let t = Instant::now();
        let allowed = cedar.allows(k);
        cns.push(t.elapsed().as_nanos() as u64);
        if allowed != want_cedar[k] {
            return Err(format!("request {k}: plain Cedar allow={allowed}, expected {}", expected[k].cedar));
        }
        i += 1;
    }
    let cedar_samples = cns.len();
    let cedar_distinct = cedar_samples.min(len);
    let (cmedian, cp99) = percentiles(cns);

    // Throughput on 1 and 2 threads, one shared engine / policy set.
    let ours = |i: usize| engine.authorize(&requests[i]).outcome == Outcome::Allow;
    let theirs = |i: usize| cedar.allows(i);
    let (dps1, dps2, dps_ratio) = scaling(s.throughput, len, &ours);
    let host = host_ratio(s.throughput / 3);
    let cedar_d = if n >= 10_000 { s.throughput.max(Duration::from_secs(1)) } else { s.throughput };
    let (cdps1, cdps2, cdps_ratio) = scaling(cedar_d, len, &theirs);

    let mem = |kind: &str| -> Result<Value, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out =
            std::process::Command::new(exe).arg("--memory").arg(dir).arg(kind).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("memory probe {kind}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("memory probe {kind}: {e}"))
    };
    let counts = |o: &str| expected.iter().filter(|e| e.agentauthz == o).count();
    Ok(json!({
        "n": n,
        "requests": len,
        "outcomes": {"allow": counts("allow"), "deny": counts("deny"), "ask": counts("ask")},
        "agentauthz": {
            "median_us": median, "p99_us": p99, "samples": samples,
            "dps1": dps1, "dps2": dps2, "dps_ratio": dps_ratio, "load_us": load_us, "loads": loads,
        },
        "cedar": {
            "median_us": cmedian, "p99_us": cp99, "samples": cedar_samples, "distinct_requests": cedar_distinct,
            "dps1": cdps1, "dps2": cdps2, "dps_ratio": cdps_ratio, "load_us": cedar_load_us,
        },
        "host_ratio": host,
        "memory": {
            "engine": mem("engine")?,
            "cedar_policies": mem("cedar-policies")?,
            "cedar_schema_entities": mem("cedar-schema-entities")?,
        },
    }))
}

/// The file's two expected outcomes must agree (ask is a deny in Cedar terms).
fn check_consistent(expected: &[Expected]) -> Result<(), String> {
    for (i, e) in expected.iter().enumerate() {
        if (e.agentauthz == "allow") != (e.cedar == "allow") {
            return Err(format!("request {i}: file says agentauthz {} but plain Cedar {}", e.agentauthz, e.cedar));
        }
    }
    Ok(())
}

/// In a fresh process: heap and RSS growth of loading one thing, kept alive.
fn memory_probe(dir: &Path, kind: &str) -> ExitCode {
    let (w, _) = match read_dir(dir) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    agentauthz::set_load_phase_hook(record_phase);
    let (rss0, live0) = (rss_bytes(), start_counting());
    BASE.store(live0, Ordering::SeqCst);
    let kept: Result<Box<dyn std::any::Any>, String> = match kind {
        "engine" => Engine::from_strings(&w.schema, &w.policies, Some(&w.entities))
            .map(|e| Box::new(e) as Box<dyn std::any::Any>)
            .map_err(|e| e.to_string()),
        "cedar-policies" => policies_only(&w),
        "cedar-schema-entities" => schema_entities(&w),
        _ => Err(format!("unknown kind {kind}")),
    };
    let (live1, rss1) = (LIVE.load(Ordering::Relaxed), rss_bytes());
    COUNTING.store(false, Ordering::Relaxed);
    match kept {
        Ok(k) => {
            let phases: serde_json::Map<String, Value> = PHASES
                .lock()
                .map(|p| p.iter().map(|(name, live)| (name.to_string(), json!(live))).collect())
                .unwrap_or_default();
            println!("{}", json!({"heap": live1 - live0, "rss": rss1 as i64 - rss0 as i64, "phases": phases}));
            drop(std::hint::black_box(k));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Live heap bytes (since counting began) as each load phase ended.
static PHASES: std::sync::Mutex<Vec<(&'static str, isize)>> = std::sync::Mutex::new(Vec::new());
static BASE: AtomicIsize = AtomicIsize::new(0);

fn record_phase(name: &'static str) {
    let live = LIVE.load(Ordering::SeqCst) - BASE.load(Ordering::SeqCst);
    // Counting stays on: the Vec's own growth is a few bytes, once per phase.
    if let Ok(mut p) = PHASES.lock() {
        p.push((name, live));
    }
}

fn start_counting() -> isize {
    COUNTING.store(true, Ordering::SeqCst);
    LIVE.load(Ordering::SeqCst)
}

fn policies_only(w: &Workload) -> Result<Box<dyn std::any::Any>, String> {
    use std::str::FromStr;
    agentauthz::cedar_policy::PolicySet::from_str(&w.policies)
        .map(|p| Box::new(p) as Box<dyn std::any::Any>)
        .map_err(|e| e.to_string())
}

fn schema_entities(w: &Workload) -> Result<Box<dyn std::any::Any>, String> {
    use agentauthz::cedar_policy::{Entities, Schema};
    let (schema, _) = Schema::from_cedarschema_str(&w.schema).map_err(|e| e.to_string())?;
    let entities = Entities::from_json_str(&w.entities, Some(&schema)).map_err(|e| e.to_string())?;
    Ok(Box::new((schema, entities)))
}
