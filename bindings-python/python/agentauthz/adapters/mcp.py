"""MCP adapter: authorize tool calls inside an MCP server (``mcp`` SDK 2.x).

``guard_mcp_server(server, guard, agent=...)`` installs :class:`AuthzMiddleware`
on an ``mcp.server.MCPServer`` or a low-level ``mcp.server.Server``. It runs
before the SDK looks the request up, so:

- ``tools/call``: the call is authorized before the tool's handler runs.
  Allowed: the handler runs. Denied, or an ``ask`` the approver did not
  approve: the handler does not run and the client receives a tool result
  with ``isError: true`` whose text is the refusal.
- ``tools/list``: each listed tool is decided for the caller with empty
  arguments (the approver is not asked and nothing is recorded); tools whose
  outcome is ``deny`` are left out of the list. A tool that is only
  allowed for some arguments stays listed, and its calls are still decided
  one by one.

The caller's principal and session come from ``agent=`` / ``session=``:
values or functions of the SDK's ``ServerRequestContext`` (for example from
the authenticated user of an HTTP request, or the client's ``clientInfo``);
by default the guard's ``principal``.

Install with ``pip install 'agentauthz[mcp]'``.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

import mcp_types
from pydantic import BaseModel

from ._core import ToolCall, ToolGuard

__all__ = ["AuthzMiddleware", "guard_mcp_server"]


class AuthzMiddleware:
    """An MCP ``ServerMiddleware``: authorizes ``tools/call``, filters ``tools/list``."""

    def __init__(self, guard: ToolGuard, *, agent: t.Any = None, session: t.Any = None) -> None:
        """Authorize with ``guard``; ``agent``/``session`` as in the module documentation."""
        self.guard = guard
        self.agent = agent
        self.session = session

    def _call(self, ctx: t.Any, tool: str, arguments: t.Mapping[str, t.Any]) -> ToolCall:
        agent = self.agent(ctx) if callable(self.agent) else self.agent
        session = self.session(ctx) if callable(self.session) else self.session
        return ToolCall(tool, arguments, agent, session, ctx)

    async def __call__(self, ctx: t.Any, call_next: t.Callable[[t.Any], t.Awaitable[t.Any]]) -> t.Any:
        """Handle one inbound message (the ``ServerMiddleware`` protocol)."""
        if ctx.request_id is None:
            return await call_next(ctx)
        method = ctx.method
        if method == "tools/list":
            return self._filter(ctx, await call_next(ctx))
        if method != "tools/call":
            return await call_next(ctx)
        # tools/call, inline (this runs before every tool call).
        params = ctx.params
        if type(params) is not dict and not isinstance(params, Mapping):
            params = {}
        name = params.get("name")
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        guard = self.guard
        if type(name) is not str or (type(arguments) is not dict and not isinstance(arguments, Mapping)):
            # Fail closed: a call we cannot read is refused (and recorded).
            call = self._call(ctx, name if isinstance(name, str) else "", {})
            verdict = guard.refuse(call, "malformed tools/call parameters")
        else:
            verdict = guard.decide(self._call(ctx, name, arguments))
            if verdict.outcome == "ask":
                verdict = await guard._aask(verdict)
            elif guard.on_decision is not None:
                guard.on_decision(verdict)
        if verdict.outcome == "allow" or verdict.proceed:
            return await call_next(ctx)
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=t.cast(str, verdict.message))],
            is_error=True,
        )

    def _visible(self, ctx: t.Any, tool: t.Any) -> bool:
        name = tool.get("name") if isinstance(tool, Mapping) else getattr(tool, "name", None)
        if not isinstance(name, str):
            return False
        return self.guard.decide(self._call(ctx, name, {})).outcome != "deny"

    def _filter(self, ctx: t.Any, result: t.Any) -> t.Any:
        if isinstance(result, BaseModel) and isinstance(getattr(result, "tools", None), list):
            kept = [tool for tool in getattr(result, "tools") if self._visible(ctx, tool)]
            return result.model_copy(update={"tools": kept})
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            return {**result, "tools": [tool for tool in result["tools"] if self._visible(ctx, tool)]}
        return result


def guard_mcp_server(server: t.Any, guard: ToolGuard, *, agent: t.Any = None, session: t.Any = None) -> AuthzMiddleware:
    """Append an :class:`AuthzMiddleware` to ``server.middleware`` (an
    ``MCPServer`` or a low-level ``Server``) and return it."""
    middleware = getattr(server, "middleware", None)
    if not isinstance(middleware, list):
        raise TypeError(
            f"guard_mcp_server expects an mcp.server.MCPServer or mcp.server.Server (2.x), got {type(server).__name__}"
        )
    mw = AuthzMiddleware(guard, agent=agent, session=session)
    middleware.append(mw)
    return mw
