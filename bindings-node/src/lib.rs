//! Node binding of agentauthz (work in progress).
