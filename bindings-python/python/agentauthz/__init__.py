"""agentauthz: authorization for AI coding agents.

Cedar policies decide, in-process and in microseconds, whether an agent may
take an action: ``allow``, ``deny`` or ``ask`` (a named human must approve).

>>> import agentauthz
>>> engine = agentauthz.Engine.from_dir("policies-examples/coding-agent")  # doctest: +SKIP
>>> d = engine.authorize('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"',
...                      context={...})  # doctest: +SKIP
>>> d.outcome, d.allowed, [r.policy_id for r in d.reasons]  # doctest: +SKIP

Runtime controls, all effective from the next decision on every thread:
:meth:`Engine.revoke` / :meth:`Engine.restore` (kill switch, persisted with
:meth:`Engine.save_revocations` / :meth:`Engine.load_revocations`),
:meth:`Engine.grant` / :meth:`Engine.revoke_grant` (time-bound grants),
:meth:`Engine.approve` (approving an ``ask`` by its ``approval_id``),
:meth:`Engine.reload` (validated, atomic policy swap) and session counters
(``Engine.from_dir(..., session_counters=True)``).

Audit: ``Engine(..., audit={"file": "audit.jsonl", "ring": 100, "redact":
["credential.token"], "callback": fn})`` records every decision in a
hash-chained log from a background thread; :meth:`Engine.audit_flush`,
:meth:`Engine.audit_stats`, :meth:`Engine.audit_records` and
:func:`audit_verify` (check a log's chain).

Everything raised derives from :class:`AuthzError`: :class:`SchemaError`,
:class:`PolicyError`, :class:`EntityError` when loading or reloading;
:class:`RequestError` for arguments that cannot be converted;
:class:`ApprovalError` for an unknown approval id; :class:`Denied` and
:class:`ApprovalRequired` from :meth:`Engine.guard`.
"""

from ._controls import Grant, Revocation
from ._errors import (
    ApprovalError,
    ApprovalRequired,
    AuthzError,
    Denied,
    EntityError,
    PolicyError,
    RequestError,
    SchemaError,
)
from ._native import (
    MAX_CONTEXT_DEPTH,
    MAX_REQUEST_BYTES,
    Decision,
    Engine,
    Reason,
    __version__,
    audit_verify,
    load_cases,
)

__all__ = [
    "MAX_CONTEXT_DEPTH",
    "MAX_REQUEST_BYTES",
    "ApprovalError",
    "ApprovalRequired",
    "AuthzError",
    "Decision",
    "Denied",
    "Engine",
    "EntityError",
    "Grant",
    "PolicyError",
    "Reason",
    "RequestError",
    "Revocation",
    "SchemaError",
    "__version__",
    "audit_verify",
    "load_cases",
]
