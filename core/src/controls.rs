//! Ownership and control coverage: who owns which policy (`@owner`) and which
//! security controls the policies address (`@control("OWASP-ASI03,NIST-MANAGE")`).
//!
//! The catalog covers the OWASP Top 10 for Agentic Applications (ASI01–ASI10),
//! the CSA MAESTRO layers (L1–L7), the NIST AI RMF core functions and the MITRE
//! ATLAS mitigations AML.M0000–AML.M0029. Ids are written `OWASP-ASI03`,
//! `MAESTRO-L3`, `NIST-GOVERN`, `ATLAS-AML.M0026`; the bare forms `ASI03`,
//! `GOVERN` and `AML.M0026` are accepted too, in any case.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::compile::PolicyInfo;

/// A framework a control belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Framework {
    /// OWASP Top 10 for Agentic Applications (2026).
    OwaspAgentic,
    /// CSA MAESTRO (Multi-Agent Environment, Security, Threat, Risk, and Outcome) layers.
    Maestro,
    /// NIST AI Risk Management Framework (AI RMF 1.0) core functions.
    NistAiRmf,
    /// MITRE ATLAS mitigations.
    MitreAtlas,
}

impl Framework {
    /// The framework's display name.
    pub fn name(self) -> &'static str {
        match self {
            Framework::OwaspAgentic => "OWASP Top 10 for Agentic Applications",
            Framework::Maestro => "CSA MAESTRO",
            Framework::NistAiRmf => "NIST AI RMF",
            Framework::MitreAtlas => "MITRE ATLAS mitigations",
        }
    }
}

/// One control of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    /// The canonical id, e.g. `OWASP-ASI03`.
    pub id: &'static str,
    /// Its framework.
    pub framework: Framework,
    /// Its name in the framework.
    pub name: &'static str,
}

const fn c(id: &'static str, framework: Framework, name: &'static str) -> Control {
    Control { id, framework, name }
}

use Framework::{Maestro, MitreAtlas, NistAiRmf, OwaspAgentic};

static CATALOG: &[Control] = &[
    c("OWASP-ASI01", OwaspAgentic, "Agent Goal Hijack"),
    c("OWASP-ASI02", OwaspAgentic, "Tool Misuse and Exploitation"),
    c("OWASP-ASI03", OwaspAgentic, "Identity and Privilege Abuse"),
    c("OWASP-ASI04", OwaspAgentic, "Agentic Supply Chain Vulnerabilities"),
    c("OWASP-ASI05", OwaspAgentic, "Unexpected Code Execution (RCE)"),
    c("OWASP-ASI06", OwaspAgentic, "Memory and Context Poisoning"),
    c("OWASP-ASI07", OwaspAgentic, "Insecure Inter-Agent Communication"),
    c("OWASP-ASI08", OwaspAgentic, "Cascading Failures"),
    c("OWASP-ASI09", OwaspAgentic, "Human-Agent Trust Exploitation"),
    c("OWASP-ASI10", OwaspAgentic, "Rogue Agents"),
    c("MAESTRO-L1", Maestro, "Foundation Models"),
    c("MAESTRO-L2", Maestro, "Data Operations"),
    c("MAESTRO-L3", Maestro, "Agent Frameworks"),
    c("MAESTRO-L4", Maestro, "Deployment and Infrastructure"),
    c("MAESTRO-L5", Maestro, "Evaluation and Observability"),
    c("MAESTRO-L6", Maestro, "Security and Compliance"),
    c("MAESTRO-L7", Maestro, "Agent Ecosystem"),
    c("NIST-GOVERN", NistAiRmf, "Govern"),
    c("NIST-MAP", NistAiRmf, "Map"),
    c("NIST-MEASURE", NistAiRmf, "Measure"),
    c("NIST-MANAGE", NistAiRmf, "Manage"),
    c("ATLAS-AML.M0000", MitreAtlas, "Limit Public Release of Information"),
    c("ATLAS-AML.M0001", MitreAtlas, "Limit Model Artifact Release"),
    c("ATLAS-AML.M0002", MitreAtlas, "Passive AI Output Obfuscation"),
    c("ATLAS-AML.M0003", MitreAtlas, "Model Hardening"),
    c("ATLAS-AML.M0004", MitreAtlas, "Restrict Number of AI Model Queries"),
    c("ATLAS-AML.M0005", MitreAtlas, "Control Access to AI Models and Data at Rest"),
    c("ATLAS-AML.M0006", MitreAtlas, "Use Ensemble Methods"),
    c("ATLAS-AML.M0007", MitreAtlas, "Sanitize Training Data"),
    c("ATLAS-AML.M0008", MitreAtlas, "Validate AI Model"),
    c("ATLAS-AML.M0009", MitreAtlas, "Use Multi-Modal Sensors"),
    c("ATLAS-AML.M0010", MitreAtlas, "Input Restoration"),
    c("ATLAS-AML.M0011", MitreAtlas, "Restrict Library Loading"),
    c("ATLAS-AML.M0012", MitreAtlas, "Encrypt Sensitive Information"),
    c("ATLAS-AML.M0013", MitreAtlas, "Code Signing"),
    c("ATLAS-AML.M0014", MitreAtlas, "Verify AI Artifacts"),
    c("ATLAS-AML.M0015", MitreAtlas, "Adversarial Input Detection"),
    c("ATLAS-AML.M0016", MitreAtlas, "Vulnerability Scanning"),
    c("ATLAS-AML.M0017", MitreAtlas, "AI Model Distribution Methods"),
    c("ATLAS-AML.M0018", MitreAtlas, "User Training"),
    c("ATLAS-AML.M0019", MitreAtlas, "Control Access to AI Models and Data in Production"),
    c("ATLAS-AML.M0020", MitreAtlas, "Generative AI Guardrails"),
    c("ATLAS-AML.M0021", MitreAtlas, "Generative AI Guidelines"),
    c("ATLAS-AML.M0022", MitreAtlas, "Generative AI Model Alignment"),
    c("ATLAS-AML.M0023", MitreAtlas, "AI Bill of Materials"),
    c("ATLAS-AML.M0024", MitreAtlas, "AI Telemetry Logging"),
    c("ATLAS-AML.M0025", MitreAtlas, "Maintain AI Dataset Provenance"),
    c("ATLAS-AML.M0026", MitreAtlas, "Privileged AI Agent Permissions Configuration"),
    c("ATLAS-AML.M0027", MitreAtlas, "Single-User AI Agent Permissions Configuration"),
    c("ATLAS-AML.M0028", MitreAtlas, "AI Agent Tools Permissions Configuration"),
    c("ATLAS-AML.M0029", MitreAtlas, "Human In-the-Loop for AI Agent Actions"),
];

