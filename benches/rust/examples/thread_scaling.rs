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
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs, unsafe_code)]
use std::time::Duration;

use agentauthz::{Engine, Request};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use agentauthz_benches::threads;
use agentauthz_benches::workload::{read_dir, tool_call};

/// This thread's CPU time (CLOCK_THREAD_CPUTIME_ID), in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// This thread's voluntary context switches so far (it blocked: a lock, I/O).
fn voluntary_switches() -> u64 {
    // SAFETY: an all-zero rusage is valid, and `getrusage` writes only into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    ru.ru_nvcsw as u64
}

static SWITCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static ON_CPU_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static THREAD_WALL_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// CPU nanoseconds per call on `threads` threads (summed over threads).
/// Unlike calls per second, a vCPU the host takes away does not count; what
/// does count is every call made slower by the other thread (cache lines
/// bouncing between cores, shared memory bandwidth).
fn cpu_per_call(threads: usize, d: Duration, len: usize, f: &(dyn Fn(usize, usize) -> bool + Sync)) -> f64 {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = AtomicBool::new(false);
    let (cpu, calls) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, cpu, calls) = (&stop, &cpu, &calls);
            s.spawn(move || {
                let mut i = t * len / threads;
                let began = std::time::Instant::now();
                let start = thread_cpu_ns();
                let switches = voluntary_switches();
                let mut count = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(f(t, i % len));
                    i += 1;
                    count += 1;
                }
                let used = thread_cpu_ns() - start;
                cpu.fetch_add(used, Ordering::Relaxed);
                ON_CPU_NS.fetch_add(used, Ordering::Relaxed);
                THREAD_WALL_NS.fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
                SWITCHES.fetch_add(voluntary_switches() - switches, Ordering::Relaxed);
                calls.fetch_add(count, Ordering::Relaxed);
            });
        }
        std::thread::sleep(d);
        stop.store(true, Ordering::Relaxed);
    });
    cpu.load(Ordering::Relaxed) as f64 / calls.load(Ordering::Relaxed).max(1) as f64
}

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
    // CPU=1: CPU time per call on 2 threads / on 1 (1.00: the threads do not slow each other).
    if std::env::var("CPU").is_ok() {
        let mut cpu: [Vec<f64>; 4] = Default::default();
        let mut switches = [0u64; 4];
        let mut on_cpu = [(0u64, 0u64); 4];
        for _ in 0..rounds {
            let fs: [&(dyn Fn(usize, usize) -> bool + Sync); 4] = [&shared, &own_requests, &separate, &threads::spin];
            for (((all, f), sw), oc) in cpu.iter_mut().zip(fs).zip(switches.iter_mut()).zip(on_cpu.iter_mut()) {
                use std::sync::atomic::Ordering::Relaxed;
                let before = SWITCHES.load(Relaxed);
                let one = cpu_per_call(1, d, n, f);
                let (c0, w0) = (ON_CPU_NS.load(Relaxed), THREAD_WALL_NS.load(Relaxed));
                all.push(cpu_per_call(2, d, n, f) / one);
                oc.0 += ON_CPU_NS.load(Relaxed) - c0;
                oc.1 += THREAD_WALL_NS.load(Relaxed) - w0;
                *sw += SWITCHES.load(Relaxed) - before;
            }
        }
        let frac: Vec<String> = on_cpu.iter().map(|(c, w)| format!("{:.3}", *c as f64 / (*w).max(1) as f64)).collect();
        println!("2-thread runs, fraction of each thread's wall time on a CPU (shared, per-thread requests, separate, arithmetic): {frac:?}");
        println!("voluntary context switches in the deciding threads (shared, per-thread requests, separate, arithmetic): {switches:?}");
        let [a, b, c, e] = &mut cpu;
        for v in [&mut *a, &mut *b, &mut *c, &mut *e] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "CPU time per call, 2 threads / 1 (medians): shared engine {:.3}, per-thread requests {:.3}, separate engines {:.3}, arithmetic {:.3}",
            a[a.len() / 2],
            b[b.len() / 2],
            c[c.len() / 2],
            e[e.len() / 2]
        );
        return;
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
