"""OpenAI Agents SDK adapter (``openai-agents``, module ``agents``).

``authz_guardrail(guard)`` is a *tool input guardrail*: the SDK runs it before a
function tool and, on ``reject_content``, skips the tool and gives the model
the message instead. Allowed: the guardrail allows and the tool runs. Denied,
or an ``ask`` the approver did not approve: rejected with the refusal text.
``guard_function_tool(tool, guard)`` returns a copy of a ``FunctionTool`` with
that guardrail added (``@function_tool(tool_input_guardrails=[...])`` works
too). The guardrail's ``output_info`` is the :class:`Verdict`.

The principal and session of a call come from ``agent=``/``session=``: values
or functions of the SDK's ``ToolInputGuardrailData`` (``data.agent`` is the
Agent, ``data.context.context`` your run context); by default the guard's
``principal`` and no session.

Install with ``pip install 'agentauthz[openai-agents]'``.
"""

from __future__ import annotations

import copy
import json
import typing as t

from agents import FunctionTool, ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData

from ._core import ToolCall, ToolGuard

__all__ = ["authz_guardrail", "guard_function_tool"]


def authz_guardrail(
    guard: ToolGuard, *, agent: t.Any = None, session: t.Any = None, name: str = "agentauthz"
) -> ToolInputGuardrail[t.Any]:
    """A tool input guardrail that authorizes each call with ``guard``."""

    async def check(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        tool_ctx = data.context
        try:
            raw = tool_ctx.tool_arguments
            arguments = json.loads(raw) if raw else {}
            if not isinstance(arguments, dict):
                raise ValueError("tool arguments are not a JSON object")
        except ValueError as e:  # fail closed: unreadable arguments are refused
            arguments = None
            error = str(e)
        call = ToolCall(
            tool_ctx.tool_name,
            arguments if arguments is not None else {},
            agent(data) if callable(agent) else agent,  # agent
            session(data) if callable(session) else session,  # session
            data,  # native
        )
        if arguments is None:
            verdict = guard.refuse(call, f"unreadable arguments: {error}")
        else:
            verdict = guard.decide(call)
            if verdict.outcome == "ask":
                verdict = await guard._aask(verdict)
            elif guard.on_decision is not None:
                guard.on_decision(verdict)
        if verdict.outcome == "allow" or verdict.proceed:
            return ToolGuardrailFunctionOutput.allow(output_info=verdict)
        return ToolGuardrailFunctionOutput.reject_content(t.cast(str, verdict.message), output_info=verdict)

    return ToolInputGuardrail(guardrail_function=check, name=name)


def guard_function_tool(
    tool: FunctionTool, guard: ToolGuard, *, agent: t.Any = None, session: t.Any = None
) -> FunctionTool:
    """A copy of ``tool`` whose calls pass :func:`authz_guardrail` first."""
    if not isinstance(tool, FunctionTool):
        raise TypeError(f"guard_function_tool expects an agents.FunctionTool, got {type(tool).__name__}")
    guarded = copy.copy(tool)
    guarded.tool_input_guardrails = [
        *(tool.tool_input_guardrails or []),
        authz_guardrail(guard, agent=agent, session=session),
    ]
    return guarded
