//! Median decision time on the coding-agent example: agentauthz vs plain Cedar.
//!
//! Inputs are prepared outside the timed loop; each iteration decides one
//! request, cycling through every case of `cases.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::str::FromStr;

use agentauthz::cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicyId, PolicySet, Request, Schema};
use agentauthz::{Engine, PolicySources};
use agentauthz_benches::{add_sample_controls, example_cases, example_dir, example_requests};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

fn decide(c: &mut Criterion) {
    let engine = Engine::from_dir(example_dir()).unwrap();
    let cases = example_cases();
    let requests = example_requests();
    let texts: Vec<String> = cases.iter().map(|c| c.request.to_string()).collect();

    let mut g = c.benchmark_group("coding-agent example (30 policies)");
    let mut i = 0usize;
    g.bench_function("agentauthz: typed request", |b| {
        b.iter(|| {
            let (r, now) = &requests[i % requests.len()];
            i += 1;
            engine.authorize_at(r, *now)
        })
    });
    let mut i = 0usize;
    g.bench_function("agentauthz: JSON text request", |b| {
        b.iter(|| {
            let t = &texts[i % texts.len()];
            i += 1;
            engine.authorize_json_str(t)
        })
    });

    // Plain Cedar on the same pre-parsed policies, entities and requests.
    let sources = PolicySources::from_dir(example_dir()).unwrap();
    let (schema, _) = Schema::from_cedarschema_str(&sources.schema.text).unwrap();
    let mut pset = PolicySet::new();
    for f in &sources.policies {
        for p in PolicySet::from_str(&f.text).unwrap().policies() {
            pset.add(p.new_id(PolicyId::new(p.annotation("id").unwrap()))).unwrap();
        }
    }
    let entities = Entities::from_json_str(&sources.entities.as_ref().unwrap().text, Some(&schema)).unwrap();
    let cedar_requests: Vec<Request> = cases
        .iter()
        .map(|c| {
            let r = &c.request;
            let action = EntityUid::from_str(&format!("Action::\"{}\"", r["action"].as_str().unwrap())).unwrap();
            let mut ctx = r["context"].clone();
            let now = json!({"__extn": {"fn": "datetime", "arg": c.now.as_deref().unwrap()}});
            ctx.as_object_mut().unwrap().insert("now".into(), now);
            Request::new(
                EntityUid::from_str(r["principal"].as_str().unwrap()).unwrap(),
                action.clone(),
                EntityUid::from_str(r["resource"].as_str().unwrap()).unwrap(),
                Context::from_json_value(ctx, Some((&schema, &action))).unwrap(),
                Some(&schema),
            )
            .unwrap()
        })
        .collect();
    let authorizer = Authorizer::new();
    let mut i = 0usize;
    g.bench_function("plain cedar: pre-built request", |b| {
        b.iter(|| {
            let r = &cedar_requests[i % cedar_requests.len()];
            i += 1;
            authorizer.is_authorized(r, &pset, &entities)
        })
    });
    g.finish();
}

/// The added cost of runtime controls on the same requests: revocations and
/// grants present (not matching), and engine-kept session counters.
fn controls(c: &mut Criterion) {
    use agentauthz::SessionLimits;
    let requests = example_requests();
    let plain = Engine::from_dir(example_dir()).unwrap();
    let controlled = Engine::from_dir(example_dir()).unwrap();
    add_sample_controls(&controlled);
    let counted = Engine::builder(PolicySources::from_dir(example_dir()).unwrap())
        .session_counters(SessionLimits::default())
        .build()
        .unwrap();
    let mut g = c.benchmark_group("runtime controls (example policies)");
    for (name, engine) in
        [("no controls", &plain), ("100 revocations + 100 grants", &controlled), ("session counters", &counted)]
    {
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let (r, now) = &requests[i % requests.len()];
                i += 1;
                engine.authorize_at(r, *now)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decide, controls);
criterion_main!(benches);
