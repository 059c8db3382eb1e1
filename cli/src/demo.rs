//! `agentauthz demo`: a coding-agent session replayed through the engine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentauthz::audit::{AuditLog, OnFull};
use agentauthz::{parse_rfc3339, Clock, Decision, Engine, Outcome, PolicySources, Request, SessionLimits};
use serde_json::Value;

/// Appends a line to the report; writing to a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

/// The demo's clock: set to each step's timestamp, so that decisions, session
/// counters and approval lifetimes all follow the trace's time line.
#[derive(Debug)]
struct TraceClock(Mutex<SystemTime>);

impl TraceClock {
    fn set(&self, t: SystemTime) {
        if let Ok(mut now) = self.0.lock() {
            *now = t;
        }
    }
}

impl Clock for TraceClock {
    fn now(&self) -> SystemTime {
        self.0.lock().map(|t| *t).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A human's approval of the last `ask`, as written in the trace:
/// `{"ts": "...", "approve": {"approver": "bob@acme.dev", "ttl_seconds": 900, "uses": 1}}`.
struct Approve {
    approver: String,
    ttl: Duration,
    uses: u32,
}

/// What one line of a trace asks for.
enum Act {
    /// A tool call, mapped to a request (or the reason it could not be).
    Call(Box<Result<Request, String>>),
    /// A human approves the most recent ask.
    Approve(Approve),
}

/// One step of a trace: when it happened, what the agent did, and the act.
struct Step {
    ts: String,
    tool: String,
    act: Act,
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
        let act = match obj.remove("approve") {
            Some(a) => Act::Approve(Approve {
                approver: a.get("approver").and_then(Value::as_str).unwrap_or("?").to_string(),
                ttl: Duration::from_secs(a.get("ttl_seconds").and_then(Value::as_u64).unwrap_or(600)),
                uses: a.get("uses").and_then(Value::as_u64).and_then(|u| u32::try_from(u).ok()).unwrap_or(1),
            }),
            None => Act::Call(Box::new(Request::from_json(&v).map_err(|e| e.to_string()))),
        };
        steps.push(Step { ts, tool, act });
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
    let clock = Arc::new(TraceClock(Mutex::new(SystemTime::now())));
    let sources = PolicySources::from_dir(dir).map_err(|e| e.to_string())?;
    let mut builder = Engine::builder(sources).clock(clock.clone()).session_counters(SessionLimits::default());
    if let Some(path) = audit {
        // Block: the demo's log must hold every decision (replay compares them all).
        let log = AuditLog::builder().file(path).on_full(OnFull::Block).open().map_err(|e| e.to_string())?;
        builder = builder.audit(log);
    }
    let engine = builder.build().map_err(|e| e.to_string())?;
    let trace_path = trace.map(Path::to_path_buf).unwrap_or_else(|| dir.join("trace.jsonl"));
    let steps = read_trace(&trace_path)?;
    let calls = steps.iter().filter(|s| matches!(s.act, Act::Call(_))).count();
    let mut out = String::new();
    w!(
        out,
        "agentauthz demo: {} tool calls from {} against {} policies (version {})",
        calls,
        trace_path.display(),
        engine.policy_count(),
        engine.policy_version()
    );
    w!(out, "Session counters and approvals are kept by the engine; the clock follows the trace.\n");
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
    let mut last_ask: Option<String> = None;
    let mut approvals = 0usize;
    for step in &steps {
        let time = step.ts.get(11..19).unwrap_or(&step.ts);
        if let Some(now) = parse_rfc3339(&step.ts) {
            clock.set(now);
        }
        let request = match &step.act {
            Act::Call(request) => request,
            Act::Approve(a) => {
                let line = match last_ask.take() {
                    Some(id) => match engine.approve(&id, &a.approver, a.ttl, a.uses) {
                        Ok(()) => {
                            approvals += 1;
                            format!(
                                "approved by {} ({id}, {} use(s) within {} min)",
                                a.approver,
                                a.uses,
                                a.ttl.as_secs() / 60
                            )
                        }
                        Err(e) => format!("approval by {} refused: {e}", a.approver),
                    },
                    None => format!("approval by {} ignored: no ask to approve", a.approver),
                };
                w!(out, "{:<9} {:<11} {}", time, "human", line);
                continue;
            }
        };
        let (agent, action, resource, decision): (String, String, String, Decision) = match request.as_ref() {
            Ok(req) => {
                let d = engine.authorize(req);
                (short(&req.principal().to_string()), short(&req.action_text()), short(&req.resource().to_string()), d)
            }
            Err(e) => {
                let d = engine.authorize_json(&Value::String(e.clone()));
                ("?".into(), "?".into(), "?".into(), d)
            }
        };
        total_ns += decision.eval_time.as_nanos();
        if decision.outcome == Outcome::Ask {
            last_ask.clone_from(&decision.approval_id);
        }
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
            let key = if r.id.starts_with("approval:") { "(human approval)".to_string() } else { r.id.clone() };
            *by_policy.entry(key).or_default() += 1;
        }
        let owner = match decision.outcome {
            Outcome::Ask => format!("ask {}", decision.ask_owners.join(", ")),
            _ => match decision.reasons.first() {
                Some(r) => match (r.owner(), r.annotations.get("approver")) {
                    (Some(owner), _) => owner.to_string(),
                    (None, Some(approver)) => format!("approved by {approver}"),
                    (None, None) => "-".to_string(),
                },
                None => "-".to_string(),
            },
        };
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
        "\nSummary: {} decisions: {} allow, {} deny, {} ask, {} approvals; mean decision time {:.1} µs",
        calls,
        counts.get("allow").unwrap_or(&0),
        counts.get("deny").unwrap_or(&0),
        counts.get("ask").unwrap_or(&0),
        approvals,
        if calls == 0 { 0.0 } else { total_ns as f64 / calls as f64 / 1000.0 }
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
