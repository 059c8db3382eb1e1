//! The audit log: chaining, tamper detection, redaction, rotation, drops,
//! reopening, write errors and crash safety (SIGKILL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentauthz::audit::{
    log_files, verify, verify_after, AuditLog, AuditRecord, BreakKind, OnFull, GENESIS_HASH, REDACTED,
};
use agentauthz::{Engine, FixedClock, Outcome, PolicySources, Request};
use serde_json::{json, Value};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-examples/coding-agent")
}

/// The example trace's requests with their timestamps.
fn trace() -> Vec<(Value, String)> {
    let text = std::fs::read_to_string(example_dir().join("trace.jsonl")).unwrap();
    // Tool calls only (the trace's `approve` lines are human steps).
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("\"approve\""))
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let obj = v.as_object_mut().unwrap();
            let ts = obj.remove("ts").unwrap().as_str().unwrap().to_string();
            obj.remove("tool");
            (v, ts)
        })
        .collect()
}

fn engine_with(log: AuditLog) -> Engine {
    Engine::builder(PolicySources::from_dir(example_dir()).unwrap())
        .clock(Arc::new(FixedClock::at("2026-11-25T10:05:00Z").unwrap()))
        .session_counters(agentauthz::SessionLimits::default())
        .audit(log)
        .build()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentauthz-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Decides the first `n` trace steps at their recorded times.
fn decide_trace(engine: &Engine, n: usize) -> Vec<agentauthz::Decision> {
    trace()
        .iter()
        .cycle()
        .take(n)
        .map(|(req, ts)| engine.authorize_at(&Request::from_json(req).unwrap(), agentauthz::parse_rfc3339(ts).unwrap()))
        .collect()
}

fn write_log(path: &Path, n: usize) -> Vec<String> {
    let engine = engine_with(AuditLog::builder().file(path).open().unwrap());
    decide_trace(&engine, n);
    engine.audit().unwrap().flush().unwrap();
    drop(engine);
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn every_decision_is_recorded_chained_and_hashed() {
    let dir = tmp("basic");
    let path = dir.join("audit.jsonl");
    let log = AuditLog::builder().file(&path).ring(4).open().unwrap();
    let engine = engine_with(log);
    let steps = trace();
    let decisions = decide_trace(&engine, steps.len());
    // Denials before policies run are recorded too.
    let bad = engine.authorize_json_str("{not json");
    let unknown = engine.authorize_json(
        &json!({"principal": "Agent::\"x\"", "action": "nope", "resource": "Repository::\"r\"", "context": {}}),
    );
    assert_eq!((bad.outcome, unknown.outcome), (Outcome::Deny, Outcome::Deny));
    engine.audit().unwrap().flush().unwrap();

    let lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), steps.len() + 2);
    let records: Vec<AuditRecord> = lines.iter().map(|l| AuditRecord::from_line(l).unwrap()).collect();
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        if i > 0 {
            assert_eq!(r.prev_hash, records[i - 1].hash);
        }
    }
    for ((r, d), (req, ts)) in records.iter().zip(&decisions).zip(&steps) {
        assert_eq!(r.outcome, Some(d.outcome));
        assert_eq!(r.ts, agentauthz::format_rfc3339_millis(agentauthz::parse_rfc3339(ts).unwrap()));
        assert_eq!(r.principal.as_deref(), req["principal"].as_str());
        assert_eq!(r.resource.as_deref(), req["resource"].as_str());
        assert_eq!(r.action.as_deref(), Some(format!("Action::\"{}\"", req["action"].as_str().unwrap()).as_str()));
        // The context as decided: the caller's, plus the engine's session counts.
        let mut recorded = r.context.clone().unwrap();
        // (Guard denials happen before counting: no counts there.)
        let session = recorded["session"].as_object_mut().unwrap();
        if let Some(actions) = session.remove("actions") {
            assert!(actions.as_u64().unwrap() >= 1);
            assert!(session.remove("repos_touched").unwrap().as_u64().is_some());
        }
        assert_eq!(recorded, req["context"]);
        assert_eq!(r.reasons.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), d.reason_ids());
        assert_eq!(r.ask_owners, d.ask_owners);
        assert_eq!(r.approval_id, d.approval_id);
        assert_eq!(r.policy_version.as_deref(), Some(&*d.policy_version));
    }
    // Owners and controls travel with the reasons.
    assert!(records.iter().flat_map(|r| &r.reasons).any(|p| p.owner.is_some() && p.control.is_some()));
    let ids: std::collections::HashSet<_> = records.iter().map(|r| r.decision_id.clone().unwrap()).collect();
    assert_eq!(ids.len(), records.len());
    let last = &records[records.len() - 1];
    assert!(last.principal.as_deref() == Some("Agent::\"x\"") && !last.errors.is_empty());
    assert!(records[records.len() - 2].principal.is_none() && !records[records.len() - 2].errors.is_empty());

    // The ring holds the last four lines, identical to the file's.
    assert_eq!(engine.audit().unwrap().recent(), lines[lines.len() - 4..].to_vec());
    let report = verify(&[&path]).unwrap();
    assert!(report.intact(), "{:?}", report.broken);
    assert_eq!(report.records, lines.len() as u64);
    assert_eq!(engine.audit().unwrap().stats().write_errors, 0);
}

