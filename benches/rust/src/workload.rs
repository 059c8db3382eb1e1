//! A generated coding-agent workload of any size: a few global rules plus
//! per-agent, per-repository grants, over thousands of entities.

// Benchmark input generation indexes fixed arrays with `% len`: cannot panic.
#![allow(clippy::indexing_slicing)]

use serde_json::{json, Value};

/// Schema, policies, entities and requests of one generated workload.
pub struct Workload {
    /// Cedar schema text.
    pub schema: String,
    /// Cedar policies text (`n` policies).
    pub policies: String,
    /// Cedar entity JSON.
    pub entities: String,
    /// Requests in the JSON form (a mix of allowed and denied).
    pub requests: Vec<Value>,
}

/// Agents and repositories in the workload.
pub const AGENTS: usize = 1000;
const REPOS: usize = 500;
const TEAMS: usize = 20;

const SCHEMA: &str = r#"
entity Team;
entity Agent in [Team] { tier: Long, suspended: Bool };
entity Repository in [Team] { visibility: String };
entity File in [Repository];
action "read";
action "write_code";
action read_repo in [Action::"read"] appliesTo { principal: [Agent], resource: [Repository, File], context: { branch?: String, repos_touched: Long } };
action push_commit in [Action::"write_code"] appliesTo { principal: [Agent], resource: [Repository, File], context: { branch?: String, repos_touched: Long } };
action open_pr in [Action::"write_code"] appliesTo { principal: [Agent], resource: [Repository], context: { branch?: String, repos_touched: Long } };
"#;

const GLOBAL: &str = r#"
@id("suspended") forbid(principal is Agent, action, resource) when { principal.suspended };
@id("protected-main") forbid(principal, action == Action::"push_commit", resource) when { context has branch && context.branch == "main" };
@id("public-read") permit(principal is Agent, action == Action::"read_repo", resource is Repository) when { resource.visibility == "public" };
@id("team-read") permit(principal is Agent, action in Action::"read", resource) when { resource in principal };
@id("blast-radius") @ask("security") forbid(principal, action in Action::"write_code", resource) when { context.repos_touched > 5 };
"#;

/// A workload with `n` policies (at least the 5 global ones).
pub fn workload(n: usize) -> Workload {
    let mut policies = String::from(GLOBAL);
    for i in 0..n.saturating_sub(5) {
        let agent = i % AGENTS;
        let repo = (i * 7 + i / AGENTS) % REPOS;
        let action = ["read_repo", "push_commit", "open_pr"][i % 3];
        policies.push_str(&format!(
            "@id(\"grant-{i}\") permit(principal == Agent::\"a{agent}\", action == Action::\"{action}\", resource in Repository::\"r{repo}\");\n"
        ));
    }
    let mut entities = Vec::new();
    for t in 0..TEAMS {
        entities.push(json!({"uid": {"type": "Team", "id": format!("t{t}")}, "attrs": {}, "parents": []}));
    }
    for a in 0..AGENTS {
        entities.push(json!({"uid": {"type": "Agent", "id": format!("a{a}")},
            "attrs": {"tier": (a % 3) as i64, "suspended": a % 97 == 0},
            "parents": [{"type": "Team", "id": format!("t{}", a % TEAMS)}]}));
    }
    for r in 0..REPOS {
        entities.push(json!({"uid": {"type": "Repository", "id": format!("r{r}")},
            "attrs": {"visibility": if r % 5 == 0 { "public" } else { "private" }},
            "parents": [{"type": "Team", "id": format!("t{}", r % TEAMS)}]}));
        entities.push(json!({"uid": {"type": "File", "id": format!("r{r}/src/main.rs")}, "attrs": {},
            "parents": [{"type": "Repository", "id": format!("r{r}")}]}));
    }
    let mut requests = Vec::new();
    for k in 0..64usize {
        let i = k * 37 % n.max(1);
        let agent = i % AGENTS;
        let repo = (i * 7 + i / AGENTS) % REPOS;
        let action = ["read_repo", "push_commit", "open_pr"][k % 3];
        let resource = if k % 4 == 0 && action != "open_pr" {
            json!({"type": "File", "id": format!("r{repo}/src/main.rs")})
        } else {
            json!({"type": "Repository", "id": format!("r{}", if k % 5 == 0 { (repo + 1) % REPOS } else { repo })})
        };
        let mut context = json!({"repos_touched": (k % 8) as i64});
        if k % 6 == 0 {
            context["branch"] = json!("main");
        }
        requests.push(json!({"principal": {"type": "Agent", "id": format!("a{agent}")}, "action": action, "resource": resource, "context": context}));
    }
    Workload {
        schema: SCHEMA.to_string(),
        policies,
        entities: serde_json::to_string(&entities).unwrap_or_default(),
        requests,
    }
}
