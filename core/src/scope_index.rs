//! The scope index: which policies can apply to a request, decided from their
//! scopes alone, so a decision evaluates only those.
//!
//! A policy is filed under every action its action scope can match (groups
//! expanded through the action hierarchy), and under one principal key and one
//! resource key: the entity its scope names (`==`, `in`, `is .. in`), or "any"
//! (unconstrained, `is`). A request looks up its principal, each of the
//! principal's ancestors and "any" (and the same for the resource). Every policy
//! whose scope can be satisfied is found; some found policies may still fail
//! their scope (an `==` filed under an ancestor), which Cedar itself then
//! checks. So the index only ever removes policies whose scope is false, and a
//! false scope makes a policy neither satisfied nor erroring: decisions,
//! reasons and errors are exactly those of evaluating the whole set.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityUid, Policy, PolicyId, PolicySet, PrincipalConstraint,
    ResourceConstraint, Schema,
};

use crate::fast::{EntRef, FastPolicy, FxMap, Store};

/// Policies of one index cell, as positions in the index's single list of
/// policies (a policy filed in many cells is stored once), with their
/// compiled forms. Cedar's own policy sets for the cell are built only when a
/// decision first needs Cedar there (a policy the compiled evaluator cannot
/// run, or an evaluation it leaves to Cedar), and then kept.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    members: Vec<u32>,
    has_permit: bool,
    /// The compiled form of every member that has one.
    pub fast: Vec<Arc<FastPolicy>>,
    /// How many members are Cedar-only; the compiled evaluator decides the
    /// bucket only when this is 0.
    pub cedar_only: usize,
    sets: OnceLock<Box<CedarSets>>,
}

/// A bucket's policies as Cedar policy sets. One Cedar call on `all` tells
/// every satisfied permit (on allow) or every satisfied forbid (on deny) and
/// every error; only when forbids were satisfied and the engine still needs
/// to know whether a permit was (to choose between ask and deny) is `permits`
/// evaluated alone.
#[derive(Debug)]
pub(crate) struct CedarSets {
    pub all: PolicySet,
    pub permits: PolicySet,
}

impl Bucket {
    fn add(&mut self, at: u32, filed: &Filed<'_>) {
        match filed.fast {
            Some(f) => self.fast.push(Arc::clone(f)),
            None => self.cedar_only += 1,
        }
        self.has_permit |= filed.permit;
        self.members.push(at);
    }

    fn shrink(&mut self) {
        self.members.shrink_to_fit();
        self.fast.shrink_to_fit();
    }

    /// Whether no policy is filed here.
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether a permit is filed here.
    pub(crate) fn has_permit(&self) -> bool {
        self.has_permit
    }
}

/// Principal key -> resource key -> bucket. `None` is "any"; entities are
/// keyed by their number in the compiled evaluator's entity store (every
/// entity a policy scope names is numbered at load), so a lookup hashes or
/// compares a `u32`, never a uid, and reads ancestors from that store.
type Cells = Keyed<Keyed<Bucket>>;

#[derive(Debug)]
struct Keyed<V> {
    any: Option<V>,
    by_id: IdMap<V>,
}

/// Most keys hold one or two entries (a grant's principal names one
/// resource), so a small map is a list, scanned in order; a hash table's
/// smallest allocation holds four entries.
const FEW: usize = 4;

/// Entries by entity number: a short list, or a hash table past [`FEW`]
/// entries (keyed by policy entities at load and looked up by request
/// entities: the Fx hash, as a request cannot lengthen a chain).
#[derive(Debug)]
enum IdMap<V> {
    Few(Vec<(u32, V)>),
    Many(FxMap<u32, V>),
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Self { any: None, by_id: IdMap::Few(Vec::new()) }
    }
}

