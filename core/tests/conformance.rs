//! Cedar conformance: runs the public `cedar-integration-tests` corpus
//! (`../shared/conformance/cedar-integration-tests` from the repository root)
//! through the engine in [`ErrorMode::Cedar`] and compares decisions, reasons,
//! errors and strict validation with the expected results.
//!
//! See `/work/shared/conformance/README.md` (next to the corpus) for the file
//! format and its quirks. Run with
//! `cargo test -p agentauthz --test conformance -- --nocapture` to see the report.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use agentauthz::cedar_policy::EntityUid;
use agentauthz::{validate, Engine, ErrorMode, NamedText, Outcome, PolicySources, Request};
use serde_json::Value;

/// Requests in the corpus (README "Contents and counts").
const EXPECTED_REQUESTS: usize = 39_274;
/// Test files in the corpus.
const EXPECTED_FILES: usize = 4_922;
/// Requests that must really be evaluated for the test to mean anything.
const MIN_EVALUATED: usize = 39_000;
/// Required share of matching requests (over all corpus requests) and of test
/// files whose validation result agrees with `shouldValidate`.
const MIN_RATE: f64 = 0.999;
/// Mismatch lines printed at most.
const PRINT_CAP: usize = 50;
const THREADS: usize = 2;

/// Test files skipped on purpose: (path relative to the corpus root, reason).
/// Their requests count as not matching. Keep this list to what truly fails for
/// the stated reason. Currently empty: cedar-policy 4.14 parses the
/// multi-argument `{"__extn": {"fn": "offset", "args": [...]}}` data form
/// (README quirk 8), and no corpus schema declares a `now: datetime` context
/// attribute (which the engine would override with its clock).
const KNOWN_SKIPS: &[(&str, &str)] = &[];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cedar-integration-tests")
}

/// Every test file, relative to the corpus root, sorted.
fn test_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("tests"), root.join("corpus-tests")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.to_string_lossy();
            if name.ends_with(".json") && !name.ends_with(".entities.json") {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    out.sort();
    out
}

#[derive(Default)]
struct Tally {
    files: usize,
    requests: usize,
    evaluated: usize,
    skipped_files: usize,
    skipped_requests: usize,
    decision_ok: usize,
    reasons_ok: usize,
    errors_ok: usize,
    all_ok: usize,
    validate_ok: usize,
    harness_failures: usize,
    /// Policy evaluations by evaluator: compiled, Cedar (unsupported policy in
    /// the bucket), Cedar (request not converted), Cedar (after an error).
    evaluators: [u64; 4],
    /// (file, line) — sorted by file before printing.
    mismatches: Vec<(String, String)>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.files += o.files;
        self.requests += o.requests;
        self.evaluated += o.evaluated;
        self.skipped_files += o.skipped_files;
        self.skipped_requests += o.skipped_requests;
        self.decision_ok += o.decision_ok;
        self.reasons_ok += o.reasons_ok;
        self.errors_ok += o.errors_ok;
        self.all_ok += o.all_ok;
        self.validate_ok += o.validate_ok;
        self.harness_failures += o.harness_failures;
        for (a, b) in self.evaluators.iter_mut().zip(o.evaluators) {
            *a += b;
        }
        self.mismatches.extend(o.mismatches);
    }
}

fn read(root: &Path, rel: &str) -> Result<NamedText, String> {
    std::fs::read_to_string(root.join(rel))
        .map(|text| NamedText::new(rel, text))
        .map_err(|e| format!("cannot read {rel}: {e}"))
}

