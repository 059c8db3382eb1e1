//! `agentauthz hook <agent>`: the hook process a coding agent runs before each
//! tool call. Reads the agent's JSON from stdin, answers on stdout in the
//! agent's protocol, exit code 0. Every failure (bad JSON, unknown tool,
//! policies that do not load, an unavailable state store) is a deny with the
//! reason: the hook never crashes into an allow.

mod claude_code;
mod cursor;
mod gemini_cli;
pub mod install;
pub mod serve;
pub mod state;
pub mod wire;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::collections::HashMap;

use agentauthz::{Engine, Outcome, PolicySources};
use agentauthz_hook::prepare::{content_hash, load_sources_for};
use agentauthz_hook::{decide, HookSettings, Mapping, Store, ToolCall, Verdict};
use clap::{Args, Subcommand};
use serde_json::Value;

/// Largest hook input read from stdin.
const MAX_INPUT: u64 = wire::MAX_INPUT;

/// The agents whose hook protocol is spoken.
#[derive(Subcommand, Clone)]
pub enum HookCmd {
    /// Claude Code PreToolUse hook.
    ClaudeCode(HookArgs),
    /// Cursor hooks (beforeShellExecution, beforeMCPExecution, beforeReadFile).
    Cursor(HookArgs),
    /// Gemini CLI BeforeTool hook.
    GeminiCli(HookArgs),
    /// Print (or write with --write) the settings entry that wires the hook in.
    Install(install::InstallArgs),
    /// Serve hook calls from one long-lived process per state store (the
    /// `agentauthz-hook` client starts it when needed; it ends when idle).
    Serve(serve::ServeArgs),
}

/// Where policies and state are, and who the agent is.
#[derive(Args, Clone, Debug)]
pub struct HookArgs {
    /// The policy folder.
    #[arg(long, env = "AGENTAUTHZ_DIR")]
    pub dir: PathBuf,
    /// The state store (SQLite), shared by all hook processes.
    #[arg(long, env = "AGENTAUTHZ_STORE")]
    pub store: Option<PathBuf>,
    /// The agent's principal id (default: the agent's name, e.g. claude-code).
    #[arg(long, env = "AGENTAUTHZ_AGENT")]
    pub agent: Option<String>,
    /// The repository id (default: from the mapping, else the repository folder's name).
    #[arg(long, env = "AGENTAUTHZ_REPO")]
    pub repo: Option<String>,
    /// A mapping override (TOML); default DIR/hook-mapping.toml when present.
    #[arg(long, env = "AGENTAUTHZ_MAPPING")]
    pub mapping: Option<PathBuf>,
}

/// The default state store: `$AGENTAUTHZ_HOME` or `~/.agentauthz`, `state.db`.
pub fn default_store() -> PathBuf {
    default_store_in(&home())
}

