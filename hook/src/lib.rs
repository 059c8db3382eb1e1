//! Coding-agent hooks for agentauthz: the mapping of agents' tool calls onto a
//! policy model (declarative, overridable), static analysis of shell command
//! lines, path resolution against the repository, and the state kept between
//! hook processes (session counters, revocations, grants, approvals and a
//! hash-chained audit log) in SQLite.
//!
//! Kept out of the core crate so that the core stays free of SQLite and of a
//! shell parser; the CLI's `agentauthz hook` and `agentauthz state` use it.

pub mod config;
pub mod decide;
pub mod mapping;
pub mod paths;
pub mod prepare;
pub mod shell;
pub mod store;

pub use config::Mapping;
pub use decide::{decide, HookSettings, Verdict};
pub use mapping::{map_call, Mapped, Part, ToolCall};
pub use store::Store;
