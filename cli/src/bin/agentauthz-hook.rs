//! `agentauthz-hook <agent> --dir D [--store S] [--agent A] [--repo R] [--mapping M]`:
//! the hook command for coding agents, with the arguments of `agentauthz hook
//! <agent>` and the same answers, in a few milliseconds.
//!
//! A small client: it hands the call to the hook server of its state store
//! (`agentauthz hook serve`, one long-lived process that keeps the parsed
//! policies) and prints the server's answer. When no server answers, it starts
//! one for the next call and runs `agentauthz hook <agent>` (the binary next to
//! this one) for this call, so every call is decided by the same code, and
//! none is left undecided:
//!
//! - no server, a server of another build, or a call the server declines:
//!   decided in-process, as `agentauthz hook` would (exit code and output are
//!   its);
//! - a server that accepted the call and then failed or took over 25 s to
//!   answer: exit code 2 with the reason on stderr, which Claude Code and
//!   Gemini CLI treat as a block (the call may have been counted).
//!
//! `AGENTAUTHZ_HOOK_SERVER=0` always decides in-process;
//! `AGENTAUTHZ_HOOK_IDLE_SECS` sets how long a server it starts waits for
//! calls (default 900 s); `AGENTAUTHZ_HOOK_TIMING=1` says on stderr which way
//! the call went.

#[path = "../hook/wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

/// How long the server may take to accept a call (it accepts before deciding).
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the server may take to decide a call (first loads of a large
/// policy folder included), below the agents' usual 30 s hook timeout.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(25);

/// How a call went at the server.
enum AtServer {
    /// The server's answer line.
    Answered(Vec<u8>),
    /// The server did not take the call (nothing changed); `start`: no server
    /// is running for the store, start one.
    NotServed { why: String, start: bool },
    /// The server took the call and did not answer.
    Failed(String),
}

fn main() -> ExitCode {
    let mut input = Vec::new();
    let _ = std::io::stdin().take(wire::MAX_INPUT).read_to_end(&mut input);
    let trace = std::env::var_os("AGENTAUTHZ_HOOK_TIMING").is_some_and(|v| v == "1");
    let Some(full) = std::env::current_exe().ok().and_then(|p| Some(p.parent()?.join("agentauthz"))) else {
        eprintln!("agentauthz-hook: cannot find the agentauthz binary next to this one; denied");
        return ExitCode::from(2);
    };
    let enabled = std::env::var_os("AGENTAUTHZ_HOOK_SERVER").is_none_or(|v| v != "0");
    let argv: Option<Vec<String>> = std::env::args_os().skip(1).map(|a| a.into_string().ok()).collect();
    match (enabled, argv) {
        (true, Some(argv)) if argv.first().is_some_and(|p| wire::PROTOCOLS.contains(&p.as_str())) => {
            let env: BTreeMap<String, String> =
                wire::ENV_VARS.iter().filter_map(|v| Some((v.to_string(), std::env::var(v).ok()?))).collect();
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            let store = wire::store_path(wire::flag_value(&argv, "--store"), &env, &cwd);
            match at_server(&full, &argv, &env, &cwd, &store, &input) {
                AtServer::Answered(line) => {
                    if trace {
                        eprintln!("agentauthz-hook: answered by the hook server");
                    }
                    let mut out = std::io::stdout().lock();
                    return match out.write_all(&line).and_then(|_| out.flush()) {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(_) => ExitCode::from(2),
                    };
                }
                AtServer::Failed(why) => {
                    eprintln!("agentauthz-hook: {why}; denied");
                    return ExitCode::from(2);
                }
                AtServer::NotServed { why, start } => {
                    if trace {
                        eprintln!("agentauthz-hook: decided in-process ({why})");
                    }
                    if start {
                        start_server(&full, &store);
                    }
                }
            }
        }
        _ => {
            if trace {
                eprintln!("agentauthz-hook: decided in-process (no server for these arguments)");
            }
        }
    }
    in_process(&full, &input)
}

fn at_server(
    full: &Path,
    argv: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    store: &Path,
    input: &[u8],
) -> AtServer {
    let not = |why: String, start: bool| AtServer::NotServed { why, start };
    let Some(exe) = wire::exe_stamp(full) else {
        return not(format!("cannot read {}", full.display()), false);
    };
    let Some(cwd_text) = cwd.to_str() else { return not("the working folder is not UTF-8".into(), false) };
    let socket = wire::socket_path(store);
    let mut conn = match UnixStream::connect(&socket) {
        Ok(c) => c,
        Err(e) => {
            let start = matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused);
            return not(format!("no hook server at {}: {e}", socket.display()), start);
        }
    };
    let request =
        wire::Request { v: wire::VERSION, exe, cwd: cwd_text.to_string(), argv: argv.to_vec(), env: env.clone() };
    let Ok(mut line) = serde_json::to_vec(&request) else { return not("cannot encode the call".into(), false) };
    line.push(b'\n');
    let _ = conn.set_write_timeout(Some(ACCEPT_TIMEOUT));
    let _ = conn.set_read_timeout(Some(ACCEPT_TIMEOUT));
    // A server that ends (idle) as this call arrives closes the connection
    // unread: a failed write or no first byte means it did not take the call.
    if conn.write_all(&line).and_then(|_| conn.write_all(input)).is_err() {
        return not("the hook server closed the connection".into(), true);
    }
    let _ = conn.shutdown(std::net::Shutdown::Write);
    let mut first = [0u8; 1];
    match conn.read(&mut first) {
        Ok(1) if first[0] == wire::ACCEPTED => {}
        Ok(1) => return not("the hook server declined the call".into(), true),
        Ok(_) | Err(_) => return not("the hook server did not take the call".into(), true),
    }
    let _ = conn.set_read_timeout(Some(ANSWER_TIMEOUT));
    let mut answer = Vec::new();
    match conn.read_to_end(&mut answer) {
        Ok(_) if answer.ends_with(b"\n") => AtServer::Answered(answer),
        Ok(_) => AtServer::Failed("the hook server took the call and ended without an answer".into()),
        Err(e) => AtServer::Failed(format!("the hook server took the call and did not answer: {e}")),
    }
}

/// Starts a server for the store in the background; it serves the next calls.
fn start_server(full: &Path, store: &Path) {
    let mut c = Command::new(full);
    c.args(["hook", "serve", "--store"]).arg(store);
    if let Some(secs) = std::env::var("AGENTAUTHZ_HOOK_IDLE_SECS").ok().filter(|s| s.parse::<u64>().is_ok()) {
        c.args(["--idle-secs", &secs]);
    }
    for (_, var) in wire::FLAG_ENV {
        c.env_remove(var);
    }
    c.current_dir("/").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    let _ = c.spawn();
}

/// Decides the call with `agentauthz hook <agent> ...` and passes on its output and exit code.
fn in_process(full: &Path, input: &[u8]) -> ExitCode {
    let mut child = match Command::new(full)
        .arg("hook")
        .args(std::env::args_os().skip(1))
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("agentauthz-hook: cannot run {}: {e}; denied", full.display());
            return ExitCode::from(2);
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    match child.wait() {
        Ok(s) => ExitCode::from(s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(2)),
        Err(_) => ExitCode::from(2),
    }
}