/// Every control of the catalog, grouped by framework in catalog order.
pub fn catalog() -> &'static [Control] {
    CATALOG
}

/// Finds a control by id: canonical (`OWASP-ASI03`) or bare (`ASI03`,
/// `GOVERN`, `AML.M0026`), any case.
pub fn lookup(id: &str) -> Option<&'static Control> {
    let upper = id.trim().to_ascii_uppercase();
    let canonical = if upper.starts_with("ASI") {
        format!("OWASP-{upper}")
    } else if upper.starts_with("AML.") {
        format!("ATLAS-{upper}")
    } else if matches!(upper.as_str(), "GOVERN" | "MAP" | "MEASURE" | "MANAGE") {
        format!("NIST-{upper}")
    } else {
        upper
    };
    CATALOG.iter().find(|c| c.id == canonical)
}

/// The control ids in a policy's `@control` annotation (comma-separated).
pub fn policy_controls(policy: &PolicyInfo) -> Vec<String> {
    policy
        .annotations
        .get("control")
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// A policy as named in reports: id and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyRef {
    /// The policy id.
    pub id: String,
    /// Its `@owner`, if any.
    pub owner: Option<String>,
}

/// Which controls a policy set addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControlsReport {
    /// Every catalog control, in catalog order, with the policies that name it
    /// (empty when not addressed).
    pub controls: Vec<(&'static Control, Vec<PolicyRef>)>,
    /// Ids that are not in the catalog, with the policies that name them.
    pub unknown: BTreeMap<String, Vec<PolicyRef>>,
}

impl ControlsReport {
    /// The controls no policy addresses.
    pub fn unaddressed(&self) -> Vec<&'static Control> {
        self.controls.iter().filter(|(_, p)| p.is_empty()).map(|(c, _)| *c).collect()
    }
}

/// Reads the `@control` annotations of `policies`.
pub fn controls_report(policies: &[Arc<PolicyInfo>]) -> ControlsReport {
    let mut by_id: BTreeMap<&'static str, Vec<PolicyRef>> = BTreeMap::new();
    let mut unknown: BTreeMap<String, Vec<PolicyRef>> = BTreeMap::new();
    for p in policies {
        let r = PolicyRef { id: p.id.clone(), owner: p.owner().map(str::to_string) };
        for id in policy_controls(p) {
            match lookup(&id) {
                Some(c) => by_id.entry(c.id).or_default().push(r.clone()),
                None => unknown.entry(id).or_default().push(r.clone()),
            }
        }
    }
    let controls = CATALOG.iter().map(|c| (c, by_id.remove(c.id).unwrap_or_default())).collect();
    ControlsReport { controls, unknown }
}

/// Who owns which policies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OwnersReport {
    /// Owner -> the ids of their policies, sorted.
    pub owners: BTreeMap<String, Vec<String>>,
    /// Policies without an `@owner` (id, file).
    pub unowned: Vec<(String, String)>,
}

/// Groups `policies` by their `@owner` annotation.
pub fn owners_report(policies: &[Arc<PolicyInfo>]) -> OwnersReport {
    let mut report = OwnersReport::default();
    for p in policies {
        match p.owner().map(str::trim).filter(|o| !o.is_empty()) {
            Some(owner) => report.owners.entry(owner.to_string()).or_default().push(p.id.clone()),
            None => report.unowned.push((p.id.clone(), p.file.clone())),
        }
    }
    for ids in report.owners.values_mut() {
        ids.sort();
    }
    report.unowned.sort();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_accepts_canonical_and_bare_ids() {
        assert_eq!(lookup("OWASP-ASI03").map(|c| c.name), Some("Identity and Privilege Abuse"));
        assert_eq!(lookup("asi03").map(|c| c.id), Some("OWASP-ASI03"));
        assert_eq!(lookup("AML.M0029").map(|c| c.id), Some("ATLAS-AML.M0029"));
        assert_eq!(lookup("manage").map(|c| c.id), Some("NIST-MANAGE"));
        assert_eq!(lookup("MAESTRO-L6").map(|c| c.name), Some("Security and Compliance"));
        assert!(lookup("OWASP-ASI11").is_none() && lookup("MAESTRO-L8").is_none());
        let ids: std::collections::HashSet<_> = catalog().iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), catalog().len());
        assert_eq!(catalog().iter().filter(|c| c.framework == Framework::OwaspAgentic).count(), 10);
        assert_eq!(catalog().iter().filter(|c| c.framework == Framework::Maestro).count(), 7);
    }
}
