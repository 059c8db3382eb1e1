//! Checking a hash chain across log files.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::record::{expected_hash, GENESIS_HASH};
use super::AuditError;

/// How a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakKind {
    /// A record's content does not match its hash (or the line is not a record).
    Edited,
    /// `seq` jumps forward and the missing records appear nowhere later.
    Deleted,
    /// A record that does not belong: its `prev_hash` does not match the
    /// previous record's hash, or it repeats an earlier `seq`.
    Inserted,
    /// Records are out of order: `seq` jumps forward to one that exists later,
    /// or goes back.
    Reordered,
    /// The last line of a file is incomplete: most likely a crash mid-write,
    /// not tampering.
    Truncated,
}

impl BreakKind {
    /// `edited`, `deleted`, `inserted`, `reordered` or `truncated (crash?)`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Edited => "edited",
            BreakKind::Deleted => "deleted",
            BreakKind::Inserted => "inserted",
            BreakKind::Reordered => "reordered",
            BreakKind::Truncated => "truncated (crash?)",
        }
    }
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and how a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainBreak {
    /// The file holding the first bad line.
    pub file: PathBuf,
    /// Its line number (1-based).
    pub line: usize,
    /// The line's `seq`, if it could be read.
    pub seq: Option<u64>,
    /// What kind of break.
    pub kind: BreakKind,
    /// A human-readable explanation.
    pub detail: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, "seq {seq}: ")?;
        }
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Records that verified (before the break, if any).
    pub records: u64,
    /// The first verified `seq` (0 unless earlier files were not given).
    pub first_seq: Option<u64>,
    /// The last verified `seq`.
    pub last_seq: Option<u64>,
    /// The last verified record's hash.
    pub last_hash: Option<String>,
    /// Gap records met (decisions dropped in `OnFull::Drop` mode).
    pub gaps: u64,
    /// Decisions those gap records say were lost.
    pub lost: u64,
    /// The first break, or `None` if the chain is intact.
    pub broken: Option<ChainBreak>,
}

impl VerifyReport {
    /// True when the whole chain verified.
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

struct Line<'a> {
    file: &'a Path,
    number: usize,
    text: &'a [u8],
    terminated: bool,
}

struct Parsed {
    map: Map<String, Value>,
    seq: u64,
    prev: String,
    hash: String,
}

fn parse(text: &[u8]) -> Result<Parsed, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| format!("not a JSON record: {e}"))?;
    let Value::Object(map) = value else { return Err("not a JSON object".into()) };
    let seq = map.get("seq").and_then(Value::as_u64).ok_or("no seq")?;
    let prev = map.get("prev_hash").and_then(Value::as_str).ok_or("no prev_hash")?.to_string();
    let hash = map.get("hash").and_then(Value::as_str).ok_or("no hash")?.to_string();
    Ok(Parsed { map, seq, prev, hash })
}

/// Checks the chain across `files`, oldest first: every record's hash, `seq`
/// contiguous, every `prev_hash` equal to the previous record's hash, and the
/// chain starting at the log's first record (`seq` 0, chained to
/// [`GENESIS_HASH`]): files that start later (the head deleted, or older
/// rotated files not given) are reported as [`BreakKind::Deleted`]. To check
/// a later segment on its own, use [`verify_after`] with a hash you trust.
/// Stops at the first break. Fails only if a file cannot be read.
pub fn verify<P: AsRef<Path>>(files: &[P]) -> Result<VerifyReport, AuditError> {
    check(files, None)
}

/// [`verify`] for a segment of a log: the first record given must chain to
/// `anchor`, the hash of the record just before it (e.g. the `last_hash` of
/// an earlier verified report, kept where the log's writer cannot change it).
pub fn verify_after<P: AsRef<Path>>(files: &[P], anchor: &str) -> Result<VerifyReport, AuditError> {
    check(files, Some(anchor))
}

