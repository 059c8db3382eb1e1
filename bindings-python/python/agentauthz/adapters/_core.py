"""The framework-independent part of the adapters: tool call → request → verdict.

A :class:`ToolGuard` turns a :class:`ToolCall` (tool name, arguments, the agent
and session it belongs to) into an agentauthz request through declarative,
per-tool overridable :class:`ToolRule` s, asks the engine, and applies the
outcome: ``allow`` runs the tool, ``deny`` returns a refusal text the model can
read (the tool does not run), ``ask`` calls the application's approver and runs
the tool only if it approves. Every verdict is handed to ``on_decision``.
"""

from __future__ import annotations

import asyncio
import inspect
import typing as t

__all__ = ["ToolCall", "ToolGuard", "ToolRule", "Verdict"]

_T = t.TypeVar("_T")


class ToolCall:
    """One tool call as a framework reports it.

    ``tool`` is the tool's name, ``arguments`` its (parsed) arguments, ``agent``
    the principal it acts as (an entity reference; ``None`` uses the guard's
    ``principal``), ``session`` whatever identifies the session (an id, a dict),
    and ``native`` the framework's own object for the call (LangChain's
    ``RunnableConfig``, the Agents SDK's ``ToolInputGuardrailData``, MCP's
    ``ServerRequestContext``) for mappers and approvers that need more.
    """

    __slots__ = ("tool", "arguments", "agent", "session", "native")

    def __init__(
        self,
        tool: str,
        arguments: t.Optional[t.Mapping[str, t.Any]] = None,
        agent: t.Any = None,
        session: t.Any = None,
        native: t.Any = None,
    ) -> None:
        """Describe a call of ``tool`` with ``arguments``."""
        self.tool = tool
        self.arguments: t.Mapping[str, t.Any] = arguments if arguments is not None else {}
        self.agent = agent
        self.session = session
        self.native = native

    def __repr__(self) -> str:
        """A short description (the arguments are not shown: they may be secret)."""
        return f"ToolCall(tool={self.tool!r}, agent={self.agent!r}, session={self.session!r})"


_Spec = t.Any  # a value, or a callable of the ToolCall


class ToolRule:
    """How one tool's calls map to a request. Each part is a value or a
    function of the :class:`ToolCall`; a part left ``None`` falls back to the
    guard's default rule, and then to the built-in default:

    - ``action``: the tool's name;
    - ``resource``: ``Tool::"<tool name>"``;
    - ``context``: the call's arguments (a dict);
    - ``principal``: the call's ``agent``, else the guard's ``principal``.
    """

    __slots__ = ("action", "resource", "context", "principal")

    def __init__(
        self,
        action: _Spec = None,
        resource: _Spec = None,
        context: _Spec = None,
        principal: _Spec = None,
    ) -> None:
        """Create a rule; see the class documentation for each part."""
        self.action = action
        self.resource = resource
        self.context = context
        self.principal = principal

    @classmethod
    def of(cls, value: t.Union["ToolRule", t.Mapping[str, t.Any], None]) -> "ToolRule":
        """A rule from a rule, a dict with the same keys, or ``None`` (empty)."""
        if value is None:
            return cls()
        if isinstance(value, ToolRule):
            return value
        if isinstance(value, t.Mapping):
            unknown = set(value) - set(cls.__slots__)
            if unknown:
                raise TypeError(f"unknown ToolRule keys: {sorted(unknown)} (allowed: {list(cls.__slots__)})")
            return cls(**value)
        raise TypeError(f"a tool rule must be a ToolRule or a dict, got {type(value).__name__}")

    def over(self, base: "ToolRule") -> "ToolRule":
        """This rule with its ``None`` parts taken from ``base``."""
        return ToolRule(
            action=self.action if self.action is not None else base.action,
            resource=self.resource if self.resource is not None else base.resource,
            context=self.context if self.context is not None else base.context,
            principal=self.principal if self.principal is not None else base.principal,
        )


