//! What the `agentauthz-hook` client and the hook server (`agentauthz hook
//! serve`) share: where the server's socket is, and the request it reads.
//!
//! One server serves one state store; its socket is the store's path with
//! `.sock` appended (`~/.agentauthz/state.db.sock`), in the store's folder, so
//! whoever may write the store decides who may reach the server (the socket is
//! created mode 0600).
//!
//! The client writes one JSON line ([`Request`]) and then the agent's hook input
//! as it read it, and closes its writing half. The server answers one byte:
//! [`ACCEPTED`] (it will decide the call) or [`DECLINED`] (it will not, and has
//! changed nothing: the client decides in-process instead). After
//! [`ACCEPTED`], the exact line the hook prints follows, up to the end of the
//! stream.
//!
//! Included by both binaries (`#[path]`), so each uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The wire format's version: a server declines any other.
pub const VERSION: u32 = 1;
/// The server will decide the call.
pub const ACCEPTED: u8 = b'A';
/// The server will not decide the call, and has changed no state.
pub const DECLINED: u8 = b'R';
/// Largest hook input read from stdin (as `agentauthz hook`).
pub const MAX_INPUT: u64 = 8 << 20;
/// Largest request line.
pub const MAX_REQUEST_LINE: u64 = 1 << 20;

/// The environment variables a hook reads, passed to the server with a call
/// (the server's own environment is not the agent's).
pub const ENV_VARS: [&str; 7] = [
    "AGENTAUTHZ_DIR",
    "AGENTAUTHZ_STORE",
    "AGENTAUTHZ_AGENT",
    "AGENTAUTHZ_REPO",
    "AGENTAUTHZ_MAPPING",
    "AGENTAUTHZ_HOME",
    "HOME",
];

/// The hook flags that an environment variable stands in for when the flag is absent.
pub const FLAG_ENV: [(&str, &str); 5] = [
    ("--dir", "AGENTAUTHZ_DIR"),
    ("--store", "AGENTAUTHZ_STORE"),
    ("--agent", "AGENTAUTHZ_AGENT"),
    ("--repo", "AGENTAUTHZ_REPO"),
    ("--mapping", "AGENTAUTHZ_MAPPING"),
];

/// The protocols a client may hand to the server.
pub const PROTOCOLS: [&str; 3] = ["claude-code", "cursor", "gemini-cli"];

/// One hook call, as the client hands it over.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// [`VERSION`].
    pub v: u32,
    /// [`exe_stamp`] of the `agentauthz` binary the client would run itself:
    /// a server built from other code declines, and ends.
    pub exe: String,
    /// The client's working directory (relative paths in `argv` are relative to it).
    pub cwd: String,
    /// The hook's arguments after the program name: `claude-code --dir D ...`.
    pub argv: Vec<String>,
    /// The client's values of [`ENV_VARS`].
    pub env: BTreeMap<String, String>,
}

/// The value of `flag` in `argv` (`--flag V` or `--flag=V`), first occurrence.
pub fn flag_value<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == flag {
            return it.next().map(String::as_str);
        }
        if let Some(v) = a.strip_prefix(flag).and_then(|rest| rest.strip_prefix('=')) {
            return Some(v);
        }
    }
    None
}

/// Whether `argv` gives `flag` at all.
pub fn has_flag(argv: &[String], flag: &str) -> bool {
    argv.iter().any(|a| a == flag || a.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')))
}

/// The state store a hook with these arguments and environment uses, made
/// absolute against `cwd`: `--store`, else `$AGENTAUTHZ_STORE`, else
/// `$AGENTAUTHZ_HOME/state.db`, else `$HOME/.agentauthz/state.db`.
pub fn store_path(store: Option<&str>, env: &BTreeMap<String, String>, cwd: &Path) -> PathBuf {
    let p = match store.or(env.get("AGENTAUTHZ_STORE").map(String::as_str)) {
        Some(s) => PathBuf::from(s),
        None => match env.get("AGENTAUTHZ_HOME") {
            Some(h) => PathBuf::from(h).join("state.db"),
            None => PathBuf::from(env.get("HOME").map(String::as_str).unwrap_or("/")).join(".agentauthz/state.db"),
        },
    };
    against(cwd, &p)
}

/// `p` made absolute against `cwd` (without touching the file system).
pub fn against(cwd: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
    std::path::absolute(&joined).unwrap_or(joined)
}

/// The server's socket for a store.
pub fn socket_path(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".sock");
    PathBuf::from(s)
}

/// Identifies a binary's build: its canonical path, size and modification
/// time. Replacing the binary (an upgrade) changes it.
pub fn exe_stamp(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&path).ok()?;
    Some(format!("{}|{}|{}.{}", path.display(), m.len(), m.mtime(), m.mtime_nsec()))
}