fn check<P: AsRef<Path>>(files: &[P], anchor: Option<&str>) -> Result<VerifyReport, AuditError> {
    let mut contents = Vec::with_capacity(files.len());
    for f in files {
        let path = f.as_ref();
        let bytes = std::fs::read(path).map_err(|source| AuditError::Io { path: path.to_path_buf(), source })?;
        contents.push((path, bytes));
    }
    let mut lines = Vec::new();
    for (path, bytes) in &contents {
        let mut rest: &[u8] = bytes;
        let mut number = 0;
        while !rest.is_empty() {
            number += 1;
            let (text, terminated, next) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (rest.get(..i).unwrap_or_default(), true, rest.get(i + 1..).unwrap_or_default()),
                None => (rest, false, &[][..]),
            };
            lines.push(Line { file: path, number, text, terminated });
            rest = next;
        }
    }
    let mut report = VerifyReport::default();
    let mut expected: Option<(u64, String)> = None;
    for (i, line) in lines.iter().enumerate() {
        let brk = |seq: Option<u64>, kind: BreakKind, detail: String| ChainBreak {
            file: line.file.to_path_buf(),
            line: line.number,
            seq,
            kind,
            detail,
        };
        let parsed = match parse(line.text) {
            Ok(p) if expected_hash(&p.map) == p.hash => p,
            Ok(p) => {
                let detail = "content does not match its hash".to_string();
                report.broken = Some(brk(Some(p.seq), BreakKind::Edited, detail));
                break;
            }
            Err(e) if !line.terminated => {
                report.broken = Some(brk(None, BreakKind::Truncated, format!("incomplete last line ({e})")));
                break;
            }
            Err(e) => {
                report.broken = Some(brk(None, BreakKind::Edited, e));
                break;
            }
        };
        let seq = parsed.seq;
        match &expected {
            None if anchor.is_none() && seq == 0 && parsed.prev != GENESIS_HASH => {
                let detail = "the first record (seq 0) does not chain to the genesis hash".into();
                report.broken = Some(brk(Some(seq), BreakKind::Inserted, detail));
                break;
            }
            None if anchor.is_none() && seq > 0 => {
                let detail = format!(
                    "the log starts at seq {seq}: records 0..={} are missing (give the older files too, or verify \
                     this segment from a trusted hash)",
                    seq - 1
                );
                report.broken = Some(brk(Some(seq), BreakKind::Deleted, detail));
                break;
            }
            None if anchor.is_some_and(|a| a != parsed.prev) => {
                let detail = "the first record does not chain to the given hash".to_string();
                report.broken = Some(brk(Some(seq), BreakKind::Inserted, detail));
                break;
            }
            None => report.first_seq = Some(seq),
            Some((want, prev)) if seq == *want => {
                if parsed.prev != *prev {
                    let detail = format!(
                        "prev_hash does not match the hash of record {}: a record was inserted or replaced",
                        want.saturating_sub(1)
                    );
                    report.broken = Some(brk(Some(seq), BreakKind::Inserted, detail));
                    break;
                }
            }
            Some((want, _)) if seq > *want => {
                let later =
                    lines.get(i + 1..).unwrap_or_default().iter().any(|l| parse(l.text).is_ok_and(|p| p.seq == *want));
                let (kind, detail) = if later {
                    (BreakKind::Reordered, format!("expected seq {want}, found {seq}; seq {want} comes later"))
                } else if seq == want + 1 {
                    (BreakKind::Deleted, format!("record {want} is missing"))
                } else {
                    (BreakKind::Deleted, format!("records {want}..={} are missing", seq - 1))
                };
                report.broken = Some(brk(Some(seq), kind, detail));
                break;
            }
            Some((want, _)) => {
                let resumes = lines.get(i + 1).is_some_and(|l| parse(l.text).is_ok_and(|p| p.seq == *want));
                let (kind, detail) = if resumes || seq + 1 == *want {
                    (BreakKind::Inserted, format!("seq {seq} repeats an earlier record (expected {want})"))
                } else {
                    (BreakKind::Reordered, format!("seq goes back from {} to {seq}", want.saturating_sub(1)))
                };
                report.broken = Some(brk(Some(seq), kind, detail));
                break;
            }
        }
        if let Some(lost) = parsed.map.get("gap").and_then(|g| g.get("lost")).and_then(Value::as_u64) {
            report.gaps += 1;
            report.lost += lost;
        }
        report.records += 1;
        report.last_seq = Some(seq);
        report.last_hash = Some(parsed.hash.clone());
        expected = Some((seq + 1, parsed.hash));
    }
    Ok(report)
}
