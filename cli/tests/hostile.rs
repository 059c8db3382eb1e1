//! Hostile input through the CLI door: `authorize` (stdin and files),
//! `validate` on pathological policy folders, `audit verify` on garbage, and a
//! `kill -9` of a process writing the audit log. Every input ends in a deny
//! carrying the error, or a non-zero exit with a message; never a crash (a
//! signal, a panic message, a stack overflow).
//! (Hook stdin is covered in `hook.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const DIR: &str = "policies-examples/coding-agent";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentauthz"));
    c.current_dir(repo());
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agentauthz-cli-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The process ended by itself (no signal) without a panic or overflow message.
fn no_crash(o: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.code().is_some(), "{what}: killed by a signal: {:?}\n{stderr}", o.status);
    for bad in ["panicked", "overflow", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{what}: {stderr}");
    }
    stderr
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child =
        bin().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn context() -> Value {
    json!({
        "credential": {"id": "c", "issued_at": "2026-11-25T09:58:00Z", "expires_at": "2099-01-01T00:00:00Z", "scopes": ["repo:read"]},
        "session": {"id": "s", "actions": 1, "repos_touched": 1}
    })
}

fn request() -> Value {
    json!({"principal": "Agent::\"ci-bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\"", "context": context()})
}

fn with_ctx(key: &str, value: Value) -> Vec<u8> {
    let mut r = request();
    r["context"][key] = value;
    r.to_string().into_bytes()
}

fn nested(open: &str, close: &str, depth: usize, leaf: &str) -> String {
    format!("{}{leaf}{}", open.repeat(depth), close.repeat(depth))
}

