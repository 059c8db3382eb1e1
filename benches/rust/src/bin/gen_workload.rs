//! Writes the generated coding-agent workload to files, one folder per size:
//! `workload.cedarschema`, `policies.cedar`, `entities.json` and
//! `requests.jsonl` (each request with plain Cedar's decision on the whole set
//! and agentauthz's outcome). Exits non-zero if the two disagree.
//!
//! ```text
//! gen-workload --out DIR [--sizes 10,100,1000,10000,100000]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use agentauthz::{Engine, Outcome};
use agentauthz_benches::workload::{tool_call, workload, PlainCedar};

fn main() -> ExitCode {
    let mut out = None;
    let mut sizes = vec![10usize, 100, 1_000, 10_000, 100_000];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--out", Some(v)) => out = Some(PathBuf::from(v)),
            ("--sizes", Some(v)) => match v.split(',').map(str::parse).collect::<Result<Vec<usize>, _>>() {
                Ok(s) => sizes = s,
                Err(e) => return fail(&format!("--sizes: {e}")),
            },
            _ => return fail("usage: gen-workload --out DIR [--sizes 10,100,1000,10000,100000]"),
        }
    }
    let Some(out) = out else { return fail("usage: gen-workload --out DIR [--sizes ...]") };
    for n in sizes {
        let w = workload(n);
        let engine = match Engine::from_strings(&w.schema, &w.policies, Some(&w.entities)) {
            Ok(e) => e,
            Err(e) => return fail(&format!("{n} policies: agentauthz does not load the workload: {e}")),
        };
        let cedar = match PlainCedar::new(&w) {
            Ok(c) => c,
            Err(e) => return fail(&format!("{n} policies: plain Cedar does not load the workload: {e}")),
        };
        // Plain Cedar evaluates the whole set per request (about a second at
        // 100,000 policies): two threads share the work.
        let half = w.requests.len() / 2;
        let (first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| (half..w.requests.len()).map(|i| cedar.allows(i)).collect::<Vec<bool>>());
            let first: Vec<bool> = (0..half).map(|i| cedar.allows(i)).collect();
            (first, second.join())
        });
        let Ok(second) = second else { return fail("a plain Cedar thread panicked") };
        let plain: Vec<bool> = first.into_iter().chain(second).collect();
        let mut expected = Vec::with_capacity(w.requests.len());
        let (mut allow, mut deny, mut ask) = (0usize, 0usize, 0usize);
        for (i, r) in w.requests.iter().enumerate() {
            let Some(Ok(request)) = tool_call(r).map(|c| c.build()) else {
                return fail(&format!("{n} policies: request {i} cannot be built with ToolCall: {r}"));
            };
            let ours = engine.authorize(&request).outcome;
            let theirs = plain.get(i).copied().unwrap_or(false);
            if (ours == Outcome::Allow) != theirs {
                return fail(&format!("{n} policies: request {i} {r}: agentauthz {ours}, plain Cedar allow={theirs}"));
            }
            match ours {
                Outcome::Allow => allow += 1,
                Outcome::Deny => deny += 1,
                _ => ask += 1,
            }
            expected.push((if theirs { "allow" } else { "deny" }.to_string(), ours.as_str().to_string()));
        }
        let dir = out.join(n.to_string());
        if let Err(e) = w.write_dir(&dir, &expected) {
            return fail(&format!("{}: {e}", dir.display()));
        }
        println!(
            "{}: {n} policies, {} requests ({} allow, {} deny, {} ask), agentauthz and plain Cedar agree",
            dir.display(),
            w.requests.len(),
            allow,
            deny,
            ask
        );
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("gen-workload: {message}");
    ExitCode::FAILURE
}
