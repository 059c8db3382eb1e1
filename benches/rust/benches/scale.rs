//! Decision time as the policy set grows: agentauthz (scope index) vs plain
//! Cedar evaluating the whole set, on the same pre-built requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::str::FromStr;
use std::time::Duration;

use agentauthz::cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request, Schema};
use agentauthz::{Engine, Outcome};
use agentauthz_benches::workload::workload;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn scale(c: &mut Criterion) {
    let mut g = c.benchmark_group("scale");
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for n in [10usize, 100, 1_000, 10_000] {
        let w = workload(n);
        let engine = Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)).unwrap();
        let reqs: Vec<agentauthz::Request> =
            w.requests.iter().map(|r| agentauthz::Request::from_json(r).unwrap()).collect();
        let (schema, _) = Schema::from_cedarschema_str(&w.schema).unwrap();
        let pset = PolicySet::from_str(&w.policies).unwrap();
        let entities = Entities::from_json_str(&w.entities, Some(&schema)).unwrap();
        let cedar_reqs: Vec<Request> = w
            .requests
            .iter()
            .map(|r| {
                let action = EntityUid::from_str(&format!("Action::\"{}\"", r["action"].as_str().unwrap())).unwrap();
                Request::new(
                    EntityUid::from_json(r["principal"].clone()).unwrap(),
                    action.clone(),
                    EntityUid::from_json(r["resource"].clone()).unwrap(),
                    Context::from_json_value(r["context"].clone(), Some((&schema, &action))).unwrap(),
                    Some(&schema),
                )
                .unwrap()
            })
            .collect();
        // Same answers from both (ask counts as deny), or the comparison is meaningless.
        let authorizer = Authorizer::new();
        for (r, cr) in reqs.iter().zip(&cedar_reqs) {
            let ours = engine.authorize(r).outcome == Outcome::Allow;
            let theirs =
                authorizer.is_authorized(cr, &pset, &entities).decision() == agentauthz::cedar_policy::Decision::Allow;
            assert_eq!(ours, theirs);
        }
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("agentauthz", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                engine.authorize(&reqs[i % reqs.len()])
            })
        });
        if n <= 10_000 {
            let mut i = 0;
            g.bench_with_input(BenchmarkId::new("plain cedar", n), &n, |b, _| {
                b.iter(|| {
                    i += 1;
                    authorizer.is_authorized(&cedar_reqs[i % cedar_reqs.len()], &pset, &entities)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
