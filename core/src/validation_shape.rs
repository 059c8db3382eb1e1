//! Strict validation once per policy *shape* (used by the load's `validate`).
//!
//! Policies that differ only in the ids of their principal and resource scope
//! entities get the same verdict from Cedar's strict validator (see
//! [`ValidationShape`] for why), so a part of a load whose policies share shapes
//! is first validated with one policy of each shape; when those pass, the part
//! passes. The differential test `validation_shapes` compares the outcome with
//! Cedar's `Validator` on the whole set.

use cedar_policy::{PolicySet, Schema, ValidationWarning};

/// Whether strict validation found nothing the engine refuses: no error, and
/// no warning that a policy's scope matches no action (as the load's `validate` refuses).
pub(crate) fn is_clean(result: &cedar_policy::ValidationResult) -> bool {
    result.validation_passed()
        && !result.validation_warnings().any(|w| matches!(w, ValidationWarning::InvalidActionApplication(_)))
}

/// What strict validation of a static policy can depend on: its effect, its
/// action scope, the condition's expression tree (literals, attribute names,
/// operators; not source positions), and the principal and resource scopes with
/// the ids of their entities left out, except for actions and enumerated entity
/// types. Cedar's validator reads an entity id only for those two (action ids
/// and hierarchy, enum choices), and types `A == B` between two literals by
/// the ids, which happens only in the condition, kept whole here; annotations
/// and policy ids it does not read at all. Per-agent and per-repository grants
/// differ only in scope ids, so a large generated set has few shapes.
#[derive(PartialEq, Eq, Hash)]
struct ValidationShape<'a> {
    effect: cedar_policy_core::ast::Effect,
    principal: ScopeShape<'a>,
    action: &'a cedar_policy_core::ast::ActionConstraint,
    resource: ScopeShape<'a>,
    condition: Option<cedar_policy_core::ast::ExprShapeOnly<'a>>,
}

/// A principal or resource scope, its entity's id left out where it cannot
/// change the verdict (see [`ValidationShape`]).
#[derive(PartialEq, Eq, Hash)]
enum ScopeShape<'a> {
    /// Kept as written.
    Whole(&'a cedar_policy_core::ast::PrincipalOrResourceConstraint),
    /// `==` (0), `in` (1) or `is T in` (2) an entity of a type, id left out.
    Typed(u8, &'a cedar_policy_core::ast::EntityType, Option<&'a cedar_policy_core::ast::EntityType>),
}

fn scope_shape<'a>(
    scope: &'a cedar_policy_core::ast::PrincipalOrResourceConstraint,
    schema: &cedar_policy_core::validator::ValidatorSchema,
) -> ScopeShape<'a> {
    use cedar_policy_core::ast::{EntityReference, PrincipalOrResourceConstraint as C};
    use cedar_policy_core::validator::ValidatorEntityTypeKind;
    let (tag, uid, is) = match scope {
        C::Eq(EntityReference::EUID(uid)) => (0, uid, None),
        C::In(EntityReference::EUID(uid)) => (1, uid, None),
        C::IsIn(ty, EntityReference::EUID(uid)) => (2, uid, Some(&**ty)),
        _ => return ScopeShape::Whole(scope),
    };
    let ty = uid.entity_type();
    let id_matters = ty.is_action()
        || !matches!(schema.get_entity_type(ty).map(|t| &t.kind), Some(ValidatorEntityTypeKind::Standard(_)));
    if id_matters {
        ScopeShape::Whole(scope)
    } else {
        ScopeShape::Typed(tag, ty, is)
    }
}

/// One policy of each [`ValidationShape`] in `part`, or `None` when no two
/// share one (validating the part itself costs the same).
pub(crate) fn one_of_each_shape(part: &PolicySet, schema: &Schema) -> Option<PolicySet> {
    let vschema: &cedar_policy_core::validator::ValidatorSchema = schema.as_ref();
    let mut seen: std::collections::HashSet<ValidationShape<'_>, std::hash::BuildHasherDefault<crate::fast::FxHasher>> =
        Default::default();
    let mut representatives = PolicySet::new();
    let mut total = 0usize;
    for policy in part.policies() {
        total += 1;
        let ast: &cedar_policy_core::ast::Policy = policy.as_ref();
        if !ast.is_static() {
            return None;
        }
        let t = ast.template();
        let shape = ValidationShape {
            effect: t.effect(),
            principal: scope_shape(t.principal_constraint().as_inner(), vschema),
            action: t.action_constraint(),
            resource: scope_shape(t.resource_constraint().as_inner(), vschema),
            condition: t.non_scope_constraints().map(cedar_policy_core::ast::ExprShapeOnly::new_from_borrowed),
        };
        if seen.insert(shape) {
            representatives.add(policy.clone()).ok()?;
        }
    }
    (representatives.num_of_policies() < total).then_some(representatives)
}