class Verdict:
    """What the guard decided for one call, and what happened.

    ``outcome`` is the engine's (``"allow"``, ``"deny"``, ``"ask"``);
    ``approved`` is ``True``/``False`` once an approver answered an ``ask``
    (else ``None``); ``proceed`` says whether the tool runs; ``message`` is the
    refusal text when it does not. ``decision`` is the engine's
    :class:`~agentauthz.Decision` (``None`` when the request could not even be
    built, which is a deny, with ``error`` saying why); ``request`` the request
    as a dict (principal, action, resource, context). ``approval`` is the
    engine's allow after an approved ``ask``: the guard hands the approval to
    the engine (``Engine.approve``) and decides the call again, so the engine
    (and its audit log) records the approved call too.
    """

    __slots__ = ("call", "_request", "decision", "outcome", "approved", "message", "error", "approval")

    def __init__(
        self,
        call: ToolCall,
        request: t.Optional[t.Dict[str, t.Any]],
        decision: t.Any,
        outcome: str,
        error: t.Optional[str] = None,
    ) -> None:
        """Record a decision (the guard builds these)."""
        self.call = call
        self._request: t.Any = request
        self.decision = decision
        self.outcome = outcome
        self.approved: t.Optional[bool] = None
        self.message: t.Optional[str] = None
        self.error = error
        self.approval: t.Any = None

    @property
    def request(self) -> t.Optional[t.Dict[str, t.Any]]:
        """The request as a dict: principal, action, resource, context (``None``
        when it could not be built). Built on first use: the guard keeps the
        four parts, so a call whose verdict nobody inspects pays for no dict."""
        req = self._request
        if type(req) is tuple:
            principal, action, resource, context = req
            req = self._request = {"principal": principal, "action": action, "resource": resource, "context": context}
        return t.cast(t.Optional[t.Dict[str, t.Any]], req)

    @property
    def proceed(self) -> bool:
        """Whether the tool runs: allowed, or asked and approved."""
        return self.outcome == "allow" or (self.outcome == "ask" and self.approved is True)

    def to_dict(self) -> t.Dict[str, t.Any]:
        """A JSON-ready summary: tool, request (without context), outcome,
        approval, refusal and the decision's own dict."""
        req = self.request or {}
        return {
            "tool": self.call.tool,
            "principal": _text(req.get("principal")),
            "action": _text(req.get("action")),
            "resource": _text(req.get("resource")),
            "session": self.call.session if isinstance(self.call.session, (str, int)) else None,
            "outcome": self.outcome,
            "approved": self.approved,
            "proceed": self.proceed,
            "message": self.message,
            "error": self.error,
            "decision": self.decision.to_dict() if self.decision is not None else None,
        }

    def __repr__(self) -> str:
        """Tool, outcome and whether it runs."""
        return f"Verdict(tool={self.call.tool!r}, outcome={self.outcome!r}, approved={self.approved!r}, proceed={self.proceed})"


def _text(ref: t.Any) -> t.Optional[str]:
    """An entity reference as ``Type::"id"`` text (for summaries)."""
    if ref is None or isinstance(ref, str):
        return ref
    if isinstance(ref, tuple) and len(ref) == 2:
        return f'{ref[0]}::"{ref[1]}"'
    if isinstance(ref, t.Mapping) and "type" in ref and "id" in ref:
        return f'{ref["type"]}::"{ref["id"]}"'
    return str(ref)


Approver = t.Callable[[Verdict], t.Union[bool, t.Awaitable[bool]]]
"""Called on ``ask`` with the :class:`Verdict` (``verdict.decision.ask_owner``,
``.approval_id``, ``verdict.call``); returns (or resolves to) ``True`` to run."""


