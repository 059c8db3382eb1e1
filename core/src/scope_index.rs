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

use crate::fast::{FastPolicy, FxMap};

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

/// Principal key -> resource key -> bucket. `None` is "any".
/// Keyed by policy entities and looked up by request entities: the Fx hash
/// (a request cannot lengthen a chain in a table built at load).
type Cells = Keyed<Keyed<Bucket>>;

/// A map keyed by `Option<EntityUid>` (`None`: any entity) that is looked up
/// by reference: a decision clones no uid. (Cloning one updates reference
/// counts inside the entity data that every deciding thread shares, which
/// costs each thread cache-line transfers.)
#[derive(Debug)]
struct Keyed<V> {
    any: Option<V>,
    by_uid: UidMap<V>,
}

/// Most keys hold one or two entries (a grant's principal names one
/// resource), so a small map is a list, scanned in order: a uid is 120 bytes,
/// and a hash table's smallest allocation holds four entries.
const FEW: usize = 4;

/// Entries by uid: a short list, or a hash table past [`FEW`] entries.
#[derive(Debug)]
enum UidMap<V> {
    Few(Vec<(EntityUid, V)>),
    Many(FxMap<EntityUid, V>),
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Self { any: None, by_uid: UidMap::Few(Vec::new()) }
    }
}

impl<V: Default> Keyed<V> {
    /// Calls `f` with the entry of `key`, created empty if there is none.
    fn with(&mut self, key: Option<EntityUid>, f: impl FnOnce(&mut V)) {
        let Some(uid) = key else {
            f(self.any.get_or_insert_with(V::default));
            return;
        };
        if let UidMap::Few(list) = &mut self.by_uid {
            if list.len() >= FEW && !list.iter().any(|(k, _)| *k == uid) {
                self.by_uid = UidMap::Many(std::mem::take(list).into_iter().collect());
            }
        }
        match &mut self.by_uid {
            UidMap::Few(list) => {
                let found = list.iter_mut().find(|(k, _)| *k == uid);
                match found {
                    Some((_, v)) => f(v),
                    None => {
                        let mut v = V::default();
                        f(&mut v);
                        list.push((uid, v));
                    }
                }
            }
            UidMap::Many(map) => f(map.entry(uid).or_default()),
        }
    }
}

impl<V> Keyed<V> {
    fn get(&self, key: Option<&EntityUid>) -> Option<&V> {
        match (key, &self.by_uid) {
            (None, _) => self.any.as_ref(),
            (Some(uid), UidMap::Few(list)) => list.iter().find(|(k, _)| k == uid).map(|(_, v)| v),
            (Some(uid), UidMap::Many(map)) => map.get(uid),
        }
    }

