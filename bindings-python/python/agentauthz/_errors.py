"""The exceptions raised by agentauthz. Every one derives from :class:`AuthzError`."""

from __future__ import annotations

import typing as t

from . import _native


class AuthzError(Exception):
    """Base class of every agentauthz error (unreadable files and folders too)."""


class SchemaError(AuthzError):
    """The schema does not parse or is not well-formed.

    ``file`` is the schema file (``"<schema>"`` for text), ``line`` the 1-based
    line when Cedar reports one.
    """

    file: t.Optional[str]
    line: t.Optional[int]

    def __init__(self, message: str, file: t.Optional[str] = None, line: t.Optional[int] = None) -> None:
        """Create the error; ``file`` and ``line`` locate the problem."""
        super().__init__(message)
        self.file = file
        self.line = line


class PolicyError(AuthzError):
    """A policy does not parse, does not validate against the schema, reuses an
    id or uses an unsupported feature.

    ``file`` and ``line`` locate the first problem, ``policy_id`` names its
    policy when known, and ``issues`` lists every validation problem as dicts
    with ``file``, ``line``, ``policy_id`` and ``message``.
    """

    file: t.Optional[str]
    line: t.Optional[int]
    policy_id: t.Optional[str]
    issues: t.List[t.Dict[str, t.Any]]

    def __init__(
        self,
        message: str,
        file: t.Optional[str] = None,
        line: t.Optional[int] = None,
        policy_id: t.Optional[str] = None,
        issues: t.Sequence[t.Mapping[str, t.Any]] = (),
    ) -> None:
        """Create the error; ``file``/``line`` locate the first problem."""
        super().__init__(message)
        self.file = file
        self.line = line
        self.policy_id = policy_id
        self.issues = [dict(i) for i in issues]


class EntityError(AuthzError):
    """The entity data does not parse or does not conform to the schema."""

    file: t.Optional[str]
    line: t.Optional[int]

    def __init__(self, message: str, file: t.Optional[str] = None, line: t.Optional[int] = None) -> None:
        """Create the error; ``file`` names the entities file (``"<entities>"`` for text)."""
        super().__init__(message)
        self.file = file
        self.line = line


class RequestError(AuthzError):
    """A request argument cannot be converted: a malformed entity reference, a
    float or another type Cedar has no value for, a naive datetime, a context
    nested deeper than ``MAX_CONTEXT_DEPTH`` or larger than
    ``MAX_REQUEST_BYTES``. (A request that converts but does not conform to
    the schema is not an exception: it is denied, with the error.)"""


def _describe(decision: _native.Decision, what: str, request: t.Optional[t.Mapping[str, t.Any]]) -> str:
    """The message of a Denied / ApprovalRequired: what, for which request, why."""
    parts = [what]
    if request:
        parts.append(
            "for {} {} on {}".format(
                request.get("principal"), request.get("action"), request.get("resource")
            )
        )
    head = " ".join(parts)
    reasons = decision.reasons
    if reasons:
        shown = []
        for r in reasons:
            owner = r.annotations.get("owner")
            shown.append(f"{r.policy_id} (owner: {owner})" if owner else r.policy_id)
        head += ": by " + ", ".join(shown)
    elif not decision.errors:
        head += ": no policy permits it"
    if decision.errors:
        head += "; errors: " + "; ".join(
            f"{pid}: {msg}" if pid else msg for pid, msg in decision.errors
        )
    return head


class Denied(AuthzError):
    """Raised by :meth:`Engine.guard` when a call is denied.

    ``decision`` is the :class:`Decision`; ``request`` the request that was
    decided (principal, action, resource, context).
    """

    decision: _native.Decision
    request: t.Optional[t.Dict[str, t.Any]]

    def __init__(
        self,
        decision: _native.Decision,
        request: t.Optional[t.Mapping[str, t.Any]] = None,
        message: t.Optional[str] = None,
    ) -> None:
        """Create the error from a decision (and the request, for the message)."""
        super().__init__(message or _describe(decision, "denied", request))
        self.decision = decision
        self.request = dict(request) if request is not None else None


class ApprovalRequired(Denied):
    """Raised by :meth:`Engine.guard` when a call needs a human approval
    (outcome ``ask``). A subclass of :class:`Denied`, so code that only
    catches ``Denied`` still does not proceed.

    ``owner`` is the first owner to ask, ``owners`` all of them. Ask, then
    call again with the approval in the context.
    """

    owner: t.Optional[str]
    owners: t.List[str]

    def __init__(
        self,
        decision: _native.Decision,
        request: t.Optional[t.Mapping[str, t.Any]] = None,
        message: t.Optional[str] = None,
    ) -> None:
        """Create the error from an ``ask`` decision."""
        owners = list(decision.ask_owners)
        what = "approval required from " + (", ".join(owners) if owners else "an owner")
        super().__init__(decision, request, message or _describe(decision, what, request))
        self.owner = decision.ask_owner
        self.owners = owners


class ApprovalError(AuthzError):
    """:meth:`Engine.approve` was given an approval id this engine never issued
    (or has forgotten): only the ``approval_id`` of an ``ask`` decision can be
    approved. ``approval_id`` is the id that was refused."""

    approval_id: t.Optional[str]

    def __init__(self, message: str, approval_id: t.Optional[str] = None) -> None:
        """Create the error for the refused ``approval_id``."""
        super().__init__(message)
        self.approval_id = approval_id