impl<V: Default> Keyed<V> {
    /// Calls `f` with the entry of `key`, created empty if there is none.
    fn with(&mut self, key: Option<u32>, f: impl FnOnce(&mut V)) {
        let Some(id) = key else {
            f(self.any.get_or_insert_with(V::default));
            return;
        };
        if let IdMap::Few(list) = &mut self.by_id {
            if list.len() >= FEW && !list.iter().any(|(k, _)| *k == id) {
                self.by_id = IdMap::Many(std::mem::take(list).into_iter().collect());
            }
        }
        match &mut self.by_id {
            IdMap::Few(list) => match list.iter_mut().find(|(k, _)| *k == id) {
                Some((_, v)) => f(v),
                None => {
                    let mut v = V::default();
                    f(&mut v);
                    list.push((id, v));
                }
            },
            IdMap::Many(map) => f(map.entry(id).or_default()),
        }
    }
}

impl<V> Keyed<V> {
    fn get(&self, key: Option<u32>) -> Option<&V> {
        match (key, &self.by_id) {
            (None, _) => self.any.as_ref(),
            (Some(id), IdMap::Few(list)) => list.iter().find(|(k, _)| *k == id).map(|(_, v)| v),
            (Some(id), IdMap::Many(map)) => map.get(&id),
        }
    }

    /// Calls `f` with every entry, then frees unused capacity.
    fn shrink(&mut self, mut f: impl FnMut(&mut V)) {
        self.any.iter_mut().for_each(&mut f);
        match &mut self.by_id {
            IdMap::Few(list) => {
                list.iter_mut().for_each(|(_, v)| f(v));
                list.shrink_to_fit();
            }
            IdMap::Many(map) => {
                map.values_mut().for_each(f);
                map.shrink_to_fit();
            }
        }
    }
}

#[derive(Debug, Default)]
struct ActionCells {
    cells: Cells,
    /// Whether any policy for this action names a principal / resource entity;
    /// if not, ancestors need not be looked up.
    keyed_principals: bool,
    keyed_resources: bool,
}

/// Policies by action, principal and resource scope.
#[derive(Debug)]
pub(crate) struct ScopeIndex {
    /// By the action's entity number.
    by_action: FxMap<u32, ActionCells>,
    /// Every policy, for actions the schema does not declare (Cedar then
    /// rejects or evaluates the request as it would without an index). Built
    /// on first use: with a schema, such a request is refused before the
    /// index is asked, so this is normally never built.
    all: OnceLock<ActionCells>,
    /// The policies, each once; buckets hold positions in this list.
    policies: Vec<Policy>,
    /// Each policy's compiled form, by position (for building `all`).
    fast: Vec<Option<Arc<FastPolicy>>>,
    /// Each policy's principal and resource keys, by position (for building `all`).
    keys: Vec<(Option<u32>, Option<u32>)>,
}

/// What filing one policy needs, read from it once (each of Cedar's scope
/// accessors builds a fresh value).
struct Filed<'a> {
    principal: Option<u32>,
    resource: Option<u32>,
    permit: bool,
    fast: Option<&'a Arc<FastPolicy>>,
}

impl<'a> Filed<'a> {
    fn of(p: &Policy, fast: Option<&'a Arc<FastPolicy>>, store: &mut Store) -> Self {
        let principal = principal_key(p).map(|uid| store.intern(&uid).id);
        let resource = resource_key(p).map(|uid| store.intern(&uid).id);
        Filed { principal, resource, permit: p.effect() == Effect::Permit, fast }
    }
}

fn principal_key(p: &Policy) -> Option<EntityUid> {
    match p.principal_constraint() {
        PrincipalConstraint::Any | PrincipalConstraint::Is(_) => None,
        PrincipalConstraint::In(e) | PrincipalConstraint::Eq(e) | PrincipalConstraint::IsIn(_, e) => Some(e),
    }
}

fn resource_key(p: &Policy) -> Option<EntityUid> {
    match p.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::Is(_) => None,
        ResourceConstraint::In(e) | ResourceConstraint::Eq(e) | ResourceConstraint::IsIn(_, e) => Some(e),
    }
}

impl ActionCells {
    fn add(&mut self, at: u32, filed: &Filed<'_>) {
        self.keyed_principals |= filed.principal.is_some();
        self.keyed_resources |= filed.resource.is_some();
        self.cells.with(filed.principal, |by_resource| {
            by_resource.with(filed.resource, |bucket| bucket.add(at, filed));
        });
    }

    fn shrink(&mut self) {
        self.cells.shrink(|by_resource| by_resource.shrink(Bucket::shrink));
    }
}

