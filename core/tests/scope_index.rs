//! Differential property test of the scope index: random policy sets with mixed
//! scope forms (`==`, `in`, `is`, `is .. in`, action groups, unconstrained) over a
//! random entity hierarchy; the engine (Cedar mode) must give exactly the
//! decision, reasons and errors of plain Cedar evaluating the whole set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::str::FromStr;

use agentauthz::cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet,
    Request as CedarRequest, Schema,
};
use agentauthz::{Engine, ErrorMode, Outcome, PolicySources, Request};
use proptest::prelude::*;
use serde_json::json;

const SCHEMA: &str = r#"
    entity Group in [Group] { level?: Long };
    entity User in [Group] { level?: Long };
    entity Folder in [Folder];
    entity Doc in [Folder] { owner?: User };
    action write;
    action view, edit appliesTo { principal: [User, Group], resource: [Doc, Folder], context: { n: Long } };
    action delete in [Action::"write"] appliesTo { principal: [User, Group], resource: [Doc, Folder], context: { n: Long } };
    action share in [Action::"write"] appliesTo { principal: [User, Group], resource: [Doc, Folder], context: { n: Long } };
"#;

const USERS: usize = 6;
const GROUPS: usize = 4;
const DOCS: usize = 6;
const FOLDERS: usize = 4;
const ACTIONS: &[&str] = &["view", "edit", "delete", "share"];

fn principal_uid(i: usize) -> String {
    if i < USERS {
        format!("User::\"u{i}\"")
    } else {
        format!("Group::\"g{}\"", i - USERS)
    }
}

fn resource_uid(i: usize) -> String {
    if i < DOCS {
        format!("Doc::\"d{i}\"")
    } else {
        format!("Folder::\"f{}\"", i - DOCS)
    }
}

/// Entities: each user/doc gets random parents among groups/folders; groups and
/// folders form a random forest (parent index lower than child: no cycles).
fn entities_json(parents: &[Vec<bool>], levels: &[Option<i64>]) -> String {
    let mut out = Vec::new();
    for g in 0..GROUPS {
        let ps: Vec<_> = (0..g)
            .filter(|p| parents[USERS + g][*p])
            .map(|p| json!({"type": "Group", "id": format!("g{p}")}))
            .collect();
        out.push(json!({"uid": {"type": "Group", "id": format!("g{g}")}, "attrs": {}, "parents": ps}));
    }
    for u in 0..USERS {
        let ps: Vec<_> =
            (0..GROUPS).filter(|p| parents[u][*p]).map(|p| json!({"type": "Group", "id": format!("g{p}")})).collect();
        let attrs = match levels[u] {
            Some(l) => json!({"level": l}),
            None => json!({}),
        };
        out.push(json!({"uid": {"type": "User", "id": format!("u{u}")}, "attrs": attrs, "parents": ps}));
    }
    for f in 0..FOLDERS {
        let ps: Vec<_> = (0..f)
            .filter(|p| parents[USERS + GROUPS + DOCS + f][*p])
            .map(|p| json!({"type": "Folder", "id": format!("f{p}")}))
            .collect();
        out.push(json!({"uid": {"type": "Folder", "id": format!("f{f}")}, "attrs": {}, "parents": ps}));
    }
    for d in 0..DOCS {
        let ps: Vec<_> = (0..FOLDERS)
            .filter(|p| parents[USERS + GROUPS + d][*p])
            .map(|p| json!({"type": "Folder", "id": format!("f{p}")}))
            .collect();
        out.push(json!({"uid": {"type": "Doc", "id": format!("d{d}")}, "attrs": {"owner": {"__entity": {"type": "User", "id": format!("u{}", d % USERS)}}}, "parents": ps}));
    }
    serde_json::to_string(&out).unwrap()
}

