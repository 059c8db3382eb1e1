//! The binary exchange behind `authorize` / `authorizeAt` (index.js).
//!
//! index.js writes a request that is plain data into a buffer it owns, in the
//! form below, and makes one native call. The context is read in place from
//! the buffer by the engine's typed conversion ([`agentauthz::HostValue`]),
//! and a common decision comes back in the same buffer as numbers (outcome,
//! indices into a policy table index.js holds, `evalUs`), from which index.js
//! builds the decision object without parsing text. Anything else falls back
//! to the paths the JSON text fast path used (the request as a [`Tree`], the
//! decision as JSON text), so both decide identically.
//!
//! # Request (written by index.js)
//!
//! Bytes `0..4`: the generation of the policy table index.js holds (see
//! [`ReasonTable`]); bytes `8..12`: how many bytes of the kept strings'
//! region are in use (below). The request value from byte [`REQUEST_AT`]; the
//! text of its strings from byte [`TEXT_AT`], each string referred to by
//! offset and length into that text. The text's first [`KEPT_BYTES`] bytes
//! are the region where index.js keeps short ASCII strings across calls (and
//! refers to them again instead of copying them); the request's other strings
//! follow it. Only the region's used part and the text after the region are
//! read (each checked as UTF-8 once per call); a string elsewhere is
//! malformed. A value is a tag byte and its payload, integers little-endian:
//!
//! | tag | value | payload |
//! |---|---|---|
//! | 1, 2 | `false`, `true` | none |
//! | 3 | a safe integer | `f64` |
//! | 4 | a string | `u32` offset, `u32` length |
//! | 5 | an array | `u32` count, `u32` byte length of the items, the items |
//! | 6 | an object | `u32` count, `u32` byte length of the entries, entries: the key (`u32` offset, `u32` length), the value |
//!
//! (A `Date` is written as the string `toISOString` gives, as `JSON.stringify` would.)
//!
//! # Decision (written here when the call returns `1`)
//!
//! `u32` outcome (0 allow, 1 deny, 2 ask), `u32` reason count `n`, `f64`
//! `evalUs`, `n` reasons: each a `u32` index into the table, or `u32::MAX`
//! and the reason inline (an engine guard's: the id, `u32` 0 permit / 1
//! forbid, `u32` annotation count, then name and value each), the approval id
//! (`u32` length, `u32::MAX` for none, then bytes), the ask owners (`u32`
//! count, then `u32` length and bytes each).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use agentauthz::cedar_policy::Effect;
use agentauthz::{Decision, HostValue, Outcome, PolicyInfo};

use crate::convert::Tree;
use crate::output::JsReason;

/// Where the used length of the kept strings' region is (a `u32`).
pub(crate) const KEPT_AT: usize = 8;
/// Where the request value starts in the buffer (index.js's `WIRE_AT`).
pub(crate) const REQUEST_AT: usize = 12;
/// Where the strings' text starts in the buffer (index.js's `WIRE_TEXT_AT`).
pub(crate) const TEXT_AT: usize = 6144;
/// The size of the kept strings' region at the start of the text
/// (index.js's `WIRE_DICT_BYTES`).
pub(crate) const KEPT_BYTES: usize = 2048;

const FALSE: u8 = 1;
const TRUE: u8 = 2;
const NUMBER: u8 = 3;
const STRING: u8 = 4;
const ARRAY: u8 = 5;
const OBJECT: u8 = 6;

/// A reason written inline instead of as an index into the table.
const INLINE: u32 = u32::MAX;

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// The little-endian `u32` at byte `at`.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b) as usize)
}

/// One encoded value, read in place: `bytes` starts at its tag (and may run
/// past its end); `kept` is the used part of the text's kept strings' region,
/// `text` the text after the region (offsets from [`KEPT_BYTES`]). Every read
/// is bounds-checked; malformed bytes read as `None` (and as an error in
/// [`Wire::to_tree`]).
#[derive(Clone, Copy)]
pub(crate) struct Wire<'a> {
    bytes: &'a [u8],
    kept: &'a str,
    text: &'a str,
}

impl<'a> Wire<'a> {
    /// The value at the start of `bytes`, its strings in `kept` and `text`.
    pub(crate) fn new(bytes: &'a [u8], kept: &'a str, text: &'a str) -> Self {
        Self { bytes, kept, text }
    }

    fn at(&self, bytes: &'a [u8]) -> Self {
        Self { bytes, kept: self.kept, text: self.text }
    }

