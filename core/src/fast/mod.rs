//! A compiled evaluator for the common subset of Cedar.
//!
//! Cedar's own evaluator is correct but spends most of a decision re-parsing
//! extension literals (`datetime("...")`, `duration("...")`) with regexes and
//! building its request and context values. Here, at load time, every policy
//! is converted from its JSON form (`Policy::to_json`) into an expression tree
//! with extension literals already evaluated, and entity data (attributes,
//! tags, the transitive closure of ancestors) into a store indexed by small
//! integers. At decision time a JSON context is converted straight into these
//! values.
//!
//! The evaluator never reports an error of its own: any policy it cannot
//! compile is marked Cedar-only, and any evaluation that would error in Cedar
//! (missing attribute, type error, overflow, unknown entity, bad extension
//! argument) or touches a value it does not model (`decimal`, `ipaddr`) stops
//! it with [`Fallback`]; the engine then evaluates that bucket with Cedar, so
//! errors and their messages are always Cedar's own.

mod compile;
mod eval;
pub(crate) mod time;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use cedar_policy::{Effect, EntityUid, PolicyId};

pub use compile::HostValue;
pub(crate) use compile::{build, convert_context, convert_host_context, Budget, ContextSource, FastSet};
pub(crate) use eval::eval_policy;

/// Evaluation stopped: let Cedar evaluate instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fallback;

/// An entity reference: its index in the store (or past its end for entities
/// only the request names) and its type's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntRef {
    pub id: u32,
    pub ty: u32,
}

/// Record attributes, sorted by name.
pub(crate) type Attrs = Arc<[(Arc<str>, Value)]>;

/// A Cedar value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Bool(bool),
    Long(i64),
    Str(Arc<str>),
    Entity(EntRef),
    /// Elements may repeat (Cedar sets do not): every set operation here is
    /// insensitive to repetition.
    Set(Arc<[Value]>),
    Record(Attrs),
    /// Milliseconds since the epoch.
    Datetime(i64),
    /// Milliseconds.
    Duration(i64),
    /// A value this evaluator does not model (`decimal`, `ipaddr`, ...): any use falls back.
    Opaque,
}

/// The attribute `name` of a record (keys unique and sorted). A short record
/// is scanned: lengths differ for most names, so few bytes are compared.
pub(crate) fn lookup<'a>(attrs: &'a [(Arc<str>, Value)], name: &str) -> Option<&'a Value> {
    if attrs.len() <= 8 {
        return attrs.iter().find(|(k, _)| **k == *name).map(|(_, v)| v);
    }
    attrs.binary_search_by(|(k, _)| (**k).cmp(name)).ok().and_then(|i| attrs.get(i)).map(|(_, v)| v)
}

/// [`lookup`] for a name from a policy: names are interned at load (policy,
/// schema and entity attribute names share one allocation per spelling), so
/// a pointer comparison usually finds an entity's attribute. A request's
/// context holds the shared names only when converted on a thread of name
/// slot 0, and copies of them otherwise (see `request_shape::Record::name`):
/// short records are scanned comparing text too (keys are unique).
pub(crate) fn lookup_name<'a>(attrs: &'a [(Arc<str>, Value)], name: &Arc<str>) -> Option<&'a Value> {
    if attrs.len() <= 8 {
        return attrs.iter().find(|(k, _)| Arc::ptr_eq(k, name) || **k == **name).map(|(_, v)| v);
    }
    match attrs.iter().find(|(k, _)| Arc::ptr_eq(k, name)) {
        Some((_, v)) => Some(v),
        None => lookup(attrs, name),
    }
}

/// One shared allocation per attribute name.
#[derive(Debug, Default)]
pub(crate) struct Names(FxMap<Arc<str>, ()>);

impl Names {
    pub(crate) fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some((k, _)) = self.0.get_key_value(name) {
            return Arc::clone(k);
        }
        let k: Arc<str> = Arc::from(name);
        self.0.insert(Arc::clone(&k), ());
        k
    }

    pub(crate) fn adopt(&mut self, name: &Arc<str>) {
        self.0.entry(Arc::clone(name)).or_insert(());
    }
}

/// One entity's data.
#[derive(Debug)]
pub(crate) struct EntityData {
    /// Every ancestor (transitive), sorted.
    pub ancestors: Box<[u32]>,
    pub attrs: Attrs,
    pub tags: Attrs,
}