impl ScopeIndex {
    /// Files every policy (with its compiled form from `fast`, when it has one).
    /// Template-linked policies carry their links in their scope constraints,
    /// so they are filed like static ones. Every action and every entity a
    /// scope names is numbered in `store` (the one decisions read).
    pub(crate) fn build(
        schema: &Schema,
        entities: &Entities,
        policies: Vec<Policy>,
        fast: &HashMap<PolicyId, Arc<FastPolicy>>,
        store: &mut Store,
    ) -> Result<Self, String> {
        let actions: Vec<(EntityUid, u32)> = schema.actions().map(|a| (a.clone(), store.intern(a).id)).collect();
        let mut by_action: FxMap<u32, ActionCells> =
            actions.iter().map(|(_, id)| (*id, ActionCells::default())).collect();
        let mut compiled: Vec<Option<Arc<FastPolicy>>> = Vec::with_capacity(policies.len());
        let mut keys = Vec::with_capacity(policies.len());
        for p in &policies {
            let at = u32::try_from(compiled.len()).map_err(|_| "more than 2^32 policies".to_string())?;
            let filed = Filed::of(p, fast.get(p.id()), store);
            match p.action_constraint() {
                ActionConstraint::Any => by_action.values_mut().for_each(|cells| cells.add(at, &filed)),
                // An action the schema does not declare files nowhere but `all`.
                ActionConstraint::Eq(a) => {
                    if let Some(cells) = store.find(&a).and_then(|id| by_action.get_mut(&id)) {
                        cells.add(at, &filed);
                    }
                }
                ActionConstraint::In(groups) => {
                    for (action, id) in &actions {
                        if groups.iter().any(|g| g == action || entities.is_ancestor_of(g, action)) {
                            if let Some(cells) = by_action.get_mut(id) {
                                cells.add(at, &filed);
                            }
                        }
                    }
                }
            }
            keys.push((filed.principal, filed.resource));
            compiled.push(filed.fast.cloned());
        }
        for cells in by_action.values_mut() {
            cells.shrink();
        }
        Ok(Self { by_action, all: OnceLock::new(), policies, fast: compiled, keys })
    }

    /// Every policy filed under one set of cells (see `all`).
    fn file_all(&self) -> ActionCells {
        let mut all = ActionCells::default();
        for (at, ((p, fast), (principal, resource))) in
            (0u32..).zip(self.policies.iter().zip(&self.fast).zip(&self.keys))
        {
            let filed = Filed {
                principal: *principal,
                resource: *resource,
                permit: p.effect() == Effect::Permit,
                fast: fast.as_ref(),
            };
            all.add(at, &filed);
        }
        all.shrink();
        all
    }

    /// The bucket's Cedar policy sets, built on first use and kept.
    pub(crate) fn cedar_sets<'a>(&'a self, bucket: &'a Bucket) -> Result<&'a CedarSets, String> {
        if let Some(sets) = bucket.sets.get() {
            return Ok(&**sets);
        }
        let mut all = PolicySet::new();
        let mut permits = PolicySet::new();
        for &at in &bucket.members {
            let p = self.policies.get(at as usize).ok_or("scope index: a policy position out of range")?;
            if p.effect() == Effect::Permit {
                permits.add(p.clone()).map_err(|e| e.to_string())?;
            }
            all.add(p.clone()).map_err(|e| e.to_string())?;
        }
        // Another thread may have built them meanwhile: either copy is the same.
        let _ = bucket.sets.set(Box::new(CedarSets { all, permits }));
        bucket.sets.get().map(|b| &**b).ok_or_else(|| "scope index: policy sets not kept".to_string())
    }

