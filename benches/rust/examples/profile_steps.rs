//! Where the time of one decision goes (rough, single-threaded timings).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]
use std::str::FromStr;
use std::time::Instant;

use agentauthz::cedar_policy::{Context, EntityUid, Request, Schema};
use agentauthz::PolicySources;
use agentauthz_benches::{example_cases, example_dir};
use serde_json::json;

fn main() {
    let sources = PolicySources::from_dir(example_dir()).unwrap();
    let (schema, _) = Schema::from_cedarschema_str(&sources.schema.text).unwrap();
    let cases = example_cases();
    let c = &cases[0];
    let r = &c.request;
    let action = EntityUid::from_str(&format!("Action::\"{}\"", r["action"].as_str().unwrap())).unwrap();
    let mut ctx = r["context"].clone();
    ctx.as_object_mut()
        .unwrap()
        .insert("now".into(), json!({"__extn": {"fn": "datetime", "arg": "2026-11-25T10:00:00Z"}}));
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        let _ = Context::from_json_value(ctx.clone(), Some((&schema, &action))).unwrap();
    }
    println!("context with schema: {:.1} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        let _ = Context::from_json_value(ctx.clone(), None).unwrap();
    }
    println!("context without schema: {:.1} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let context = Context::from_json_value(ctx.clone(), Some((&schema, &action))).unwrap();
    let p = EntityUid::from_str(r["principal"].as_str().unwrap()).unwrap();
    let res = EntityUid::from_str(r["resource"].as_str().unwrap()).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        let _ = Request::new(p.clone(), action.clone(), res.clone(), context.clone(), Some(&schema)).unwrap();
    }
    println!("request with schema validation: {:.1} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        let _ = Request::new(p.clone(), action.clone(), res.clone(), context.clone(), None).unwrap();
    }
    println!("request without validation: {:.1} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
