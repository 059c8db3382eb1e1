"""LangChain adapter: guard ``langchain-core`` tools (``BaseTool``, ``@tool``).

``guard_tool(tool, guard)`` returns a :class:`GuardedTool` with the same name,
description and argument schema. Each invocation (``invoke``/``ainvoke``, by an
agent's tool node or directly; also ``run``/``arun``) is authorized before the
original tool sees it. Allowed: the original tool is invoked with the same
input and config (so its callbacks, validation and ``ToolMessage`` are its
own). Denied, or an ``ask`` the approver did not approve: the original tool
does not run, and the refusal text is the result, as a ``ToolMessage``
(``status="error"``) when the input was a tool call, so the model reads it.

The agent and session of a call come from ``agent=``/``session=`` (values or
functions of the ``RunnableConfig``), else from the run's
``config["configurable"]["agentauthz_agent"]`` / ``["agentauthz_session"]``.

Install with ``pip install 'agentauthz[langchain]'``.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from ._core import ToolCall, ToolGuard, Verdict

__all__ = ["AGENT_KEY", "SESSION_KEY", "GuardedTool", "guard_tool", "guard_tools"]

AGENT_KEY = "agentauthz_agent"
"""``config["configurable"]`` key naming the principal of a run."""
SESSION_KEY = "agentauthz_session"
"""``config["configurable"]`` key naming the session of a run."""


def _is_tool_call(value: t.Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "tool_call" and "args" in value


class GuardedTool(BaseTool):
    """A LangChain tool that asks a :class:`ToolGuard` before running ``inner``."""

    inner: BaseTool
    """The original tool."""
    guard: t.Any
    """The :class:`ToolGuard` deciding each call."""
    agent: t.Any = None
    """The principal: a value, a function of the ``RunnableConfig``, or ``None`` (from the config)."""
    session: t.Any = None
    """The session: a value, a function of the ``RunnableConfig``, or ``None`` (from the config)."""

    def _part(self, spec: t.Any, config: t.Optional[RunnableConfig], key: str) -> t.Any:
        if spec is not None:
            return spec(config) if callable(spec) else spec
        if not config:
            return None
        configurable = config.get("configurable")
        return configurable.get(key) if configurable else None

    def _tool_call(self, tool_input: t.Any, config: t.Optional[RunnableConfig]) -> ToolCall:
        """The :class:`ToolCall` of an invocation's input (a tool call, a dict or a string)."""
        # Inline on purpose: this runs before every tool call.
        if type(tool_input) is dict:
            args = tool_input["args"] if tool_input.get("type") == "tool_call" and "args" in tool_input else tool_input
        elif isinstance(tool_input, str):
            names = list(self.inner.args)
            args = {names[0] if len(names) == 1 else "input": tool_input}
        elif _is_tool_call(tool_input):
            args = tool_input["args"]
        else:
            args = tool_input
        if type(args) is not dict and not isinstance(args, Mapping):
            args = {"input": args}
        agent = self.agent
        session = self.session
        if agent is None or session is None:
            configurable = config.get("configurable") if config else None
            if configurable:
                if agent is None:
                    agent = configurable.get(AGENT_KEY)
                elif callable(agent):
                    agent = agent(config)
                if session is None:
                    session = configurable.get(SESSION_KEY)
                elif callable(session):
                    session = session(config)
                return ToolCall(self.name, args, agent, session, config)
        if agent is not None and callable(agent):
            agent = agent(config)
        if session is not None and callable(session):
            session = session(config)
        return ToolCall(self.name, args, agent, session, config)

    def _refused(self, tool_input: t.Any, verdict: Verdict) -> t.Any:
        message = t.cast(str, verdict.message)
        if _is_tool_call(tool_input):
            return ToolMessage(content=message, tool_call_id=tool_input.get("id") or "", name=self.name, status="error")
        return message

    def invoke(self, input: t.Any, config: t.Optional[RunnableConfig] = None, **kwargs: t.Any) -> t.Any:
        """Authorize, then invoke the original tool (or return the refusal)."""
        verdict = self.guard.check(self._tool_call(input, config))
        if verdict.outcome == "allow" or verdict.proceed:
            return self.inner.invoke(input, config, **kwargs)
        return self._refused(input, verdict)

    async def ainvoke(self, input: t.Any, config: t.Optional[RunnableConfig] = None, **kwargs: t.Any) -> t.Any:
        """Authorize (awaiting an async approver), then invoke the original tool."""
        verdict = await self.guard.acheck(self._tool_call(input, config))
        if verdict.outcome == "allow" or verdict.proceed:
            return await self.inner.ainvoke(input, config, **kwargs)
        return self._refused(input, verdict)

    def _run(self, *args: t.Any, config: RunnableConfig, run_manager: t.Any = None, **kwargs: t.Any) -> t.Any:
        """``BaseTool.run`` path (legacy agents): authorize the parsed arguments."""
        call = self._tool_call(kwargs, config)
        return self.guard.run(call, lambda: self.inner.invoke(kwargs, config))

    async def _arun(self, *args: t.Any, config: RunnableConfig, run_manager: t.Any = None, **kwargs: t.Any) -> t.Any:
        """``BaseTool.arun`` path: authorize the parsed arguments."""
        call = self._tool_call(kwargs, config)
        return await self.guard.arun(call, lambda: self.inner.ainvoke(kwargs, config))


def guard_tool(tool: BaseTool, guard: ToolGuard, *, agent: t.Any = None, session: t.Any = None) -> GuardedTool:
    """A guarded version of ``tool`` (see the module documentation)."""
    if not isinstance(tool, BaseTool):
        raise TypeError(f"guard_tool expects a langchain_core BaseTool, got {type(tool).__name__}")
    if not isinstance(guard, ToolGuard):
        raise TypeError(f"guard_tool expects an agentauthz.adapters.ToolGuard, got {type(guard).__name__}")
    return GuardedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        tags=tool.tags,
        metadata={**(tool.metadata or {}), "agentauthz_guarded": True},
        inner=tool,
        guard=guard,
        agent=agent,
        session=session,
    )


def guard_tools(
    tools: t.Iterable[BaseTool], guard: ToolGuard, *, agent: t.Any = None, session: t.Any = None
) -> t.List[GuardedTool]:
    """:func:`guard_tool` for each tool, in order."""
    return [guard_tool(tool, guard, agent=agent, session=session) for tool in tools]
