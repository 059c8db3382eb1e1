//! `agentauthz hook <agent>`: the hook process a coding agent runs before each
//! tool call. Reads the agent's JSON from stdin, answers on stdout in the
//! agent's protocol, exit code 0. Every failure (bad JSON, unknown tool,
//! policies that do not load, an unavailable state store) is a deny with the
//! reason: the hook never crashes into an allow.

mod claude_code;
mod cursor;
mod gemini_cli;
pub mod install;
pub mod state;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentauthz::Outcome;
use agentauthz_hook::prepare::load_engine_for;
use agentauthz_hook::{decide, HookSettings, Mapping, Store, ToolCall, Verdict};
use clap::{Args, Subcommand};
use serde_json::Value;

/// Largest hook input read from stdin.
const MAX_INPUT: u64 = 8 << 20;

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
    let base = std::env::var_os("AGENTAUTHZ_HOME").map(PathBuf::from).unwrap_or_else(|| home().join(".agentauthz"));
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
    let (protocol, args): (&dyn Protocol, &HookArgs) = match cmd {
        HookCmd::ClaudeCode(a) => (&claude_code::ClaudeCode, a),
        HookCmd::Cursor(a) => (&cursor::Cursor, a),
        HookCmd::GeminiCli(a) => (&gemini_cli::GeminiCli, a),
        HookCmd::Install(a) => return install::run(a),
    };
    let (verdict, event) = answer(protocol, args);
    let out = protocol.render(&verdict, event);
    let mut stdout = std::io::stdout().lock();
    // A failed write cannot be reported to the agent; exit non-zero so the agent
    // treats the hook as failed rather than as an answer.
    let code = match writeln!(stdout, "{out}").and_then(|_| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => 2,
    };
    drop(stdout);
    end_process(code)
}

/// Ends the process at once with `code`, once the answer is written and
/// flushed and the state store closed (`answer` owns it). A normal exit would
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

fn answer(protocol: &dyn Protocol, args: &HookArgs) -> (Verdict, Option<&'static str>) {
    let timing = Timing::from_env();
    let mut text = String::new();
    if let Err(e) = std::io::stdin().take(MAX_INPUT).read_to_string(&mut text) {
        return (deny(format!("agentauthz: cannot read the hook input: {e}")), None);
    }
    let input: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return (deny(format!("agentauthz: the hook input is not valid JSON ({e}); denied")), None),
    };
    let (call, event) = match protocol.parse(&input) {
        Ok(Parsed::Call(c, event)) => (c, event),
        Err(e) => return (deny(format!("agentauthz: unexpected {} hook input: {e}; denied", protocol.name())), None),
    };
    let mapping = match mapping(args) {
        Ok(m) => m,
        Err(e) => return (deny(format!("agentauthz: {e}; denied")), Some(event)),
    };
    timing.mark("input and mapping");
    let store_path = args.store.clone().unwrap_or_else(default_store);
    let mut store = match Store::open(&store_path) {
        Ok(s) => s,
        Err(e) => return (deny(format!("agentauthz: {e}; denied")), Some(event)),
    };
    timing.mark("state store open");
    let agent = args.agent.clone().unwrap_or_else(|| protocol.name().to_string());
    let principal = format!("{}::{}", mapping.principal.entity_type, Value::String(agent.clone()));
    let (engine, policy_sha256) = match load_engine_for(&args.dir, &mut store, &principal) {
        Ok(e) => e,
        Err(e) => {
            return (
                deny(format!("agentauthz: policies in {} do not load: {e}; denied", args.dir.display())),
                Some(event),
            )
        }
    };
    timing.mark("policy load");
    let settings = HookSettings {
        agent,
        repo: args.repo.clone(),
        home: home(),
        approve_command: format!("agentauthz state approve --store {}", shell_quote(&absolute(&store_path))),
        policy_sha256,
    };
    let verdict = decide(&engine, &mut store, &mapping, &call, &settings);
    timing.mark("decision");
    // The process ends after this answer: leave the engine's memory to the OS
    // rather than walking every policy and entity to free it.
    std::mem::forget(engine);
    (verdict, Some(event))
}

/// `AGENTAUTHZ_HOOK_TIMING=1`: when each phase ended (ms since the hook began) on stderr
/// (agents ignore a hook's stderr when it exits 0), to see where start-up goes.
struct Timing(Option<std::time::Instant>);

impl Timing {
    fn from_env() -> Self {
        Self(std::env::var_os("AGENTAUTHZ_HOOK_TIMING").filter(|v| v == "1").map(|_| std::time::Instant::now()))
    }

    fn mark(&self, phase: &str) {
        if let Some(start) = self.0 {
            eprintln!("agentauthz hook timing: {phase} done at {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
        }
    }
}

fn mapping(args: &HookArgs) -> Result<Mapping, String> {
    let default = args.dir.join("hook-mapping.toml");
    match &args.mapping {
        Some(p) => Mapping::with_overrides(p),
        None if default.is_file() => Mapping::with_overrides(&default),
        None => Mapping::builtin(),
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