fn id_set(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

fn fmt_set(s: &BTreeSet<String>) -> String {
    format!("[{}]", s.iter().cloned().collect::<Vec<_>>().join(","))
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// Runs one test file and adds its results to `t`.
fn run_file(root: &Path, rel: &str, t: &mut Tally) {
    t.files += 1;
    let test: Value = match std::fs::read_to_string(root.join(rel))
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            t.mismatches.push((rel.into(), format!("{rel}: unreadable test file: {e}")));
            return;
        }
    };
    let requests = test.get("requests").and_then(Value::as_array).cloned().unwrap_or_default();
    t.requests += requests.len();

    if let Some((_, why)) = KNOWN_SKIPS.iter().find(|(name, _)| *name == rel) {
        t.skipped_files += 1;
        t.skipped_requests += requests.len();
        t.mismatches.push((rel.into(), format!("{rel}: SKIPPED (known): {why}")));
        return;
    }

    let sources = (|| -> Result<PolicySources, String> {
        let path = |k: &str| test.get(k).and_then(Value::as_str).ok_or(format!("missing `{k}`"));
        Ok(PolicySources {
            schema: read(root, path("schema")?)?,
            policies: vec![read(root, path("policies")?)?],
            entities: Some(read(root, path("entities")?)?),
        })
    })();
    let sources = match sources {
        Ok(s) => s,
        Err(e) => {
            t.mismatches.push((rel.into(), format!("{rel}: {e}")));
            return;
        }
    };

    let should_validate = test.get("shouldValidate").and_then(Value::as_bool).unwrap_or(true);
    match validate(&sources) {
        Ok(issues) if issues.is_empty() == should_validate => t.validate_ok += 1,
        Ok(issues) => t.mismatches.push((
            rel.into(),
            format!(
                "{rel}: shouldValidate={should_validate} but validation found {} issue(s){}",
                issues.len(),
                issues.first().map(|i| format!(": {}", one_line(&i.message))).unwrap_or_default()
            ),
        )),
        Err(e) => t.mismatches.push((rel.into(), format!("{rel}: validate() failed: {}", one_line(&e.to_string())))),
    }

    let engine = match Engine::builder(sources)
        .error_mode(ErrorMode::Cedar)
        .accept_invalid_policies(true)
        .count_evaluations(true)
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            t.harness_failures += requests.len();
            t.mismatches.push((
                rel.into(),
                format!("{rel}: engine did not load ({} requests fail): {}", requests.len(), one_line(&e.to_string())),
            ));
            return;
        }
    };

    for r in &requests {
        let desc = r.get("description").and_then(Value::as_str).unwrap_or("?");
        let want_outcome = match r.get("decision").and_then(Value::as_str) {
            Some("allow") => Outcome::Allow,
            Some("deny") => Outcome::Deny,
            other => {
                t.mismatches.push((rel.into(), format!("{rel} / {desc}: unknown expected decision {other:?}")));
                continue;
            }
        };
        let want_reasons = id_set(r.get("reason"));
        let want_errors = id_set(r.get("errors"));

        let uid =
            |k: &str| EntityUid::from_json(r.get(k).cloned().unwrap_or(Value::Null)).map_err(|e| format!("{k}: {e}"));
        let request = match (uid("principal"), uid("action"), uid("resource")) {
            (Ok(p), Ok(a), Ok(res)) => Request::with_action_uid(p, a, res)
                .with_context_json(r.get("context").and_then(Value::as_object).cloned().unwrap_or_default()),
            (p, a, res) => {
                let e = [p.err(), a.err(), res.err()].into_iter().flatten().collect::<Vec<_>>();
                t.harness_failures += 1;
                t.mismatches.push((rel.into(), format!("{rel} / {desc}: bad request uid: {}", e.join("; "))));
                continue;
            }
        };
        t.evaluated += 1;
        let d = engine.authorize(&request);

        let got_reasons: BTreeSet<String> = d.reason_ids().into_iter().map(String::from).collect();
        let got_errors: BTreeSet<String> = d.errors.iter().filter_map(|e| e.policy.clone()).collect();
        let request_error = d.errors.iter().find(|e| e.policy.is_none());

        let decision_ok = d.outcome == want_outcome;
        let reasons_ok = got_reasons == want_reasons;
        let errors_ok = got_errors == want_errors && request_error.is_none();
        t.decision_ok += usize::from(decision_ok);
        t.reasons_ok += usize::from(reasons_ok);
        t.errors_ok += usize::from(errors_ok);
        if request_error.is_some() {
            t.harness_failures += 1;
        }
        if decision_ok && reasons_ok && errors_ok {
            t.all_ok += 1;
            continue;
        }
        let first_error = request_error
            .or_else(|| d.errors.first())
            .map(|e| format!("; first error: {}", one_line(&e.message)))
            .unwrap_or_default();
        t.mismatches.push((
            rel.into(),
            format!(
                "{rel} / {desc}: expected {} reasons={} errors={}, got {} reasons={} errors={}{}{first_error}",
                want_outcome,
                fmt_set(&want_reasons),
                fmt_set(&want_errors),
                d.outcome,
                fmt_set(&got_reasons),
                fmt_set(&got_errors),
                if request_error.is_some() { " (REQUEST ERROR)" } else { "" },
            ),
        ));
    }
    let s = engine.evaluator_stats();
    for (a, b) in t.evaluators.iter_mut().zip([s.compiled, s.unsupported_policy, s.unconverted_request, s.after_error])
    {
        *a += b;
    }
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

