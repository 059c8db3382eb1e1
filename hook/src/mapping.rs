//! One tool call → the authorization requests it needs: the tool's own action
//! plus every file, host and push found in it (see [`crate::shell`]).

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::config::{Mapping, ToolKind};
use crate::paths::{is_secret, place, repository_root, Place};
use crate::shell::{analyze, url_host};

/// A tool call as every supported agent describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The agent's tool name (`Bash`, `run_shell_command`, `mcp__github__create_issue`).
    pub tool_name: String,
    /// The tool's arguments.
    pub tool_input: Value,
    /// The working directory: the repository is the one holding it.
    pub cwd: PathBuf,
    /// The agent's session (conversation) id.
    pub session_id: String,
}

/// One authorization request derived from a tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The action name (`run_command`).
    pub action: String,
    /// The resource entity type.
    pub resource_type: String,
    /// The resource entity id.
    pub resource_id: String,
    /// Action specifics for the context (`path`, `command`, `host`, `url`, `branch`).
    pub context: Map<String, Value>,
    /// The repository this request touches, for the session's `repos_touched`.
    pub repo: Option<String>,
    /// What this part is, for people (`read .env`).
    pub label: String,
}

/// The requests for a tool call, or why it cannot be mapped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapped {
    /// The requests (all must be allowed).
    pub parts: Vec<Part>,
    /// Why the call cannot be authorized as a whole (non-empty means deny).
    pub problems: Vec<String>,
    /// The repository id.
    pub repo: String,
}

/// Where the call runs.
struct Where<'a> {
    root: PathBuf,
    cwd: PathBuf,
    repo: String,
    m: &'a Mapping,
}

/// Maps a tool call. `repo_override` names the repository instead of the
/// mapping's `[repository.ids]` / the root folder's name.
pub fn map_call(call: &ToolCall, m: &Mapping, repo_override: Option<&str>, home: &Path) -> Mapped {
    let mut out = Mapped::default();
    if !call.cwd.is_absolute() {
        out.problems.push(format!("cwd `{}` is not an absolute path", call.cwd.display()));
        return out;
    }
    let root = repository_root(&call.cwd);
    let cwd = std::fs::canonicalize(&call.cwd).unwrap_or_else(|_| call.cwd.clone());
    let repo = match repo_override {
        Some(r) => r.to_string(),
        None => m.repository.ids.get(&root.display().to_string()).cloned().unwrap_or_else(|| {
            root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into())
        }),
    };
    out.repo = repo.clone();
    let w = Where { root, cwd, repo, m };
    let Some(tool) = m.tool(&call.tool_name) else {
        out.problems.push(format!("unknown tool `{}` (not in the hook mapping)", call.tool_name));
        return out;
    };
    let input = &call.tool_input;
    if !input.is_object() {
        out.problems.push(format!("tool_input of `{}` is not a JSON object", call.tool_name));
        return out;
    }
    let field = |required: bool, out: &mut Mapped| -> Option<Vec<String>> {
        for f in &tool.field {
            match input.get(f) {
                Some(Value::String(s)) => return Some(vec![s.clone()]),
                Some(Value::Array(a)) => {
                    let v: Option<Vec<String>> = a.iter().map(|x| x.as_str().map(str::to_string)).collect();
                    match v {
                        Some(v) => return Some(v),
                        None => {
                            out.problems.push(format!("tool_input.{f} holds a non-string"));
                            return None;
                        }
                    }
                }
                Some(Value::Null) | None => {}
                Some(_) => {
                    out.problems.push(format!("tool_input.{f} is not a string"));
                    return None;
                }
            }
        }
        if required {
            out.problems.push(format!("tool_input has none of {:?}", tool.field));
        }
        None
    };
    match tool.kind {
        ToolKind::None => {}
        ToolKind::Read | ToolKind::Write => {
            if let Some(paths) = field(true, &mut out) {
                for p in paths {
                    let p = expand_tilde(&p, home);
                    w.file(&mut out, &p, tool.kind == ToolKind::Write);
                }
            }
        }
        ToolKind::Search => {
            let paths = field(false, &mut out).unwrap_or_else(|| vec![".".into()]);
            for p in paths {
                let p = expand_tilde(&p, home);
                w.file(&mut out, &p, false);
            }
        }
        ToolKind::Fetch => {
            if let Some(v) = field(true, &mut out) {
                let urls: Vec<String> = v
                    .iter()
                    .flat_map(|s| s.split_whitespace())
                    .filter(|s| s.contains("://"))
                    .map(str::to_string)
                    .collect();
                if urls.is_empty() {
                    out.problems.push("no URL in the fetch".into());
                }
                for u in urls {
                    match url_host(&u) {
                        Some(h) => w.host(&mut out, &h, &u),
                        None => out.problems.push(format!("cannot find the host of `{u}`")),
                    }
                }
            }
        }
        ToolKind::Websearch => {
            let host = m.web.search_host.clone();
            w.host(&mut out, &host, "");
        }
        ToolKind::Mcp => {
            let rest = call.tool_name.strip_prefix("mcp__").unwrap_or(&call.tool_name);
            let (server, name) = rest.split_once("__").unwrap_or(("?", rest));
            out.parts.push(Part {
                action: m.actions.mcp.clone(),
                resource_type: m.entities.tool.clone(),
                resource_id: format!("{server}/{name}"),
                context: Map::new(),
                repo: None,
                label: format!("MCP tool {server}/{name}"),
            });
        }
        ToolKind::Shell => {
            if let Some(cmds) = field(true, &mut out) {
                for c in cmds {
                    w.shell(&mut out, &c, home);
                }
            }
        }
    }
    out
}

