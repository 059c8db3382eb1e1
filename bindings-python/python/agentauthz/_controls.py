"""What the runtime controls report: revocations and time-bound grants.

Plain frozen dataclasses, built by the native module from the engine's state.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal, Tuple


@dataclass(frozen=True)
class Revocation:
    """One revocation in force (see :meth:`Engine.revoke`).

    ``kind`` is ``"agent"``, ``"session"`` or ``"credential"``; ``id`` the
    revoked principal's entity reference (``'Agent::"ci-bot"'``) or the
    session / credential id; ``revoked_at`` an aware UTC datetime.
    """

    kind: Literal["agent", "session", "credential"]
    id: str
    reason: str
    revoked_at: datetime.datetime


@dataclass(frozen=True)
class Grant:
    """One time-bound grant in force (see :meth:`Engine.grant`).

    Entity references are in Cedar's text form (``'Agent::"ci-bot"'``,
    ``'Action::"push_commit"'``); ``expires_at`` is an aware UTC datetime.
    """

    id: str
    principal: str
    actions: Tuple[str, ...]
    resource: str
    expires_at: datetime.datetime
    reason: str
