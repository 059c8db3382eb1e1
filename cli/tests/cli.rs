//! The `agentauthz` binary driven as a user would: arguments in, text and exit codes out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentauthz"));
    c.current_dir(repo());
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

const DIR: &str = "policies-examples/coding-agent";

#[test]
fn validate_accepts_the_examples_and_rejects_a_typo_with_its_location() {
    let ok = bin().args(["validate", "--dir", DIR]).output().unwrap();
    assert!(ok.status.success(), "{:?}", text(&ok));

    let tmp = tempdir("validate");
    let policies = tmp.join("bad.cedar");
    std::fs::write(&policies, "@id(\"fine\")\npermit(principal, action, resource);\n@id(\"typo\")\npermit(principal, action, resource) when { principal.trust_teir > 1 };\n").unwrap();
    let out = bin()
        .args(["validate", "--schema", &format!("{DIR}/coding-agent.cedarschema"), "--policies"])
        .arg(&policies)
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.cedar:4"), "{err}");
    assert!(err.contains("typo"), "{err}");
}

#[test]
fn authorize_prints_one_json_line_per_request_and_survives_bad_lines() {
    let tmp = tempdir("authorize");
    let reqs = tmp.join("reqs.jsonl");
    let ctx = r#"{"credential": {"id": "c", "issued_at": "2026-01-01T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z", "scopes": ["repo:read"]}, "session": {"id": "s", "actions": 1, "repos_touched": 1}}"#;
    std::fs::write(
        &reqs,
        format!(
            "{{\"principal\": \"Agent::\\\"ci-bot\\\"\", \"action\": \"read_repo\", \"resource\": \"Repository::\\\"acme/api\\\"\", \"context\": {ctx}}}\nthis is not json\n\n{{\"principal\": \"Agent::\\\"ci-bot\\\"\", \"action\": \"teleport\", \"resource\": \"Repository::\\\"acme/api\\\"\"}}\n"
        ),
    )
    .unwrap();
    let out = bin().args(["authorize", "--dir", DIR, "--requests"]).arg(&reqs).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    // The credential's lifetime exceeds the example's 1 h maximum: denied by policy.
    assert_eq!(lines[0]["outcome"], "deny");
    assert_eq!(lines[0]["reasons"], serde_json::json!(["credential-lifetime-max-1h"]));
    assert_eq!(lines[1]["outcome"], "deny");
    assert!(lines[1]["errors"][0]["message"].as_str().unwrap().contains("malformed"));
    assert_eq!(lines[2]["outcome"], "deny");
    assert!(lines[2]["errors"][0]["message"].as_str().unwrap().contains("teleport"));
}

#[test]
fn test_command_reports_counts_and_fails_on_a_wrong_expectation() {
    let out = bin().args(["test", DIR]).output().unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success(), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with("passed, 0 failed"), "{last}");

    let tmp = tempdir("cases");
    let cases = tmp.join("cases.toml");
    std::fs::write(&cases, "[[case]]\nname = \"suspended agent\"\nprincipal = 'Agent::\"rogue-bot\"'\naction = \"read_repo\"\nresource = 'Repository::\"acme/api\"'\noutcome = \"allow\"\n").unwrap();
    let out = bin().args(["test", DIR, "--cases"]).arg(&cases).output().unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("FAIL suspended agent"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn demo_prints_a_table_and_a_summary() {
    let out = bin().arg("demo").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("deciding policy"));
    assert!(stdout.contains("DENY") && stdout.contains("ASK") && stdout.contains("allow"));
    assert!(stdout.contains("Summary:"), "{stdout}");
}

#[test]
fn demo_counts_sessions_in_the_engine_and_walks_ask_approve_allow() {
    let out = bin().arg("demo").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Summary: 55 decisions: 38 allow, 11 deny, 6 ask, 5 approvals"), "{stdout}");
    // The trace carries no session counts: the engine counted six distinct
    // repositories by the acme/sdk push and asked security.
    let blast = stdout.lines().find(|l| l.starts_with("10:33:40")).unwrap();
    assert!(blast.contains("ASK") && blast.contains("blast-radius-repos") && blast.contains("ask security"), "{blast}");
    // Every human approval is followed by the re-submitted call being allowed by it.
    let lines: Vec<&str> = stdout.lines().collect();
    let approvals: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains("human       approved by")).collect();
    assert_eq!(approvals.len(), 5, "{stdout}");
    for i in approvals {
        let id = lines[i].split("(apr-").nth(1).unwrap().split(',').next().unwrap();
        let next = lines[i + 1];
        assert!(next.contains("allow") && next.contains("approval:apr-"), "{next}");
        assert!(next.contains(&id[..8]), "approval {id} not used by: {next}");
    }
    // The approved production deploy does not carry over past the change window.
    let late = stdout.lines().find(|l| l.starts_with("17:02:00")).unwrap();
    assert!(late.contains("DENY"), "{late}");
}

#[test]
fn missing_inputs_give_a_clear_error_and_exit_2() {
    let out = bin().args(["authorize", "--dir", "no/such/dir", "--request", "x.json"]).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("no/such/dir"), "{stderr}");
}

#[test]
fn revoke_and_restore_drive_the_kill_switch_through_a_file() {
    let tmp = tempdir("revoke");
    let file = tmp.join("revocations.json");
    let req = tmp.join("req.json");
    let now = std::time::SystemTime::now();
    let at = |secs: i64| {
        let t = if secs >= 0 {
            now + std::time::Duration::from_secs(secs as u64)
        } else {
            now - std::time::Duration::from_secs((-secs) as u64)
        };
        agentauthz::format_rfc3339_millis(t)
    };
    let request = serde_json::json!({"principal": "Agent::\"ci-bot\"", "action": "read_repo", "resource": "Repository::\"acme/api\"",
        "context": {"credential": {"id": "c", "issued_at": at(-60), "expires_at": at(600), "scopes": ["repo:read"]},
                    "session": {"id": "s", "actions": 1, "repos_touched": 1}}});
    std::fs::write(&req, request.to_string()).unwrap();
    let decide = || {
        let out = bin()
            .args(["authorize", "--dir", DIR, "--request"])
            .arg(&req)
            .arg("--revocations")
            .arg(&file)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let revoke = bin()
        .args(["revoke", "--agent", "Agent::\"ci-bot\"", "--reason", "INC-1", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(revoke.status.success(), "{:?}", text(&revoke));
    let d = decide();
    assert_eq!(d["outcome"], "deny");
    assert_eq!(d["reasons"], serde_json::json!(["guard:revoked"]));
    let restore = bin().args(["restore", "--agent", "Agent::\"ci-bot\"", "--file"]).arg(&file).output().unwrap();
    assert!(restore.status.success());
    assert_eq!(decide()["outcome"], "allow");
    let again = bin().args(["restore", "--agent", "Agent::\"ci-bot\"", "--file"]).arg(&file).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "nothing left to restore");
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agentauthz-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