#[test]
fn cedar_conformance_corpus() {
    let root = corpus_root();
    if !root.join("corpus-tests").is_dir() || !root.join("tests").is_dir() {
        let msg = format!("Cedar conformance corpus not found at {}; skipping the conformance test", root.display());
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg} (CI=true: the corpus is required)");
        println!("{msg}");
        return;
    }

    let start = Instant::now();
    let files = test_files(&root);
    let next = AtomicUsize::new(0);
    let mut total = Tally::default();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut t = Tally::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(rel) = files.get(i) else { break };
                        run_file(&root, rel, &mut t);
                    }
                    t
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(t) => total.merge(t),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
    });
    let elapsed = start.elapsed();

    let t = total;
    let mut mismatches = t.mismatches;
    mismatches.sort();
    println!("--- Cedar conformance: mismatches (at most {PRINT_CAP} shown) ---");
    if mismatches.is_empty() {
        println!("(none)");
    }
    for (_, line) in mismatches.iter().take(PRINT_CAP) {
        println!("{line}");
    }
    if mismatches.len() > PRINT_CAP {
        println!("... and {} more", mismatches.len() - PRINT_CAP);
    }
    if !KNOWN_SKIPS.is_empty() {
        println!("--- known skips ---");
        for (name, why) in KNOWN_SKIPS {
            println!("{name}: {why}");
        }
    }
    let denom = t.requests.max(EXPECTED_REQUESTS);
    println!("--- Cedar conformance: summary ---");
    println!("test files:        {} (expected {EXPECTED_FILES})", t.files);
    println!("requests:          {} (expected {EXPECTED_REQUESTS})", t.requests);
    println!("evaluated:         {}", t.evaluated);
    println!("skipped:           {} files, {} requests", t.skipped_files, t.skipped_requests);
    println!("decision matched:  {} ({:.3}%)", t.decision_ok, pct(t.decision_ok, denom));
    println!("reasons matched:   {} ({:.3}%)", t.reasons_ok, pct(t.reasons_ok, denom));
    println!("errors matched:    {} ({:.3}%)", t.errors_ok, pct(t.errors_ok, denom));
    println!("fully matched:     {} ({:.3}%)", t.all_ok, pct(t.all_ok, denom));
    println!("harness failures:  {} (request-level errors, engine load failures)", t.harness_failures);
    println!(
        "shouldValidate:    {} / {} agree ({:.3}%)",
        t.validate_ok,
        t.files,
        pct(t.validate_ok, t.files.max(EXPECTED_FILES)),
    );
    let [compiled, unsupported, unconverted, after_error] = t.evaluators;
    println!(
        "policy evaluations: {compiled} compiled evaluator, Cedar: {unsupported} (bucket holds an unsupported policy), \
         {unconverted} (request not converted), {after_error} (after an evaluation error)"
    );
    println!("time:              {:.2}s on {THREADS} threads", elapsed.as_secs_f64());

    assert!(
        t.evaluated >= MIN_EVALUATED,
        "only {} requests were evaluated (need at least {MIN_EVALUATED})",
        t.evaluated
    );
    assert!(
        t.all_ok as f64 >= MIN_RATE * denom as f64,
        "request match rate {:.3}% is below {:.1}%",
        pct(t.all_ok, denom),
        MIN_RATE * 100.0
    );
    let files_denom = t.files.max(EXPECTED_FILES);
    assert!(
        t.validate_ok as f64 >= MIN_RATE * files_denom as f64,
        "shouldValidate agreement {:.3}% is below {:.1}%",
        pct(t.validate_ok, files_denom),
        MIN_RATE * 100.0
    );
}
