//! A generated coding-agent workload of any size: a few global rules plus
//! per-agent, per-repository grants, over thousands of entities, and a fixed
//! set of requests (allowed, denied and asked) that the typed
//! [`agentauthz::coding_agent::ToolCall`] builder can express.
//!
//! [`Workload::write_dir`] writes it to files (schema, policies, entities,
//! requests with expected outcomes) so that the Rust, Python and Node runners
//! decide exactly the same inputs; [`read_dir`] reads them back.

// Benchmark input generation indexes fixed arrays with `% len`: cannot panic.
#![allow(clippy::indexing_slicing)]

use std::path::Path;

use agentauthz::coding_agent::{Action, Resource, Session, ToolCall};
use serde_json::{json, Value};

/// Schema, policies, entities and requests of one generated workload.
pub struct Workload {
    /// Cedar schema text.
    pub schema: String,
    /// Cedar policies text (`n` policies).
    pub policies: String,
    /// Cedar entity JSON.
    pub entities: String,
    /// Requests in the JSON form (a mix of allowed, denied and asked).
    pub requests: Vec<Value>,
}

/// Agents in the workload.
pub const AGENTS: usize = 1000;
/// Repositories in the workload (each with one file).
pub const REPOS: usize = 500;
const TEAMS: usize = 20;
/// Requests per workload.
pub const REQUESTS: usize = 200;
/// Global (non-grant) policies at the head of every workload.
pub const GLOBAL_POLICIES: usize = 5;

const ACTIONS: [&str; 3] = ["read_repo", "push_commit", "open_pr"];

/// The schema: the entity and action names of the coding-agent model, and a
/// context shaped as [`ToolCall`] builds it (`branch`, `session`).
pub const SCHEMA: &str = r#"
entity Team;
entity Agent in [Team] { tier: Long, suspended: Bool };
entity Repository in [Team] { visibility: String };
entity File in [Repository];
type Session = { id: String, actions: Long, repos_touched: Long };
action "read";
action "write_code";
action read_repo in [Action::"read"] appliesTo { principal: [Agent], resource: [Repository, File], context: { branch?: String, session: Session } };
action push_commit in [Action::"write_code"] appliesTo { principal: [Agent], resource: [Repository, File], context: { branch?: String, session: Session } };
action open_pr in [Action::"write_code"] appliesTo { principal: [Agent], resource: [Repository], context: { branch?: String, session: Session } };
"#;

const GLOBAL: &str = r#"
@id("suspended") forbid(principal is Agent, action, resource) when { principal.suspended };
@id("protected-main") forbid(principal, action == Action::"push_commit", resource) when { context has branch && context.branch == "main" };
@id("public-read") permit(principal is Agent, action == Action::"read_repo", resource is Repository) when { resource.visibility == "public" };
@id("team-read") permit(principal is Agent, action in Action::"read", resource) when { resource in principal };
@id("blast-radius") @ask("security") forbid(principal, action in Action::"write_code", resource) when { context.session.repos_touched > 5 };
"#;

/// SplitMix64: a small deterministic generator, so that every run (and every
/// language) sees the same workload.
struct Mix(u64);

impl Mix {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % bound.max(1) as u64) as usize
    }
}

/// Agent, repository and action of grant number `i`: grants cycle through
/// the agents, and each agent's grants cover distinct repositories.
fn grant(i: usize) -> (usize, usize, usize) {
    (i % AGENTS, (i * 7 + i / AGENTS) % REPOS, i % 3)
}