/// Each record carries the version of the policy set that decided it, across
/// reloads (and back), and every reason, however many there are.
#[test]
fn records_carry_the_deciding_version_and_every_reason_across_reloads() {
    let dir = tmp("versions");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    for entry in std::fs::read_dir(example_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), policies.join(entry.file_name())).unwrap();
    }
    let path = dir.join("audit.jsonl");
    let engine = engine_with(AuditLog::builder().file(&path).open().unwrap());
    let mut decisions = decide_trace(&engine, 3);
    let extra = (1..=4)
        .map(|i| format!("@id(\"extra-{i}\")\npermit(principal, action == Action::\"read_repo\", resource);\n"))
        .collect::<String>();
    std::fs::write(policies.join("90-extra.cedar"), extra).unwrap();
    let v2 = engine.reload(&PolicySources::from_dir(&policies).unwrap()).unwrap();
    decisions.extend(decide_trace(&engine, 3));
    std::fs::remove_file(policies.join("90-extra.cedar")).unwrap();
    engine.reload(&PolicySources::from_dir(&policies).unwrap()).unwrap();
    decisions.extend(decide_trace(&engine, 3));
    engine.audit().unwrap().flush().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<AuditRecord> = text.lines().map(|l| AuditRecord::from_line(l).unwrap()).collect();
    assert_eq!(records.len(), decisions.len());
    let versions: Vec<&str> = decisions.iter().map(|d| d.policy_version.as_str()).collect();
    assert!(versions[0] != v2 && versions[3] == v2 && versions[6] == versions[0], "{versions:?}");
    // The first trace step is an allowed read: with the extra permits it has more than two reasons.
    assert!(decisions[3].reasons.len() > 2, "{:?}", decisions[3].reason_ids());
    for (r, d) in records.iter().zip(&decisions) {
        assert_eq!(r.policy_version.as_deref(), Some(d.policy_version.as_str()));
        assert_eq!(r.reasons.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), d.reason_ids());
        assert_eq!(r.outcome, Some(d.outcome));
    }
    assert!(verify(&[&path]).unwrap().intact());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Entity references are recorded exactly as Cedar displays them, whatever
