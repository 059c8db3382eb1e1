//! `agentauthz demo --audit`, `audit verify` and `replay`, driven as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const DIR: &str = "policies-examples/coding-agent";

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

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agentauthz-cli-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the demo with an audit log and returns the log's path.
fn demo_log(name: &str) -> PathBuf {
    let log = tempdir(name).join("audit.jsonl");
    let out = bin().args(["demo", "--audit"]).arg(&log).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Audit: 55 decision(s) written"), "{stdout}");
    log
}

fn verify(files: &[&Path]) -> (Option<i32>, String, String) {
    let out = bin().args(["audit", "verify"]).args(files).output().unwrap();
    let (o, e) = text(&out);
    (out.status.code(), o, e)
}

#[test]
fn demo_writes_a_log_that_verifies_and_tampering_is_named() {
    let log = demo_log("verify");
    let (code, out, err) = verify(&[&log]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ok: 55 record(s), seq 0..=54") && out.contains("chain intact"), "{out}");

    let lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    // Turn a denial into an allow on line 10 (or the reverse): edited.
    let mut edited = lines.clone();
    let target = edited.iter().position(|l| l.contains("\"outcome\":\"deny\"")).unwrap();
    edited[target] = edited[target].replace("\"outcome\":\"deny\"", "\"outcome\":\"allow\"");
    let bad = log.with_file_name("edited.jsonl");
    std::fs::write(&bad, edited.join("\n") + "\n").unwrap();
    let (code, _, err) = verify(&[&bad]);
    assert_eq!(code, Some(1));
    let expected = format!("{}:{}: seq {}: edited", bad.display(), target + 1, target);
    assert!(err.contains(&expected), "{err}\nexpected: {expected}");

    // Drop a record: deleted.
    let mut deleted = lines.clone();
    deleted.remove(20);
    std::fs::write(&bad, deleted.join("\n") + "\n").unwrap();
    let (code, _, err) = verify(&[&bad]);
    assert_eq!(code, Some(1));
    assert!(err.contains(":21: seq 21: deleted"), "{err}");

    // Cut the last line short, as a crash would: truncated, not tampering.
    let mut torn = lines.join("\n") + "\n";
    torn.truncate(torn.len() - 30);
    std::fs::write(&bad, torn).unwrap();
    let (code, _, err) = verify(&[&bad]);
    assert_eq!(code, Some(1));
    assert!(err.contains(":55: truncated (crash?)"), "{err}");
    assert!(err.contains("54 record(s)"), "{err}");
}

fn replay_json(log: &Path, dir: &Path) -> Value {
    let out = bin().args(["replay", "--json", "--audit"]).arg(log).arg("--dir").arg(dir).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn replay_reports_exactly_what_a_policy_change_would_change() {
    let log = demo_log("replay");
    // The same policies: nothing changes.
    let same = replay_json(&log, &repo().join(DIR));
    assert_eq!((same["replayed"].as_u64(), same["changed"].as_u64()), (Some(55), Some(0)), "{same:#}");
    assert_eq!(same["chain_intact"], true);

    // Tighten the blast radius: ask once a session has touched more than 3
    // repositories (was 5) for anything but reads.
    let new_dir = tempdir("replay-policies").join("coding-agent");
    copy_dir(&repo().join(DIR), &new_dir);
    let session = new_dir.join("50-session.cedar");
    let text = std::fs::read_to_string(&session).unwrap();
    assert!(text.contains("repos_touched > 5"));
    std::fs::write(&session, text.replace("repos_touched > 5", "repos_touched > 3")).unwrap();

    let report = replay_json(&log, &new_dir);
    // In the trace, ci-bot's dependency bump touches its 4th and 5th
    // repositories (acme/worker, acme/search) with a push and a pull request
    // each: those four steps (trace lines 34, 35, 37, 38 = seq 33, 34, 36, 37)
    // were allowed and now ask security. Reads of those repos stay allowed.
    assert_eq!(report["changed"], 4, "{report:#}");
    let transitions: Vec<(String, String, u64)> = report["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].as_str().unwrap().into(), t["to"].as_str().unwrap().into(), t["count"].as_u64().unwrap()))
        .collect();
    let count = |from: &str, to: &str| transitions.iter().find(|t| t.0 == from && t.1 == to).map_or(0, |t| t.2);
    assert_eq!(count("allow", "ask"), 4);
    // 38 allows in the log, 5 of them granted by a human approval of an ask
    // (compared as that ask).
    assert_eq!(report["approved_asks"], 5, "{report:#}");
    assert_eq!(count("allow", "allow"), 29);
    assert_eq!((count("ask", "ask"), count("deny", "deny")), (11, 11));
    assert_eq!(transitions.len(), 4, "{transitions:?}");

    let groups = report["by_policy"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0]["policy"], "blast-radius-repos");
    assert_eq!(groups[0]["owner"], "security");
    let changes: Vec<(u64, String, String)> = groups[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!((c["old"].as_str(), c["new"].as_str()), (Some("allow"), Some("ask")));
            (c["seq"].as_u64().unwrap(), c["action"].as_str().unwrap().into(), c["resource"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(
        changes,
        [
            (33, "Action::\"push_commit\"".into(), "Branch::\"acme/worker/bump-deps\"".into()),
            (34, "Action::\"open_pr\"".into(), "Repository::\"acme/worker\"".into()),
            (36, "Action::\"push_commit\"".into(), "Branch::\"acme/search/bump-deps\"".into()),
            (37, "Action::\"open_pr\"".into(), "Repository::\"acme/search\"".into()),
        ]
    );

    // The text report says the same for a human.
    let out = bin().args(["replay", "--audit"]).arg(&log).arg("--dir").arg(&new_dir).output().unwrap();
    let (stdout, _) = self::text(&out);
    assert!(stdout.contains("allow    ask           4  *"), "{stdout}");
    assert!(stdout.contains("blast-radius-repos (owner security): 4 change(s)"), "{stdout}");
}

#[test]
fn owners_and_controls_report_from_annotations() {
    let ok = bin().args(["owners", "--strict", "--dir", DIR]).output().unwrap();
    let (out, err) = text(&ok);
    assert!(ok.status.success(), "{err}");
    assert!(out.contains("release-managers (3 policies)\n  permit-deploy-tier3\n"), "{out}");
    assert!(err.is_empty(), "{err}");

    // Drop the owner of one policy and name an unknown control.
    let dir = tempdir("owners").join("coding-agent");
    copy_dir(&repo().join(DIR), &dir);
    let file = dir.join("50-session.cedar");
    let policy = std::fs::read_to_string(&file).unwrap();
    let edited = policy
        .replacen("@owner(\"security\")\n", "", 1)
        .replace("OWASP-ASI08,ATLAS-AML.M0029,NIST-MANAGE", "OWASP-ASI08,OWASP-ASI99");
    assert_ne!(edited, policy);
    std::fs::write(&file, edited).unwrap();

    let validate = bin().args(["validate", "--dir"]).arg(&dir).output().unwrap();
    let (_, err) = text(&validate);
    assert!(validate.status.success(), "{err}");
    assert!(
        err.contains("warning: policy `blast-radius-repos` (") && err.contains("50-session.cedar) has no @owner"),
        "{err}"
    );

    let lenient = bin().args(["owners", "--dir"]).arg(&dir).output().unwrap();
    let (_, err) = text(&lenient);
    assert!(lenient.status.success());
    assert!(err.contains("warning: policy `blast-radius-repos`") && err.contains("has no @owner"), "{err}");
    let strict = bin().args(["owners", "--strict", "--dir"]).arg(&dir).output().unwrap();
    let (_, err) = text(&strict);
    assert_eq!(strict.status.code(), Some(1));
    assert!(err.contains("error: policy `blast-radius-repos`"), "{err}");

    let controls = bin().args(["controls", "--dir"]).arg(&dir).output().unwrap();
    let (out, _) = text(&controls);
    assert!(controls.status.success());
    assert!(out.contains("OWASP Top 10 for Agentic Applications (6/10 addressed)"), "{out}");
    let line = |id: &str| out.lines().find(|l| l.contains(id)).unwrap_or_default().to_string();
    assert!(line("OWASP-ASI01").contains("Agent Goal Hijack") && line("OWASP-ASI01").contains("not addressed"));
    assert!(line("OWASP-ASI08").contains("blast-radius-repos (no owner)"), "{}", line("OWASP-ASI08"));
    assert!(line("OWASP-ASI05").contains("dangerous-commands (security)"));
    assert!(out.contains("Unknown control ids:\n  OWASP-ASI99: in blast-radius-repos"), "{out}");
}

/// Shadow rollout: the shadow report's prediction on recorded traffic is
/// exactly what replay finds once the policy is enforced.
#[test]
fn enforcing_a_shadow_policy_changes_exactly_what_the_shadow_report_predicted() {
    let base = tempdir("shadow-policies");
    let shadow_dir = base.join("shadow");
    copy_dir(&repo().join(DIR), &shadow_dir);
    let policy = r#"@id("shadow-no-prs-after-10-20") @mode("shadow") @owner("eng-productivity")
forbid (principal, action == Action::"open_pr", resource)
when { context.now > datetime("2026-11-25T10:20:00Z") };
"#;
    std::fs::write(shadow_dir.join("60-shadow.cedar"), policy).unwrap();
    let log = base.join("audit.jsonl");
    let out = bin().args(["demo", "--dir"]).arg(&shadow_dir).arg("--audit").arg(&log).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // Shadow mode changes nothing that is enforced.
    assert!(stdout.contains("Summary: 55 decisions: 38 allow, 11 deny, 6 ask, 5 approvals"), "{stdout}");

    let out = bin().args(["shadow-report", "--json", "--audit"]).arg(&log).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{report:#}");
    assert_eq!(policies[0]["policy"], "shadow-no-prs-after-10-20");
    let predicted: Vec<u64> =
        policies[0]["changed_seqs"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    // The PRs opened on acme/billing, auth, worker, search and sdk (twice: ask, then approved).
    assert_eq!(predicted.len(), 6, "{report:#}");
    assert_eq!(report["would_change"], 6);

    let text_out = bin().args(["shadow-report", "--audit"]).arg(&log).output().unwrap();
    let (human, _) = text(&text_out);
    assert!(human.contains("shadow-no-prs-after-10-20") && human.contains("would change 6"), "{human}");

    // Enforce it and replay the same traffic.
    let enforce_dir = base.join("enforce");
    copy_dir(&shadow_dir, &enforce_dir);
    std::fs::write(enforce_dir.join("60-shadow.cedar"), policy.replace("@mode(\"shadow\") ", "")).unwrap();
    let replay = replay_json(&log, &enforce_dir);
    let mut changed: Vec<u64> =
        replay["changes"].as_array().unwrap().iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    changed.sort_unstable();
    assert_eq!(changed, predicted, "{replay:#}");
}