/// The Fx hash (as in rustc): a few instructions per word where SipHash takes
/// dozens. The tables it keys are built at load from the entity store and the
/// policies; requests only look keys up, so they cannot grow a collision chain.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            if let Some(dst) = word.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed with [`FxHasher`].
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Entities, by index.
///
/// Found by their id's text (hashing a few bytes, where hashing an
/// `EntityUid` hashes its type name's parts too, and comparing it compares
/// both), then the type name compared among the entities with that id.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// The first interned entity with this id text.
    by_id: FxMap<Box<str>, u32>,
    /// The next interned entity with the same id text (`u32::MAX`: none).
    same_id: Vec<u32>,
    /// Each interned entity's uid.
    uids: Vec<EntityUid>,
    pub types: FxMap<String, u32>,
    /// Type of each interned entity.
    pub entity_types: Vec<u32>,
    /// Data of each interned entity; `None` when not in the entity store
    /// (named by a policy or an attribute only).
    pub data: Vec<Option<EntityData>>,
}

impl Store {
    pub(crate) fn type_id(&mut self, name: &str) -> u32 {
        let next = u32::try_from(self.types.len()).unwrap_or(u32::MAX);
        *self.types.entry(name.to_string()).or_insert(next)
    }

    /// The number of an interned entity.
    pub(crate) fn find(&self, uid: &EntityUid) -> Option<u32> {
        let mut id = *self.by_id.get(uid.id().unescaped())?;
        loop {
            if self.uids.get(id as usize)?.type_name() == uid.type_name() {
                return Some(id);
            }
            id = *self.same_id.get(id as usize)?;
        }
    }

    pub(crate) fn intern(&mut self, uid: &EntityUid) -> EntRef {
        if let Some(id) = self.find(uid) {
            return EntRef { id, ty: self.entity_types.get(id as usize).copied().unwrap_or(u32::MAX) };
        }
        let ty = self.type_id(&uid.type_name().to_string());
        let id = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        match self.by_id.get(uid.id().unescaped()) {
            // Chained after the last entity with the same id text.
            Some(&first) => {
                let mut last = first as usize;
                while let Some(&next) = self.same_id.get(last).filter(|n| **n != u32::MAX) {
                    last = next as usize;
                }
                if let Some(slot) = self.same_id.get_mut(last) {
                    *slot = id;
                }
            }
            None => {
                self.by_id.insert(uid.id().unescaped().into(), id);
            }
        }
        self.same_id.push(u32::MAX);
        self.uids.push(uid.clone());
        self.entity_types.push(ty);
        self.data.push(None);
        EntRef { id, ty }
    }

    /// The reference for a request's entity; `extra` numbers the request's
    /// entities unknown to the store so that equal uids get equal references.
    pub(crate) fn resolve(&self, uid: &EntityUid, extra: &mut Vec<EntityUid>) -> EntRef {
        if let Some(id) = self.find(uid) {
            return EntRef { id, ty: self.entity_types.get(id as usize).copied().unwrap_or(u32::MAX) };
        }
        let ty = self.types.get(&uid.type_name().to_string()).copied().unwrap_or(u32::MAX);
        let k = match extra.iter().position(|u| u == uid) {
            Some(k) => k,
            None => {
                extra.push(uid.clone());
                extra.len() - 1
            }
        };
        let id = u32::try_from(self.data.len() + k).unwrap_or(u32::MAX);
        EntRef { id, ty }
    }

    pub(crate) fn data(&self, e: EntRef) -> Option<&EntityData> {
        self.data.get(e.id as usize).and_then(Option::as_ref)
    }

    /// Cedar's `in` for one target: equal, or an ancestor of an entity in the store.
    pub(crate) fn is_in(&self, e: EntRef, target: u32) -> bool {
        e.id == target || self.data(e).is_some_and(|d| d.ancestors.binary_search(&target).is_ok())
    }
}

/// Scope constraint on the principal or resource.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    Any,
    Eq(u32),
    In(u32),
    Is(u32),
    IsIn(u32, u32),
}

/// Scope constraint on the action.
#[derive(Debug, Clone)]
pub(crate) enum ActionScope {
    Any,
    Eq(u32),
    In(Box<[u32]>),
}

