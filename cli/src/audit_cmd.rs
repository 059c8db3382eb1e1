//! `agentauthz audit verify` and `agentauthz replay`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentauthz::audit::{verify, verify_after, AuditRecord};
use agentauthz::{parse_rfc3339, Engine, Outcome, Request};
use serde_json::{json, Value};

/// Appends a line to a report; writing to a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

fn print(text: &str) {
    // A closed pipe is not worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
}

/// Checks the chain across `files` (oldest first; from the log's first record,
/// or chained to `after`): exit 0 if intact, 1 if broken.
pub fn verify_cmd(files: &[PathBuf], after: Option<&str>) -> Result<ExitCode, String> {
    let report = match after {
        Some(hash) => verify_after(files, hash),
        None => verify(files),
    }
    .map_err(|e| e.to_string())?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!(", seq {a}..={b}"),
        _ => String::new(),
    };
    if report.gaps > 0 {
        eprintln!(
            "warning: {} gap record(s): {} decision(s) were dropped by the writer (queue full, drop mode)",
            report.gaps, report.lost
        );
    }
    match &report.broken {
        None => {
            let last = report.last_hash.as_deref().map(|h| format!("; last hash {h}")).unwrap_or_default();
            print(&format!("ok: {} record(s){range} in {}: chain intact{last}\n", report.records, names.join(", ")));
            Ok(ExitCode::SUCCESS)
        }
        Some(b) => {
            eprintln!("BROKEN: {b}");
            eprintln!("{} record(s){range} verified before the break", report.records);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One recorded decision and what the new policies decide.
struct Change {
    record: AuditRecord,
    new_outcome: Outcome,
    new_reasons: Vec<String>,
    responsible: Vec<String>,
}

/// Re-decides every recorded request with the policies in `dir`, at the recorded time.
pub fn replay_cmd(files: &[PathBuf], dir: &Path, as_json: bool) -> Result<ExitCode, String> {
    let engine = Engine::from_dir(dir).map_err(|e| e.to_string())?;
    let report = verify(files).map_err(|e| e.to_string())?;
    if let Some(b) = &report.broken {
        eprintln!("warning: the audit chain is broken ({b}); replaying the records anyway");
    }
    let mut transitions: BTreeMap<(&'static str, &'static str), usize> = BTreeMap::new();
    let mut changes: Vec<Change> = Vec::new();
    let mut reasons_changed = 0usize;
    let mut replayed = 0usize;
    let mut approved = 0usize;
    let mut skipped = 0usize;
    let mut old_versions: BTreeMap<String, usize> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(record) = AuditRecord::from_line(line) else {
                skipped += 1;
                continue;
            };
            let (Some(mut old), Some(now)) = (record.outcome, parse_rfc3339(&record.ts)) else {
                skipped += 1; // gap records and records without a decision
                continue;
            };
            // An allow granted by a human approval was an ask of the policies:
            // replay compares what the policies decide, not the approval.
            if !record.reasons.is_empty() && record.reasons.iter().all(|r| r.id.starts_with("approval:")) {
                old = Outcome::Ask;
                approved += 1;
            }
            replayed += 1;
            if let Some(v) = &record.policy_version {
                *old_versions.entry(v.clone()).or_default() += 1;
            }
            let request = json!({
                "principal": record.principal, "action": record.action,
                "resource": record.resource, "context": record.context,
            });
            let decision = match Request::from_json(&request) {
                Ok(r) => engine.authorize_at(&r, now),
                Err(_) => engine.authorize_json(&request),
            };
            *transitions.entry((old.as_str(), decision.outcome.as_str())).or_default() += 1;
            let old_ids: Vec<String> = record.reasons.iter().map(|r| r.id.clone()).collect();
            let new_ids: Vec<String> = decision.reason_ids().iter().map(|s| s.to_string()).collect();
            if old == decision.outcome {
                if old_ids != new_ids {
                    reasons_changed += 1;
                }
                continue;
            }
            // Responsible: the policies that decide differently now. Forbids
            // that started or stopped applying explain a change best; a permit
            // that merely stopped being the reason alongside them does not.
            let old_forbids: Vec<&str> =
                record.reasons.iter().filter(|r| r.effect == "forbid").map(|r| r.id.as_str()).collect();
            let new_forbids: Vec<&str> = decision
                .reasons
                .iter()
                .filter(|r| r.effect == agentauthz::cedar_policy::Effect::Forbid)
                .map(|r| r.id.as_str())
                .collect();
            let differing = |a: &[String], b: &[String]| -> Vec<String> {
                a.iter().filter(|id| !b.contains(id)).chain(b.iter().filter(|id| !a.contains(id))).cloned().collect()
            };
            let all = differing(&old_ids, &new_ids);
            let forbids: Vec<String> = all
                .iter()
                .filter(|id| old_forbids.contains(&id.as_str()) || new_forbids.contains(&id.as_str()))
                .cloned()
                .collect();
            let mut responsible = if forbids.is_empty() { all } else { forbids };
            if responsible.is_empty() {
                responsible = new_ids.clone();
            }
            if responsible.is_empty() {
                responsible.push("(no permit applies)".into());
            }
            responsible.sort();
            responsible.dedup();
            changes.push(Change { record, new_outcome: decision.outcome, new_reasons: new_ids, responsible });
        }
    }
    let mut by_policy: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in &changes {
        for p in &c.responsible {
            by_policy.entry(p.as_str()).or_default().push(c);
        }
    }
    let owners: BTreeMap<String, Option<String>> =
        engine.policies().iter().map(|p| (p.id.clone(), p.owner().map(str::to_string))).collect();
    let old_owner =
        |id: &str| changes.iter().flat_map(|c| &c.record.reasons).find(|r| r.id == id).and_then(|r| r.owner.clone());
    let owner_of = |id: &str| owners.get(id).cloned().flatten().or_else(|| old_owner(id));

    if as_json {
        let change_json = |c: &Change| {
            json!({
                "seq": c.record.seq,
                "decision_id": c.record.decision_id,
                "ts": c.record.ts,
                "principal": c.record.principal,
                "action": c.record.action,
                "resource": c.record.resource,
                "old": c.record.outcome,
                "new": c.new_outcome,
                "old_reasons": c.record.reasons.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                "new_reasons": c.new_reasons,
                "responsible": c.responsible,
            })
        };
        let out = json!({
            "policy_dir": dir.display().to_string(),
            "policy_version": engine.policy_version(),
            "recorded_policy_versions": old_versions,
            "chain_intact": report.intact(),
            "replayed": replayed,
            "approved_asks": approved,
            "skipped": skipped,
            "changed": changes.len(),
            "reasons_changed_same_outcome": reasons_changed,
            "transitions": transitions.iter().map(|((a, b), n)| json!({"from": a, "to": b, "count": n})).collect::<Vec<_>>(),
            "by_policy": by_policy.iter().map(|(p, cs)| json!({
                "policy": p, "owner": owner_of(p), "count": cs.len(), "changes": cs.iter().map(|c| change_json(c)).collect::<Vec<Value>>(),
            })).collect::<Vec<_>>(),
            "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
        });
        print(&format!("{out:#}\n"));
        return Ok(ExitCode::SUCCESS);
    }

    let mut out = String::new();
    let versions: Vec<&str> = old_versions.keys().map(String::as_str).collect();
    w!(
        out,
        "replay: {replayed} recorded decision(s) against {} (policy version {}; recorded under {})",
        dir.display(),
        engine.policy_version(),
        if versions.is_empty() { "-".to_string() } else { versions.join(", ") }
    );
    if skipped > 0 {
        w!(out, "({skipped} line(s) without a decision skipped: gap records or unreadable lines)");
    }
    if approved > 0 {
        w!(out, "({approved} allow(s) granted by a human approval compared as the ask they answered)");
    }
    w!(out, "\n{:<8} {:<8} {:>6}", "old", "new", "count");
    for ((a, b), n) in &transitions {
        let mark = if a == b { "" } else { "  *" };
        w!(out, "{a:<8} {b:<8} {n:>6}{mark}");
    }
    w!(out, "\n{} decision(s) change outcome", changes.len());
    if reasons_changed > 0 {
        w!(out, "{reasons_changed} more keep their outcome but are decided by different policies");
    }
    for (policy, cs) in &by_policy {
        let owner = owner_of(policy).map(|o| format!(" (owner {o})")).unwrap_or_default();
        w!(out, "\n  {policy}{owner}: {} change(s)", cs.len());
        for c in cs {
            let r = &c.record;
            w!(
                out,
                "    seq {:<5} {}  {} {} {}  {} -> {}",
                r.seq,
                r.ts,
                r.principal.as_deref().unwrap_or("?"),
                r.action.as_deref().unwrap_or("?"),
                r.resource.as_deref().unwrap_or("?"),
                r.outcome.map_or("?", Outcome::as_str),
                c.new_outcome
            );
        }
    }
    print(&out);
    Ok(ExitCode::SUCCESS)
}

