//! A typed request builder for the coding-agent model that ships in
//! `policies-examples/coding-agent` (agents, their actions and resources, the
//! credential, the session and an optional approval).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use agentauthz::coding_agent::{Action, Credential, Resource, Session, ToolCall};
//!
//! let issued = SystemTime::now();
//! let request = ToolCall::new("ci-bot", Action::OpenPr, Resource::Repository("acme/api".into()))
//!     .credential(Credential::new("cred-1", issued, issued + Duration::from_secs(1800), ["repo:read", "repo:write"]))
//!     .session(Session { id: "s-1".into(), actions: 4, repos_touched: 1 })
//!     .branch("fix/timeout")
//!     .diff_lines(42)
//!     .build()
//!     .unwrap();
//! assert_eq!(request.action_text(), r#"Action::"open_pr""#);
//! ```

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::clock::format_rfc3339_millis;
use crate::error::RequestError;
use crate::request::{ContextValue, Request};

/// The actions of the coding-agent model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Read repository content (files, branches, pull requests).
    ReadRepo,
    /// Push commits to a branch.
    PushCommit,
    /// Open a pull request.
    OpenPr,
    /// Merge a pull request.
    MergePr,
    /// Approve a pull request.
    ApprovePr,
    /// Change CI/CD configuration.
    ModifyCi,
    /// Call an external API.
    CallApi,
    /// Run a shell command.
    RunCommand,
    /// Invoke an MCP tool.
    InvokeTool,
    /// Read a secret.
    ReadSecret,
    /// Write a secret.
    WriteSecret,
    /// Deploy to an environment or cloud account.
    Deploy,
}

impl Action {
    /// The Cedar action id, e.g. `open_pr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ReadRepo => "read_repo",
            Action::PushCommit => "push_commit",
            Action::OpenPr => "open_pr",
            Action::MergePr => "merge_pr",
            Action::ApprovePr => "approve_pr",
            Action::ModifyCi => "modify_ci",
            Action::CallApi => "call_api",
            Action::RunCommand => "run_command",
            Action::InvokeTool => "invoke_tool",
            Action::ReadSecret => "read_secret",
            Action::WriteSecret => "write_secret",
            Action::Deploy => "deploy",
        }
    }
}

/// The resources of the coding-agent model, by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// `Repository::"acme/api"`
    Repository(String),
    /// `Branch::"acme/api/main"`
    Branch(String),
    /// `PullRequest::"acme/api#101"`
    PullRequest(String),
    /// `File::"acme/api/src/main.rs"`
    File(String),
    /// `Secret::"prod/db-password"`
    Secret(String),
    /// `ApiHost::"api.github.com"`
    ApiHost(String),
    /// `Environment::"production"`
    Environment(String),
    /// `CloudAccount::"aws-prod-1111"`
    CloudAccount(String),
    /// `Tool::"github-mcp/create_issue"`
    Tool(String),
}

impl Resource {
    fn to_json(&self) -> Value {
        let (t, id) = match self {
            Resource::Repository(id) => ("Repository", id),
            Resource::Branch(id) => ("Branch", id),
            Resource::PullRequest(id) => ("PullRequest", id),
            Resource::File(id) => ("File", id),
            Resource::Secret(id) => ("Secret", id),
            Resource::ApiHost(id) => ("ApiHost", id),
            Resource::Environment(id) => ("Environment", id),
            Resource::CloudAccount(id) => ("CloudAccount", id),
            Resource::Tool(id) => ("Tool", id),
        };
        json!({"type": t, "id": id})
    }
}

/// The credential the agent acts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Credential id (revocable).
    pub id: String,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// When it expires.
    pub expires_at: SystemTime,
    /// What it allows, e.g. `repo:write`.
    pub scopes: Vec<String>,
}

impl Credential {
    /// A credential with the given lifetime and scopes.
    pub fn new<S: Into<String>>(
        id: impl Into<String>,
        issued_at: SystemTime,
        expires_at: SystemTime,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        Self { id: id.into(), issued_at, expires_at, scopes: scopes.into_iter().map(Into::into).collect() }
    }
}

/// The agent's session and its counters so far (this call included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Tool calls made in the session.
    pub actions: i64,
    /// Distinct repositories touched in the session.
    pub repos_touched: i64,
}

/// A tool call of a coding agent, built field by field into a [`Request`].
#[derive(Debug, Clone)]
pub struct ToolCall {
    agent: String,
    action: Action,
    resource: Resource,
    context: Vec<(String, ContextValue)>,
}

impl ToolCall {
    /// `Agent::"<agent>"` wants to do `action` to `resource`.
    pub fn new(agent: impl Into<String>, action: Action, resource: Resource) -> Self {
        Self { agent: agent.into(), action, resource, context: Vec::new() }
    }

    fn set(mut self, key: &str, value: ContextValue) -> Self {
        match self.context.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.context.push((key.to_string(), value)),
        }
        self
    }

    /// The credential in use.
    pub fn credential(self, c: Credential) -> Self {
        self.set(
            "credential",
            record([
                ("id", text(c.id)),
                ("issued_at", text(format_rfc3339_millis(c.issued_at))),
                ("expires_at", text(format_rfc3339_millis(c.expires_at))),
                ("scopes", ContextValue::Set(c.scopes.into_iter().map(ContextValue::String).collect())),
            ]),
        )
    }

    /// The session and its counters.
    pub fn session(self, s: Session) -> Self {
        self.set(
            "session",
            record([
                ("id", text(s.id)),
                ("actions", ContextValue::Long(s.actions)),
                ("repos_touched", ContextValue::Long(s.repos_touched)),
            ]),
        )
    }

    /// A human approval obtained after an `ask` from `owner`.
    pub fn approval(self, owner: impl Into<String>, approver: impl Into<String>) -> Self {
        self.set("approval", record([("owner", text(owner)), ("approver", text(approver))]))
    }

    /// The target branch name.
    pub fn branch(self, branch: impl Into<String>) -> Self {
        self.set("branch", text(branch))
    }

    /// The file path touched.
    pub fn path(self, path: impl Into<String>) -> Self {
        self.set("path", text(path))
    }

    /// The host called.
    pub fn host(self, host: impl Into<String>) -> Self {
        self.set("host", text(host))
    }

    /// The URL called.
    pub fn url(self, url: impl Into<String>) -> Self {
        self.set("url", text(url))
    }

    /// The shell command line.
    pub fn command(self, command: impl Into<String>) -> Self {
        self.set("command", text(command))
    }

    /// The size of the change in lines.
    pub fn diff_lines(self, lines: i64) -> Self {
        self.set("diff_lines", ContextValue::Long(lines))
    }

    /// The target environment name.
    pub fn environment(self, env: impl Into<String>) -> Self {
        self.set("environment", text(env))
    }

    /// The request. `context.now` is added by the engine when it decides.
    /// Fails only if an id cannot form a Cedar entity reference.
    pub fn build(self) -> Result<Request, RequestError> {
        let principal = crate::request::entity_uid("Agent", &self.agent)?;
        let resource = crate::request::parse_entity_ref(&self.resource.to_json(), "resource")?;
        let action = crate::request::entity_uid("Action", self.action.as_str())?;
        Ok(Request::with_action_uid(principal, action, resource).with_context(self.context))
    }
}

fn text(s: impl Into<String>) -> ContextValue {
    ContextValue::String(s.into())
}

fn record<const N: usize>(fields: [(&str, ContextValue); N]) -> ContextValue {
    ContextValue::Record(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}