/// The hostile request lines, each with a text its deny's error must contain.
fn hostile_lines() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let set = vec!["1"; 200_000];
    let mut huge_set = request();
    huge_set["context"]["credential"]["scopes"] = serde_json::from_str(&format!("[{}]", set.join(","))).unwrap();
    vec![
        ("principal is a number", br#"{"principal": 7, "action": "read_repo", "resource": "Repository::\"acme/api\""}"#.to_vec(), "invalid principal"),
        ("missing resource", br#"{"principal": "Agent::\"ci-bot\"", "action": "read_repo"}"#.to_vec(), "missing field `resource`"),
        ("unknown field", br#"{"principal": "Agent::\"ci-bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\"", "extra": 1}"#.to_vec(), "unknown field `extra`"),
        ("unknown entity type", br#"{"principal": "Robot::\"x\"", "action": "read_repo", "resource": "Repository::\"acme/api\""}"#.to_vec(), "Robot"),
        ("unknown action", br#"{"principal": "Agent::\"ci-bot\"", "action": "format_disk", "resource": "Repository::\"acme/api\""}"#.to_vec(), "format_disk"),
        ("empty principal", br#"{"principal": "", "action": "read_repo", "resource": "Repository::\"acme/api\""}"#.to_vec(), "invalid principal"),
        ("request is an array", b"[1, 2, 3]".to_vec(), "must be a JSON object"),
        ("request is null", b"null".to_vec(), "must be a JSON object"),
        ("not JSON", b"rm -rf /".to_vec(), "malformed request"),
        ("truncated JSON", br#"{"principal": "#.to_vec(), "malformed request"),
        ("context is a string", br#"{"principal": "Agent::\"ci-bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\"", "context": "ctx"}"#.to_vec(), "context must be a JSON object"),
        ("10 MB line", format!("{{\"principal\": \"{}\"}}", "x".repeat(10 << 20)).into_bytes(), "longer than 1048576 bytes"),
        ("non-UTF-8 bytes", b"{\"principal\": \"Agent::\\\"ci-b\xffot\\\"\", \"action\": \"read_repo\", \"resource\": \"Repository::\\\"acme/api\\\"\"}".to_vec(), "not valid UTF-8"),
        ("raw NUL byte", b"{\"principal\": \"Agent::\\\"ci\x00bot\\\"\"}".to_vec(), "control character"),
        ("escaped NUL in an id", br#"{"principal": "Agent::\"ci\u0000bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\""}"#.to_vec(), "Agent::"),
        ("lone surrogate escape", br#"{"principal": "Agent::\"\ud800\""}"#.to_vec(), "malformed request"),
        ("context nested 10,000 deep", with_ctx_raw("path", &nested("{\"a\":", "}", 10_000, "1")), "recursion limit"),
        ("context nested 100 deep", with_ctx_raw("path", &nested("[", "]", 100, "1")), "nested deeper than 32"),
        ("200,000-element set", huge_set.to_string().into_bytes(), "more than 10000 values"),
        ("integer beyond i64", with_ctx_raw("diff_lines", "18446744073709551616"), "diff_lines"),
        ("integer beyond u64", with_ctx_raw("diff_lines", &"9".repeat(40)), "diff_lines"),
        ("float for a Long", with_ctx("diff_lines", json!(1.5)), "diff_lines"),
        ("wrong type for a record", with_ctx("credential", json!("token")), "credential"),
        ("undeclared attribute", with_ctx("evil", json!(true)), "evil"),
    ]
}

fn with_ctx_raw(key: &str, raw: &str) -> Vec<u8> {
    let mut r = request();
    r["context"][key] = json!("@@RAW@@");
    r.to_string().replace("\"@@RAW@@\"", raw).into_bytes()
}

#[test]
fn authorize_denies_every_hostile_line_with_the_error_and_keeps_going() {
    let cases = hostile_lines();
    let mut input = Vec::new();
    for (_, line, _) in &cases {
        input.extend_from_slice(line);
        input.push(b'\n');
        input.extend_from_slice(request().to_string().as_bytes()); // a good line after each bad one
        input.push(b'\n');
    }
    let out = run_stdin(&["authorize", "--dir", DIR, "--requests", "-"], &input);
    let stderr = no_crash(&out, "authorize --requests -");
    assert!(out.status.success(), "{stderr}");
    let decisions: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(decisions.len(), 2 * cases.len(), "one decision per line");
    let good = &decisions[1];
    assert!(good["errors"].as_array().unwrap().is_empty(), "{good}");
    for (i, (name, _, needle)) in cases.iter().enumerate() {
        let d = &decisions[2 * i];
        assert_eq!(d["outcome"], "deny", "{name}: {d}");
        let errors = d["errors"].to_string();
        if *name == "escaped NUL in an id" {
            // A legal (if odd) id: decided normally, an unknown agent is denied.
            assert!(d["allowed"] != json!(true), "{name}: {d}");
            continue;
        }
        assert!(errors.contains(needle), "{name}: `{errors}` lacks `{needle}`");
        let next = &decisions[2 * i + 1];
        assert_eq!(
            (&next["outcome"], &next["reasons"], &next["errors"]),
            (&good["outcome"], &good["reasons"], &good["errors"]),
            "{name}: the next line is decided as before"
        );
    }
}

#[test]
fn authorize_request_files_that_are_huge_or_not_utf8_are_denied() {
    let tmp = tempdir("files");
    for (name, bytes, needle) in [
        ("huge.json", vec![b' '; 10 << 20], "longer than 1048576 bytes"),
        ("latin1.json", b"{\"principal\": \"Agent::\\\"b\xe9b\xe9\\\"\"}".to_vec(), "not valid UTF-8"),
        ("empty.json", Vec::new(), "EOF"),
        ("deep.json", nested("[", "]", 100_000, "").into_bytes(), "recursion limit"),
    ] {
        let file = tmp.join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = bin().args(["authorize", "--dir", DIR, "--request"]).arg(&file).output().unwrap();
        let stderr = no_crash(&out, name);
        assert!(out.status.success(), "{name}: {stderr}");
        let d: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(d["outcome"], "deny", "{name}");
        assert!(d["errors"].to_string().contains(needle), "{name}: {d}");
    }
    let out = bin().args(["authorize", "--dir", DIR, "--request", "no/such/file.json"]).output().unwrap();
    let stderr = no_crash(&out, "missing file");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("no/such/file.json"), "{stderr}");
    // A directory where a file is expected.
    let out = bin().args(["authorize", "--dir", DIR, "--request"]).arg(&tmp).output().unwrap();
    let stderr = no_crash(&out, "directory");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

/// A policy folder: the example schema plus `files`.
fn policy_dir(name: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = tempdir(name);
    std::fs::copy(repo().join(DIR).join("coding-agent.cedarschema"), dir.join("s.cedarschema")).unwrap();
    std::fs::write(dir.join("base.cedar"), "@id(\"base\") permit(principal, action, resource);").unwrap();
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    dir
}

#[test]
fn validate_refuses_pathological_policy_folders_with_a_message() {
    let when = |body: &str| format!("permit(principal, action, resource) when {{ {body} }};").into_bytes();
    let n = 20_000;
    type Files = Vec<(&'static str, Vec<u8>)>;
    let cases: Vec<(&str, Files, &str)> = vec![
        ("20,000 nested parentheses", vec![("p.cedar", when(&nested("(", ")", n, "true")))], "nested deeper than"),
        (
            "20,000 nested sets",
            vec![("p.cedar", when(&format!("{} == []", nested("[", "]", n, "1"))))],
            "nested deeper than",
        ),
        (
            "20,000 nested records",
            vec![("p.cedar", when(&format!("{} == {{}}", nested("{a:", "}", n, "1"))))],
            "nested deeper than",
        ),
        ("20,000 chained negations", vec![("p.cedar", when(&format!("{}true", "!".repeat(n))))], "p.cedar"),
        (
            "non-UTF-8 policy file",
            vec![("p.cedar", b"permit(principal, action, resource) when { \"\xff\" == \"\" };".to_vec())],
            "p.cedar",
        ),
        ("NUL byte in a policy", vec![("p.cedar", b"permit(principal,\0 action, resource);".to_vec())], "p.cedar"),
        ("unknown entity type", vec![("p.cedar", b"permit(principal is Robot, action, resource);".to_vec())], "Robot"),
        (
            "unknown action",
            vec![("p.cedar", b"permit(principal, action == Action::\"format_disk\", resource);".to_vec())],
            "format_disk",
        ),
        (
            "entities nested 10,000 deep",
            vec![(
                "entities.json",
                format!(
                    "[{{\"uid\": {{\"type\": \"Team\", \"id\": \"t\"}}, \"attrs\": {{\"x\": {} }}, \"parents\": []}}]",
                    nested("[", "]", 10_000, "1")
                )
                .into_bytes(),
            )],
            "entities.json",
        ),
        ("entities not JSON", vec![("entities.json", b"\xff\xfe garbage".to_vec())], "entities.json"),
    ];
    for (name, files, needle) in cases {
        let dir = policy_dir("validate", &files);
        let out = bin().args(["validate", "--dir"]).arg(&dir).output().unwrap();
        let stderr = no_crash(&out, name);
        assert!(!out.status.success(), "{name}: accepted");
        assert!(stderr.contains(needle), "{name}: `{stderr}` lacks `{needle}`");
    }
    // A 10 MB policy file of legal text (one long string literal) loads: size alone is no error.
    let big = format!(
        "@id(\"big\") forbid(principal, action, resource) when {{ context has path && context.path == \"{}\" }};",
        "x".repeat(10 << 20)
    );
    let dir = policy_dir("validate-big", &[("p.cedar", big.into_bytes())]);
    let out = bin().args(["validate", "--dir"]).arg(&dir).output().unwrap();
    let stderr = no_crash(&out, "10 MB policy");
    assert!(out.status.success(), "{stderr}");
    // A schema nested 10,000 deep.
    let dir = tempdir("validate-schema");
    std::fs::write(dir.join("s.cedarschema"), format!("entity A {{ x: {} }};", nested("Set<", ">", 10_000, "Long")))
        .unwrap();
    std::fs::write(dir.join("p.cedar"), "permit(principal, action, resource);").unwrap();
    let out = bin().args(["validate", "--dir"]).arg(&dir).output().unwrap();
    let stderr = no_crash(&out, "deep schema");
    assert!(!out.status.success() && stderr.contains("nested deeper than"), "{stderr}");
}

fn demo_log(dir: &Path) -> PathBuf {
    let log = dir.join("audit.jsonl");
    let out = bin().args(["demo", "--audit"]).arg(&log).output().unwrap();
    assert!(out.status.success(), "{}", no_crash(&out, "demo"));
    log
}

fn verify(files: &[&Path]) -> (Option<i32>, String, String) {
    let out = bin().args(["audit", "verify"]).args(files).output().unwrap();
    let stderr = no_crash(&out, "audit verify");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn audit_verify_on_garbage_exits_1_naming_the_line() {
    let dir = tempdir("verify");
    let good = std::fs::read(demo_log(&dir)).unwrap();
    for (name, bytes, needle) in [
        (
            "random bytes",
            (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
            ":1: ",
        ),
        ("non-UTF-8 line", b"\xff\xfe\xfd\n".to_vec(), "not a JSON record"),
        ("NUL bytes", vec![0u8; 100], ":1: "),
        ("JSON nested 100,000 deep", nested("[", "]", 100_000, "").into_bytes(), "not a JSON record"),
        ("10 MB line", format!("{{\"seq\": 0, \"x\": \"{}\"}}\n", "y".repeat(10 << 20)).into_bytes(), ":1: "),
        (
            "seq beyond u64",
            b"{\"seq\": 18446744073709551616, \"prev_hash\": \"0\", \"hash\": \"0\"}\n".to_vec(),
            "no seq",
        ),
        ("an array", b"[]\n".to_vec(), "not a JSON object"),
        ("valid log, then garbage", [good.as_slice(), b"garbage\n"].concat(), "garbage"),
    ] {
        let file = dir.join("bad.jsonl");
        std::fs::write(&file, &bytes).unwrap();
        let (code, _, stderr) = verify(&[&file]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.contains("BROKEN") && stderr.contains("bad.jsonl"), "{name}: {stderr}");
        if needle != "garbage" {
            assert!(stderr.contains(needle), "{name}: `{stderr}` lacks `{needle}`");
        } else {
            let lines = good.iter().filter(|b| **b == b'\n').count();
            assert!(stderr.contains(&format!("bad.jsonl:{}:", lines + 1)), "{name}: {stderr}");
            assert!(stderr.contains(&format!("{lines} record(s)")), "{name}: {stderr}");
        }
    }
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    let (code, stdout, stderr) = verify(&[&empty]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("0 record(s)"), "{stdout}");
    for missing in [dir.join("missing.jsonl"), dir.clone()] {
        let (code, _, stderr) = verify(&[&missing]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(&*missing.to_string_lossy()), "{stderr}");
    }
}

#[test]
fn unwritable_audit_paths_fail_with_a_message() {
    let out = bin().args(["demo", "--audit", "/nonexistent-dir/x/audit.jsonl"]).output().unwrap();
    let stderr = no_crash(&out, "missing dir");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent-dir/x/audit.jsonl"), "{stderr}");
    if Path::new("/dev/full").exists() {
        // Every write fails (ENOSPC): the decisions are made, the failure is reported and the exit is non-zero.
        let out = bin().args(["demo", "--audit", "/dev/full"]).output().unwrap();
        let stderr = no_crash(&out, "/dev/full");
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("audit write failed") && stderr.contains("/dev/full"), "{stderr}");
    }
}

/// `kill -9` of `agentauthz demo --audit` mid-run: every complete record
/// verifies, a torn last line is reported as a crash, and the next run sets it
/// aside and continues the chain.
#[test]
fn a_killed_demo_leaves_a_verifiable_log() {
    let dir = tempdir("kill");
    let trace = std::fs::read_to_string(repo().join(DIR).join("trace.jsonl")).unwrap();
    std::fs::write(dir.join("trace.jsonl"), trace.repeat(500)).unwrap(); // 30,000 calls
    let log = dir.join("audit.jsonl");
    let mut child = bin()
        .args(["demo", "--trace"])
        .arg(dir.join("trace.jsonl"))
        .arg("--audit")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) < 512 << 10 {
        assert!(child.try_wait().unwrap().is_none(), "demo ended before the kill");
        assert!(start.elapsed() < Duration::from_secs(120), "no audit records written");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    let (code, stdout, stderr) = verify(&[&log]);
    let bytes = std::fs::read(&log).unwrap();
    let complete = bytes.iter().filter(|b| **b == b'\n').count();
    assert!(complete > 100, "{complete}");
    if bytes.last() == Some(&b'\n') {
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stdout.contains(&format!("{complete} record(s)")), "{stdout}");
    } else {
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(&format!(":{}: ", complete + 1)) && stderr.contains("truncated (crash?)"), "{stderr}");
        assert!(stderr.contains(&format!("{complete} record(s)")), "{stderr}");
    }
    // Reopening sets any torn tail aside and continues the chain.
    let out = bin().args(["demo", "--audit"]).arg(&log).output().unwrap();
    assert!(out.status.success(), "{}", no_crash(&out, "demo after kill"));
    let (code, stdout, stderr) = verify(&[&log]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("chain intact"), "{stdout}");
    // The log is tens of megabytes: leave nothing behind.
    let _ = std::fs::remove_dir_all(&dir);
}
