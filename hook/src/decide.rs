//! Deciding one tool call: map it, load the shared state, authorize every part
//! in one `BEGIN IMMEDIATE` transaction, count it if allowed, record the ask if
//! it needs a human, and append the audit record. Any failure is a deny.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use agentauthz::cedar_policy::EntityUid;
use agentauthz::{Decision, Engine, GrantSpec, Outcome, Subject};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::config::Mapping;
use crate::mapping::{map_call, Part, ToolCall};
use crate::store::{Pending, Store, Tx};

/// Settings of one hook invocation.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// The agent (principal id, e.g. `claude-code`).
    pub agent: String,
    /// The repository id, overriding the mapping.
    pub repo: Option<String>,
    /// `$HOME`, for `~` in paths.
    pub home: PathBuf,
    /// The command that approves an ask, without the id (shown in ask reasons).
    pub approve_command: String,
    /// SHA-256 of the policy folder's content (recorded in the audit).
    pub policy_sha256: String,
}

/// The answer to a tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// allow, deny or ask.
    pub outcome: Outcome,
    /// Why, for the agent and the human: deciding policies and owners, and for
    /// an ask the command that approves it.
    pub reason: String,
    /// The owners to ask (ask only).
    pub ask_owners: Vec<String>,
    /// The approval id of an ask.
    pub approval_id: Option<String>,
}

impl Verdict {
    fn deny(reason: String) -> Self {
        Self { outcome: Outcome::Deny, reason, ask_owners: vec![], approval_id: None }
    }
}

/// Decides a tool call against the engine and the shared state. Never panics,
/// never allows on an error.
pub fn decide(engine: &Engine, store: &mut Store, mapping: &Mapping, call: &ToolCall, s: &HookSettings) -> Verdict {
    let mapped = map_call(call, mapping, s.repo.as_deref(), &s.home);
    let summary = summarize(call);
    let principal = format!("{}::{}", mapping.principal.entity_type, quote(&s.agent));
    let approval_id = approval_id(&s.agent, call, &mapped.repo);
    let result = store.immediate(|tx| {
        let verdict = if mapped.problems.is_empty() {
            decide_parts(engine, tx, mapping, call, s, &principal, &mapped.parts, &approval_id, &summary)?
        } else {
            (Verdict::deny(format!("agentauthz denied {summary}: {}", mapped.problems.join("; "))), vec![])
        };
        let record = json!({
            "ts": agentauthz::format_rfc3339_millis(SystemTime::now()),
            "agent": s.agent,
            "session": call.session_id,
            "repository": mapped.repo,
            "tool": call.tool_name,
            "input_sha256": sha_hex(&call.tool_input.to_string()),
            "summary": summary,
            "outcome": verdict.0.outcome.as_str(),
            "reason": verdict.0.reason,
            "parts": verdict.1,
            "policy_sha256": s.policy_sha256,
        });
        tx.append_audit(&audit_record(&record))?;
        Ok(verdict.0)
    });
    result.unwrap_or_else(|e| Verdict::deny(format!("agentauthz denied {summary}: {e}")))
}

/// The audit record's text (one function, so the core's record format can replace it).
pub fn audit_record(record: &Value) -> String {
    record.to_string()
}

