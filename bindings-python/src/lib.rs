//! Python binding of agentauthz (work in progress).
