//! The hook cases of hook.rs again, each call made through the
//! `agentauthz-hook` client: the first call of a store is decided in-process
//! and starts the hook server, later ones are decided by it. Then what only
//! the server has: it answers once started, an edited policy folder is
//! decided with the new policies at once, parallel calls keep exact counters,
//! and it ends (idle, socket removed, another build's client) without
//! leaving any call undecided.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

/// Hook calls go through the `agentauthz-hook` client.
const VIA_SERVER: bool = true;

include!("common/hook_cases.rs");

#[path = "../src/hook/wire.rs"]
mod wire;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::time::{Duration, Instant};

fn socket(w: &World) -> PathBuf {
    let mut s = w.store.as_os_str().to_owned();
    s.push(".sock");
    PathBuf::from(s)
}

/// A server started by hand for the world's store, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(w: &World, idle_secs: &str) -> Server {
    std::fs::create_dir_all(w.store.parent().unwrap()).unwrap();
    let child = w
        .cmd(&["hook", "serve", "--store"])
        .arg(&w.store)
        .args(["--idle-secs", idle_secs])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(socket(w)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child)
}

/// Whether the process ends within `secs`.
fn ends_within(server: &mut Server, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if server.0.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A Claude Code call through the client with `AGENTAUTHZ_HOOK_TIMING=1`:
/// (decision, reason, whether the server answered).
fn traced(w: &World, dir: &std::path::Path, input: &str) -> (String, String, bool) {
    let mut c = w.hook_process(&["claude-code", "--dir"]);
    c.arg(dir).arg("--store").arg(&w.store).args(["--agent", "ci-bot", "--repo", "acme/api"]);
    c.env("AGENTAUTHZ_HOOK_TIMING", "1");
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &v["hookSpecificOutput"];
    let served = String::from_utf8_lossy(&out.stderr).contains("answered by the hook server");
    (
        h["permissionDecision"].as_str().unwrap().to_string(),
        h["permissionDecisionReason"].as_str().unwrap().to_string(),
        served,
    )
}

#[test]
fn the_first_call_starts_the_server_which_answers_the_next_ones_alike() {
    let w = World::new("srv-start");
    let read = w.fixture("claude-code/read.json");
    let first = traced(&w, &policies(), &read);
    assert!(!first.2, "no server yet: the first call is decided in-process");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(socket(&w)).is_err() {
        assert!(Instant::now() < deadline, "the first call did not start a server");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = traced(&w, &policies(), &read);
    assert!(second.2, "the server answers once started");
    assert_eq!((first.0.as_str(), &first.1), (second.0.as_str(), &second.1));
    assert_eq!(first.0, "allow");
    // Ask and deny through the server, with the owner and the approve command.
    let (d, r, served) = traced(&w, &policies(), &w.fixture("claude-code/edit-workflow.json"));
    assert!(served);
    assert_eq!(d, "ask", "{r}");
    assert!(r.contains("agentauthz state approve"), "{r}");
    let (d, _, served) = traced(&w, &policies(), &w.fixture("claude-code/webfetch.json"));
    assert!(served);
    assert_eq!(d, "deny");
    // Each call is in the audit chain, whoever decided it.
    let (text, code) = w.state(&["verify"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("4 audit records"), "{text}");
    let _ = std::fs::remove_file(socket(&w));
}

#[test]
fn an_edited_folder_is_decided_with_the_new_policies_at_once() {
    let w = World::new("srv-edit");
    let dir = w.base.join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(policies()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let _server = start_server(&w, "30");
    let read = w.fixture("claude-code/read.json");
    let (d, r, served) = traced(&w, &dir, &read);
    assert!(served);
    assert_eq!(d, "allow", "{r}");
    std::fs::write(
        dir.join("70-freeze.cedar"),
        "@id(\"freeze\")\nforbid (principal, action == Action::\"read_repo\", resource);\n",
    )
    .unwrap();
    let (d, r, served) = traced(&w, &dir, &read);
    assert!(served);
    assert_eq!(d, "deny", "{r}");
    assert!(r.contains("freeze"), "{r}");
    // And back: the removed policy no longer applies.
    std::fs::remove_file(dir.join("70-freeze.cedar")).unwrap();
    assert_eq!(traced(&w, &dir, &read).0, "allow");
    // A mapping override is read again as well.
    std::fs::write(dir.join("hook-mapping.toml"), "[tools.Read]\nkind = \"no-such-kind\"\n").unwrap();
    let (d, r, served) = traced(&w, &dir, &read);
    assert!(served);
    assert_eq!(d, "deny", "{r}");
    assert!(r.contains("hook-mapping.toml"), "{r}");
}

#[test]
fn eight_parallel_calls_through_the_server_keep_exact_counters() {
    let w = World::new("srv-parallel");
    let _server = start_server(&w, "30");
    let allowed = w.fixture("claude-code/bash.json");
    let rounds = 3;
    for _ in 0..rounds {
        let children: Vec<_> = (0..8)
            .map(|_| {
                let mut c = w.hook_cmd("claude-code");
                c.env("AGENTAUTHZ_HOOK_TIMING", "1");
                let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
                child.stdin.take().unwrap().write_all(allowed.as_bytes()).unwrap();
                child
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "allow", "{v}");
            assert!(String::from_utf8_lossy(&out.stderr).contains("answered by the hook server"));
        }
    }
    let s = w.show();
    assert_eq!(s["sessions"][0]["actions"], 8 * rounds, "{s}");
    let (text, code) = w.state(&["verify"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("{} audit records", 8 * rounds)), "{text}");
}

#[test]
fn a_revocation_made_while_the_server_runs_applies_to_its_next_call() {
    let w = World::new("srv-revoke");
    let _server = start_server(&w, "30");
    let read = w.fixture("claude-code/read.json");
    assert_eq!(traced(&w, &policies(), &read).0, "allow");
    let (text, code) = w.state(&["revoke", "--agent", "Agent::\"ci-bot\"", "--reason", "incident 7"]);
    assert_eq!(code, 0, "{text}");
    let (d, r, served) = traced(&w, &policies(), &read);
    assert!(served);
    assert_eq!(d, "deny");
    assert!(r.contains("revoked"), "{r}");
}

#[test]
fn a_replaced_store_file_is_opened_again() {
    let w = World::new("srv-store");
    let _server = start_server(&w, "30");
    let read = w.fixture("claude-code/read.json");
    assert!(traced(&w, &policies(), &read).2);
    // The store is deleted and made anew (say, reset by an administrator):
    // the server must write to the new file, not the unlinked one.
    for ext in ["", "-wal", "-shm"] {
        let mut p = w.store.as_os_str().to_owned();
        p.push(ext);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    assert!(traced(&w, &policies(), &read).2);
    assert_eq!(w.show()["audit_records"], 1, "the call is recorded in the new store");
}

#[test]
fn the_server_ends_when_idle_and_when_its_socket_is_removed() {
    let w = World::new("srv-end");
    let mut idle = start_server(&w, "1");
    assert!(ends_within(&mut idle, 10), "an idle server ends");
    assert!(!socket(&w).exists(), "and removes its socket");

    let mut server = start_server(&w, "60");
    std::fs::remove_file(socket(&w)).unwrap();
    assert!(ends_within(&mut server, 10), "a server whose socket is removed ends");
    // Calls are still decided, and the next server starts.
    let (d, _, served) = traced(&w, &policies(), &w.fixture("claude-code/read.json"));
    assert_eq!(d, "allow");
    assert!(!served);
    let _ = std::fs::remove_file(socket(&w));
}

#[test]
fn a_second_server_for_the_same_store_leaves_the_first_in_place() {
    let w = World::new("srv-twice");
    let _first = start_server(&w, "30");
    let out = w.cmd(&["hook", "serve", "--store"]).arg(&w.store).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(traced(&w, &policies(), &w.fixture("claude-code/read.json")).2, "the first still serves");
}

/// Sends raw bytes to the server; returns its whole reply.
fn raw(w: &World, bytes: &[u8]) -> Vec<u8> {
    let mut conn = UnixStream::connect(socket(w)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(bytes).unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    let _ = conn.read_to_end(&mut reply);
    reply
}

#[test]
fn garbage_and_other_builds_are_declined_and_decide_nothing() {
    let w = World::new("srv-raw");
    let mut server = start_server(&w, "30");
    let read = w.fixture("claude-code/read.json");
    assert!(traced(&w, &policies(), &read).2);
    let request = |exe: &str, argv: Vec<String>| {
        let r = wire::Request { v: wire::VERSION, exe: exe.into(), cwd: "/".into(), argv, env: Default::default() };
        let mut bytes = serde_json::to_vec(&r).unwrap();
        bytes.push(b'\n');
        bytes.extend_from_slice(read.as_bytes());
        bytes
    };
    let exe = wire::exe_stamp(std::path::Path::new(env!("CARGO_BIN_EXE_agentauthz"))).unwrap();
    let args = |more: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["claude-code", "--dir"].iter().map(|s| s.to_string()).collect();
        v.push(policies().display().to_string());
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    let store = w.store.display().to_string();
    for bad in [
        b"not json\n{}".to_vec(),
        b"{\"v\": 1}\n".to_vec(),
        vec![0xff; 64],
        Vec::new(),
        // Not a hook protocol; arguments that do not parse; another store.
        request(&exe, vec!["install".into(), "claude-code".into()]),
        request(&exe, args(&["--store", &store, "--no-such-flag"])),
        request(&exe, args(&["--store", "/elsewhere/state.db"])),
    ] {
        let reply = raw(&w, &bad);
        assert!(reply.is_empty() || reply == b"R", "{reply:?}");
    }
    // The same request with the right store is decided.
    let reply = raw(&w, &request(&exe, args(&["--store", &store, "--agent", "ci-bot", "--repo", "acme/api"])));
    assert_eq!(reply.first(), Some(&wire::ACCEPTED));
    assert!(String::from_utf8_lossy(&reply).contains("\"allow\""), "{}", String::from_utf8_lossy(&reply));
    assert_eq!(w.show()["audit_records"], 2, "the declined requests decided nothing");
    // A client of another build: declined, and the server makes way for one of its build.
    let other = request("/elsewhere/agentauthz|1|2.3", args(&["--store", &store]));
    assert_eq!(raw(&w, &other), b"R");
    assert!(ends_within(&mut server, 10));
    assert!(!socket(&w).exists());
    assert_eq!(w.show()["audit_records"], 2, "nothing decided");
}