#[allow(clippy::too_many_arguments)]
fn decide_parts(
    engine: &Engine,
    tx: &Tx,
    mapping: &Mapping,
    call: &ToolCall,
    s: &HookSettings,
    principal: &str,
    parts: &[Part],
    approval_id: &str,
    summary: &str,
) -> Result<(Verdict, Vec<Value>), String> {
    let now = SystemTime::now();
    load_controls(engine, tx, now)?;
    let before = tx.session(&call.session_id)?;
    let mut repos = before.repos.clone();
    for p in parts {
        if let Some(r) = &p.repo {
            if !repos.contains(r) {
                repos.push(r.clone());
            }
        }
    }
    let credential = credential(mapping, &call.session_id, now);
    let mut decisions: Vec<(usize, Decision)> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let mut session = Map::new();
        session.insert("id".into(), json!(call.session_id));
        for c in &mapping.session.counters {
            let v = match c.as_str() {
                "actions" => before.actions + 1,
                "repos_touched" => repos.len() as i64,
                "same_action" => tx.same_action(&call.session_id, &p.action)? + 1,
                other => return Err(format!("unknown session counter `{other}` in the mapping")),
            };
            session.insert(c.clone(), json!(v));
        }
        let mut context = p.context.clone();
        context.insert("credential".into(), credential.clone());
        context.insert("session".into(), Value::Object(session));
        let request = json!({
            "principal": principal,
            "action": p.action,
            "resource": {"type": p.resource_type, "id": p.resource_id},
            "context": context,
        });
        decisions.push((i, engine.authorize_json(&request)));
    }
    // An ask approved by a human: re-submit its asking parts with the approval.
    let mut approved_by = None;
    if decisions.iter().any(|(_, d)| d.outcome == Outcome::Ask)
        && decisions.iter().all(|(_, d)| d.outcome != Outcome::Deny)
    {
        if let Some(approver) = tx.approval(approval_id, now)? {
            for (i, d) in decisions.iter_mut() {
                if d.outcome != Outcome::Ask {
                    continue;
                }
                let Some(p) = parts.get(*i) else { continue };
                for owner in d.ask_owners.clone() {
                    let mut context = p.context.clone();
                    context.insert("credential".into(), credential.clone());
                    let mut session = Map::new();
                    session.insert("id".into(), json!(call.session_id));
                    for c in &mapping.session.counters {
                        let v = match c.as_str() {
                            "actions" => before.actions + 1,
                            "repos_touched" => repos.len() as i64,
                            _ => tx.same_action(&call.session_id, &p.action)? + 1,
                        };
                        session.insert(c.clone(), json!(v));
                    }
                    context.insert("session".into(), Value::Object(session));
                    context.insert("approval".into(), json!({"approver": approver, "owner": owner}));
                    let request = json!({
                        "principal": principal, "action": p.action,
                        "resource": {"type": p.resource_type, "id": p.resource_id}, "context": context,
                    });
                    let again = engine.authorize_json(&request);
                    if again.outcome != Outcome::Ask {
                        *d = again;
                        break;
                    }
                }
            }
            approved_by = Some(approver);
        }
    }
    let part_json: Vec<Value> = decisions
        .iter()
        .filter_map(|(i, d)| {
            let p = parts.get(*i)?;
            Some(json!({
                "action": p.action, "resource": format!("{}::{}", p.resource_type, quote(&p.resource_id)),
                "outcome": d.outcome.as_str(), "policies": d.reason_ids(),
                "errors": d.errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>(),
            }))
        })
        .collect();
    let denied: Vec<String> = decisions
        .iter()
        .filter(|(_, d)| d.outcome == Outcome::Deny)
        .filter_map(|(i, d)| Some(describe(parts.get(*i)?, d)))
        .collect();
    let asked: Vec<(usize, &Decision)> =
        decisions.iter().filter(|(_, d)| d.outcome == Outcome::Ask).map(|(i, d)| (*i, d)).collect();
    // Shadow policies that would change a part's outcome, for the reason text.
    let shadow: Vec<String> = decisions
        .iter()
        .filter_map(|(_, d)| d.shadow.as_ref().filter(|s| s.changed))
        .map(|s| {
            let ids: Vec<&str> = s.policies.iter().map(|p| p.id.as_str()).collect();
            format!("would be {} with {} enforced", s.outcome.as_str(), ids.join(", "))
        })
        .collect();
    let shadow_note = if shadow.is_empty() { String::new() } else { format!(" [shadow: {}]", shadow.join("; ")) };
    let mut verdict = if !denied.is_empty() {
        Verdict::deny(format!("agentauthz denied {summary}: {}", denied.join("; ")))
    } else if !asked.is_empty() {
        let mut owners: Vec<String> = asked.iter().flat_map(|(_, d)| d.ask_owners.clone()).collect();
        owners.sort();
        owners.dedup();
        let why: Vec<String> = asked.iter().filter_map(|(i, d)| Some(describe(parts.get(*i)?, d))).collect();
        tx.record_pending(&Pending {
            id: approval_id.to_string(),
            session: call.session_id.clone(),
            agent: s.agent.clone(),
            summary: summary.to_string(),
            owners: owners.join(","),
            asked_at: agentauthz::format_rfc3339_millis(now),
        })?;
        Verdict {
            outcome: Outcome::Ask,
            reason: format!(
                "agentauthz: {summary} needs approval from {}: {}. To approve, {} run: {} {approval_id} --approver <name>",
                owners.join(" and "),
                why.join("; "),
                owners.join("/"),
                s.approve_command
            ),
            ask_owners: owners,
            approval_id: Some(approval_id.to_string()),
        }
    } else {
        let actions: Vec<String> = {
            let mut a: Vec<String> = parts.iter().map(|p| p.action.clone()).collect();
            a.sort();
            a.dedup();
            a
        };
        let touched: Vec<String> = parts.iter().filter_map(|p| p.repo.clone()).collect();
        tx.count(&call.session_id, &actions, &touched)?;
        if approved_by.is_some() {
            tx.consume_approval(approval_id)?;
        }
        let mut policies: Vec<String> =
            decisions.iter().flat_map(|(_, d)| d.reason_ids().into_iter().map(str::to_string)).collect();
        policies.sort();
        policies.dedup();
        let by = approved_by.map(|a| format!(" (approved by {a})")).unwrap_or_default();
        Verdict {
            outcome: Outcome::Allow,
            reason: format!(
                "agentauthz allowed {summary}{by}: {}",
                if policies.is_empty() { "nothing to authorize".into() } else { policies.join(", ") }
            ),
            ask_owners: vec![],
            approval_id: None,
        }
    };
    verdict.reason.push_str(&shadow_note);
    Ok((verdict, part_json))
}