/// A workload with `n` policies (at least the 5 global ones).
pub fn workload(n: usize) -> Workload {
    let grants = n.saturating_sub(GLOBAL_POLICIES);
    let mut policies = String::with_capacity(GLOBAL.len() + grants * 120);
    policies.push_str(GLOBAL);
    for i in 0..grants {
        let (agent, repo, action) = grant(i);
        let action = ACTIONS[action];
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
    let mut rng = Mix(n as u64);
    let mut requests = Vec::with_capacity(REQUESTS);
    for k in 0..REQUESTS {
        // Even requests follow an existing grant (mostly allowed, unless a
        // forbid or the ask rule applies); odd ones are random (mostly denied,
        // unless a global permit applies).
        let (agent, repo, action) = if k % 2 == 0 && grants > 0 {
            grant(rng.next(grants))
        } else {
            (rng.next(AGENTS), rng.next(REPOS), rng.next(3))
        };
        let action = ACTIONS[action];
        let resource = if k % 4 == 0 && action != "open_pr" {
            json!({"type": "File", "id": format!("r{repo}/src/main.rs")})
        } else {
            json!({"type": "Repository", "id": format!("r{repo}")})
        };
        let mut context =
            json!({"session": {"id": format!("s{k}"), "actions": k as i64, "repos_touched": (k % 8) as i64}});
        if k % 6 == 0 {
            context["branch"] = json!("main");
        } else if k % 6 == 3 {
            context["branch"] = json!(format!("feature/{k}"));
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

/// The typed builder call for a request of this workload (JSON form), or
/// `None` if the request is not of the workload's shape.
pub fn tool_call(request: &Value) -> Option<ToolCall> {
    let action = match request["action"].as_str()? {
        "read_repo" => Action::ReadRepo,
        "push_commit" => Action::PushCommit,
        "open_pr" => Action::OpenPr,
        _ => return None,
    };
    let id = request["resource"]["id"].as_str()?.to_string();
    let resource = match request["resource"]["type"].as_str()? {
        "Repository" => Resource::Repository(id),
        "File" => Resource::File(id),
        _ => return None,
    };
    let context = &request["context"];
    let session = &context["session"];
    let mut call = ToolCall::new(request["principal"]["id"].as_str()?, action, resource).session(Session {
        id: session["id"].as_str()?.to_string(),
        actions: session["actions"].as_i64()?,
        repos_touched: session["repos_touched"].as_i64()?,
    });
    if let Some(branch) = context["branch"].as_str() {
        call = call.branch(branch);
    }
    Some(call)
}

/// One request of a workload on file, with the outcomes it must get.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The request in the JSON form.
    pub request: Value,
    /// Plain Cedar's decision on the whole set: `allow` or `deny`.
    pub cedar: String,
    /// agentauthz's outcome: `allow`, `deny` or `ask` (ask is a deny in Cedar terms).
    pub agentauthz: String,
}

/// File names inside a workload folder.
pub const SCHEMA_FILE: &str = "workload.cedarschema";
/// Policies file name.
pub const POLICIES_FILE: &str = "policies.cedar";
/// Entities file name.
pub const ENTITIES_FILE: &str = "entities.json";
/// Requests file name (one JSON object a line: `request`, `cedar`, `agentauthz`).
pub const REQUESTS_FILE: &str = "requests.jsonl";

impl Workload {
    /// Writes the workload and the expected outcomes (one per request, in
    /// order) to `dir` (created if missing).
    pub fn write_dir(&self, dir: &Path, expected: &[(String, String)]) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(SCHEMA_FILE), &self.schema)?;
        std::fs::write(dir.join(POLICIES_FILE), &self.policies)?;
        std::fs::write(dir.join(ENTITIES_FILE), &self.entities)?;
        let mut lines = String::new();
        for (request, (cedar, ours)) in self.requests.iter().zip(expected) {
            lines.push_str(&json!({"request": request, "cedar": cedar, "agentauthz": ours}).to_string());
            lines.push('\n');
        }
        std::fs::write(dir.join(REQUESTS_FILE), lines)
    }
}

/// Reads a workload folder written by [`Workload::write_dir`].
pub fn read_dir(dir: &Path) -> Result<(Workload, Vec<Expected>), String> {
    let read =
        |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()));
    let mut expected = Vec::new();
    for (i, line) in read(REQUESTS_FILE)?.lines().enumerate() {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{REQUESTS_FILE} line {}: {e}", i + 1))?;
        let field = |k: &str| {
            v[k].as_str().map(str::to_string).ok_or_else(|| format!("{REQUESTS_FILE} line {}: no `{k}`", i + 1))
        };
        expected.push(Expected {
            cedar: field("cedar")?,
            agentauthz: field("agentauthz")?,
            request: v["request"].clone(),
        });
    }
    let w = Workload {
        schema: read(SCHEMA_FILE)?,
        policies: read(POLICIES_FILE)?,
        entities: read(ENTITIES_FILE)?,
        requests: expected.iter().map(|e| e.request.clone()).collect(),
    };
    Ok((w, expected))
}

/// Plain Cedar on the same inputs, pre-parsed: the whole policy set, the
/// entities, and every request built (and validated) once.
pub struct PlainCedar {
    /// The whole policy set.
    pub policies: agentauthz::cedar_policy::PolicySet,
    /// The entities, validated against the schema.
    pub entities: agentauthz::cedar_policy::Entities,
    /// The requests, in order.
    pub requests: Vec<agentauthz::cedar_policy::Request>,
    /// The authorizer.
    pub authorizer: agentauthz::cedar_policy::Authorizer,
}

impl PlainCedar {
    /// Parses `w` with `cedar-policy` alone.
    pub fn new(w: &Workload) -> Result<Self, String> {
        use agentauthz::cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request, Schema};
        use std::str::FromStr;
        let (schema, _) = Schema::from_cedarschema_str(&w.schema).map_err(|e| format!("schema: {e}"))?;
        let policies = PolicySet::from_str(&w.policies).map_err(|e| format!("policies: {e}"))?;
        let entities = Entities::from_json_str(&w.entities, Some(&schema)).map_err(|e| format!("entities: {e}"))?;
        let mut requests = Vec::with_capacity(w.requests.len());
        for r in &w.requests {
            let name = r["action"].as_str().ok_or("request without action")?;
            let action = EntityUid::from_str(&format!("Action::\"{name}\"")).map_err(|e| e.to_string())?;
            let principal = EntityUid::from_json(r["principal"].clone()).map_err(|e| e.to_string())?;
            let resource = EntityUid::from_json(r["resource"].clone()).map_err(|e| e.to_string())?;
            let context =
                Context::from_json_value(r["context"].clone(), Some((&schema, &action))).map_err(|e| e.to_string())?;
            requests
                .push(Request::new(principal, action, resource, context, Some(&schema)).map_err(|e| e.to_string())?);
        }
        Ok(Self { policies, entities, requests, authorizer: Authorizer::new() })
    }

    /// Whether plain Cedar allows request `i` (out of range: deny).
    pub fn allows(&self, i: usize) -> bool {
        self.requests.get(i).is_some_and(|r| {
            self.authorizer.is_authorized(r, &self.policies, &self.entities).decision()
                == agentauthz::cedar_policy::Decision::Allow
        })
    }
}