class ToolGuard:
    """Authorizes tool calls with an :class:`~agentauthz.Engine`.

    ``principal`` is the default principal (an entity reference) for calls
    that name no agent. ``rules`` maps tool names to :class:`ToolRule` s (or
    dicts); ``default`` is the rule for parts a tool's rule leaves open.
    ``approver`` (sync or async) is asked on ``ask``; without one an ``ask``
    is refused. An approval is handed to the engine as one use by
    ``approver_name`` (``Engine.approve``) and the call decided again; it
    runs only if the engine then allows it. ``on_decision`` receives every :class:`Verdict` (after the
    approver answered). ``refusal`` turns a verdict that does not proceed
    into the text the model reads (default: :meth:`refusal_text`).

    Fail closed: a rule that raises, or a request the engine cannot convert,
    is a deny (``verdict.error`` says why); the tool does not run.
    """

    def __init__(
        self,
        engine: t.Any,
        *,
        principal: t.Any = None,
        rules: t.Optional[t.Mapping[str, t.Union[ToolRule, t.Mapping[str, t.Any]]]] = None,
        default: t.Union[ToolRule, t.Mapping[str, t.Any], None] = None,
        approver: t.Optional[Approver] = None,
        on_decision: t.Optional[t.Callable[[Verdict], t.Any]] = None,
        refusal: t.Optional[t.Callable[[Verdict], str]] = None,
        approver_name: str = "approver",
    ) -> None:
        """Create a guard; see the class documentation."""
        self.engine = engine
        self.principal = principal
        self.default = ToolRule.of(default)
        self._rules: t.Dict[str, ToolRule] = {}
        for name, rule in (rules or {}).items():
            self._rules[name] = ToolRule.of(rule).over(self.default)
        self.approver = approver
        self.approver_name = approver_name
        self.on_decision = on_decision
        self.refusal = refusal or self.refusal_text

    def rule(self, tool: str) -> ToolRule:
        """The effective rule of ``tool`` (its own, completed by the default)."""
        return self._rules.get(tool, self.default)

    def _parts(self, call: ToolCall) -> t.Tuple[t.Any, t.Any, t.Any, t.Any]:
        """principal, action, resource, context of a call (see :class:`ToolRule`)."""
        rule = self._rules.get(call.tool, self.default)
        principal = rule.principal
        if principal is None:
            principal = call.agent if call.agent is not None else self.principal
        elif callable(principal):
            principal = principal(call)
        action = rule.action
        if action is None:
            action = call.tool
        elif callable(action):
            action = action(call)
        resource = rule.resource
        if resource is None:
            resource = ("Tool", call.tool)
        elif callable(resource):
            resource = resource(call)
        context = rule.context
        if context is None:
            context = dict(call.arguments)
        elif callable(context):
            context = context(call)
        return principal, action, resource, context

    def request(self, call: ToolCall) -> t.Dict[str, t.Any]:
        """The request a call maps to: principal, action, resource, context."""
        principal, action, resource, context = self._parts(call)
        return {"principal": principal, "action": action, "resource": resource, "context": context}

    def decide(self, call: ToolCall) -> Verdict:
        """Map and authorize a call (no approval asked, nothing recorded)."""
        try:
            principal, action, resource, context = self._parts(call)
            if principal is None:
                raise ValueError("no principal: the call names no agent and the guard has no principal")
            decision = self.engine.authorize(principal, action, resource, context)
        except Exception as e:  # fail closed: a mapping or conversion error denies
            verdict = Verdict(call, None, None, "deny", error=f"{type(e).__name__}: {e}")
            verdict.message = self.refusal(verdict)
            return verdict
        outcome = decision.outcome
        verdict = Verdict(call, (principal, action, resource, context), decision, outcome)  # type: ignore[arg-type]
        if outcome == "deny":
            verdict.message = self.refusal(verdict)
        return verdict

    def refuse(self, call: ToolCall, error: str) -> Verdict:
        """Record a deny for a call that could not be mapped at all (e.g. its
        arguments do not parse), with ``error`` saying why."""
        verdict = Verdict(call, None, None, "deny", error=error)
        verdict.message = self.refusal(verdict)
        return self._record(verdict)

    def _settle(self, verdict: Verdict, approved: t.Any) -> Verdict:
        """Apply the approver's answer (``None``: there is no approver)."""
        verdict.approved = None if approved is None else approved is True
        if verdict.approved is True:
            self._apply_approval(verdict)
        if verdict.approved is not True:
            verdict.message = self.refusal(verdict)
        return verdict

    def _apply_approval(self, verdict: Verdict) -> None:
        """Hand an approved ask to the engine (one use) and decide it again;
        anything but an allow (e.g. a revocation in between) refuses."""
        req = verdict.request or {}
        try:
            # One use, and a short life: the call is decided again at once, and an
            # approval left unused (the engine refused the call) soon lapses.
            self.engine.approve(verdict.decision.approval_id, self.approver_name, ttl=1, uses=1)
            again = self.engine.authorize(req["principal"], req["action"], req["resource"], req["context"])
        except Exception as e:  # fail closed
            verdict.approved = False
            verdict.error = f"the approval could not be applied: {type(e).__name__}: {e}"
            return
        verdict.approval = again
        if again.outcome != "allow":
            verdict.approved = False
            verdict.error = f"the engine decided {again.outcome} after the approval"

    def _record(self, verdict: Verdict) -> Verdict:
        if self.on_decision is not None:
            self.on_decision(verdict)
        return verdict

    def check(self, call: ToolCall) -> Verdict:
        """Decide a call, ask the approver on ``ask`` and record the verdict.

        An async approver is run to completion with ``asyncio.run`` when no
        event loop is running in this thread; inside a running loop use
        :meth:`acheck`. An approver that raises counts as not approved (the
        verdict is recorded) and the exception propagates.
        """
        verdict = self.decide(call)
        if verdict.outcome == "ask":
            return self._ask(verdict)
        if self.on_decision is not None:
            self.on_decision(verdict)
        return verdict

    async def acheck(self, call: ToolCall) -> Verdict:
        """:meth:`check` for async code: an async approver is awaited."""
        verdict = self.decide(call)
        if verdict.outcome == "ask":
            return await self._aask(verdict)
        if self.on_decision is not None:
            self.on_decision(verdict)
        return verdict

    def _ask(self, verdict: Verdict) -> Verdict:
        """The ``ask`` part of :meth:`check`: the approver, then the record."""
        if self.approver is None:
            return self._record(self._settle(verdict, None))
        try:
            answer = self.approver(verdict)
            if inspect.isawaitable(answer):
                answer = _run_sync(answer)
        except BaseException:
            self._record(self._settle(verdict, False))
            raise
        return self._record(self._settle(verdict, answer))

    async def _aask(self, verdict: Verdict) -> Verdict:
        """The ``ask`` part of :meth:`acheck`: the approver (awaited), then the record."""
        if self.approver is None:
            return self._record(self._settle(verdict, None))
        try:
            answer = self.approver(verdict)
            if inspect.isawaitable(answer):
                answer = await answer
        except BaseException:
            self._record(self._settle(verdict, False))
            raise
        return self._record(self._settle(verdict, answer))

    def run(self, call: ToolCall, tool: t.Callable[[], _T]) -> t.Union[_T, str]:
        """Run ``tool()`` if :meth:`check` lets the call proceed, else return the refusal text."""
        verdict = self.check(call)
        if verdict.proceed:
            return tool()
        return t.cast(str, verdict.message)

    async def arun(self, call: ToolCall, tool: t.Callable[[], t.Awaitable[_T]]) -> t.Union[_T, str]:
        """Await ``tool()`` if :meth:`acheck` lets the call proceed, else return the refusal text."""
        verdict = await self.acheck(call)
        if verdict.proceed:
            return await tool()
        return t.cast(str, verdict.message)

    @staticmethod
    def refusal_text(verdict: Verdict) -> str:
        """The default refusal: which tool, why, and whom to ask; written for the model to read."""
        name = verdict.call.tool
        if verdict.decision is None:
            return (
                f"Tool call refused: `{name}` was not run because its authorization request "
                f"could not be evaluated ({verdict.error}). Do not retry it."
            )
        decision = verdict.decision
        if verdict.outcome == "ask":
            owner = decision.ask_owner or "an owner"
            if verdict.approved is None:
                return f"Tool call refused: `{name}` needs approval from {owner}, and none was given."
            return f"Tool call refused: `{name}` needs approval from {owner}, who did not approve it."
        parts = []
        for r in decision.reasons:
            owner = r.annotations.get("owner")
            parts.append(f"{r.policy_id} (owner: {owner})" if owner else r.policy_id)
        why = "denied by policy " + ", ".join(parts) if parts else "no policy permits it"
        if decision.errors:
            why += "; errors: " + "; ".join(msg for _, msg in decision.errors)
        return f"Tool call refused: `{name}` is not allowed here ({why}). Do not retry it; choose another way or stop."


def _run_sync(awaitable: t.Awaitable[_T]) -> _T:
    """Run an awaitable from synchronous code that is not inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def wrap() -> _T:
            return await awaitable

        return asyncio.run(wrap())
    if inspect.iscoroutine(awaitable):
        awaitable.close()
    raise RuntimeError(
        "agentauthz: an async approver was called from a synchronous tool call inside a running "
        "event loop; call the tool asynchronously (ainvoke / acheck / arun) or use a sync approver"
    )