/// Loads the store's revocations and grants into the engine (replacing any
/// it had), so every hook process enforces the same controls.
fn load_controls(engine: &Engine, tx: &Tx, now: SystemTime) -> Result<(), String> {
    for r in engine.revocations() {
        engine.restore(&r.subject);
    }
    for g in engine.grants() {
        engine.revoke_grant(&g.id);
    }
    for r in tx.revocations()? {
        let subject = match r.kind.as_str() {
            "agent" => Subject::Agent(r.subject),
            "session" => Subject::Session(r.subject),
            "credential" => Subject::Credential(r.subject),
            other => return Err(format!("unknown revocation kind `{other}` in the store")),
        };
        engine.revoke(subject, &r.reason);
    }
    for g in tx.grants(now)? {
        let uid = |s: &str| EntityUid::from_str(s).map_err(|e| format!("grant {}: `{s}`: {e}", g.id));
        let actions = g
            .actions
            .iter()
            .map(|a| if a.contains("::") { uid(a) } else { uid(&format!("Action::{}", quote(a))) })
            .collect::<Result<Vec<_>, _>>()?;
        engine.grant(GrantSpec {
            principal: uid(&g.principal)?,
            actions,
            resource: uid(&g.resource)?,
            expires_at: std::time::UNIX_EPOCH + Duration::from_secs(g.expires_at.max(0) as u64),
            reason: g.reason.clone(),
        });
    }
    Ok(())
}

fn credential(m: &Mapping, session: &str, now: SystemTime) -> Value {
    let issued = now - Duration::from_secs(60).min(Duration::from_secs(m.credential.lifetime_seconds / 2));
    let expires = issued + Duration::from_secs(m.credential.lifetime_seconds);
    json!({
        "id": m.credential.id.replace("{session}", session),
        "issued_at": agentauthz::format_rfc3339_millis(issued),
        "expires_at": agentauthz::format_rfc3339_millis(expires),
        "scopes": m.credential.scopes,
    })
}

/// `read .env (read_secret Secret::"..."): denied by X (owner security)`.
fn describe(p: &Part, d: &Decision) -> String {
    let mut s = format!("{} [{} {}::{}]", p.label, p.action, p.resource_type, quote(&p.resource_id));
    if d.reasons.is_empty() && d.errors.is_empty() {
        s.push_str(": no policy permits it");
    } else {
        let pols: Vec<String> = d
            .reasons
            .iter()
            .map(|r| match r.owner() {
                Some(o) => format!("{} (owner {o})", r.id),
                None => r.id.clone(),
            })
            .collect();
        if !pols.is_empty() {
            s.push_str(": ");
            s.push_str(&pols.join(", "));
        }
        if !d.errors.is_empty() {
            let errs: Vec<&str> = d.errors.iter().map(|e| e.message.as_str()).collect();
            s.push_str(&format!(" (errors: {})", errs.join("; ")));
        }
    }
    s
}

fn summarize(call: &ToolCall) -> String {
    let detail = ["command", "file_path", "url", "path", "notebook_path", "absolute_path", "query", "pattern"]
        .iter()
        .find_map(|f| call.tool_input.get(f).and_then(Value::as_str))
        .unwrap_or("");
    let mut detail: String = detail.chars().take(200).collect();
    if detail.len() < call.tool_input.get("command").and_then(Value::as_str).map_or(0, str::len) {
        detail.push('…');
    }
    if detail.is_empty() {
        call.tool_name.clone()
    } else {
        format!("{} `{detail}`", call.tool_name)
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn sha_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The id under which a human approves this tool call: the same agent, tool,
/// arguments and repository give the same id.
fn approval_id(agent: &str, call: &ToolCall, repo: &str) -> String {
    let key = format!("{agent}\n{}\n{}\n{repo}", call.tool_name, call.tool_input);
    let hex = sha_hex(&key);
    format!("ap-{}", hex.get(..16).unwrap_or(&hex))
}
