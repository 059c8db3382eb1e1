//! `agentauthz`: the command-line front of the agentauthz engine.
//!
//! Thin by design: argument parsing, file reading and printing; every decision
//! is made by the core crate.

mod audit_cmd;
mod demo;
mod hook;
mod report;

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use agentauthz::cases::{load_cases, run_cases};
use agentauthz::{Engine, ErrorMode, PolicySources, Subject};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agentauthz",
    version,
    about = "Authorize AI coding agents' actions with Cedar policies: allow, deny or ask."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate policies against a schema (strict mode); exit 1 on errors.
    Validate(PolicyArgs),
    /// Decide requests and print one JSON decision per line.
    Authorize {
        #[command(flatten)]
        policy: PolicyArgs,
        /// One request as a JSON file.
        #[arg(long, conflicts_with = "requests")]
        request: Option<PathBuf>,
        /// Many requests, one JSON object per line ('-' for standard input).
        #[arg(long)]
        requests: Option<PathBuf>,
    },
    /// Run a policy folder's cases.toml and print `N passed, N failed`.
    Test {
        /// The policy folder (holding cases.toml).
        dir: PathBuf,
        /// The cases file, if not DIR/cases.toml.
        #[arg(long)]
        cases: Option<PathBuf>,
        /// Print every case, not only failures.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Revoke an agent, session or credential in a revocations file (kill switch).
    Revoke {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Why; shown in every decision the revocation causes.
        #[arg(long)]
        reason: String,
    },
    /// Lift a revocation from a revocations file.
    Restore {
        #[command(flatten)]
        subject: SubjectArgs,
    },
    /// Answer a coding agent's hook call (JSON on stdin, the agent's answer on stdout).
    Hook {
        #[command(subcommand)]
        agent: hook::HookCmd,
    },
    /// Manage the hooks' shared state: revocations, grants, approvals, audit chain.
    State {
        #[command(subcommand)]
        cmd: hook::state::StateCmd,
    },
    /// Validate a policy folder once and remember its content hash in the state
    /// store, so hook processes skip validation (any edit invalidates it).
    Compile {
        /// The policy folder.
        dir: PathBuf,
        /// The state store (default ~/.agentauthz/state.db).
        #[arg(long, env = "AGENTAUTHZ_STORE")]
        store: Option<PathBuf>,
    },
    /// Replay a sample coding-agent trace through the engine and print a table.
    Demo {
        /// The policy folder.
        #[arg(long, default_value = "policies-examples/coding-agent")]
        dir: PathBuf,
        /// The trace (JSONL); defaults to DIR/trace.jsonl.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Also write every decision to this hash-chained audit log (JSONL;
        /// an existing log's chain is continued).
        #[arg(long)]
        audit: Option<PathBuf>,
    },
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// List each owner (`@owner`) with their policies; warn about policies without one.
    Owners {
        /// The policy folder.
        #[arg(long)]
        dir: PathBuf,
        /// A policy without @owner is an error (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Report which OWASP Agentic Top 10, CSA MAESTRO, NIST AI RMF and MITRE ATLAS
    /// controls the policies' @control annotations address, and which they do not.
    Controls {
        /// The policy folder.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Re-decide recorded requests with new policies (at the recorded times)
    /// and report what would change.
    Replay {
        /// Audit log files, oldest first (e.g. `audit.jsonl.0* audit.jsonl`).
        #[arg(long, required = true, num_args = 1..)]
        audit: Vec<PathBuf>,
        /// The new policy folder.
        #[arg(long)]
        dir: PathBuf,
        /// Print the report as JSON (for CI).
        #[arg(long)]
        json: bool,
    },
    /// Summarise, per shadow policy (`@mode("shadow")`), how often it would
    /// have changed the outcome of recorded decisions, for which agents and
    /// actions, with examples: what a risk owner reads before enforcing it.
    ShadowReport {
        /// Audit log files, oldest first.
        #[arg(long, required = true, num_args = 1..)]
        audit: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain across log files (oldest first): exit 0 if intact,
    /// 1 at the first edited, deleted, inserted, reordered or truncated record.
    Verify {
        /// The log files, oldest first (e.g. `audit.jsonl.0* audit.jsonl`). The
        /// chain must start at the log's first record (seq 0) unless `--after` is given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check a later segment: the hash its first record must chain to (the
        /// `last hash` an earlier verification printed, kept somewhere safe).
        #[arg(long, value_name = "HASH")]
        after: Option<String>,
    },
}

/// A revocations file and the subject to revoke or restore.
#[derive(Args, Clone)]
struct SubjectArgs {
    /// The revocations file (created if missing).
    #[arg(long)]
    file: PathBuf,
    /// An agent (principal) such as 'Agent::"ci-bot"'.
    #[arg(long, group = "subject")]
    agent: Option<String>,
    /// A session id (matched against context.session.id).
    #[arg(long, group = "subject")]
    session: Option<String>,
    /// A credential id (matched against context.credential.id).
    #[arg(long, group = "subject")]
    credential: Option<String>,
}

impl SubjectArgs {
    fn subject(&self) -> Result<Subject, String> {
        match (&self.agent, &self.session, &self.credential) {
            (Some(a), None, None) => Ok(Subject::Agent(a.clone())),
            (None, Some(s), None) => Ok(Subject::Session(s.clone())),
            (None, None, Some(c)) => Ok(Subject::Credential(c.clone())),
            _ => Err("give exactly one of --agent, --session, --credential".into()),
        }
    }

    /// Applies `change` to the revocations in the file and writes it back.
    fn update(&self, change: impl FnOnce(&Engine) -> bool) -> Result<ExitCode, String> {
        // Revocations do not depend on policies: an empty engine holds them.
        let engine = Engine::from_strings("", "", None).map_err(|e| e.to_string())?;
        if self.file.exists() {
            engine.load_revocations(&self.file).map_err(|e| format!("cannot read {}: {e}", self.file.display()))?;
        }
        let changed = change(&engine);
        engine.save_revocations(&self.file).map_err(|e| format!("cannot write {}: {e}", self.file.display()))?;
        for r in engine.revocations() {
            println!("revoked: {} ({}) since {}", r.subject, r.reason, r.revoked_at);
        }
        Ok(if changed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

/// Where policies come from: a folder, or the parts one by one.
#[derive(Args, Clone)]
struct PolicyArgs {
    /// A policy folder: one *.cedarschema, *.cedar files, optional entities.json.
    #[arg(long, conflicts_with_all = ["schema", "policies", "entities"])]
    dir: Option<PathBuf>,
    /// The schema file (Cedar schema syntax).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// A policy file or a folder of *.cedar files (repeatable).
    #[arg(long)]
    policies: Vec<PathBuf>,
    /// Entities (Cedar JSON).
    #[arg(long)]
    entities: Option<PathBuf>,
    /// How policy errors affect outcomes: fail-closed (default), strict, cedar.
    #[arg(long, default_value = "fail-closed")]
    error_mode: String,
    /// A revocations file (JSON, as written by `agentauthz revoke`) to enforce.
    #[arg(long)]
    revocations: Option<PathBuf>,
}

impl PolicyArgs {
    fn sources(&self) -> Result<PolicySources, String> {
        match (&self.dir, &self.schema) {
            (Some(dir), _) => PolicySources::from_dir(dir).map_err(|e| e.to_string()),
            (None, Some(schema)) if !self.policies.is_empty() => {
                PolicySources::from_files(schema, &self.policies, self.entities.as_deref()).map_err(|e| e.to_string())
            }
            _ => Err("give --dir DIR, or --schema FILE with --policies FILE".into()),
        }
    }

    fn engine(&self) -> Result<Engine, String> {
        let mode: ErrorMode = self.error_mode.parse()?;
        let engine = Engine::builder(self.sources()?).error_mode(mode).build().map_err(|e| e.to_string())?;
        if let Some(file) = &self.revocations {
            engine.load_revocations(file).map_err(|e| format!("cannot read revocations {}: {e}", file.display()))?;
        }
        Ok(engine)
    }
}

/// mimalloc: Cedar's parser and validator allocate heavily at load (see the
/// workspace Cargo.toml); glibc malloc spends a fifth of a large load in its
/// own bookkeeping.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(p) => validate(&p),
        Command::Authorize { policy, request, requests } => authorize(&policy, request, requests),
        Command::Test { dir, cases, verbose } => test(&dir, cases, verbose),
        Command::Demo { dir, trace, audit } => demo::run(&dir, trace.as_deref(), audit.as_deref()),
        Command::Audit(AuditCommand::Verify { files, after }) => audit_cmd::verify_cmd(&files, after.as_deref()),
        Command::Replay { audit, dir, json } => audit_cmd::replay_cmd(&audit, &dir, json),
        Command::ShadowReport { audit, json } => audit_cmd::shadow_report_cmd(&audit, json),
        Command::Owners { dir, strict } => report::owners(&dir, strict),
        Command::Controls { dir } => report::controls(&dir),
        Command::Hook { agent } => return hook::run(&agent),
        Command::State { cmd } => hook::state::run(&cmd),
        Command::Compile { dir, store } => compile(&dir, store),
        Command::Revoke { subject, reason } => subject.subject().and_then(|s| {
            subject.update(|e| {
                e.revoke(s, &reason);
                true
            })
        }),
        Command::Restore { subject } => subject.subject().and_then(|s| subject.update(|e| e.restore(&s))),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("agentauthz: {message}");
            ExitCode::from(2)
        }
    }
}

fn compile(dir: &std::path::Path, store: Option<PathBuf>) -> Result<ExitCode, String> {
    let path = store.unwrap_or_else(hook::default_store);
    let mut store = agentauthz_hook::Store::open(&path)?;
    let engine = agentauthz_hook::prepare::load_engine(dir, &mut store)?;
    println!(
        "ok: {} policies validated and recorded in {} (version {})",
        engine.policy_count(),
        path.display(),
        engine.policy_version()
    );
    Ok(ExitCode::SUCCESS)
}

fn validate(p: &PolicyArgs) -> Result<ExitCode, String> {
    let sources = p.sources()?;
    let issues = match agentauthz::validate(&sources) {
        Ok(issues) => issues,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if issues.is_empty() {
        // The folder must also load as a whole (entities included), or every
        // decision made from it would fail.
        let engine = match Engine::builder(sources.clone()).build() {
            Ok(engine) => engine,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        // Accountability: every policy should name its owner.
        for (id, file) in agentauthz::controls::owners_report(&engine.policies()).unowned {
            eprintln!("warning: policy `{id}` ({file}) has no @owner");
        }
        let n: usize = sources.policies.len();
        println!("ok: policies in {n} file(s) validate against {} (strict)", sources.schema.name);
        Ok(ExitCode::SUCCESS)
    } else {
        for i in &issues {
            eprintln!("error: {i}");
        }
        eprintln!("{} validation error(s)", issues.len());
        Ok(ExitCode::FAILURE)
    }
}

fn authorize(p: &PolicyArgs, request: Option<PathBuf>, requests: Option<PathBuf>) -> Result<ExitCode, String> {
    let engine = p.engine()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut print = |d: &agentauthz::Decision| -> Result<(), String> {
        writeln!(out, "{}", d.to_json()).map_err(|e| e.to_string())
    };
    // A request the CLI cannot hand to the engine (too long, not UTF-8) is denied
    // with the reason, like any request the engine cannot parse.
    let refuse = |message: String| {
        let mut d = engine.authorize_json_str("");
        d.errors = vec![agentauthz::DecisionError { policy: None, message }];
        d
    };
    let decide = |bytes: &[u8], what: &str| match std::str::from_utf8(bytes) {
        Ok(text) => engine.authorize_json_str(text),
        Err(e) => refuse(format!("malformed request: {what} is not valid UTF-8 ({e})")),
    };
    match (request, requests) {
        (Some(file), _) => {
            let f = std::fs::File::open(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let mut bytes = Vec::new();
            std::io::Read::take(f, LINE_LIMIT as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            if bytes.len() > LINE_LIMIT {
                print(&refuse(too_long(&file.display().to_string())))?;
            } else {
                print(&decide(&bytes, &file.display().to_string()))?;
            }
        }
        (None, Some(file)) => {
            let mut reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                let f = std::fs::File::open(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                Box::new(std::io::BufReader::new(f))
            };
            let mut line = Vec::new();
            for number in 1.. {
                let what = format!("line {number}");
                match read_line_bounded(&mut reader, &mut line).map_err(|e| format!("reading requests: {e}"))? {
                    Line::Eof => break,
                    Line::TooLong => print(&refuse(too_long(&what)))?,
                    Line::Complete if line.iter().all(u8::is_ascii_whitespace) => {}
                    Line::Complete => print(&decide(&line, &what))?,
                }
            }
        }
        (None, None) => return Err("give --request FILE or --requests FILE".into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// The longest request line `authorize` reads (the engine's request limit);
/// a longer line is skipped to its end without being held in memory.
const LINE_LIMIT: usize = agentauthz::MAX_REQUEST_BYTES;

fn too_long(what: &str) -> String {
    format!("request exceeds a limit: {what} is longer than {LINE_LIMIT} bytes")
}

/// What [`read_line_bounded`] read.
enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads the next line (without its newline) into `buf`, holding at most
/// [`LINE_LIMIT`] + 1 bytes: a longer line is consumed and reported as too long.
fn read_line_bounded(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Line> {
    buf.clear();
    let n = std::io::Read::take(&mut *reader, LINE_LIMIT as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Complete);
    }
    if buf.len() <= LINE_LIMIT {
        return Ok(Line::Complete); // the last line, without a newline
    }
    buf.clear();
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(Line::TooLong);
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(Line::TooLong);
            }
            None => {
                let len = chunk.len();
                reader.consume(len);
            }
        }
    }
}

fn test(dir: &std::path::Path, cases: Option<PathBuf>, verbose: bool) -> Result<ExitCode, String> {
    let engine = Engine::from_dir(dir).map_err(|e| e.to_string())?;
    let cases_path = cases.unwrap_or_else(|| dir.join("cases.toml"));
    let cases = load_cases(&cases_path).map_err(|e| e.to_string())?;
    let results = run_cases(&engine, &cases);
    let mut failed = 0;
    for r in &results {
        match &r.failure {
            Some(why) => {
                failed += 1;
                println!("FAIL {}: {why}", r.case.name);
            }
            None if verbose => println!("ok   {} -> {} {:?}", r.case.name, r.decision.outcome, r.decision.reason_ids()),
            None => {}
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
