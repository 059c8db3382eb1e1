//! `agentauthz hook install <agent> --dir D [--write]`: the settings entry that
//! makes the agent call `agentauthz-hook <agent>` (the hook server's client) or,
//! with `--no-server`, `agentauthz hook <agent>` before each tool call.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use super::{absolute, default_store, shell_quote};

/// Arguments of `hook install`.
#[derive(Args, Clone, Debug)]
pub struct InstallArgs {
    /// claude-code, cursor or gemini-cli.
    pub agent: String,
    /// The policy folder.
    #[arg(long)]
    pub dir: PathBuf,
    /// The state store (default ~/.agentauthz/state.db).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// The agent's principal id, if not the agent's name.
    #[arg(long)]
    pub agent_id: Option<String>,
    /// The repository id, if not the folder's name.
    #[arg(long)]
    pub repo: Option<String>,
    /// Merge the entry into the project's settings file (.claude/settings.json,
    /// .cursor/hooks.json or .gemini/settings.json) instead of printing it.
    #[arg(long)]
    pub write: bool,
    /// The project folder for --write (default: the current folder).
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Run `agentauthz hook` for every call instead of the `agentauthz-hook`
    /// client of the hook server (slower start, no background process).
    #[arg(long)]
    pub no_server: bool,
}

/// Prints or writes the entry.
pub fn run(a: &InstallArgs) -> ExitCode {
    match entry(a) {
        Ok((file, entry)) => {
            if !a.write {
                println!("{}", serde_json::to_string_pretty(&entry).unwrap_or_default());
                return ExitCode::SUCCESS;
            }
            let path = a.project.join(file);
            match write_merged(&path, &entry) {
                Ok(()) => {
                    println!("wrote the agentauthz hook into {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("agentauthz: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Err(e) => {
            eprintln!("agentauthz: {e}");
            ExitCode::from(2)
        }
    }
}

/// The hook command: the `agentauthz-hook` client next to this binary when
/// there is one (and not `--no-server`), else `agentauthz hook`.
fn command(a: &InstallArgs) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("agentauthz"));
    let client = exe.with_file_name("agentauthz-hook");
    let program = if !a.no_server && client.is_file() {
        shell_quote(&client.display().to_string())
    } else {
        format!("{} hook", shell_quote(&exe.display().to_string()))
    };
    let store = a.store.clone().unwrap_or_else(default_store);
    let mut c = format!(
        "{program} {} --dir {} --store {}",
        a.agent,
        shell_quote(&absolute(&a.dir)),
        shell_quote(&absolute(&store))
    );
    if let Some(id) = &a.agent_id {
        c.push_str(&format!(" --agent {}", shell_quote(id)));
    }
    if let Some(r) = &a.repo {
        c.push_str(&format!(" --repo {}", shell_quote(r)));
    }
    c
}

/// The settings file (relative to the project) and the entry for it.
fn entry(a: &InstallArgs) -> Result<(&'static str, Value), String> {
    let cmd = command(a);
    match a.agent.as_str() {
        "claude-code" => Ok((
            ".claude/settings.json",
            json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": cmd, "timeout": 30}]}]}}),
        )),
        "gemini-cli" => Ok((
            ".gemini/settings.json",
            json!({"hooks": {"BeforeTool": [{"matcher": ".*", "hooks": [{"type": "command", "name": "agentauthz", "command": cmd, "timeout": 30000}]}]}}),
        )),
        "cursor" => Ok((
            ".cursor/hooks.json",
            json!({"version": 1, "hooks": {
                "beforeShellExecution": [{"command": cmd}],
                "beforeMCPExecution": [{"command": cmd}],
                "beforeReadFile": [{"command": cmd}],
            }}),
        )),
        other => Err(format!("unknown agent `{other}` (claude-code, cursor, gemini-cli)")),
    }
}

/// Whether a settings entry is an agentauthz hook (`agentauthz hook ...` or `agentauthz-hook ...`).
fn is_ours(entry: &str) -> bool {
    entry.contains("agentauthz-hook ") || (entry.contains(" hook ") && entry.contains("agentauthz"))
}

/// Adds the entry's hooks to the file's, replacing earlier agentauthz entries
/// and keeping everything else; written atomically.
fn write_merged(path: &Path, entry: &Value) -> Result<(), String> {
    let mut current: Value = match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => {
            serde_json::from_str(&t).map_err(|e| format!("{} is not JSON: {e}", path.display()))?
        }
        Ok(_) => json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let obj = current.as_object_mut().ok_or_else(|| format!("{} is not a JSON object", path.display()))?;
    if let Some(v) = entry.get("version") {
        obj.entry("version").or_insert(v.clone());
    }
    let hooks = obj.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks.as_object_mut().ok_or("`hooks` is not an object")?;
    for (event, new) in entry.get("hooks").and_then(Value::as_object).into_iter().flatten() {
        let list = hooks.entry(event.clone()).or_insert_with(|| json!([]));
        let list = list.as_array_mut().ok_or_else(|| format!("hooks.{event} is not an array"))?;
        list.retain(|h| !is_ours(&h.to_string()));
        list.extend(new.as_array().cloned().unwrap_or_default());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(&current).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text + "\n").map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