/// The default state store for a `$HOME`: `$AGENTAUTHZ_HOME/state.db`, else `HOME/.agentauthz/state.db`.
fn default_store_in(home: &Path) -> PathBuf {
    let base = std::env::var_os("AGENTAUTHZ_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".agentauthz"));
    base.join("state.db")
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

/// A tool call as one protocol delivers it, or an event the hook only answers.
pub(crate) enum Parsed {
    Call(ToolCall, &'static str),
}

/// One agent's wire format.
pub(crate) trait Protocol {
    /// The agent's name (default principal id).
    fn name(&self) -> &'static str;
    /// Reads the agent's JSON.
    fn parse(&self, input: &Value) -> Result<Parsed, String>;
    /// The answer for stdout. `event` is the event being answered, when known.
    fn render(&self, verdict: &Verdict, event: Option<&str>) -> Value;
}

/// Runs one hook call for a protocol.
pub fn run(cmd: &HookCmd) -> ExitCode {
    let Some((protocol, args)) = protocol_of(cmd) else {
        return match cmd {
            HookCmd::Install(a) => install::run(a),
            HookCmd::Serve(a) => serve::run(a),
            HookCmd::ClaudeCode(_) | HookCmd::Cursor(_) | HookCmd::GeminiCli(_) => ExitCode::from(2),
        };
    };
    let timing = Timing::from_env();
    let mut text = String::new();
    let input = match std::io::stdin().take(MAX_INPUT).read_to_string(&mut text) {
        Ok(_) => Ok(text.as_str()),
        Err(e) => Err(e.to_string()),
    };
    let mut resources = Resources::default();
    let line = respond(protocol, args, input, &mut resources, &home(), &timing);
    // The process ends after this answer: close the state store, and leave the
    // engine's memory to the OS rather than walk every policy and entity to free it.
    resources.store = None;
    std::mem::forget(resources);
    let mut stdout = std::io::stdout().lock();
    // A failed write cannot be reported to the agent; exit non-zero so the agent
    // treats the hook as failed rather than as an answer.
    let code = match writeln!(stdout, "{line}").and_then(|_| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => 2,
    };
    drop(stdout);
    end_process(code)
}

/// The protocol of a hook subcommand (None for `install` and `serve`).
pub(crate) fn protocol_of(cmd: &HookCmd) -> Option<(&'static dyn Protocol, &HookArgs)> {
    match cmd {
        HookCmd::ClaudeCode(a) => Some((&claude_code::ClaudeCode, a)),
        HookCmd::Cursor(a) => Some((&cursor::Cursor, a)),
        HookCmd::GeminiCli(a) => Some((&gemini_cli::GeminiCli, a)),
        HookCmd::Install(_) | HookCmd::Serve(_) => None,
    }
}

/// Ends the process at once with `code`, once the answer is written and
/// flushed and the state store closed. A normal exit would
/// first have the allocator hand each heap segment back to the kernel, one
/// `madvise` call per segment (60-odd for a hook call), which the kernel does
/// for the whole address space on exit anyway. Nothing else is left to run:
/// Rust runs no destructors for statics, and stderr is unbuffered.
fn end_process(code: i32) -> ! {
    // SAFETY: `_exit` takes no pointers and does not return; the only state it
    // skips (C `atexit` handlers: the allocator's clean-up) is not needed by a
    // process that is ending.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(code)
    }
}

fn deny(reason: String) -> Verdict {
    Verdict { outcome: Outcome::Deny, reason, ask_owners: vec![], approval_id: None }
}

/// What a hook call needs besides its input: the mapping, the state store and
/// an engine for the policy folder and principal. A hook process makes them
/// for its one call; the hook server keeps them between calls and uses each
/// again only while its source is unchanged: the mapping file's bytes, the
/// store file (same file, not a replaced one), and the policy folder's content
/// hash, read and computed on every call.
#[derive(Default)]
pub(crate) struct Resources {
    mapping: Option<(Option<MappingSource>, Mapping)>,
    store: Option<(PathBuf, FileId, Store)>,
    engines: HashMap<(PathBuf, String), (String, Engine)>,
}

/// A mapping override file and its bytes.
type MappingSource = (PathBuf, Vec<u8>);

/// A file's (device, inode).
pub(crate) type FileId = (u64, u64);

/// Engines kept by a server (folder and principal pairs); past this, all are dropped.
const MAX_ENGINES: usize = 32;

impl Resources {
    fn mapping(&mut self, args: &HookArgs) -> Result<&Mapping, String> {
        let default = args.dir.join("hook-mapping.toml");
        let file = match &args.mapping {
            Some(p) => Some(p.clone()),
            None if default.is_file() => Some(default),
            None => None,
        };
        let source = match file {
            Some(p) => {
                let bytes = std::fs::read(&p).map_err(|e| format!("cannot read mapping {}: {e}", p.display()))?;
                Some((p, bytes))
            }
            None => None,
        };
        let fresh = !matches!(&self.mapping, Some((kept, _)) if *kept == source);
        if fresh {
            let mapping = match &source {
                Some((p, bytes)) => {
                    let text =
                        std::str::from_utf8(bytes).map_err(|e| format!("cannot read mapping {}: {e}", p.display()))?;
                    Mapping::with_override_text(text, p)?
                }
                None => Mapping::builtin()?,
            };
            self.mapping = Some((source, mapping));
        }
        self.mapping.as_ref().map(|(_, m)| m).ok_or_else(|| "no mapping".to_string())
    }
}

/// The (device, inode) of a file.
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Decides one hook call and returns the line to print: the agent's answer in
/// its protocol. `input` is the hook input read from stdin (or why it could
/// not be read); `home` is `$HOME` of the agent's environment.
pub(crate) fn respond(
    protocol: &dyn Protocol,
    args: &HookArgs,
    input: Result<&str, String>,
    res: &mut Resources,
    home: &Path,
    timing: &Timing,
) -> String {
    let (verdict, event) = answer(protocol, args, input, res, home, timing);
    protocol.render(&verdict, event).to_string()
}

fn answer(
    protocol: &dyn Protocol,
    args: &HookArgs,
    input: Result<&str, String>,
    res: &mut Resources,
    home: &Path,
    timing: &Timing,
) -> (Verdict, Option<&'static str>) {
    let text = match input {
        Ok(t) => t,
        Err(e) => return (deny(format!("agentauthz: cannot read the hook input: {e}")), None),
    };
    let input: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return (deny(format!("agentauthz: the hook input is not valid JSON ({e}); denied")), None),
    };
    let (call, event) = match protocol.parse(&input) {
        Ok(Parsed::Call(c, event)) => (c, event),
        Err(e) => return (deny(format!("agentauthz: unexpected {} hook input: {e}; denied", protocol.name())), None),
    };
    if let Err(e) = res.mapping(args) {
        return (deny(format!("agentauthz: {e}; denied")), Some(event));
    }
    timing.mark("input and mapping");
    let store_path = args.store.clone().unwrap_or_else(|| default_store_in(home));
    let id = file_id(&store_path);
    if !matches!(&res.store, Some((p, kept, _)) if *p == store_path && Some(*kept) == id) {
        res.store = None;
        match Store::open(&store_path) {
            Ok(s) => match file_id(&store_path) {
                Some(id) => res.store = Some((store_path.clone(), id, s)),
                None => {
                    return (deny("agentauthz: the state store vanished as it was opened; denied".into()), Some(event))
                }
            },
            Err(e) => return (deny(format!("agentauthz: {e}; denied")), Some(event)),
        }
    }
    let Resources { mapping: Some((_, mapping)), store: Some((_, _, store)), engines } = res else {
        return (deny("agentauthz: internal error: no mapping or store; denied".into()), Some(event));
    };
    timing.mark("state store open");
    let agent = args.agent.clone().unwrap_or_else(|| protocol.name().to_string());
    let principal = format!("{}::{}", mapping.principal.entity_type, Value::String(agent.clone()));
    let sources = match PolicySources::from_dir(&args.dir) {
        Ok(s) => s,
        Err(e) => return (policy_error(&args.dir, e.to_string()), Some(event)),
    };
    let hash = content_hash(&sources);
    let key = (args.dir.clone(), principal.clone());
    if !matches!(engines.get(&key), Some((kept, _)) if *kept == hash) {
        engines.remove(&key);
        if engines.len() >= MAX_ENGINES {
            engines.clear();
        }
        match load_sources_for(sources, hash.clone(), store, &principal) {
            Ok(loaded) => {
                engines.insert(key.clone(), (hash.clone(), loaded.0));
            }
            Err(e) => return (policy_error(&args.dir, e), Some(event)),
        }
    }
    let Some((_, engine)) = engines.get(&key) else {
        return (deny("agentauthz: internal error: no engine; denied".into()), Some(event));
    };
    timing.mark("policy load");
    let settings = HookSettings {
        agent,
        repo: args.repo.clone(),
        home: home.to_path_buf(),
        approve_command: format!("agentauthz state approve --store {}", shell_quote(&absolute(&store_path))),
        policy_sha256: hash,
    };
    let verdict = decide(engine, store, mapping, &call, &settings);
    timing.mark("decision");
    (verdict, Some(event))
}

fn policy_error(dir: &Path, e: String) -> Verdict {
    deny(format!("agentauthz: policies in {} do not load: {e}; denied", dir.display()))
}

/// `AGENTAUTHZ_HOOK_TIMING=1`: when each phase ended (ms since the hook began) on stderr
/// (agents ignore a hook's stderr when it exits 0), to see where start-up goes.
pub(crate) struct Timing(Option<std::time::Instant>);

impl Timing {
    /// No timing (the hook server).
    pub(crate) fn off() -> Self {
        Self(None)
    }

    pub(crate) fn from_env() -> Self {
        Self(std::env::var_os("AGENTAUTHZ_HOOK_TIMING").filter(|v| v == "1").map(|_| std::time::Instant::now()))
    }

    fn mark(&self, phase: &str) {
        if let Some(start) = self.0 {
            eprintln!("agentauthz hook timing: {phase} done at {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
        }
    }
}

pub(crate) fn absolute(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A required string field.
/// Parses the payload shared by Claude Code's PreToolUse and Gemini CLI's
/// BeforeTool: `{hook_event_name, tool_name, tool_input, cwd, session_id}`,
/// refusing any other event than `event`.
pub(crate) fn parse_tool_event(input: &Value, event: &'static str) -> Result<Parsed, String> {
    if !input.is_object() {
        return Err("not a JSON object".into());
    }
    let got = field(input, "hook_event_name")?;
    if got != event {
        return Err(format!("event `{got}` is not {event}"));
    }
    let tool_input = input.get("tool_input").cloned().ok_or("missing `tool_input`")?;
    Ok(Parsed::Call(
        ToolCall {
            tool_name: field(input, "tool_name")?.to_string(),
            tool_input,
            cwd: field(input, "cwd")?.into(),
            session_id: field(input, "session_id")?.to_string(),
        },
        event,
    ))
}

pub(crate) fn field<'a>(input: &'a Value, name: &str) -> Result<&'a str, String> {
    match input.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("`{name}` is not a string")),
        None => Err(format!("missing `{name}`")),
    }
}
