//! State shared by hook processes, in one SQLite file: session counters,
//! revocations, grants, approvals, pending asks, the hash-chained audit log and
//! the validated-policy cache.
//!
//! Every decision runs in one `BEGIN IMMEDIATE` transaction (read counters,
//! decide, count the action if allowed, append the audit record), so parallel
//! hook processes serialise on the write lock and see exact counts; WAL mode
//! keeps readers going, and a process that dies mid-transaction leaves nothing
//! behind (SQLite rolls it back).
//!
//! The prepared-policy cache (`prepared*` tables) records, per principal
//! group, a count and digest of its rows; a store with the earlier tables
//! (`validated`, `policy_cache`, without digests) has them dropped on open, and
//! its folders are validated again once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, actions INTEGER NOT NULL, started_at TEXT NOT NULL, last_seen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS session_repos (session TEXT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (session, repo));
CREATE TABLE IF NOT EXISTS session_actions (session TEXT NOT NULL, action TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (session, action));
CREATE TABLE IF NOT EXISTS revocations (kind TEXT NOT NULL, subject TEXT NOT NULL, reason TEXT NOT NULL, revoked_at TEXT NOT NULL, PRIMARY KEY (kind, subject));
CREATE TABLE IF NOT EXISTS grants (id INTEGER PRIMARY KEY AUTOINCREMENT, principal TEXT NOT NULL, actions TEXT NOT NULL, resource TEXT NOT NULL, expires_at INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, approver TEXT NOT NULL, expires_at INTEGER NOT NULL, uses_left INTEGER NOT NULL, approved_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY, session TEXT NOT NULL, agent TEXT NOT NULL, summary TEXT NOT NULL, owners TEXT NOT NULL, asked_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
DROP TABLE IF EXISTS validated;
DROP TABLE IF EXISTS policy_cache;
CREATE TABLE IF NOT EXISTS prepared (hash TEXT PRIMARY KEY, at TEXT NOT NULL, filterable INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS prepared_policy (hash TEXT NOT NULL, ord INTEGER NOT NULL, file TEXT NOT NULL, principal TEXT, text TEXT NOT NULL, PRIMARY KEY (hash, ord));
CREATE INDEX IF NOT EXISTS prepared_policy_principal ON prepared_policy (hash, principal);
CREATE TABLE IF NOT EXISTS prepared_group (hash TEXT NOT NULL, principal TEXT NOT NULL, n INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (hash, principal));
CREATE TABLE IF NOT EXISTS prepared_schema (hash TEXT PRIMARY KEY, json TEXT NOT NULL, digest TEXT NOT NULL);
";

/// The previous hash of the first audit record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an audit record chained to the previous one: SHA-256 (hex) of
/// `prev_hash`, a newline and the record's JSON text. Kept in one place so the
/// record format can follow the core's audit module later.
pub fn chain_hash(prev_hash: &str, record: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(record.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Write-ahead log size above which closing a [`Store`] checkpoints and
/// truncates it (about 4 to 5 hook calls' worth of pages).
///
/// Each hook process is the only connection while it runs, and SQLite rebuilds
/// the WAL index of a database whose last connection closed by reading the
/// whole log, treating none of it as checkpointed: left to its default
/// (checkpoint at 1000 pages, never truncate), every hook process would read
/// up to 4 MB of log on open and copy it all into the database on commit.
/// Kept short, the log costs little to read; the checkpoint (and its fsyncs)
/// is paid by one call in several instead of by every call.
const WAL_TRIM_BYTES: u64 = 256 << 10;

/// Count and SHA-256 of one principal group's cached policies (order, file
/// and text of each, length-prefixed), so that a damaged cache is noticed.
#[derive(Default)]
struct GroupDigest {
    n: i64,
    h: Sha256,
}

impl GroupDigest {
    fn add(&mut self, ord: i64, file: &str, text: &str) {
        self.n += 1;
        self.h.update(ord.to_le_bytes());
        for part in [file, text] {
            self.h.update((part.len() as u64).to_le_bytes());
            self.h.update(part.as_bytes());
        }
    }

    fn finish(self) -> String {
        self.h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// How long a store operation waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an open failed: busy (worth retrying) or anything else.
enum OpenError {
    Busy(String),
    Other(String),
}

impl OpenError {
    fn of(e: rusqlite::Error, message: impl FnOnce(rusqlite::Error) -> String) -> Self {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            OpenError::Busy(message(e))
        } else {
            OpenError::Other(message(e))
        }
    }
}

fn schema_digest(json: &str) -> String {
    let mut g = GroupDigest::default();
    g.add(0, "schema", json);
    g.finish()
}

/// The hook's state file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Drop for Store {
    fn drop(&mut self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRIM_BYTES) {
            // Best effort: a busy or failed checkpoint leaves a longer log, which
            // the next close tries again; nothing committed depends on it.
            let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

/// A session's counters before the current call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounts {
    /// Allowed tool calls so far.
    pub actions: i64,
    /// Repositories touched so far.
    pub repos: Vec<String>,
}

/// One policy of a validated source set, as cached for fast start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPolicy {
    /// The file it came from.
    pub file: String,
    /// `Agent::"x"` when the scope is `principal == Agent::"x"`, else None.
    pub principal: Option<String>,
    /// The policy's text.
    pub text: String,
}

/// A revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRevocation {
    /// `agent`, `session` or `credential`.
    pub kind: String,
    /// What is revoked (`Agent::"ci-bot"`, a session or credential id).
    pub subject: String,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub revoked_at: String,
}

/// A time-bound grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrant {
    /// Row id.
    pub id: i64,
    /// Principal (`Agent::"ci-bot"`).
    pub principal: String,
    /// Action names.
    pub actions: Vec<String>,
    /// Resource (`Repository::"acme/api"`).
    pub resource: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: i64,
    /// Why.
    pub reason: String,
}

/// An ask waiting for (or given) a human approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The approval id named in the ask's reason.
    pub id: String,
    /// Session.
    pub session: String,
    /// Agent.
    pub agent: String,
    /// The tool call, for people.
    pub summary: String,
    /// Owners to ask.
    pub owners: String,
    /// When asked.
    pub asked_at: String,
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn db_err(e: rusqlite::Error) -> String {
    format!("state store: {e}")
}

impl Store {
    /// Opens (creating if needed) the store: WAL journal, 10 s busy timeout.
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
        }
        // Several hook processes opening a new store at once can meet SQLite
        // lock states its busy handler does not wait out (the switch to WAL, a
        // WAL recovery): such an open is retried, for as long as the busy
        // timeout, instead of denying the tool call.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match Self::open_once(path) {
                Ok(conn) => return Ok(Self { conn, path: path.to_path_buf() }),
                Err(OpenError::Busy(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5 + u64::from(std::process::id() % 16)));
                }
                Err(OpenError::Busy(e) | OpenError::Other(e)) => return Err(e),
            }
        }
    }

    fn open_once(path: &Path) -> Result<Connection, OpenError> {
        let conn = Connection::open(path)
            .map_err(|e| OpenError::of(e, |e| format!("cannot open state store {}: {e}", path.display())))?;
        let db = |e: rusqlite::Error| OpenError::of(e, db_err);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(db)?;
        // Each hook process is short-lived: a checkpoint (and its fsyncs) on every
        // close would be paid per tool call. SQLite still checkpoints the WAL
        // automatically as it grows (every 1000 pages).
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
        let has_schema: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'prepared_schema'", [], |r| r.get::<_, i64>(0))
            .map_err(db)?
            > 0;
        if !has_schema {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;")).map_err(db)?;
        }
        Ok(conn)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed if it returns Ok.
    pub fn immediate<T>(&mut self, f: impl FnOnce(&Tx) -> Result<T, String>) -> Result<T, String> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        let out = f(&Tx { tx: &tx })?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    /// Whether sources with this content hash passed strict validation before:
    /// `Some(filterable)` (whether per-policy texts were cached), else `None`.
    pub fn validated(&self, hash: &str) -> Option<bool> {
        self.conn
            .query_row("SELECT filterable FROM prepared WHERE hash = ?1", [hash], |r| r.get::<_, i64>(0))
            .optional()
            .ok()
            .flatten()
            .map(|f| f != 0)
    }

    /// Records that sources with this content hash passed strict validation,
    /// with each policy's text and `principal ==` scope (when every policy has
    /// an `@id`), and per principal group (`""` for policies without an `==`
    /// scope) the number of policies and a digest of them, and the schema in
    /// Cedar's JSON format (when given), in one transaction.
    pub fn mark_validated(
        &mut self,
        hash: &str,
        policies: Option<&[CachedPolicy]>,
        schema_json: Option<&str>,
    ) -> Result<(), String> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        let done: bool = tx
            .query_row("SELECT count(*) FROM prepared WHERE hash = ?1", [hash], |r| r.get::<_, i64>(0))
            .map_err(db_err)?
            > 0;
        if !done {
            if let Some(list) = policies {
                let mut st = tx
                    .prepare(
                        "INSERT INTO prepared_policy (hash, ord, file, principal, text) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(db_err)?;
                let mut groups: BTreeMap<&str, GroupDigest> = BTreeMap::new();
                groups.insert("", GroupDigest::default());
                for (i, p) in list.iter().enumerate() {
                    st.execute(params![hash, i as i64, p.file, p.principal, p.text]).map_err(db_err)?;
                    groups.entry(p.principal.as_deref().unwrap_or("")).or_default().add(i as i64, &p.file, &p.text);
                }
                let mut st = tx
                    .prepare("INSERT INTO prepared_group (hash, principal, n, digest) VALUES (?1, ?2, ?3, ?4)")
                    .map_err(db_err)?;
                for (principal, g) in groups {
                    let n = g.n;
                    st.execute(params![hash, principal, n, g.finish()]).map_err(db_err)?;
                }
            }
            if let Some(json) = schema_json {
                tx.execute(
                    "INSERT INTO prepared_schema (hash, json, digest) VALUES (?1, ?2, ?3)",
                    params![hash, json, schema_digest(json)],
                )
                .map_err(db_err)?;
            }
            tx.execute(
                "INSERT INTO prepared (hash, at, filterable) VALUES (?1, ?2, ?3)",
                params![hash, agentauthz::format_rfc3339_millis(SystemTime::now()), policies.is_some() as i64],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// The schema of a validated source set in Cedar's JSON format (parsed
    /// several times faster than the schema syntax), if it was recorded and
    /// still matches its digest.
    pub fn prepared_schema(&self, hash: &str) -> Option<String> {
        let (json, digest): (String, String) = self
            .conn
            .query_row("SELECT json, digest FROM prepared_schema WHERE hash = ?1", [hash], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .ok()
            .flatten()?;
        (schema_digest(&json) == digest).then_some(json)
    }

    /// The cached policies of a validated source set that can apply to
    /// `principal` (scope `principal == principal`, or not an `==` scope), in
    /// load order: (file, text). `Ok(None)` when the cached rows do not match
    /// the counts and digests recorded with them (a damaged or edited cache):
    /// the caller must then load and validate the sources in full.
    pub fn policies_for(&self, hash: &str, principal: &str) -> Result<Option<Vec<(String, String)>>, String> {
        let mut st = self
            .conn
            .prepare_cached(
                // Both halves through the (hash, principal) index: left to itself, the
                // planner walks every row of the hash in `ord` order (10,000 policies:
                // ~8 ms instead of ~0.05 ms). Sorted by `ord` below.
                "SELECT ord, file, principal, text FROM prepared_policy INDEXED BY prepared_policy_principal \
                 WHERE hash = ?1 AND principal IS NULL UNION ALL \
                 SELECT ord, file, principal, text FROM prepared_policy INDEXED BY prepared_policy_principal \
                 WHERE hash = ?1 AND principal = ?2",
            )
            .map_err(db_err)?;
        let mut rows = st
            .query_map(params![hash, principal], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        rows.sort_by_key(|r| r.0);
        let mut want: BTreeMap<String, (i64, String)> = BTreeMap::new();
        let mut st = self
            .conn
            .prepare_cached("SELECT principal, n, digest FROM prepared_group WHERE hash = ?1 AND principal IN ('', ?2)")
            .map_err(db_err)?;
        let groups =
            st.query_map(params![hash, principal], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))).map_err(db_err)?;
        for g in groups {
            let (k, v) = g.map_err(db_err)?;
            want.insert(k, v);
        }
        let (mut unscoped, mut scoped) = (GroupDigest::default(), GroupDigest::default());
        for (ord, file, p, text) in &rows {
            match p.as_deref() {
                None => unscoped.add(*ord, file, text),
                Some(_) => scoped.add(*ord, file, text),
            }
        }
        let matches = |key: &str, got: GroupDigest| match want.get(key) {
            Some((n, digest)) => got.n == *n && &got.finish() == digest,
            // No group row: only right when no policy names this principal
            // (the unscoped group is always recorded).
            None => !key.is_empty() && got.n == 0,
        };
        if !matches("", unscoped) || !matches(principal, scoped) {
            return Ok(None);
        }
        Ok(Some(rows.into_iter().map(|(_, file, _, text)| (file, text)).collect()))
    }

    /// Revokes (or re-revokes) a subject.
    pub fn revoke(&self, kind: &str, subject: &str, reason: &str) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO revocations (kind, subject, reason, revoked_at) VALUES (?1, ?2, ?3, ?4)",
                params![kind, subject, reason, agentauthz::format_rfc3339_millis(SystemTime::now())],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    /// Lifts a revocation; whether there was one.
    pub fn restore(&self, kind: &str, subject: &str) -> Result<bool, String> {
        self.conn
            .execute("DELETE FROM revocations WHERE kind = ?1 AND subject = ?2", params![kind, subject])
            .map(|n| n > 0)
            .map_err(db_err)
    }

    /// Adds a grant; returns its id.
    pub fn grant(
        &self,
        principal: &str,
        actions: &[String],
        resource: &str,
        expires_at: SystemTime,
        reason: &str,
    ) -> Result<i64, String> {
        let actions = serde_json::to_string(actions).map_err(|e| e.to_string())?;
        self.conn
            .execute(
                "INSERT INTO grants (principal, actions, resource, expires_at, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![principal, actions, resource, unix(expires_at), reason],
            )
            .map_err(db_err)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Removes a grant; whether it existed.
    pub fn revoke_grant(&self, id: i64) -> Result<bool, String> {
        self.conn.execute("DELETE FROM grants WHERE id = ?1", [id]).map(|n| n > 0).map_err(db_err)
    }

    /// Approves a pending ask: the same tool call is allowed for `ttl`, at most `uses` times.
    pub fn approve(&self, id: &str, approver: &str, ttl: Duration, uses: u32) -> Result<(), String> {
        let known: bool = self
            .conn
            .query_row("SELECT count(*) FROM pending WHERE id = ?1", [id], |r| r.get::<_, i64>(0))
            .map_err(db_err)?
            > 0;
        if !known {
            return Err(format!("no pending ask with id `{id}` (see `agentauthz state show`)"));
        }
        let now = SystemTime::now();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO approvals (id, approver, expires_at, uses_left, approved_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, approver, unix(now + ttl), uses, agentauthz::format_rfc3339_millis(now)],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    /// Everything in the store, as JSON (for `agentauthz state show`).
    pub fn show(&self) -> Result<serde_json::Value, String> {
        let q = |sql: &str, cols: &[&str]| -> Result<Vec<serde_json::Value>, String> {
            let mut st = self.conn.prepare(sql).map_err(db_err)?;
            let n = cols.len();
            let rows = st
                .query_map([], |r| {
                    let mut m = serde_json::Map::new();
                    for (i, c) in cols.iter().enumerate().take(n) {
                        let v: rusqlite::types::Value = r.get(i)?;
                        let j = match v {
                            rusqlite::types::Value::Integer(x) => serde_json::json!(x),
                            rusqlite::types::Value::Text(s) => serde_json::json!(s),
                            rusqlite::types::Value::Real(x) => serde_json::json!(x),
                            _ => serde_json::Value::Null,
                        };
                        m.insert(c.to_string(), j);
                    }
                    Ok(serde_json::Value::Object(m))
                })
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        };
        let audit_len: i64 = self.conn.query_row("SELECT count(*) FROM audit", [], |r| r.get(0)).map_err(db_err)?;
        Ok(serde_json::json!({
            "sessions": q("SELECT id, actions, (SELECT count(*) FROM session_repos r WHERE r.session = s.id), started_at, last_seen FROM sessions s ORDER BY id", &["id", "actions", "repos_touched", "started_at", "last_seen"])?,
            "revocations": q("SELECT kind, subject, reason, revoked_at FROM revocations ORDER BY kind, subject", &["kind", "subject", "reason", "revoked_at"])?,
            "grants": q("SELECT id, principal, actions, resource, expires_at, reason FROM grants ORDER BY id", &["id", "principal", "actions", "resource", "expires_at", "reason"])?,
            "pending": q("SELECT p.id, p.session, p.agent, p.summary, p.owners, p.asked_at, a.approver FROM pending p LEFT JOIN approvals a ON a.id = p.id ORDER BY p.asked_at", &["id", "session", "agent", "summary", "owners", "asked_at", "approved_by"])?,
            "audit_records": audit_len,
        }))
    }

    /// The audit records in order: (seq, record JSON).
    pub fn audit_records(&self) -> Result<Vec<(i64, String)>, String> {
        let mut st = self.conn.prepare("SELECT seq, record FROM audit ORDER BY seq").map_err(db_err)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    /// Checks the audit chain: consecutive sequence numbers, each record's
    /// `prev_hash` equal to the previous `hash`, each `hash` recomputed.
    /// Returns the number of records, or the first break.
    pub fn verify_audit(&self) -> Result<usize, String> {
        let mut st =
            self.conn.prepare("SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq").map_err(db_err)?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(db_err)?;
        let mut prev = GENESIS.to_string();
        let mut n = 0usize;
        for row in rows {
            let (seq, record, prev_hash, hash) = row.map_err(db_err)?;
            n += 1;
            if seq != n as i64 {
                return Err(format!("audit record {n}: sequence number {seq} (a record is missing or reordered)"));
            }
            if prev_hash != prev {
                return Err(format!("audit record {seq}: prev_hash does not match the previous record's hash"));
            }
            if chain_hash(&prev_hash, &record) != hash {
                return Err(format!("audit record {seq}: hash does not match its content (edited)"));
            }
            prev = hash;
        }
        Ok(n)
    }
}

/// The store inside one `BEGIN IMMEDIATE` transaction.
pub struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl Tx<'_> {
    /// The session's counters before this call.
    pub fn session(&self, id: &str) -> Result<SessionCounts, String> {
        let actions: i64 = self
            .tx
            .query_row("SELECT actions FROM sessions WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(db_err)?
            .unwrap_or(0);
        let mut st = self.tx.prepare_cached("SELECT repo FROM session_repos WHERE session = ?1").map_err(db_err)?;
        let repos =
            st.query_map([id], |r| r.get(0)).map_err(db_err)?.collect::<Result<Vec<String>, _>>().map_err(db_err)?;
        Ok(SessionCounts { actions, repos })
    }

    /// How many allowed calls in the session included `action`.
    pub fn same_action(&self, session: &str, action: &str) -> Result<i64, String> {
        Ok(self
            .tx
            .query_row("SELECT n FROM session_actions WHERE session = ?1 AND action = ?2", [session, action], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?
            .unwrap_or(0))
    }

    /// Counts an allowed call: one action, its distinct actions, its repositories.
    pub fn count(&self, session: &str, actions: &[String], repos: &[String]) -> Result<(), String> {
        let now = agentauthz::format_rfc3339_millis(SystemTime::now());
        self.tx
            .execute(
                "INSERT INTO sessions (id, actions, started_at, last_seen) VALUES (?1, 1, ?2, ?2)
                 ON CONFLICT(id) DO UPDATE SET actions = actions + 1, last_seen = ?2",
                params![session, now],
            )
            .map_err(db_err)?;
        for a in actions {
            self.tx
                .execute(
                    "INSERT INTO session_actions (session, action, n) VALUES (?1, ?2, 1)
                     ON CONFLICT(session, action) DO UPDATE SET n = n + 1",
                    params![session, a],
                )
                .map_err(db_err)?;
        }
        for r in repos {
            self.tx
                .execute("INSERT OR IGNORE INTO session_repos (session, repo) VALUES (?1, ?2)", params![session, r])
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// The revocations in force.
    pub fn revocations(&self) -> Result<Vec<StoredRevocation>, String> {
        let mut st =
            self.tx.prepare_cached("SELECT kind, subject, reason, revoked_at FROM revocations").map_err(db_err)?;
        let rows = st
            .query_map([], |r| {
                Ok(StoredRevocation { kind: r.get(0)?, subject: r.get(1)?, reason: r.get(2)?, revoked_at: r.get(3)? })
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    /// The grants not yet expired.
    pub fn grants(&self, now: SystemTime) -> Result<Vec<StoredGrant>, String> {
        let mut st = self
            .tx
            .prepare_cached(
                "SELECT id, principal, actions, resource, expires_at, reason FROM grants WHERE expires_at > ?1",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map([unix(now)], |r| {
                let actions: String = r.get(2)?;
                Ok(StoredGrant {
                    id: r.get(0)?,
                    principal: r.get(1)?,
                    actions: serde_json::from_str(&actions).unwrap_or_default(),
                    resource: r.get(3)?,
                    expires_at: r.get(4)?,
                    reason: r.get(5)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    /// A live approval for `id`: its approver (not yet consumed).
    pub fn approval(&self, id: &str, now: SystemTime) -> Result<Option<String>, String> {
        self.tx
            .query_row(
                "SELECT approver FROM approvals WHERE id = ?1 AND expires_at > ?2 AND uses_left > 0",
                params![id, unix(now)],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    /// Uses one use of an approval.
    pub fn consume_approval(&self, id: &str) -> Result<(), String> {
        self.tx
            .execute("UPDATE approvals SET uses_left = uses_left - 1 WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(db_err)
    }

    /// Records an ask awaiting approval.
    pub fn record_pending(&self, p: &Pending) -> Result<(), String> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO pending (id, session, agent, summary, owners, asked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![p.id, p.session, p.agent, p.summary, p.owners, p.asked_at],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    /// Appends an audit record to the chain; returns its sequence number.
    pub fn append_audit(&self, record: &str) -> Result<i64, String> {
        let last: Option<(i64, String)> = self
            .tx
            .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db_err)?;
        let (seq, prev) = match last {
            Some((s, h)) => (s + 1, h),
            None => (1, GENESIS.to_string()),
        };
        let hash = chain_hash(&prev, record);
        self.tx
            .execute(
                "INSERT INTO audit (seq, record, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
                params![seq, record, prev, hash],
            )
            .map_err(db_err)?;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_chain_detects_edits_deletions_and_reordering() {
        let path = std::env::temp_dir().join(format!("agentauthz-store-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut s = Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..4 {
            s.immediate(|tx| tx.append_audit(&format!("{{\"n\":{i}}}"))).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(s.verify_audit(), Ok(4));
        s.conn.execute("UPDATE audit SET record = '{\"n\":9}' WHERE seq = 2", []).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.verify_audit().unwrap_err().contains("record 2"));
        s.conn.execute("UPDATE audit SET record = '{\"n\":1}' WHERE seq = 2", []).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.verify_audit(), Ok(4));
        s.conn.execute("DELETE FROM audit WHERE seq = 3", []).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.verify_audit().is_err());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn counters_count_only_what_is_committed() {
        let path = std::env::temp_dir().join(format!("agentauthz-store-c-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut s = Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
        s.immediate(|tx| tx.count("s", &["read_repo".into()], &["acme/api".into()])).unwrap_or_else(|e| panic!("{e}"));
        // A transaction that fails (the process dies, or the decision errors) leaves nothing.
        let r: Result<(), String> = s.immediate(|tx| {
            tx.count("s", &["read_repo".into()], &["acme/web".into()])?;
            Err("crash".into())
        });
        assert!(r.is_err());
        let c = s.immediate(|tx| tx.session("s")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, SessionCounts { actions: 1, repos: vec!["acme/api".into()] });
        let _ = std::fs::remove_file(&path);
    }
}