    /// Calls `visit` with every bucket that can hold a policy applying to the
    /// request, whose entities are given as numbered by `store` (the store
    /// the index was built with; see [`Store::resolve`]).
    pub(crate) fn candidates<'a>(
        &'a self,
        store: &Store,
        principal: EntRef,
        action: EntRef,
        resource: EntRef,
        mut visit: impl FnMut(&'a Bucket),
    ) {
        let cells = match self.by_action.get(&action.id) {
            Some(cells) => cells,
            None => self.all.get_or_init(|| self.file_all()),
        };
        // Keys: "any", then the entity itself and its ancestors (from the
        // store: an entity it does not hold has none); only "any" when no
        // policy names such an entity.
        let ancestors = |e: EntRef| store.data(e).map_or(&[][..], |d| &d.ancestors[..]);
        let keys = |e: EntRef, keyed: bool| {
            let (own, above) = if keyed { (Some(e.id), ancestors(e)) } else { (None, &[][..]) };
            std::iter::once(None).chain(own.map(Some)).chain(above.iter().map(|a| Some(*a)))
        };
        for pk in keys(principal, cells.keyed_principals) {
            let Some(by_resource) = cells.cells.get(pk) else { continue };
            for rk in keys(resource, cells.keyed_resources) {
                if let Some(bucket) = by_resource.get(rk) {
                    visit(bucket);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const SCHEMA: &str =
        "entity Agent; entity Repo; action read, write appliesTo { principal: Agent, resource: Repo };";

    fn uid(s: &str) -> EntityUid {
        EntityUid::from_str(s).unwrap()
    }

    /// Positions (in text order) of the policies in every bucket visited.
    fn visited(index: &ScopeIndex, store: &Store, principal: &str, action: &str, resource: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        let [p, a, r] = [principal, action, resource].map(|s| store.resolve(&uid(s), &mut unknown));
        index.candidates(store, p, a, r, |b| out.extend(&b.members));
        out.sort_unstable();
        out
    }

    /// Cells hold a short list up to `FEW` keys and a hash table past it;
    /// either way a lookup finds exactly the policies filed under its keys,
    /// and an action the schema does not declare is answered from the lazily
    /// filed `all` cells.
    #[test]
    fn short_lists_and_tables_find_the_same_policies() {
        let mut text = String::new();
        // 0..10: one principal, ten resources (its resource list becomes a table).
        for i in 0..10 {
            text += &format!(
                "permit(principal == Agent::\"a\", action == Action::\"read\", resource == Repo::\"r{i}\");\n"
            );
        }
        // 10: any principal, one resource; 11: one principal, any action and resource.
        text += "permit(principal, action, resource == Repo::\"r3\");\n";
        text += "forbid(principal == Agent::\"b\", action, resource);\n";
        // 12..18: six more principals (the principal list becomes a table).
        for i in 0..6 {
            text += &format!("permit(principal == Agent::\"c{i}\", action == Action::\"write\", resource);\n");
        }
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
        let entities = schema.action_entities().unwrap();
        let set = PolicySet::from_str(&text).unwrap();
        let mut store = crate::fast::build(&entities, &[], std::iter::empty()).store;
        let index =
            ScopeIndex::build(&schema, &entities, set.policies().cloned().collect(), &HashMap::new(), &mut store)
                .unwrap();
        let entities = &store;
        for i in 0..10u32 {
            let got = visited(&index, entities, "Agent::\"a\"", "Action::\"read\"", &format!("Repo::\"r{i}\""));
            assert_eq!(got, if i == 3 { vec![3, 10] } else { vec![i] }, "r{i}");
        }
        assert_eq!(visited(&index, entities, "Agent::\"a\"", "Action::\"write\"", "Repo::\"r1\""), Vec::<u32>::new());
        assert_eq!(visited(&index, entities, "Agent::\"b\"", "Action::\"write\"", "Repo::\"r3\""), vec![10, 11]);
        for i in 0..6u32 {
            let principal = format!("Agent::\"c{i}\"");
            assert_eq!(visited(&index, entities, &principal, "Action::\"write\"", "Repo::\"x\""), vec![12 + i]);
            assert_eq!(visited(&index, entities, &principal, "Action::\"read\"", "Repo::\"x\""), Vec::<u32>::new());
        }
        assert!(index.all.get().is_none(), "filed only when an undeclared action is asked");
        assert_eq!(visited(&index, entities, "Agent::\"a\"", "Action::\"nope\"", "Repo::\"r1\""), vec![1]);
        assert_eq!(visited(&index, entities, "Agent::\"c2\"", "Action::\"nope\"", "Repo::\"r3\""), vec![10, 14]);
        assert!(index.all.get().is_some());
    }
}
