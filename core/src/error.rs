//! Errors: one enum per fallible operation.
//!
//! Loading a policy set can fail ([`LoadError`]); deciding never fails: a bad
//! request becomes a deny whose errors say why (see [`RequestError`]).

use std::path::PathBuf;

/// A problem found in one policy while validating it against the schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyIssue {
    /// The file the policy came from.
    pub file: String,
    /// 1-based line of the problem in that file, when Cedar reports a location.
    pub line: Option<usize>,
    /// The policy id (`@id` annotation, else Cedar's `policyN`).
    pub policy_id: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: policy `{}`: {}", self.file, line, self.policy_id, self.message),
            None => write!(f, "{}: policy `{}`: {}", self.file, self.policy_id, self.message),
        }
    }
}

/// Why a schema, policy set or entity store could not be loaded.
///
/// The engine refuses to start on any of these: a policy set that is only
/// partly understood is not a safe thing to authorize with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A policy folder does not have the expected shape.
    #[error("policy folder {path}: {message}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What is missing or ambiguous.
        message: String,
    },
    /// The schema does not parse or is not well-formed.
    #[error("{file}{}: schema error: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Schema {
        /// The schema file (or `<schema>` for text given directly).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Cedar's description.
        message: String,
    },
    /// A policy file does not parse.
    #[error("{file}{}: policy syntax error: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    PolicySyntax {
        /// The policy file.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Cedar's description.
        message: String,
    },
    /// Policies do not validate against the schema (strict mode).
    #[error("{} policy validation error(s):\n{}", issues.len(), issues.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    Validation {
        /// Every problem found, in file order.
        issues: Vec<PolicyIssue>,
    },
    /// Two policies claim the same id.
    #[error("duplicate policy id `{id}` (in {first} and {second})")]
    DuplicatePolicyId {
        /// The id.
        id: String,
        /// Where it was first defined.
        first: String,
        /// Where it was defined again.
        second: String,
    },
    /// A feature this engine does not accept.
    #[error("{file}: {message}")]
    Unsupported {
        /// The file.
        file: String,
        /// What is not supported.
        message: String,
    },
    /// The entity data does not parse or does not conform to the schema.
    #[error("{file}: entity error: {message}")]
    Entities {
        /// The entities file (or `<entities>`).
        file: String,
        /// Cedar's description.
        message: String,
    },
}

/// Why a request could not be evaluated. Carried inside a deny decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The request is not well-formed JSON or lacks a field.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// An entity reference (principal, action or resource) is not valid.
    #[error("invalid {field}: {message}")]
    Entity {
        /// `principal`, `action` or `resource`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The context does not match the context type the schema declares for the action.
    #[error("invalid context: {0}")]
    Context(String),
    /// The request does not conform to the schema (unknown action, wrong entity type, ...).
    #[error("request does not conform to the schema: {0}")]
    Schema(String),
    /// The request exceeds a safety limit (size, nesting depth).
    #[error("request exceeds a limit: {0}")]
    Limit(String),
    /// The engine failed in a way no request should cause (a bug); the decision is a deny.
    #[error("internal error: {0}")]
    Internal(String),
}
