"""Framework adapters: put agentauthz in front of every tool call.

The shared core needs nothing beyond agentauthz itself:

- :class:`ToolGuard` maps a :class:`ToolCall` to a request through
  per-tool :class:`ToolRule` s, decides, asks an approver on ``ask`` and
  hands each :class:`Verdict` to ``on_decision``;
- :func:`cedar_schema_for_tools` / :func:`typed_arguments` derive a Cedar
  schema fragment (and matching contexts) from an MCP tool list.

The framework modules import their framework and are installed with extras:

- ``agentauthz.adapters.langchain`` (``pip install 'agentauthz[langchain]'``):
  ``guard_tool`` / ``guard_tools`` wrap ``langchain-core`` tools;
- ``agentauthz.adapters.openai_agents`` (``'agentauthz[openai-agents]'``):
  ``authz_guardrail`` (a tool input guardrail) and ``guard_function_tool``;
- ``agentauthz.adapters.mcp`` (``'agentauthz[mcp]'``): ``AuthzMiddleware`` /
  ``guard_mcp_server`` for MCP servers (``mcp`` SDK 2.x).
"""

from ._core import Approver, ToolCall, ToolGuard, ToolRule, Verdict
from .schema import cedar_schema_for_tools, cedar_type, tool_input_schema, typed_arguments

__all__ = [
    "Approver",
    "ToolCall",
    "ToolGuard",
    "ToolRule",
    "Verdict",
    "cedar_schema_for_tools",
    "cedar_type",
    "tool_input_schema",
    "typed_arguments",
]
