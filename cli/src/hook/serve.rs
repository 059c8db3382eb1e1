//! `agentauthz hook serve`: one long-lived process per state store that
//! decides hook calls handed to it by the `agentauthz-hook` client over a Unix
//! socket (see `wire.rs`), so that a tool call pays for starting a small
//! client, not for parsing Cedar's schema and policies.
//!
//! It decides exactly as `agentauthz hook` does, with the same code
//! (`respond`); between calls it keeps the mapping, the open store and an
//! engine per policy folder and principal, each used again only while its
//! source is unchanged (the folder's content hash is computed on every call,
//! so an edited folder is never decided with the old policies). State lives
//! in the SQLite store as before, so the server, hook processes and `agentauthz
//! state` can run side by side.
//!
//! It ends when idle for `--idle-secs`, when its socket is removed or taken
//! over, and when a client's `agentauthz` binary is not the one it runs
//! (an upgrade): the client then decides in-process and starts a new server.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Parser};

use super::wire::{self, Request};
use super::{protocol_of, respond, FileId, HookArgs, HookCmd, Resources, Timing};

/// Arguments of `hook serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// The state store whose calls this server decides (default ~/.agentauthz/state.db).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// End after this many seconds without a call.
    #[arg(long, default_value_t = 900)]
    pub idle_secs: u64,
}

/// A hook call's arguments, parsed as `agentauthz hook` parses them.
#[derive(Parser)]
#[command(name = "agentauthz-hook")]
struct Call {
    #[command(subcommand)]
    cmd: HookCmd,
}

struct Server {
    store: PathBuf,
    socket: PathBuf,
    socket_id: FileId,
    exe: String,
    resources: Mutex<Resources>,
    /// Milliseconds since `start` at the last call.
    last_call: AtomicU64,
    /// Calls accepted and not yet answered: the server ends only at 0.
    in_flight: AtomicUsize,
    start: Instant,
}

