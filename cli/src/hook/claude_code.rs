//! Claude Code's PreToolUse hook protocol.
//!
//! Input (stdin): `{session_id, transcript_path, cwd, permission_mode,
//! hook_event_name: "PreToolUse", tool_name, tool_input, tool_use_id}`.
//! Output (stdout, exit 0): `{"hookSpecificOutput": {"hookEventName":
//! "PreToolUse", "permissionDecision": "allow"|"deny"|"ask",
//! "permissionDecisionReason": "..."}}`; for `ask` the reason is shown to the
//! user in the prompt, for `deny` to Claude. Source: Claude Code hooks
//! reference, https://code.claude.com/docs/en/hooks (PreToolUse decision control).

use agentauthz_hook::Verdict;
use serde_json::{json, Value};

use super::{parse_tool_event, Parsed, Protocol};

pub(crate) struct ClaudeCode;

impl Protocol for ClaudeCode {
    fn name(&self) -> &'static str {
        "claude-code"
    }

    fn parse(&self, input: &Value) -> Result<Parsed, String> {
        parse_tool_event(input, "PreToolUse")
    }

    fn render(&self, v: &Verdict, _event: Option<&str>) -> Value {
        json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": v.outcome.as_str(),
            "permissionDecisionReason": v.reason,
        }})
    }
}
