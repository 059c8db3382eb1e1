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
use agentauthz_hook::{ToolCall, Verdict};
use serde_json::{json, Value};

use super::{field, Parsed, Protocol};

pub(crate) struct GeminiCli;

impl Protocol for GeminiCli {
    fn name(&self) -> &'static str {
        "gemini-cli"
    }

    fn parse(&self, input: &Value) -> Result<Parsed, String> {
        if !input.is_object() {
            return Err("not a JSON object".into());
        }
        let event = field(input, "hook_event_name")?;
        if event != "BeforeTool" {
            return Err(format!("event `{event}` is not BeforeTool"));
        }
        let tool_input = input.get("tool_input").cloned().ok_or("missing `tool_input`")?;
        Ok(Parsed::Call(
            ToolCall {
                tool_name: field(input, "tool_name")?.to_string(),
                tool_input,
                cwd: field(input, "cwd")?.into(),
                session_id: field(input, "session_id")?.to_string(),
            },
            "BeforeTool",
        ))
    }

    fn render(&self, v: &Verdict, _event: Option<&str>) -> Value {
        match v.outcome {
            Outcome::Allow => json!({"decision": "allow", "reason": v.reason}),
            Outcome::Deny | Outcome::Ask => json!({"decision": "deny", "reason": v.reason}),
        }
    }
}