/// Runs the server until it is idle or replaced. Exit 0 also when another
/// server already serves the store.
pub fn run(a: &ServeArgs) -> ExitCode {
    // The agents' settings reach the server with each call; the environment
    // of whichever hook started it must not stand in for them.
    for (_, var) in wire::FLAG_ENV {
        std::env::remove_var(var);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let store = wire::against(&cwd, &a.store.clone().unwrap_or_else(super::default_store));
    let socket = wire::socket_path(&store);
    let exe = match std::env::current_exe().ok().as_deref().and_then(wire::exe_stamp) {
        Some(e) => e,
        None => return fail("cannot identify the running binary"),
    };
    let (listener, socket_id) = match bind(&socket) {
        Ok(Some(l)) => l,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => return fail(&e),
    };
    let server = Arc::new(Server {
        store,
        socket,
        socket_id,
        exe,
        resources: Mutex::new(Resources::default()),
        last_call: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        start: Instant::now(),
    });
    let idle = Duration::from_secs(a.idle_secs.max(1));
    let watch = Arc::clone(&server);
    if let Err(e) = std::thread::Builder::new().spawn(move || watchdog(&watch, idle)) {
        server.remove_socket();
        return fail(&format!("cannot start: {e}"));
    }
    for conn in listener.incoming() {
        let conn = match conn {
            Ok(c) => c,
            Err(_) => {
                // Out of descriptors, say: wait rather than spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        server.touch();
        let s = Arc::clone(&server);
        // A call that gets no thread is dropped unanswered: its client decides in-process.
        let _ = std::thread::Builder::new().spawn(move || s.handle(conn));
    }
    ExitCode::SUCCESS
}

fn fail(e: &str) -> ExitCode {
    eprintln!("agentauthz hook serve: {e}");
    ExitCode::from(2)
}

/// Binds the socket: in a private folder first, mode 0600, then hard-linked
/// into place, which fails if a socket is there. A live server there means
/// this one is not needed (None); a dead one's socket is replaced.
fn bind(socket: &Path) -> Result<Option<(UnixListener, FileId)>, String> {
    let parent = socket.parent().ok_or("the socket has no folder")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let private = parent.join(format!(".agentauthz-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| format!("cannot create {}: {e}", private.display()))?;
    let tmp = private.join("s");
    let bound =
        UnixListener::bind(&tmp).map_err(|e| format!("cannot listen on {}: {e}", tmp.display())).and_then(|l| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot restrict {}: {e}", tmp.display()))?;
            let mut tries = 0;
            loop {
                match std::fs::hard_link(&tmp, socket) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries == 0 => {
                        if UnixStream::connect(socket).is_ok() {
                            return Ok(None);
                        }
                        let _ = std::fs::remove_file(socket);
                        tries += 1;
                    }
                    Err(e) => return Err(format!("cannot place the socket at {}: {e}", socket.display())),
                }
            }
            let m = std::fs::metadata(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
            Ok(Some((l, (m.dev(), m.ino()))))
        });
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&private);
    bound
}

/// Ends the server when idle, or when its socket is gone or another's.
fn watchdog(server: &Server, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        std::thread::sleep(tick);
        if !server.owns_socket() {
            server.end();
        }
        if server.idle_for() >= idle {
            // Stop taking calls: a client that connects from now on reads no
            // answer and decides in-process.
            server.remove_socket();
            server.end();
        }
    }
}

impl Server {
    /// Ends the process once every accepted call is answered (new calls no
    /// longer arrive: the socket is gone or another server's).
    fn end(&self) -> ! {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::process::exit(0)
    }

    fn touch(&self) {
        self.last_call.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.start.elapsed().saturating_sub(Duration::from_millis(self.last_call.load(Ordering::Relaxed)))
    }

    fn owns_socket(&self) -> bool {
        std::fs::metadata(&self.socket).is_ok_and(|m| (m.dev(), m.ino()) == self.socket_id)
    }

    fn remove_socket(&self) {
        if self.owns_socket() {
            let _ = std::fs::remove_file(&self.socket);
        }
    }

    fn handle(&self, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
        let (request, input) = match read_request(&mut conn) {
            Ok(r) => r,
            Err(_) => {
                let _ = conn.write_all(&[wire::DECLINED]);
                return;
            }
        };
        if request.v != wire::VERSION || request.exe != self.exe {
            // Another build's client: let it decide, and make way for a server of its build.
            let _ = conn.write_all(&[wire::DECLINED]);
            self.remove_socket();
            self.end();
        }
        let Some(call) = self.parse(&request) else {
            let _ = conn.write_all(&[wire::DECLINED]);
            return;
        };
        let Some((protocol, args)) = protocol_of(&call.cmd) else {
            let _ = conn.write_all(&[wire::DECLINED]);
            return;
        };
        // Counted before the client learns of it, so that no exit cuts it off.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if !self.owns_socket() || conn.write_all(&[wire::ACCEPTED]).is_err() {
            // Ending (or the client left): decline, nothing was decided.
            let _ = conn.write_all(&[wire::DECLINED]);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let home = PathBuf::from(request.env.get("HOME").map(String::as_str).unwrap_or("/"));
        let text = String::from_utf8(input).map_err(|_| "stream did not contain valid UTF-8".to_string());
        let line = {
            let mut res = self.resources.lock().unwrap_or_else(|p| p.into_inner());
            let line = respond(protocol, args, text.as_deref().map_err(Clone::clone), &mut res, &home, &Timing::off());
            self.touch();
            line
        };
        let _ = conn.write_all(format!("{line}\n").as_bytes());
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// The call's arguments, the client's environment standing in for absent
    /// flags and relative paths made absolute against the client's folder; None
    /// when they do not parse (the client's own `agentauthz hook` reports
    /// that) or name another store.
    fn parse(&self, r: &Request) -> Option<Call> {
        if !r.argv.first().is_some_and(|p| wire::PROTOCOLS.contains(&p.as_str())) {
            return None;
        }
        let mut argv = vec!["agentauthz-hook".to_string()];
        argv.extend(r.argv.iter().cloned());
        for (flag, var) in wire::FLAG_ENV {
            if let (false, Some(v)) = (wire::has_flag(&r.argv, flag), r.env.get(var)) {
                argv.push(format!("{flag}={v}"));
            }
        }
        let mut call = Call::try_parse_from(argv).ok()?;
        let cwd = Path::new(&r.cwd);
        let args: &mut HookArgs = match &mut call.cmd {
            HookCmd::ClaudeCode(a) | HookCmd::Cursor(a) | HookCmd::GeminiCli(a) => a,
            HookCmd::Install(_) | HookCmd::Serve(_) => return None,
        };
        args.dir = wire::against(cwd, &args.dir);
        args.mapping = args.mapping.as_deref().map(|m| wire::against(cwd, m));
        let store = wire::store_path(args.store.as_deref().and_then(Path::to_str), &r.env, cwd);
        if store != self.store {
            return None;
        }
        args.store = Some(store);
        Some(call)
    }
}

/// Reads the request line and the hook input that follows it.
fn read_request(conn: &mut UnixStream) -> Result<(Request, Vec<u8>), String> {
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    (&mut reader).take(wire::MAX_REQUEST_LINE).read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
    let request: Request = serde_json::from_slice(&line).map_err(|e| e.to_string())?;
    let mut input = Vec::new();
    reader.take(wire::MAX_INPUT).read_to_end(&mut input).map_err(|e| e.to_string())?;
    Ok((request, input))
}