fn expand_tilde(p: &str, home: &Path) -> String {
    if p == "~" {
        home.display().to_string()
    } else if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest).display().to_string()
    } else {
        p.to_string()
    }
}

impl Where<'_> {
    fn repo_part(&self, action: &str, context: Map<String, Value>, label: String) -> Part {
        Part {
            action: action.to_string(),
            resource_type: self.m.repository.entity_type.clone(),
            resource_id: self.repo.clone(),
            context,
            repo: Some(self.repo.clone()),
            label,
        }
    }

    /// A file read or write, placed relative to the repository.
    fn file(&self, out: &mut Mapped, raw: &str, write: bool) {
        if raw.starts_with('~') {
            out.problems.push(format!("path `{raw}` names another user's home"));
            return;
        }
        let verb = if write { "write" } else { "read" };
        let a = &self.m.actions;
        let secret_patterns = &self.m.files.secret_patterns;
        match place(&self.root, &self.cwd, raw) {
            Place::Inside(rel) => {
                let shown = if rel.is_empty() { ".".to_string() } else { rel.clone() };
                if is_secret(&rel, secret_patterns) {
                    out.parts.push(Part {
                        action: if write { a.write_secret.clone() } else { a.read_secret.clone() },
                        resource_type: self.m.entities.secret.clone(),
                        resource_id: format!("repo:{}/{rel}", self.repo),
                        context: ctx(&[("path", &rel)]),
                        repo: None,
                        label: format!("{verb} secret file {shown}"),
                    });
                } else {
                    let action = if write { &a.write_file } else { &a.read_file };
                    out.parts.push(self.repo_part(action, ctx(&[("path", &rel)]), format!("{verb} {shown}")));
                }
            }
            Place::Outside(abs) => {
                let (action, rtype, id, label) = if is_secret(&abs, secret_patterns) {
                    let action = if write { &a.write_secret } else { &a.read_secret };
                    (action, &self.m.entities.secret, format!("file:{abs}"), format!("{verb} secret file {abs}"))
                } else {
                    let action = if write { &a.write_file } else { &a.read_file };
                    (
                        action,
                        &self.m.entities.file_outside,
                        abs.clone(),
                        format!("{verb} {abs} (outside the repository)"),
                    )
                };
                out.parts.push(Part {
                    action: action.clone(),
                    resource_type: rtype.clone(),
                    resource_id: id,
                    context: ctx(&[("path", &abs)]),
                    repo: None,
                    label,
                });
            }
        }
    }

    fn host(&self, out: &mut Mapped, host: &str, url: &str) {
        let mut c = ctx(&[("host", host)]);
        if !url.is_empty() {
            c.insert("url".into(), json!(url));
        }
        out.parts.push(Part {
            action: self.m.actions.network.clone(),
            resource_type: self.m.entities.api_host.clone(),
            resource_id: host.to_string(),
            context: c,
            repo: None,
            label: if url.is_empty() { format!("call {host}") } else { format!("call {url}") },
        });
    }

    fn shell(&self, out: &mut Mapped, command: &str, home: &Path) {
        let fx = analyze(command, &self.cwd, home, &self.m.shell);
        out.problems.extend(fx.problems.iter().cloned());
        for c in &fx.commands {
            if c.is_empty() {
                continue;
            }
            out.parts.push(self.repo_part(&self.m.actions.run_command, ctx(&[("command", c)]), format!("run `{c}`")));
        }
        for r in &fx.reads {
            self.file(out, r, false);
        }
        for wr in &fx.writes {
            self.file(out, wr, true);
        }
        for (h, u) in &fx.hosts {
            self.host(out, h, u);
        }
        for p in &fx.pushes {
            let branch = match p {
                Some(b) => b.clone(),
                None => match current_branch(&self.root) {
                    Some(b) => b,
                    None => {
                        out.problems.push("git push: the current branch cannot be determined".into());
                        continue;
                    }
                },
            };
            out.parts.push(Part {
                action: self.m.actions.push.clone(),
                resource_type: self.m.repository.branch_entity_type.clone(),
                resource_id: format!("{}/{branch}", self.repo),
                context: ctx(&[("branch", &branch)]),
                repo: Some(self.repo.clone()),
                label: format!("push to {branch}"),
            });
        }
    }
}

fn ctx(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()
}

/// The branch `.git/HEAD` points at.
fn current_branch(root: &Path) -> Option<String> {
    let head = std::fs::read_to_string(root.join(".git").join("HEAD")).ok()?;
    head.trim().strip_prefix("ref: refs/heads/").map(str::to_string)
}