    /// Calls `f` with every entry, then frees unused capacity.
    fn shrink(&mut self, mut f: impl FnMut(&mut V)) {
        self.any.iter_mut().for_each(&mut f);
        match &mut self.by_uid {
            UidMap::Few(list) => {
                list.iter_mut().for_each(|(_, v)| f(v));
                list.shrink_to_fit();
            }
            UidMap::Many(map) => {
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
    by_action: FxMap<EntityUid, ActionCells>,
    /// Every policy, for actions the schema does not declare (Cedar then
    /// rejects or evaluates the request as it would without an index). Built
    /// on first use: with a schema, such a request is refused before the
    /// index is asked, so this is normally never built.
    all: OnceLock<ActionCells>,
    /// The policies, each once; buckets hold positions in this list.
    policies: Vec<Policy>,
    /// Each policy's compiled form, by position (for building `all`).
    fast: Vec<Option<Arc<FastPolicy>>>,
}

/// What filing one policy needs, read from it once (each of Cedar's scope
/// accessors builds a fresh value).
struct Filed<'a> {
    principal: Option<EntityUid>,
    resource: Option<EntityUid>,
    permit: bool,
    fast: Option<&'a Arc<FastPolicy>>,
}

impl<'a> Filed<'a> {
    fn of(p: &Policy, fast: Option<&'a Arc<FastPolicy>>) -> Self {
        Filed { principal: principal_key(p), resource: resource_key(p), permit: p.effect() == Effect::Permit, fast }
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
        self.cells.with(filed.principal.clone(), |by_resource| {
            by_resource.with(filed.resource.clone(), |bucket| bucket.add(at, filed));
        });
    }

    fn shrink(&mut self) {
        self.cells.shrink(|by_resource| by_resource.shrink(Bucket::shrink));
    }
}

impl ScopeIndex {
    /// Files every policy (with its compiled form from `fast`, when it has one).
    /// Template-linked policies carry their links in their scope constraints,
    /// so they are filed like static ones.
    pub(crate) fn build(
        schema: &Schema,
        entities: &Entities,
        policies: Vec<Policy>,
        fast: &HashMap<PolicyId, Arc<FastPolicy>>,
    ) -> Result<Self, String> {
        let mut by_action: FxMap<EntityUid, ActionCells> =
            schema.actions().map(|a| (a.clone(), ActionCells::default())).collect();
        let mut compiled: Vec<Option<Arc<FastPolicy>>> = Vec::with_capacity(policies.len());
        for p in &policies {
            let at = u32::try_from(compiled.len()).map_err(|_| "more than 2^32 policies".to_string())?;
            let filed = Filed::of(p, fast.get(p.id()));
            match p.action_constraint() {
                ActionConstraint::Any => by_action.values_mut().for_each(|cells| cells.add(at, &filed)),
                // An action the schema does not declare files nowhere but `all`.
                ActionConstraint::Eq(a) => {
                    if let Some(cells) = by_action.get_mut(&a) {
                        cells.add(at, &filed);
                    }
                }
                ActionConstraint::In(groups) => {
                    for (action, cells) in by_action.iter_mut() {
                        if groups.iter().any(|g| g == action || entities.is_ancestor_of(g, action)) {
                            cells.add(at, &filed);
                        }
                    }
                }
            }
            compiled.push(filed.fast.cloned());
        }
        for cells in by_action.values_mut() {
            cells.shrink();
        }
        Ok(Self { by_action, all: OnceLock::new(), policies, fast: compiled })
    }

    /// Every policy filed under one set of cells (see `all`).
    fn file_all(&self) -> ActionCells {
        let mut all = ActionCells::default();
        for (at, (p, fast)) in (0u32..).zip(self.policies.iter().zip(&self.fast)) {
            all.add(at, &Filed::of(p, fast.as_ref()));
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

    /// Calls `visit` with every bucket that can hold a policy applying to the request.
    pub(crate) fn candidates<'a, 'e>(
        &'a self,
        entities: &'e Entities,
        principal: &'e EntityUid,
        action: &EntityUid,
        resource: &'e EntityUid,
        mut visit: impl FnMut(&'a Bucket),
    ) {
        let cells = match self.by_action.get(action) {
            Some(cells) => cells,
            None => self.all.get_or_init(|| self.file_all()),
        };
        // Keys in order: any, the entity itself, its ancestors (as listed by
        // the entity store); only "any" when no policy names such an entity.
        let keys = |uid: &'e EntityUid, keyed: bool| -> Vec<Option<&'e EntityUid>> {
            if !keyed {
                return vec![None];
            }
            let mut keys = vec![None, Some(uid)];
            if let Some(ancestors) = entities.ancestors(uid) {
                keys.extend(ancestors.map(Some));
            }
            keys
        };
        let resource_keys = keys(resource, cells.keyed_resources);
        for pk in keys(principal, cells.keyed_principals) {
            let Some(by_resource) = cells.cells.get(pk) else { continue };
            for rk in &resource_keys {
                if let Some(bucket) = by_resource.get(*rk) {
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
    fn visited(index: &ScopeIndex, entities: &Entities, principal: &str, action: &str, resource: &str) -> Vec<u32> {
        let mut out = Vec::new();
        index.candidates(entities, &uid(principal), &uid(action), &uid(resource), |b| out.extend(&b.members));
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
        let index = ScopeIndex::build(&schema, &entities, set.policies().cloned().collect(), &HashMap::new()).unwrap();
        for i in 0..10u32 {
            let got = visited(&index, &entities, "Agent::\"a\"", "Action::\"read\"", &format!("Repo::\"r{i}\""));
            assert_eq!(got, if i == 3 { vec![3, 10] } else { vec![i] }, "r{i}");
        }
        assert_eq!(visited(&index, &entities, "Agent::\"a\"", "Action::\"write\"", "Repo::\"r1\""), Vec::<u32>::new());
        assert_eq!(visited(&index, &entities, "Agent::\"b\"", "Action::\"write\"", "Repo::\"r3\""), vec![10, 11]);
        for i in 0..6u32 {
            let principal = format!("Agent::\"c{i}\"");
            assert_eq!(visited(&index, &entities, &principal, "Action::\"write\"", "Repo::\"x\""), vec![12 + i]);
            assert_eq!(visited(&index, &entities, &principal, "Action::\"read\"", "Repo::\"x\""), Vec::<u32>::new());
        }
        assert!(index.all.get().is_none(), "filed only when an undeclared action is asked");
        assert_eq!(visited(&index, &entities, "Agent::\"a\"", "Action::\"nope\"", "Repo::\"r1\""), vec![1]);
        assert_eq!(visited(&index, &entities, "Agent::\"c2\"", "Action::\"nope\"", "Repo::\"r3\""), vec![10, 14]);
        assert!(index.all.get().is_some());
    }
}