/// What one shadow policy would have done to the recorded traffic.
#[derive(Default)]
struct ShadowStats {
    satisfied: usize,
    changed: usize,
    owner: Option<String>,
    by_agent: BTreeMap<String, usize>,
    by_action: BTreeMap<String, usize>,
    by_transition: BTreeMap<String, usize>,
    examples: Vec<Value>,
    changed_seqs: Vec<u64>,
}

/// `agentauthz shadow-report --audit FILE...`: per shadow policy, how often it
/// was satisfied and how often it would have changed the outcome (a change is
/// counted for every shadow policy satisfied in that decision).
pub fn shadow_report_cmd(files: &[PathBuf], as_json: bool) -> Result<ExitCode, String> {
    let report = verify(files).map_err(|e| e.to_string())?;
    if let Some(b) = &report.broken {
        eprintln!("warning: the audit chain is broken ({b}); reporting on the records anyway");
    }
    let (mut records, mut with_shadow, mut changed_total) = (0usize, 0usize, 0usize);
    let mut stats: BTreeMap<String, ShadowStats> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(r) = AuditRecord::from_line(line) else { continue };
            let Some(outcome) = r.outcome else { continue };
            records += 1;
            let Some(shadow) = &r.shadow else { continue };
            with_shadow += 1;
            let changed = shadow["changed"].as_bool().unwrap_or(false);
            let would = shadow["outcome"].as_str().unwrap_or("?").to_string();
            changed_total += usize::from(changed);
            let policies: Vec<&str> =
                shadow["policies"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            for p in policies {
                let s = stats.entry(p.to_string()).or_default();
                s.satisfied += 1;
                if s.owner.is_none() {
                    s.owner = r.reasons.iter().find(|x| x.id == p).and_then(|x| x.owner.clone());
                }
                if !changed {
                    continue;
                }
                s.changed += 1;
                s.changed_seqs.push(r.seq);
                let agent = r.principal.clone().unwrap_or_default();
                let action = r.action.clone().unwrap_or_default();
                *s.by_agent.entry(agent.clone()).or_default() += 1;
                *s.by_action.entry(action.clone()).or_default() += 1;
                *s.by_transition.entry(format!("{} -> {would}", outcome.as_str())).or_default() += 1;
                if s.examples.len() < 3 {
                    s.examples.push(json!({
                        "seq": r.seq, "ts": r.ts, "principal": agent, "action": action,
                        "resource": r.resource, "outcome": outcome.as_str(), "would_be": would,
                    }));
                }
            }
        }
    }
    if as_json {
        let out = json!({
            "records": records,
            "with_shadow": with_shadow,
            "would_change": changed_total,
            "chain_intact": report.intact(),
            "policies": stats.iter().map(|(id, s)| json!({
                "policy": id, "owner": s.owner, "satisfied": s.satisfied, "would_change": s.changed,
                "changed_seqs": s.changed_seqs, "by_transition": s.by_transition,
                "by_agent": s.by_agent, "by_action": s.by_action, "examples": s.examples,
            })).collect::<Vec<_>>(),
        });
        print(&format!("{out:#}\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    w!(
        out,
        "shadow report: {records} recorded decision(s), {with_shadow} with a shadow evaluation; enforcing the shadow policies would change {changed_total}"
    );
    if stats.is_empty() {
        w!(out, "no shadow policy was satisfied in these records");
    }
    for (id, s) in &stats {
        let owner = s.owner.as_deref().map(|o| format!(" (owner {o})")).unwrap_or_default();
        w!(out, "\n  {id}{owner}: satisfied {} time(s), would change {}", s.satisfied, s.changed);
        for (t, n) in &s.by_transition {
            w!(out, "    {t}: {n}");
        }
        if !s.by_agent.is_empty() {
            let list: Vec<String> = s.by_agent.iter().map(|(a, n)| format!("{a} ×{n}")).collect();
            w!(out, "    agents: {}", list.join(", "));
            let list: Vec<String> = s.by_action.iter().map(|(a, n)| format!("{a} ×{n}")).collect();
            w!(out, "    actions: {}", list.join(", "));
        }
        for e in &s.examples {
            w!(
                out,
                "    e.g. seq {} {} {} {} {}: {} -> {}",
                e["seq"],
                e["ts"].as_str().unwrap_or(""),
                e["principal"].as_str().unwrap_or(""),
                e["action"].as_str().unwrap_or(""),
                e["resource"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
                e["would_be"].as_str().unwrap_or("")
            );
        }
    }
    print(&out);
    Ok(ExitCode::SUCCESS)
}
