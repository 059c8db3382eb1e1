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
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityUid, Policy, PolicyId, PolicySet, PrincipalConstraint,
    ResourceConstraint, Schema,
};

use crate::fast::{FastPolicy, FxMap};

/// Policies of one index cell. One Cedar call on `all` tells every satisfied
/// permit (on allow) or every satisfied forbid (on deny) and every error; only
/// when forbids were satisfied and the engine still needs to know whether a
/// permit was (to choose between ask and deny) is `permits` evaluated alone.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub all: PolicySet,
    pub permits: PolicySet,
    /// The compiled form of every policy in `all` that has one.
    pub fast: Vec<Arc<FastPolicy>>,
    /// How many policies of `all` are Cedar-only; the compiled evaluator
    /// decides the bucket only when this is 0.
    pub cedar_only: usize,
}

impl Bucket {
    fn add(&mut self, policy: &Policy, fast: Option<&Arc<FastPolicy>>) -> Result<(), String> {
        match fast {
            Some(f) => self.fast.push(Arc::clone(f)),
            None => self.cedar_only += 1,
        }
        if policy.effect() == Effect::Permit {
            self.permits.add(policy.clone()).map_err(|e| e.to_string())?;
        }
        self.all.add(policy.clone()).map_err(|e| e.to_string())
    }
}

/// Principal key -> resource key -> bucket. `None` is "any".
/// Keyed by policy entities and looked up by request entities: the Fx hash
/// (a request cannot lengthen a chain in a table built at load).
type Cells = FxMap<Option<EntityUid>, FxMap<Option<EntityUid>, Bucket>>;

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
    fn add(&mut self, p: &Policy, fast: Option<&Arc<FastPolicy>>) -> Result<(), String> {
        let (pk, rk) = (principal_key(p), resource_key(p));
        self.keyed_principals |= pk.is_some();
        self.keyed_resources |= rk.is_some();
        self.cells.entry(pk).or_default().entry(rk).or_default().add(p, fast)
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
        for p in policies.policies() {
            let compiled = fast.get(p.id());
            all.add(p, compiled)?;
            for (action, cells) in by_action.iter_mut() {
                let applies = match p.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(a) => &a == action,
                    ActionConstraint::In(groups) => {
                        groups.iter().any(|g| g == action || entities.is_ancestor_of(g, action))
                    }
                };
                if applies {
                    cells.add(p, compiled)?;
                }
            }
        }
        Ok(Self { by_action, all })
    }

    /// Calls `visit` with every bucket that can hold a policy applying to the request.
    pub(crate) fn candidates<'a>(
        &'a self,
        entities: &Entities,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
        mut visit: impl FnMut(&'a Bucket),
    ) {
        let cells = self.by_action.get(action).unwrap_or(&self.all);
        const ANY_ONLY: &[Option<EntityUid>] = &[None];
        let keys = |uid: &EntityUid, keyed: bool| -> std::borrow::Cow<'static, [Option<EntityUid>]> {
            if !keyed {
                return std::borrow::Cow::Borrowed(ANY_ONLY);
            }
            let mut keys = vec![None, Some(uid.clone())];
            if let Some(ancestors) = entities.ancestors(uid) {
                keys.extend(ancestors.map(|a| Some(a.clone())));
            }
            std::borrow::Cow::Owned(keys)
        };
        let resource_keys = keys(resource, cells.keyed_resources);
        for pk in keys(principal, cells.keyed_principals).iter() {
            let Some(by_resource) = cells.cells.get(pk) else { continue };
            for rk in resource_keys.iter() {
                if let Some(bucket) = by_resource.get(rk) {
                    visit(bucket);
                }
            }
        }
    }
}