/// the id holds, and however many entity types the requests name (the log
/// numbers types internally and starts over past a bound).
#[test]
fn recorded_references_match_cedar_display_for_any_id_and_any_number_of_types() {
    let dir = tmp("uids");
    let path = dir.join("audit.jsonl");
    let engine = engine_with(AuditLog::builder().file(&path).open().unwrap());
    let ids = [
        "plain-id_1.2/x@y",
        "quote\"inside",
        "back\\slash",
        "it's",
        "tab\there",
        "ünïcødé",
        "\u{301}accent",
        "nul\u{0}x",
        "",
    ];
    let mut expected = Vec::new();
    let mut decide = |ty: &str, id: &str| {
        let principal = agentauthz::entity_uid(ty, id).unwrap();
        let resource = agentauthz::entity_uid("Repository", id).unwrap();
        let request = Request::new(principal.clone(), "read_repo", resource.clone()).unwrap();
        engine.authorize(&request);
        expected.push((principal.to_string(), resource.to_string()));
    };
    for id in ids {
        decide("Agent", id);
        decide("Ns::Deep::Agent", id);
    }
    for n in 0..1100 {
        decide(&format!("T{n}"), "x");
    }
    engine.audit().unwrap().flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<AuditRecord> = text.lines().map(|l| AuditRecord::from_line(l).unwrap()).collect();
    assert_eq!(records.len(), expected.len());
    for (r, (principal, resource)) in records.iter().zip(&expected) {
        assert_eq!(r.principal.as_deref(), Some(principal.as_str()));
        assert_eq!(r.resource.as_deref(), Some(resource.as_str()));
        assert_eq!(r.action.as_deref(), Some("Action::\"read_repo\""));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tampered(lines: &[String], edit: impl FnOnce(&mut Vec<String>)) -> agentauthz::audit::VerifyReport {
    let mut lines = lines.to_vec();
    edit(&mut lines);
    let dir = tmp(&format!("tamper-{}", rand_suffix()));
    let path = dir.join("audit.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    verify(&[&path]).unwrap()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn verification_names_each_kind_of_tampering() {
    let dir = tmp("tamper-src");
    let lines = write_log(&dir.join("audit.jsonl"), 8);
    assert_eq!(lines.len(), 8);
    let brk = |r: agentauthz::audit::VerifyReport| r.broken.expect("tampering must be detected");

    let edited = brk(tampered(&lines, |l| {
        let (from, to) = if l[3].contains("\"outcome\":\"allow\"") { ("allow", "deny") } else { ("deny", "allow") };
        l[3] = l[3].replace(&format!("\"outcome\":\"{from}\""), &format!("\"outcome\":\"{to}\""));
    }));
    assert_eq!((edited.kind, edited.line, edited.seq), (BreakKind::Edited, 4, Some(3)));

    let deleted = brk(tampered(&lines, |l| {
        l.remove(4);
    }));
    assert_eq!((deleted.kind, deleted.line, deleted.seq), (BreakKind::Deleted, 5, Some(5)));

    // Deleting the head leaves a well-chained rest: it is still a deletion
    // (found by the 30-minute audit_verify fuzz campaign).
    let head = brk(tampered(&lines, |l| {
        l.drain(..2);
    }));
    assert_eq!((head.kind, head.line, head.seq), (BreakKind::Deleted, 1, Some(2)));

    let inserted = brk(tampered(&lines, |l| {
        let copy = l[1].clone();
        l.insert(5, copy);
    }));
    assert_eq!((inserted.kind, inserted.line, inserted.seq), (BreakKind::Inserted, 6, Some(1)));

    let reordered = brk(tampered(&lines, |l| l.swap(2, 3)));
    assert_eq!((reordered.kind, reordered.line, reordered.seq), (BreakKind::Reordered, 3, Some(3)));

    // A forged record with a valid hash of its own still breaks the chain.
    let forged = brk(tampered(&lines, |l| {
        let mut v: Value = serde_json::from_str(&l[6]).unwrap();
        v["prev_hash"] = json!("ab".repeat(32));
        v.as_object_mut().unwrap().remove("hash");
        let hash = sha256_hex(&agentauthz::audit::canonical_json(&v));
        v["hash"] = json!(hash);
        l[6] = agentauthz::audit::canonical_json(&v);
    }));
    assert_eq!((forged.kind, forged.line), (BreakKind::Inserted, 7));

    // A torn last line (crash mid-write) is reported as such, not as tampering.
    let dir = tmp("torn");
    let path = dir.join("audit.jsonl");
    let mut text = lines.join("\n") + "\n";
    text.push_str(&lines[0][..40]);
    std::fs::write(&path, &text).unwrap();
    let report = verify(&[&path]).unwrap();
    assert_eq!(report.records, 8);
    let torn = report.broken.unwrap();
    assert_eq!((torn.kind, torn.line), (BreakKind::Truncated, 9));
    assert_eq!(torn.kind.to_string(), "truncated (crash?)");

    // The untouched log verifies.
    assert!(tampered(&lines, |_| {}).intact());
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[test]
fn redacted_values_never_reach_any_sink() {
    const SCHEMA: &str = r#"
        entity Agent; entity Repo;
        action push appliesTo { principal: Agent, resource: Repo,
            context: { credential: { id: String, token: String }, note?: String, headers?: Set<{ auth: String }> } };
    "#;
    let dir = tmp("redact");
    let path = dir.join("audit.jsonl");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let log = AuditLog::builder()
        .file(&path)
        .ring(10)
        .callback(Box::new(move |line| {
            sink.lock().unwrap().push(line.to_string());
            Ok(())
        }))
        .redact("credential.token")
        .redact("headers.auth")
        .redact("note")
        .open()
        .unwrap();
    let engine = Engine::builder(PolicySources::from_strings(
        SCHEMA,
        r#"@id("p") @owner("platform") permit(principal, action, resource) when { context.credential.token == "tok-SECRET-1" };"#,
        None,
    ))
    .audit(log)
    .build()
    .unwrap();
    let ok = engine.authorize_json(&json!({"principal": "Agent::\"a\"", "action": "push", "resource": "Repo::\"r\"",
        "context": {"credential": {"id": "c1", "token": "tok-SECRET-1"}, "headers": [{"auth": "Bearer SECRET-2"}], "note": "SECRET-3"}}));
    // The decision saw the real token.
    assert_eq!(ok.outcome, Outcome::Allow);
    // Contexts of the wrong type: Cedar's error messages quote the values.
    for token in
        [json!({"__extn": {"fn": "ip", "arg": "SECRET-4"}}), json!({"__entity": {"type": "Agent", "id": "SECRET-5"}})]
    {
        let bad = engine
            .authorize_json(&json!({"principal": "Agent::\"a\"", "action": "push", "resource": "Repo::\"r\"",
            "context": {"credential": {"id": "c1", "token": token}}}));
        assert_eq!(bad.outcome, Outcome::Deny);
        assert!(bad.errors[0].message.contains("SECRET"), "{:?}", bad.errors);
    }
    engine.audit().unwrap().flush().unwrap();

    let raw = std::fs::read(&path).unwrap();
    let ring = engine.audit().unwrap().recent().join("\n");
    let callback = seen.lock().unwrap().join("\n");
    for (name, bytes) in [("file", raw.as_slice()), ("ring", ring.as_bytes()), ("callback", callback.as_bytes())] {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("SECRET"), "{name} holds a redacted value: {text}");
        assert_eq!(text.lines().count(), 3, "{name}");
    }
    let first = AuditRecord::from_line(std::str::from_utf8(&raw).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(
        first.context.unwrap(),
        json!({"credential": {"id": "c1", "token": REDACTED}, "headers": [{"auth": REDACTED}], "note": REDACTED})
    );
    assert!(verify(&[&path]).unwrap().intact());
}

#[test]
fn typed_contexts_are_recorded_in_cedar_json_and_replay_the_same() {
    use agentauthz::cedar_policy::{Context, EntityUid, Schema};
    let dir = tmp("typed");
    let path = dir.join("audit.jsonl");
    let engine = engine_with(AuditLog::builder().file(&path).open().unwrap());
    let schema_text = std::fs::read_to_string(example_dir().join("coding-agent.cedarschema")).unwrap();
    let (schema, _) = Schema::from_cedarschema_str(&schema_text).unwrap();
    let fresh = Engine::from_dir(example_dir()).unwrap();
    let mut outcomes = std::collections::BTreeSet::new();
    let steps = trace();
    for (req, ts) in &steps {
        let action: EntityUid = format!("Action::\"{}\"", req["action"].as_str().unwrap()).parse().unwrap();
        // Typed contexts carry their own session counts (the engine counts JSON ones).
        let mut json_req = req.clone();
        json_req["context"]["session"]["actions"] = json!(1);
        json_req["context"]["session"]["repos_touched"] = json!(1);
        let mut ctx = json_req["context"].clone();
        ctx["now"] = json!({"__extn": {"fn": "datetime", "arg": ts}});
        let typed: Vec<_> = Context::from_json_value(ctx, Some((&schema, &action))).unwrap().into_iter().collect();
        let request = Request::from_json(&json_req).unwrap().with_context_values(typed);
        let now = agentauthz::parse_rfc3339(ts).unwrap();
        let typed_decision = engine.authorize_at(&request, now);
        // Same outcome as the JSON form of the request.
        assert_eq!(typed_decision.outcome, fresh.authorize_at(&Request::from_json(&json_req).unwrap(), now).outcome);
        outcomes.insert(typed_decision.outcome.as_str());
    }
    assert!(outcomes.len() >= 2, "{outcomes:?}");
    engine.audit().unwrap().flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<AuditRecord> = text.lines().map(|l| AuditRecord::from_line(l).unwrap()).collect();
    assert_eq!(records.len(), steps.len());
    for r in &records {
        let ctx = r.context.as_ref().unwrap();
        // Datetimes are recorded in Cedar's JSON value form.
        assert_eq!(ctx["credential"]["expires_at"]["__extn"]["fn"], "datetime", "{ctx}");
        let replayed = Request::from_json(&json!({
            "principal": r.principal, "action": r.action, "resource": r.resource, "context": ctx
        }))
        .unwrap();
        let again = fresh.authorize_at(&replayed, agentauthz::parse_rfc3339(&r.ts).unwrap());
        assert_eq!(Some(again.outcome), r.outcome, "replay of seq {}", r.seq);
    }
    assert!(verify(&[&path]).unwrap().intact());
}

#[test]
fn rotation_keeps_the_chain_across_files() {
    let dir = tmp("rotate");
    let path = dir.join("audit.jsonl");
    let engine = engine_with(AuditLog::builder().file(&path).rotate_at_bytes(4000).open().unwrap());
    decide_trace(&engine, 40);
    engine.audit().unwrap().flush().unwrap();
    drop(engine);
    let files = log_files(&path).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    for f in &files[..files.len() - 1] {
        let size = std::fs::metadata(f).unwrap().len();
        assert!((4000..8000).contains(&size), "{} is {size} bytes", f.display());
    }
    let report = verify(&files).unwrap();
    assert!(report.intact(), "{:?}", report.broken);
    assert_eq!((report.records, report.last_seq), (40, Some(39)));
    // The first record of a later file chains to the last of the one before.
    let last_of_first = std::fs::read_to_string(&files[0]).unwrap().lines().last().unwrap().to_string();
    let first_of_second = std::fs::read_to_string(&files[1]).unwrap().lines().next().unwrap().to_string();
    let (a, b) = (AuditRecord::from_line(&last_of_first).unwrap(), AuditRecord::from_line(&first_of_second).unwrap());
    assert_eq!((b.seq, &b.prev_hash), (a.seq + 1, &a.hash));
    // A later file alone is a log without its head (a deletion), unless it is
    // checked as a segment from a trusted hash: the last hash of the file before.
    let alone = verify(&files[1..]).unwrap().broken.unwrap();
    assert_eq!((alone.kind, alone.seq), (BreakKind::Deleted, Some(b.seq)));
    let segment = verify_after(&files[1..], &a.hash).unwrap();
    assert!(segment.intact() && segment.first_seq == Some(b.seq), "{:?}", segment.broken);
    let wrong_anchor = verify_after(&files[1..], &b.hash).unwrap().broken.unwrap();
    assert_eq!(wrong_anchor.kind, BreakKind::Inserted);
    // A missing middle file is a deletion.
    let without_middle = [files[0].clone(), files[2].clone()];
    assert_eq!(verify(&without_middle).unwrap().broken.unwrap().kind, BreakKind::Deleted);
    // Reopening continues after the newest record.
    let engine = engine_with(AuditLog::builder().file(&path).rotate_at_bytes(4000).open().unwrap());
    decide_trace(&engine, 3);
    drop(engine);
    let report = verify(&log_files(&path).unwrap()).unwrap();
    assert!(report.intact(), "{:?}", report.broken);
    assert_eq!(report.last_seq, Some(42));
}

#[test]
fn drop_mode_counts_losses_and_writes_a_gap_record() {
    let dir = tmp("drop");
    let path = dir.join("audit.jsonl");
    let log = AuditLog::builder()
        .file(&path)
        .capacity(2)
        // A slow sink: the writer falls behind at once. (Drop is the default.)
        .callback(Box::new(|_| {
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        }))
        .open()
        .unwrap();
    let engine = engine_with(log);
    // Decision i is made at t0 + i seconds, so each record says which it was.
    let t0 = agentauthz::parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
    let n = 200u64;
    for ((req, _), i) in trace().iter().cycle().zip(0..n) {
        engine.authorize_at(&Request::from_json(req).unwrap(), t0 + Duration::from_secs(i));
    }
    let log = engine.audit().unwrap();
    log.flush().unwrap();
    let stats = log.stats();
    assert!(stats.dropped > 0, "{stats:?}");
    let report = verify(&[&path]).unwrap();
    assert!(report.intact(), "{:?}", report.broken);
    assert!(report.gaps >= 1);
    assert_eq!(report.lost, stats.dropped);
    assert_eq!(report.records - report.gaps + report.lost, n);
    // Each gap record sits exactly where its decisions were lost: between two
    // recorded decisions, the gaps count exactly the decisions in between.
    let text = std::fs::read_to_string(&path).unwrap();
    let (mut next, mut pending_lost) = (0u64, 0u64);
    for r in text.lines().map(|l| AuditRecord::from_line(l).unwrap()) {
        if let Some(gap) = r.gap {
            assert!(gap.lost > 0 && r.outcome.is_none());
            pending_lost += gap.lost;
            continue;
        }
        let at = agentauthz::parse_rfc3339(&r.ts).unwrap();
        let index = at.duration_since(t0).unwrap().as_secs();
        assert_eq!(index, next + pending_lost, "record seq {} (decision {index})", r.seq);
        next = index + 1;
        pending_lost = 0;
    }
    assert_eq!(next + pending_lost, n, "trailing drops are reported too");
}

#[test]
fn block_mode_loses_nothing_with_a_tiny_queue() {
    let dir = tmp("block");
    let path = dir.join("audit.jsonl");
    let log = AuditLog::builder()
        .file(&path)
        .capacity(1)
        .on_full(OnFull::Block)
        .callback(Box::new(|_| {
            std::thread::sleep(Duration::from_micros(200));
            Ok(())
        }))
        .open()
        .unwrap();
    let engine = Arc::new(engine_with(log));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let e = Arc::clone(&engine);
            std::thread::spawn(move || decide_trace(&e, 25).len())
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    engine.audit().unwrap().flush().unwrap();
    assert_eq!(engine.audit().unwrap().stats().dropped, 0);
    let report = verify(&[&path]).unwrap();
    assert!(report.intact());
    assert_eq!((report.records, report.gaps), (total as u64, 0));
}

#[test]
fn reopening_continues_the_chain_and_sets_a_torn_tail_aside() {
    let dir = tmp("reopen");
    let path = dir.join("audit.jsonl");
    write_log(&path, 5);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"seq\":5,\"ts\":\"2026-");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(verify(&[&path]).unwrap().broken.unwrap().kind, BreakKind::Truncated);

    write_log(&path, 5);
    let report = verify(&[&path]).unwrap();
    assert!(report.intact(), "{:?}", report.broken);
    assert_eq!((report.records, report.last_seq), (10, Some(9)));
    let torn: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".torn-"))
        .collect();
    assert_eq!(torn.len(), 1);
    assert_eq!(std::fs::read_to_string(&torn[0]).unwrap(), "{\"seq\":5,\"ts\":\"2026-");

    // A log whose last record was edited is not continued.
    let mut lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(str::to_string).collect();
    let last = lines.len() - 1;
    lines[last] = lines[last].replace("\"seq\":9", "\"seq\":99");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = AuditLog::builder().file(&path).open().unwrap_err();
    assert!(err.to_string().contains("does not match its hash"), "{err}");
}

#[test]
fn a_failing_callback_is_counted_and_the_other_sinks_get_everything() {
    let log = AuditLog::builder()
        .ring(100)
        .callback(Box::new(|line| if line.contains("\"seq\":2,") { Err("sink down".into()) } else { Ok(()) }))
        .open()
        .unwrap();
    let engine = engine_with(log);
    assert_eq!(decide_trace(&engine, 5).len(), 5);
    let log = engine.audit().unwrap();
    log.flush().unwrap();
    let stats = log.stats();
    assert_eq!((stats.records, stats.write_errors), (5, 1), "{stats:?}");
    assert_eq!(stats.last_error.as_deref(), Some("audit callback failed: sink down"));
    let seqs: Vec<u64> = log.recent().iter().map(|l| AuditRecord::from_line(l).unwrap().seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
}

#[test]
fn write_errors_are_counted_and_decisions_go_on() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let engine = engine_with(AuditLog::builder().file(full).open().unwrap());
    let decisions = decide_trace(&engine, 5);
    assert_eq!(decisions.len(), 5);
    let log = engine.audit().unwrap();
    let err = log.flush().unwrap_err();
    assert!(err.to_string().contains("/dev/full"), "{err}");
    let stats = log.stats();
    assert!(stats.write_errors >= 1 && stats.records == 5, "{stats:?}");
    assert!(stats.last_error.unwrap().contains("/dev/full"));

    let missing = AuditLog::builder().file("/nonexistent-dir/x/audit.jsonl").open();
    assert!(missing.is_err());
}

/// The child side of the SIGKILL test: decides forever, printing each
/// acknowledged (flushed) seq. Does nothing unless run by that test.
#[test]
fn sigkill_child() {
    let Ok(path) = std::env::var("AGENTAUTHZ_AUDIT_CHILD") else { return };
    let engine = engine_with(AuditLog::builder().file(&path).rotate_at_bytes(64 << 10).open().unwrap());
    let log = engine.audit().unwrap();
    loop {
        decide_trace(&engine, 37);
        log.flush().unwrap();
        println!("acked {}", log.stats().next_seq - 1);
        // Keep writing without flushing: the kill lands mid-write.
        decide_trace(&engine, 11);
    }
}

#[test]
fn a_killed_writer_leaves_every_acknowledged_decision_verifiable() {
    let dir = tmp("sigkill");
    let path = dir.join("audit.jsonl");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigkill_child", "--nocapture", "--test-threads", "1"])
        .env("AGENTAUTHZ_AUDIT_CHILD", &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = None;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = 0;
    while seen < 12 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(seq) = line.strip_prefix("acked ") {
            acked = Some(seq.trim().parse::<u64>().unwrap());
            seen += 1;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let acked = acked.unwrap();
    let files = log_files(&path).unwrap();
    let report = verify(&files).unwrap();
    if let Some(b) = &report.broken {
        // Only a torn last line is acceptable after a crash.
        assert_eq!(b.kind, BreakKind::Truncated, "{b}");
        assert_eq!(b.file, *files.last().unwrap());
    }
    assert_eq!(report.first_seq, Some(0));
    assert!(report.last_seq.unwrap() >= acked, "verified up to {:?}, acknowledged {acked}", report.last_seq);
    // Reopening after the crash continues the chain.
    let engine = engine_with(AuditLog::builder().file(&path).rotate_at_bytes(64 << 10).open().unwrap());
    decide_trace(&engine, 2);
    drop(engine);
    let report = verify(&log_files(&path).unwrap()).unwrap();
    assert!(report.intact(), "{:?}", report.broken);
}
