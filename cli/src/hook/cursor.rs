//! Cursor's agent hooks: `beforeShellExecution`, `beforeMCPExecution` and
//! `beforeReadFile`.
//!
//! Input (stdin): `{hook_event_name, conversation_id, generation_id,
//! workspace_roots, ...}` plus `{command, cwd}` (shell), `{tool_name,
//! tool_input, url | command}` (MCP) or `{file_path, content}` (read file).
//! Output (stdout): `{"permission": "allow"|"deny"|"ask", "user_message",
//! "agent_message"}`; `beforeReadFile` takes `permission` allow/deny only, so
//! an ask is answered deny there. Cursor's own documentation
//! (cursor.com/docs/agent/hooks) is not in the reference library; the format
//! follows third-party references to it (Cupcake's Cursor harness reference,
//! hookshot's Cursor reference), so it is less certain than the others. The
//! MCP event names the tool but not its server: the tool is `?/<tool>`, which
//! the example policies deny (unknown server).

use agentauthz::Outcome;
use agentauthz_hook::{ToolCall, Verdict};
use serde_json::{json, Value};

use super::{field, Parsed, Protocol};

pub(crate) struct Cursor;

fn cwd(input: &Value) -> Result<String, String> {
    if let Some(Value::String(c)) = input.get("cwd") {
        return Ok(c.clone());
    }
    input
        .get("workspace_roots")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "missing `cwd` and `workspace_roots`".to_string())
}

impl Protocol for Cursor {
    fn name(&self) -> &'static str {
        "cursor"
    }

    fn parse(&self, input: &Value) -> Result<Parsed, String> {
        if !input.is_object() {
            return Err("not a JSON object".into());
        }
        let event = field(input, "hook_event_name")?;
        let session_id = field(input, "conversation_id")?.to_string();
        let cwd = cwd(input)?.into();
        let (tool_name, tool_input, event): (String, Value, &'static str) = match event {
            "beforeShellExecution" => {
                ("Bash".into(), json!({"command": field(input, "command")?}), "beforeShellExecution")
            }
            "beforeReadFile" => ("Read".into(), json!({"file_path": field(input, "file_path")?}), "beforeReadFile"),
            "beforeMCPExecution" => {
                let tool = field(input, "tool_name")?;
                let args = match input.get("tool_input") {
                    Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                    Some(v) => v.clone(),
                    None => json!({}),
                };
                (format!("mcp__?__{tool}"), json!({"arguments": args}), "beforeMCPExecution")
            }
            other => return Err(format!("event `{other}` is not one agentauthz answers")),
        };
        Ok(Parsed::Call(ToolCall { tool_name, tool_input, cwd, session_id }, event))
    }

    fn render(&self, v: &Verdict, event: Option<&str>) -> Value {
        let permission = match (v.outcome, event) {
            (Outcome::Ask, Some("beforeReadFile")) => "deny",
            (o, _) => o.as_str(),
        };
        if event == Some("beforeReadFile") {
            return json!({"permission": permission});
        }
        json!({"permission": permission, "user_message": v.reason, "agent_message": v.reason})
    }
}
