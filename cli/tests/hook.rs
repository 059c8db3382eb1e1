//! `agentauthz hook <agent>` driven as the agents drive it: a recorded JSON
//! payload on stdin, the answer read from stdout and the exit code, with the
//! state store shared between processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

/// Hook calls run `agentauthz hook <agent>` itself (hook_via_server.rs runs
/// the same cases through the `agentauthz-hook` client and the hook server).
const VIA_SERVER: bool = false;

include!("common/hook_cases.rs");
