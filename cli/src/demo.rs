//! `agentauthz demo`: a coding-agent session replayed through the engine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use agentauthz::audit::AuditLog;
use agentauthz::{parse_rfc3339, Decision, Engine, Outcome, PolicySources, Request};
use serde_json::Value;

/// Appends a line to the report; writing to a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

/// One step of a trace: a tool call, when it happened, and the request it maps to.
struct Step {
    ts: String,
    tool: String,
    request: Result<Request, String>,
}

fn read_trace(path: &Path) -> Result<Vec<Step>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut steps = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut v: Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: not JSON: {e}", path.display(), n + 1))?;
        let obj = v.as_object_mut().ok_or_else(|| format!("{}:{}: not a JSON object", path.display(), n + 1))?;
        let ts = obj.remove("ts").and_then(|t| t.as_str().map(str::to_string)).unwrap_or_default();
        let tool = obj.remove("tool").and_then(|t| t.as_str().map(str::to_string)).unwrap_or_default();
        let request = Request::from_json(&v).map_err(|e| e.to_string());
        steps.push(Step { ts, tool, request });
    }
    Ok(steps)
}

fn short(uid: &str) -> String {
    // `Agent::"ci-bot"` -> `ci-bot`; keeps the table narrow.
    match uid.split_once("::\"") {
        Some((_, rest)) => rest.trim_end_matches('"').to_string(),
        None => uid.to_string(),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub fn run(dir: &Path, trace: Option<&Path>, audit: Option<&Path>) -> Result<ExitCode, String> {
    let sources = PolicySources::from_dir(dir).map_err(|e| e.to_string())?;
    let mut builder = Engine::builder(sources);
    if let Some(path) = audit {
        builder = builder.audit(AuditLog::builder().file(path).open().map_err(|e| e.to_string())?);
    }
    let engine = builder.build().map_err(|e| e.to_string())?;
    let trace_path = trace.map(Path::to_path_buf).unwrap_or_else(|| dir.join("trace.jsonl"));
    let steps = read_trace(&trace_path)?;
    let mut out = String::new();
    w!(
        out,
        "agentauthz demo: {} tool calls from {} against {} policies (version {})\n",
        steps.len(),
        trace_path.display(),
        engine.policy_count(),
        engine.policy_version()
    );
    w!(
        out,
        "{:<9} {:<11} {:<12} {:<22} {:<6} {:<28} {}",
        "time",
        "agent",
        "action",
        "resource",
        "outcome",
        "deciding policy",
        "owner"
    );
    w!(out, "{}", "-".repeat(104));
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut by_policy: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_ns: u128 = 0;
    for step in &steps {
        let (agent, action, resource, decision): (String, String, String, Decision) = match &step.request {
            Ok(req) => {
                let d = match parse_rfc3339(&step.ts) {
                    Some(now) => engine.authorize_at(req, now),
                    None => engine.authorize(req),
                };
                (short(&req.principal().to_string()), short(&req.action_text()), short(&req.resource().to_string()), d)
            }
            Err(e) => {
                let d = engine.authorize_json(&Value::String(e.clone()));
                ("?".into(), "?".into(), "?".into(), d)
            }
        };
        total_ns += decision.eval_time.as_nanos();
        *counts.entry(decision.outcome.as_str()).or_default() += 1;
        let policy = match decision.reasons.first() {
            Some(r) if decision.reasons.len() > 1 => {
                format!("{} (+{})", r.id, decision.reasons.len() - 1)
            }
            Some(r) => r.id.clone(),
            None if !decision.errors.is_empty() => "error: see below".into(),
            None => "(no permit applies)".into(),
        };
        for r in &decision.reasons {
            *by_policy.entry(r.id.clone()).or_default() += 1;
        }
        let owner = match decision.outcome {
            Outcome::Ask => format!("ask {}", decision.ask_owners.join(", ")),
            _ => decision.reasons.first().and_then(|r| r.owner()).unwrap_or("-").to_string(),
        };
        let time = step.ts.get(11..19).unwrap_or(&step.ts);
        let mark = match decision.outcome {
            Outcome::Allow => "allow",
            Outcome::Deny => "DENY",
            Outcome::Ask => "ASK",
        };
        w!(
            out,
            "{:<9} {:<11} {:<12} {:<22} {:<6}  {:<28} {}",
            time,
            clip(&agent, 11),
            clip(&action, 12),
            clip(&resource, 22),
            mark,
            clip(&policy, 28),
            owner
        );
        if !step.tool.is_empty() {
            w!(out, "{:<9} └ {}", "", clip(&step.tool, 92));
        }
        for e in &decision.errors {
            w!(
                out,
                "{:<9}   error: {}{}",
                "",
                e.policy.as_deref().map(|p| format!("{p}: ")).unwrap_or_default(),
                e.message
            );
        }
    }
    w!(
        out,
        "\nSummary: {} decisions: {} allow, {} deny, {} ask; mean decision time {:.1} µs",
        steps.len(),
        counts.get("allow").unwrap_or(&0),
        counts.get("deny").unwrap_or(&0),
        counts.get("ask").unwrap_or(&0),
        if steps.is_empty() { 0.0 } else { total_ns as f64 / steps.len() as f64 / 1000.0 }
    );
    w!(out, "Determining policies:");
    for (id, n) in &by_policy {
        w!(out, "  {n:>3} × {id}");
    }
    if let (Some(log), Some(path)) = (engine.audit(), audit) {
        log.flush().map_err(|e| e.to_string())?;
        let stats = log.stats();
        w!(
            out,
            "\nAudit: {} decision(s) written to {} (hash-chained; seq now {}). Check it with `agentauthz audit verify {}`.",
            stats.records,
            path.display(),
            stats.next_seq,
            path.display()
        );
    }
    // A closed pipe (`agentauthz demo | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
    Ok(ExitCode::SUCCESS)
}