    /// The string at (`u32` offset, `u32` length) at byte `at`.
    fn str_at(&self, bytes: &[u8], at: usize) -> Option<&'a str> {
        let start = u32_at(bytes, at)?;
        let end = start.checked_add(u32_at(bytes, at + 4)?)?;
        match start.checked_sub(KEPT_BYTES) {
            Some(from) => self.text.get(from..end.checked_sub(KEPT_BYTES)?),
            None => self.kept.get(start..end),
        }
    }

    fn tag(&self) -> Option<u8> {
        self.bytes.first().copied()
    }

    /// The encoded size of this value in bytes.
    fn size(&self) -> Option<usize> {
        match self.tag()? {
            FALSE | TRUE => Some(1),
            NUMBER => Some(9),
            STRING => Some(9),
            ARRAY | OBJECT => u32_at(self.bytes, 5)?.checked_add(9),
            _ => None,
        }
    }

    fn text(&self) -> Option<&'a str> {
        if self.tag()? != STRING {
            return None;
        }
        self.str_at(self.bytes, 1)
    }

    fn number(&self) -> Option<i64> {
        if self.tag()? != NUMBER {
            return None;
        }
        let b: [u8; 8] = self.bytes.get(1..9)?.try_into().ok()?;
        let x = f64::from_le_bytes(b);
        // index.js writes safe integers only; anything else is malformed.
        (x.fract() == 0.0 && x.abs() <= MAX_SAFE).then_some(x as i64)
    }

    /// The count and the payload of an array or object with tag `tag`.
    fn children(&self, tag: u8) -> Option<(usize, &'a [u8])> {
        if self.tag()? != tag {
            return None;
        }
        let count = u32_at(self.bytes, 1)?;
        let len = u32_at(self.bytes, 5)?;
        Some((count, self.bytes.get(9..9usize.checked_add(len)?)?))
    }

    fn each_entry(&self, mut f: impl FnMut(&'a str, Wire<'a>) -> Option<()>) -> Option<()> {
        let (count, mut rest) = self.children(OBJECT)?;
        for _ in 0..count {
            let key = self.str_at(rest, 0)?;
            let value = self.at(rest.get(8..)?);
            let end = value.size()?.checked_add(8)?;
            f(key, value)?;
            rest = rest.get(end..)?;
        }
        Some(())
    }

    fn each_element(&self, mut f: impl FnMut(Wire<'a>) -> Option<()>) -> Option<()> {
        let (count, mut rest) = self.children(ARRAY)?;
        for _ in 0..count {
            let value = self.at(rest);
            let end = value.size()?;
            f(value)?;
            rest = rest.get(end..)?;
        }
        Some(())
    }

    /// Calls `f` on each field of an object, stopping at the first `None`;
    /// `None` when this is not a well-formed object or `f` stopped.
    pub(crate) fn each_field(&self, f: impl FnMut(&'a str, Wire<'a>) -> Option<()>) -> Option<()> {
        self.each_entry(f)
    }

    /// Whether this is an object.
    pub(crate) fn is_object(&self) -> bool {
        self.tag() == Some(OBJECT)
    }

    /// The string, if this is one.
    pub(crate) fn string(&self) -> Option<&'a str> {
        self.text()
    }

    /// The value as the tree the JSON text path parses (what `JSON.stringify`
    /// would have written for the same data); `max_depth` bounds nesting.
    pub(crate) fn to_tree(self, max_depth: usize) -> Result<Tree, String> {
        let malformed = || "the request buffer is malformed".to_string();
        match self.tag().ok_or_else(malformed)? {
            FALSE => Ok(Tree::Bool(false)),
            TRUE => Ok(Tree::Bool(true)),
            NUMBER => self.number().map(Tree::Long).ok_or_else(malformed),
            STRING => self.text().map(|s| Tree::String(s.to_owned())).ok_or_else(malformed),
            ARRAY | OBJECT if max_depth == 0 => Err("the request is nested too deeply".into()),
            ARRAY => {
                let mut items = Vec::new();
                walk_children(|keep| self.each_element(|v| keep(v.to_tree(max_depth - 1).map(|t| items.push(t)))))?;
                Ok(Tree::Array(items))
            }
            OBJECT => {
                let mut fields = Vec::new();
                walk_children(|keep| {
                    self.each_entry(|k, v| keep(v.to_tree(max_depth - 1).map(|t| fields.push((k.to_owned(), t)))))
                })?;
                Ok(Tree::Object(fields))
            }
            _ => Err(malformed()),
        }
    }
}

/// Runs `walk`, whose callback takes each child's conversion (an `Err`
/// stops the walk); the first conversion error, or "malformed" when the walk
/// stopped on the bytes themselves.
fn walk_children(
    walk: impl FnOnce(&mut dyn FnMut(Result<(), String>) -> Option<()>) -> Option<()>,
) -> Result<(), String> {
    let mut error = None;
    let walked = walk(&mut |r| match r {
        Ok(()) => Some(()),
        Err(e) => {
            error = Some(e);
            None
        }
    });
    match (walked, error) {
        (_, Some(e)) => Err(e),
        (None, None) => Err("the request buffer is malformed".into()),
        (Some(()), None) => Ok(()),
    }
}

impl HostValue for Wire<'_> {
    fn as_str(&self) -> Option<&str> {
        self.text()
    }
    fn as_long(&self) -> Option<i64> {
        self.number()
    }
    fn as_bool(&self) -> Option<bool> {
        match self.tag()? {
            FALSE => Some(false),
            TRUE => Some(true),
            _ => None,
        }
    }
    fn each_item(&self, mut f: impl FnMut(&Self) -> Option<()>) -> Option<()> {
        self.each_element(|v| f(&v))
    }
    fn each_attr(&self, mut f: impl FnMut(&str, &Self) -> Option<()>) -> Option<()> {
        self.each_entry(|k, v| f(k, &v))
    }
}

