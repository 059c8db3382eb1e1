//! Context parsing cost by value kind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]
use std::time::Instant;

use agentauthz::cedar_policy::{Context, RestrictedExpression};
use serde_json::json;

fn time(label: &str, f: impl Fn()) {
    let n: u32 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!("{label}: {:.2} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}

fn main() {
    let plain = json!({"a": "x", "b": 1, "c": {"d": ["p", "q"], "e": true}});
    time("plain json", || drop(Context::from_json_value(plain.clone(), None).unwrap()));
    let dt = json!({"now": {"__extn": {"fn": "datetime", "arg": "2026-11-25T10:00:00Z"}}});
    time("one datetime json", || drop(Context::from_json_value(dt.clone(), None).unwrap()));
    let ip = json!({"ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}});
    time("one ip json", || drop(Context::from_json_value(ip.clone(), None).unwrap()));
    let dec = json!({"d": {"__extn": {"fn": "decimal", "arg": "1.5"}}});
    time("one decimal json", || drop(Context::from_json_value(dec.clone(), None).unwrap()));
    time("one datetime pairs", || {
        drop(
            Context::from_pairs([("now".to_string(), RestrictedExpression::new_datetime("2026-11-25T10:00:00Z"))])
                .unwrap(),
        )
    });
    time("plain pairs", || {
        drop(Context::from_pairs([("now".to_string(), RestrictedExpression::new_string("x".into()))]).unwrap())
    });
}