fn scope_strategy() -> impl Strategy<Value = String> {
    let principal = prop_oneof![
        Just("principal".to_string()),
        (0..USERS + GROUPS).prop_map(|i| format!("principal == {}", principal_uid(i))),
        (0..USERS + GROUPS).prop_map(|i| format!("principal in {}", principal_uid(i))),
        Just("principal is User".to_string()),
        (0..GROUPS).prop_map(|g| format!("principal is User in Group::\"g{g}\"")),
    ];
    let action = prop_oneof![
        Just("action".to_string()),
        (0..ACTIONS.len()).prop_map(|a| format!("action == Action::\"{}\"", ACTIONS[a])),
        Just("action in Action::\"write\"".to_string()),
        (0..ACTIONS.len(), 0..ACTIONS.len())
            .prop_map(|(a, b)| format!("action in [Action::\"{}\", Action::\"{}\"]", ACTIONS[a], ACTIONS[b])),
    ];
    let resource = prop_oneof![
        Just("resource".to_string()),
        (0..DOCS + FOLDERS).prop_map(|i| format!("resource == {}", resource_uid(i))),
        (0..DOCS + FOLDERS).prop_map(|i| format!("resource in {}", resource_uid(i))),
        Just("resource is Doc".to_string()),
        (0..FOLDERS).prop_map(|f| format!("resource is Doc in Folder::\"f{f}\"")),
    ];
    let condition = prop_oneof![
        Just(String::new()),
        (0i64..5).prop_map(|n| format!(" when {{ context.n > {n} }}")),
        // Errors when the principal has no level (User/Group level is optional).
        (0i64..5).prop_map(|n| format!(" when {{ principal.level > {n} }}")),
        Just(" when { resource has owner && resource.owner == principal }".to_string()),
        Just(" when { context.n * 4611686018427387904 > 1 }".to_string()),
    ];
    (any::<bool>(), principal, action, resource, condition)
        .prop_map(|(permit, p, a, r, c)| format!("{}({p}, {a}, {r}){c};", if permit { "permit" } else { "forbid" }))
}

#[derive(Debug, Clone)]
struct World {
    policies: Vec<String>,
    parents: Vec<Vec<bool>>,
    levels: Vec<Option<i64>>,
    requests: Vec<(usize, usize, usize, i64)>,
}

fn world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(scope_strategy(), 1..120),
        proptest::collection::vec(
            proptest::collection::vec(proptest::bool::weighted(0.3), GROUPS.max(FOLDERS)),
            USERS + GROUPS + DOCS + FOLDERS,
        ),
        proptest::collection::vec(proptest::option::of(0i64..6), USERS),
        proptest::collection::vec((0..USERS + GROUPS + 1, 0..ACTIONS.len(), 0..DOCS + FOLDERS + 1, 0i64..6), 20),
    )
        .prop_map(|(policies, parents, levels, requests)| World { policies, parents, levels, requests })
}

fn ids(it: impl Iterator<Item = String>) -> BTreeSet<String> {
    it.collect()
}

fn check(w: &World) -> Result<(), TestCaseError> {
    let text = w.policies.join("\n");
    let entities_text = entities_json(&w.parents, &w.levels);
    let engine = Engine::builder(PolicySources::from_strings(SCHEMA, &text, Some(&entities_text)))
        .error_mode(ErrorMode::Cedar)
        .accept_invalid_policies(true)
        .build()
        .unwrap();
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let pset = PolicySet::from_str(&text).unwrap();
    let entities = Entities::from_json_str(&entities_text, Some(&schema)).unwrap();
    for &(p, a, r, n) in &w.requests {
        // Index USERS + GROUPS / DOCS + FOLDERS is an entity missing from the store.
        let principal = if p == USERS + GROUPS { "User::\"ghost\"".to_string() } else { principal_uid(p) };
        let resource = if r == DOCS + FOLDERS { "Doc::\"ghost\"".to_string() } else { resource_uid(r) };
        let action = EntityUid::from_str(&format!("Action::\"{}\"", ACTIONS[a])).unwrap();
        let context = Context::from_json_value(json!({"n": n}), Some((&schema, &action))).unwrap();
        let creq = CedarRequest::new(
            EntityUid::from_str(&principal).unwrap(),
            action,
            EntityUid::from_str(&resource).unwrap(),
            context,
            Some(&schema),
        )
        .unwrap();
        let want = Authorizer::new().is_authorized(&creq, &pset, &entities);
        let req = Request::from_json(
            &json!({"principal": principal, "action": ACTIONS[a], "resource": resource, "context": {"n": n}}),
        )
        .unwrap();
        let got = engine.authorize(&req);
        prop_assert_eq!(
            got.outcome == Outcome::Allow,
            want.decision() == CedarDecision::Allow,
            "decision for {} {} {}",
            principal,
            ACTIONS[a],
            resource
        );
        prop_assert_eq!(
            ids(got.reason_ids().into_iter().map(str::to_string)),
            ids(want.diagnostics().reason().map(|r| r.to_string())),
            "reasons"
        );
        prop_assert_eq!(
            ids(got.errors.iter().map(|e| e.policy.clone().unwrap_or_default())),
            ids(want.diagnostics().errors().map(|e| match e {
                AuthorizationError::PolicyEvaluationError(pe) => pe.policy_id().to_string(),
            })),
            "errors"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// 300 random worlds x 20 requests = 6,000 decisions over up to 120 policies each.
    #[test]
    fn index_never_changes_a_decision(w in world()) {
        check(&w)?;
    }
}