/// The policies of one version, numbered for index.js: a decision's reasons
/// go back as numbers into the table index.js fetched (`__reasonTable`).
/// The table holds the policies themselves, so a policy found in it by
/// address is that policy (an address is not reused while it is held).
#[derive(Default)]
pub(crate) struct ReasonTable {
    /// Bumped on every rebuild; index.js sends the generation it holds.
    generation: u32,
    version: String,
    policies: Vec<Arc<PolicyInfo>>,
    by_address: HashMap<usize, u32, BuildHasherDefault<AddressHasher>>,
}

/// A hash for addresses (a multiplication; SipHash costs dozens of
/// instructions per lookup, and the keys are not chosen by callers).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

fn address(p: &Arc<PolicyInfo>) -> usize {
    Arc::as_ptr(p) as usize
}

impl ReasonTable {
    /// The table's generation (index.js compares it with its copy's).
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// Makes the table describe `engine`'s current policies, unless it
    /// already describes version `version`.
    fn refresh(&mut self, engine: &agentauthz::Engine) {
        let version = engine.policy_version();
        if self.version == version && !self.policies.is_empty() {
            return;
        }
        let policies = engine.policies();
        self.by_address = policies.iter().enumerate().map(|(i, p)| (address(p), i as u32)).collect();
        self.policies = policies;
        self.version = version.to_string();
        self.generation = self.generation.wrapping_add(1);
    }
}

/// The table as JSON for index.js: `{generation, version, reasons}`, each
/// reason as a decision lists it.
pub(crate) fn table_json(table: &Mutex<ReasonTable>, engine: &agentauthz::Engine) -> String {
    let mut t = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    t.refresh(engine);
    let reasons: Vec<JsReason> = t.policies.iter().map(|p| JsReason::from(&**p)).collect();
    serde_json::json!({ "generation": t.generation, "version": t.version, "reasons": reasons }).to_string()
}

fn put_u32(out: &mut [u8], at: &mut usize, n: usize) -> Option<()> {
    let n = u32::try_from(n).ok()?;
    out.get_mut(*at..at.checked_add(4)?)?.copy_from_slice(&n.to_le_bytes());
    *at += 4;
    Some(())
}

fn put_str(out: &mut [u8], at: &mut usize, s: &str) -> Option<()> {
    put_u32(out, at, s.len())?;
    out.get_mut(*at..at.checked_add(s.len())?)?.copy_from_slice(s.as_bytes());
    *at += s.len();
    Some(())
}

/// Writes `d` in the numeric form into `out` when index.js's table
/// (generation `generation`) describes every reason and the version, and the
/// decision has nothing the form leaves out (errors, shadow). `None`, with
/// `out` unspecified, otherwise: the decision then goes back as JSON text.
pub(crate) fn write_decision(
    d: &Decision,
    table: &Mutex<ReasonTable>,
    engine: &agentauthz::Engine,
    generation: usize,
    out: &mut [u8],
) -> Option<()> {
    if !d.errors.is_empty() || d.shadow.is_some() {
        return None;
    }
    let mut t = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if t.version != d.policy_version {
        // Rebuilt for the next calls; index.js refreshes its copy when this
        // decision comes back as text.
        t.refresh(engine);
        return None;
    }
    if t.generation as usize != generation {
        return None;
    }
    let outcome = match d.outcome {
        Outcome::Allow => 0,
        Outcome::Deny => 1,
        Outcome::Ask => 2,
    };
    let mut at = 0;
    put_u32(out, &mut at, outcome)?;
    put_u32(out, &mut at, d.reasons.len())?;
    let eval_us = d.eval_time.as_secs_f64() * 1e6;
    out.get_mut(8..16)?.copy_from_slice(&eval_us.to_le_bytes());
    at = 16;
    for r in &d.reasons {
        match t.by_address.get(&address(r)) {
            Some(&i) => put_u32(out, &mut at, i as usize)?,
            None => {
                // Not a policy of the table (an engine guard's reason): inline.
                put_u32(out, &mut at, INLINE as usize)?;
                put_str(out, &mut at, &r.id)?;
                put_u32(out, &mut at, usize::from(r.effect == Effect::Forbid))?;
                put_u32(out, &mut at, r.annotations.len())?;
                for (k, v) in &r.annotations {
                    put_str(out, &mut at, k)?;
                    put_str(out, &mut at, v)?;
                }
            }
        }
    }
    drop(t);
    match &d.approval_id {
        Some(id) => put_str(out, &mut at, id)?,
        None => put_u32(out, &mut at, u32::MAX as usize)?,
    }
    put_u32(out, &mut at, d.ask_owners.len())?;
    for owner in &d.ask_owners {
        put_str(out, &mut at, owner)?;
    }
    Some(())
}
