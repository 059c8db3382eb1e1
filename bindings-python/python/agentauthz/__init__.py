"""agentauthz: authorization for AI coding agents.

Cedar policies decide, in-process and in microseconds, whether an agent may
take an action: ``allow``, ``deny`` or ``ask`` (a named human must approve).

>>> import agentauthz
>>> engine = agentauthz.Engine.from_dir("policies-examples/coding-agent")  # doctest: +SKIP
>>> d = engine.authorize('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"',
...                      context={...})  # doctest: +SKIP
>>> d.outcome, d.allowed, [r.policy_id for r in d.reasons]  # doctest: +SKIP

Everything raised derives from :class:`AuthzError`: :class:`SchemaError`,
:class:`PolicyError`, :class:`EntityError` when loading; :class:`RequestError`
for arguments that cannot be converted; :class:`Denied` and
:class:`ApprovalRequired` from :meth:`Engine.guard`.
"""

from ._errors import (
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
    load_cases,
)

__all__ = [
    "MAX_CONTEXT_DEPTH",
    "MAX_REQUEST_BYTES",
    "ApprovalRequired",
    "AuthzError",
    "Decision",
    "Denied",
    "Engine",
    "EntityError",
    "PolicyError",
    "Reason",
    "RequestError",
    "SchemaError",
    "__version__",
    "load_cases",
]