/// Variables.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Var {
    Principal,
    Action,
    Resource,
    Context,
}

/// Binary operators (both sides always evaluated, left first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    NotEq,
    In,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Add,
    Sub,
    Mul,
    Contains,
    ContainsAll,
    ContainsAny,
    GetTag,
    HasTag,
}

impl BinOp {
    /// Whether the operator's value is a boolean (everything but `+`, `-`,
    /// `*` and `getTag`).
    pub(crate) fn is_test(self) -> bool {
        !matches!(self, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::GetTag)
    }
}

/// Extension functions and methods on `datetime` / `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExtFn {
    Datetime,
    Duration,
    Offset,
    DurationSince,
    ToDate,
    ToTime,
    ToMilliseconds,
    ToSeconds,
    ToMinutes,
    ToHours,
    ToDays,
}

/// A `like` pattern element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pat {
    Char(char),
    Star,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Const(Value),
    Var(Var),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    IsEmpty(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    GetAttr(Box<Expr>, Arc<str>),
    /// `var.a.b...`: a chain of attribute accesses on a variable (one or
    /// more names), read in place; the same as the nested `GetAttr`s.
    Path(Var, Box<[Arc<str>]>),
    Has(Box<Expr>, Box<[Arc<str>]>),
    Like(Box<Expr>, Box<[Pat]>),
    /// `e is T` (Cedar writes `e is T in x` as `e is T && e in x`).
    Is(Box<Expr>, u32),
    Set(Vec<Expr>),
    Record(Vec<(Arc<str>, Expr)>),
    Ext(ExtFn, Vec<Expr>),
}

/// A policy in compiled form.
#[derive(Debug)]
pub(crate) struct FastPolicy {
    pub id: PolicyId,
    pub effect: Effect,
    pub principal: Scope,
    pub action: ActionScope,
    pub resource: Scope,
    /// The `when` and `unless` clauses as Cedar holds them: one expression
    /// (`when { a } unless { b }` is `a && !b`); `None` when there are none.
    pub condition: Option<Expr>,
}

/// What a policy is evaluated against.
pub(crate) struct Env<'a> {
    pub store: &'a Store,
    pub principal: EntRef,
    pub action: EntRef,
    pub resource: EntRef,
    pub context: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn uid(s: &str) -> EntityUid {
        EntityUid::from_str(s).unwrap()
    }

    /// Entities sharing an id's text (across types, namespaces included) get
    /// numbers of their own, found again whatever order they were interned
    /// in; a type never interned with that id is not found.
    #[test]
    fn entities_with_the_same_id_text_are_told_apart_by_type() {
        let mut store = Store::default();
        let names = [
            r#"Agent::"x""#,
            r#"Repo::"x""#,
            r#"Acme::Agent::"x""#,
            r#"Agent::"y""#,
            r#"Team::"x""#,
            r#"Agent::"x\"y""#,
            r#"Agent::"""#,
        ];
        let ids: Vec<u32> = names.iter().map(|n| store.intern(&uid(n)).id).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{ids:?}");
        for (n, id) in names.iter().zip(&ids).rev() {
            assert_eq!(store.find(&uid(n)), Some(*id), "{n}");
            assert_eq!(store.intern(&uid(n)).id, *id, "{n}");
            let mut extra = Vec::new();
            assert_eq!(store.resolve(&uid(n), &mut extra).id, *id, "{n}");
            assert!(extra.is_empty());
        }
        assert_eq!(store.find(&uid(r#"Human::"x""#)), None);
        assert_eq!(store.find(&uid(r#"Agent::"z""#)), None);
        // Unknown entities are numbered past the store, equal uids alike.
        let mut extra = Vec::new();
        let a = store.resolve(&uid(r#"Human::"x""#), &mut extra);
        let b = store.resolve(&uid(r#"Agent::"z""#), &mut extra);
        let c = store.resolve(&uid(r#"Human::"x""#), &mut extra);
        assert_eq!((a.id, b.id, c.id), (7, 8, 7));
        assert_eq!(a.ty, u32::MAX, "Human was never interned");
        assert_eq!(b.ty, store.intern(&uid(r#"Agent::"x""#)).ty);
    }
}
