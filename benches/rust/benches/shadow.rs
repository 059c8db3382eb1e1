//! The cost of shadow evaluation on the coding-agent example: the same requests
//! decided with no shadow policy, with three `@mode("shadow")` policies added,
//! and with the whole engine in shadow mode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use agentauthz::{Enforcement, Engine, NamedText, PolicySources};
use agentauthz_benches::{example_dir, example_requests};
use criterion::{criterion_group, criterion_main, Criterion};

/// Three shadow candidates a security team might be trialling.
const SHADOW: &str = r#"
@id("shadow-no-cargo-test") @mode("shadow") @owner("security")
forbid (principal, action == Action::"run_command", resource)
when { context has command && context.command like "*cargo test*" };

@id("shadow-ask-every-push") @mode("shadow") @ask("security")
forbid (principal, action == Action::"push_commit", resource);

@id("shadow-no-secrets") @mode("shadow") @ask("security")
forbid (principal, action in Action::"secrets", resource)
when { context.credential.scopes.contains("secrets:read") };
"#;

fn engine(shadow_policies: bool, enforcement: Enforcement) -> Engine {
    let mut sources = PolicySources::from_dir(example_dir()).unwrap();
    if shadow_policies {
        sources.policies.push(NamedText::new("shadow.cedar", SHADOW));
    }
    Engine::builder(sources).enforcement(enforcement).build().unwrap()
}

fn shadow(c: &mut Criterion) {
    let requests = example_requests();
    let mut g = c.benchmark_group("shadow evaluation (coding-agent example)");
    for (name, e) in [
        ("no shadow policies", engine(false, Enforcement::Enforce)),
        ("3 shadow policies", engine(true, Enforcement::Enforce)),
        ("engine-wide shadow mode", engine(false, Enforcement::Shadow)),
    ] {
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let (r, now) = &requests[i % requests.len()];
                i += 1;
                e.authorize_at(r, *now)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, shadow);
criterion_main!(benches);
