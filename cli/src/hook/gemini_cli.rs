//! Gemini CLI's BeforeTool hook protocol.
//!
//! Input (stdin): `{session_id, transcript_path, cwd, hook_event_name:
//! "BeforeTool", timestamp, tool_name, tool_input, mcp_context?}`.
//! Output (stdout, exit 0): `{"decision": "allow"|"deny", "reason": "..."}`;
//! the reason of a deny is sent to the agent as the tool's error. The protocol
//! has no `ask`: an ask is answered `deny` with a reason that names the owner
//! and the command that approves it (the agent can retry once approved).
//! Source: Gemini CLI hooks reference, docs/hooks/reference.md in
//! google-gemini/gemini-cli (https://geminicli.com/docs/hooks/reference).

use agentauthz::Outcome;
use agentauthz_hook::Verdict;
use serde_json::{json, Value};

use super::{parse_tool_event, Parsed, Protocol};

pub(crate) struct GeminiCli;

impl Protocol for GeminiCli {
    fn name(&self) -> &'static str {
        "gemini-cli"
    }

    fn parse(&self, input: &Value) -> Result<Parsed, String> {
        parse_tool_event(input, "BeforeTool")
    }

    fn render(&self, v: &Verdict, _event: Option<&str>) -> Value {
        match v.outcome {
            Outcome::Allow => json!({"decision": "allow", "reason": v.reason}),
            Outcome::Deny | Outcome::Ask => json!({"decision": "deny", "reason": v.reason}),
        }
    }
}
