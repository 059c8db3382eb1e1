//! `agentauthz owners` and `agentauthz controls`: accountability reports.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use agentauthz::controls::{controls_report, owners_report, Framework};
use agentauthz::Engine;

/// Appends a line to a report; writing to a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

fn print(text: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
}

/// Lists each owner with their policies; a policy without `@owner` is a
/// warning, or an error (exit 1) with `strict`.
pub fn owners(dir: &Path, strict: bool) -> Result<ExitCode, String> {
    let engine = Engine::from_dir(dir).map_err(|e| e.to_string())?;
    let report = owners_report(&engine.policies());
    let mut out = String::new();
    for (owner, ids) in &report.owners {
        w!(out, "{owner} ({} {})", ids.len(), if ids.len() == 1 { "policy" } else { "policies" });
        for id in ids {
            w!(out, "  {id}");
        }
    }
    print(&out);
    let level = if strict { "error" } else { "warning" };
    for (id, file) in &report.unowned {
        eprintln!("{level}: policy `{id}` ({file}) has no @owner");
    }
    Ok(if strict && !report.unowned.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Prints which catalog controls the policies address (by which policy and
/// owner), which they do not, and unknown control ids.
pub fn controls(dir: &Path) -> Result<ExitCode, String> {
    let engine = Engine::from_dir(dir).map_err(|e| e.to_string())?;
    let report = controls_report(&engine.policies());
    let mut out = String::new();
    let mut current: Option<Framework> = None;
    for (control, policies) in &report.controls {
        if current != Some(control.framework) {
            current = Some(control.framework);
            let in_fw: Vec<_> = report.controls.iter().filter(|(c, _)| c.framework == control.framework).collect();
            let addressed = in_fw.iter().filter(|(_, p)| !p.is_empty()).count();
            w!(out, "\n{} ({addressed}/{} addressed)", control.framework.name(), in_fw.len());
        }
        if policies.is_empty() {
            w!(out, "  -  {:<16} {:<50} not addressed", control.id, control.name);
        } else {
            let by: Vec<String> =
                policies.iter().map(|p| format!("{} ({})", p.id, p.owner.as_deref().unwrap_or("no owner"))).collect();
            w!(out, "  ✓  {:<16} {:<50} {}", control.id, control.name, by.join(", "));
        }
    }
    if !report.unknown.is_empty() {
        w!(out, "\nUnknown control ids:");
        for (id, policies) in &report.unknown {
            let ids: Vec<&str> = policies.iter().map(|p| p.id.as_str()).collect();
            w!(out, "  {id}: in {}", ids.join(", "));
        }
    }
    print(out.trim_start());
    Ok(ExitCode::SUCCESS)
}
