#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod approvals;
mod clock;
mod compile;
mod decision;
mod engine;
mod entities_json;
mod error;
mod fast;
mod grants;
mod guards;
mod request;
mod request_shape;
mod scope_index;
mod sessions;
mod source;
mod validation_shape;

pub mod audit;
pub mod cases;
pub mod coding_agent;
pub mod controls;

pub use approvals::ApprovalError;
pub use cedar_policy;
pub use clock::{format_rfc3339_millis, parse_rfc3339, Clock, FixedClock, SystemClock};
#[doc(hidden)]
pub use compile::set_load_phase_hook;
pub use compile::{PolicyInfo, MAX_NESTING};
pub use decision::{Decision, DecisionError, Outcome, Shadow};
pub use engine::{validate, Enforcement, Engine, EngineBuilder, ErrorMode, EvaluatorStats, PreparedContext};
#[doc(hidden)]
pub use entities_json::parse as read_entities_common_forms;
pub use error::{LoadError, PolicyIssue, RequestError};
pub use fast::HostValue;
pub use grants::{Grant, GrantSpec};
pub use guards::{Revocation, Subject};
pub use request::{
    entity_uid, has_path_separator, parse_uid, ContextValue, Request, MAX_CONTEXT_DEPTH, MAX_CONTEXT_VALUES,
    MAX_REQUEST_BYTES,
};
pub use sessions::SessionLimits;
pub use source::{NamedText, PolicySources};
