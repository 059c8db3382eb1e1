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
    fn add(&mut self, at: u32, policy: &Policy, fast: Option<&Arc<FastPolicy>>) {
        match fast {
            Some(f) => self.fast.push(Arc::clone(f)),
            None => self.cedar_only += 1,
        }
        self.has_permit |= policy.effect() == Effect::Permit;
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
    by_uid: FxMap<EntityUid, V>,
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Self { any: None, by_uid: FxMap::default() }
    }
}

impl<V: Default> Keyed<V> {
    fn entry(&mut self, key: Option<EntityUid>) -> &mut V {
        match key {
            None => self.any.get_or_insert_with(V::default),
            Some(uid) => self.by_uid.entry(uid).or_default(),
        }
    }
}

impl<V> Keyed<V> {
    fn get(&self, key: Option<&EntityUid>) -> Option<&V> {
        match key {
            None => self.any.as_ref(),
            Some(uid) => self.by_uid.get(uid),
        }
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.any.iter_mut().chain(self.by_uid.values_mut())
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
    /// rejects or evaluates the request as it would without an index).
    all: ActionCells,
    /// The policies, each once; buckets hold positions in this list.
    policies: Vec<Policy>,
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
    fn add(&mut self, at: u32, p: &Policy, fast: Option<&Arc<FastPolicy>>) {
        let (pk, rk) = (principal_key(p), resource_key(p));
        self.keyed_principals |= pk.is_some();
        self.keyed_resources |= rk.is_some();
        self.cells.entry(pk).entry(rk).add(at, p, fast);
    }

    fn shrink(&mut self) {
        for by_resource in self.cells.values_mut() {
            for bucket in by_resource.values_mut() {
                bucket.shrink();
            }
        }
    }
}

impl ScopeIndex {
    /// Files every policy (with its compiled form from `fast`, when it has one).
    /// Template-linked policies carry their links in their scope constraints,
    /// so they are filed like static ones.
    pub(crate) fn build(
        schema: &Schema,
        entities: &Entities,
        policies: &PolicySet,
        fast: &HashMap<PolicyId, Arc<FastPolicy>>,
    ) -> Result<Self, String> {
        let mut all = ActionCells::default();
        let mut by_action: FxMap<EntityUid, ActionCells> =
            schema.actions().map(|a| (a.clone(), ActionCells::default())).collect();
        let mut list: Vec<Policy> = Vec::with_capacity(policies.num_of_policies());
        for p in policies.policies() {
            let at = u32::try_from(list.len()).map_err(|_| "more than 2^32 policies".to_string())?;
            let compiled = fast.get(p.id());
            all.add(at, p, compiled);
            for (action, cells) in by_action.iter_mut() {
                let applies = match p.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(a) => &a == action,
                    ActionConstraint::In(groups) => {
                        groups.iter().any(|g| g == action || entities.is_ancestor_of(g, action))
                    }
                };
                if applies {
                    cells.add(at, p, compiled);
                }
            }
            list.push(p.clone());
        }
        all.shrink();
        for cells in by_action.values_mut() {
            cells.shrink();
        }
        Ok(Self { by_action, all, policies: list })
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
        let cells = self.by_action.get(action).unwrap_or(&self.all);
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
