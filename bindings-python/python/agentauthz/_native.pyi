"""Type stubs of the native module (Rust, pyo3)."""

import datetime
import os
from typing import Any, Callable, Dict, Iterable, List, Literal, Mapping, Optional, Tuple, TypeVar, Union, final

from ._controls import Grant, Revocation

__all__ = [
    "Decision",
    "Engine",
    "MAX_CONTEXT_DEPTH",
    "MAX_REQUEST_BYTES",
    "Reason",
    "__version__",
    "audit_verify",
    "load_cases",
]

_F = TypeVar("_F", bound=Callable[..., Any])

# Entity references: 'Type::"id"', ("Type", "id") or {"type": ..., "id": ...}.
_EntityRef = Union[str, Tuple[str, str], Mapping[str, str]]
_ErrorMode = Literal["fail-closed", "strict", "cedar"]
_Enforcement = Literal["enforce", "shadow"]
_Instant = Union[datetime.datetime, str]
# Seconds (int or float) or a timedelta; positive.
_Seconds = Union[int, float, datetime.timedelta]
_Path = Union[str, "os.PathLike[str]"]
# A batch item: a dict with principal, action, resource and optional context,
# or a (principal, action, resource[, context]) tuple.
_BatchRequest = Union[Mapping[str, Any], Tuple[Any, ...]]
# The audit option: file, rotate_bytes, ring, redact, on_full ("drop" | "block"),
# capacity, callback (called on the writer thread with each record dict).
_AuditOptions = Mapping[str, Any]

MAX_CONTEXT_DEPTH: int
MAX_REQUEST_BYTES: int
__version__: str

@final
class Reason:
    """One policy: a determining policy of a decision, or a loaded policy."""

    @property
    def policy_id(self) -> str: ...
    @property
    def annotations(self) -> Dict[str, str]: ...
    @property
    def effect(self) -> Literal["permit", "forbid"]: ...
    @property
    def owner(self) -> Optional[str]: ...
    @property
    def ask(self) -> Optional[str]: ...
    @property
    def file(self) -> str: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Decision:
    """The engine's answer to one request: allow, deny or ask, and why."""

    @property
    def outcome(self) -> Literal["allow", "deny", "ask"]: ...
    @property
    def allowed(self) -> bool: ...
    def __bool__(self) -> bool: ...
    @property
    def reasons(self) -> List[Reason]: ...
    @property
    def policy_ids(self) -> List[str]: ...
    @property
    def errors(self) -> List[Tuple[Optional[str], str]]: ...
    @property
    def ask_owner(self) -> Optional[str]: ...
    @property
    def ask_owners(self) -> List[str]: ...
    @property
    def approval_id(self) -> Optional[str]: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def shadow(self) -> Optional[Dict[str, Any]]: ...
    @property
    def eval_us(self) -> float: ...
    def to_dict(self) -> Dict[str, Any]: ...

@final
class Engine:
    """A loaded, validated policy set; decides from any number of threads."""

    def __new__(
        cls,
        schema: str,
        policies: str,
        entities: Union[str, List[Any], None] = None,
        *,
        error_mode: _ErrorMode = "fail-closed",
        enforcement: _Enforcement = "enforce",
        session_counters: bool = False,
        max_sessions: Optional[int] = None,
        session_idle_seconds: Optional[_Seconds] = None,
        audit: Optional[_AuditOptions] = None,
    ) -> "Engine": ...
    @staticmethod
    def from_dir(
        path: _Path,
        *,
        error_mode: _ErrorMode = "fail-closed",
        enforcement: _Enforcement = "enforce",
        session_counters: bool = False,
        max_sessions: Optional[int] = None,
        session_idle_seconds: Optional[_Seconds] = None,
        audit: Optional[_AuditOptions] = None,
    ) -> "Engine": ...
    @property
    def policy_version(self) -> str: ...
    def reload(
        self,
        path: Optional[_Path] = None,
        *,
        schema: Optional[str] = None,
        policies: Optional[str] = None,
        entities: Union[str, List[Any], None] = None,
    ) -> str: ...
    def revoke(
        self,
        *,
        agent: Optional[_EntityRef] = None,
        session: Optional[str] = None,
        credential: Optional[str] = None,
        reason: str,
    ) -> None: ...
    def restore(
        self,
        *,
        agent: Optional[_EntityRef] = None,
        session: Optional[str] = None,
        credential: Optional[str] = None,
    ) -> bool: ...
    def revocations(self) -> List[Revocation]: ...
    def save_revocations(self, path: _Path) -> None: ...
    def load_revocations(self, path: _Path) -> None: ...
    def grant(
        self,
        principal: _EntityRef,
        actions: Union[str, _EntityRef, Iterable[Union[str, _EntityRef]]],
        resource: _EntityRef,
        *,
        ttl: Optional[_Seconds] = None,
        expires_at: Optional[_Instant] = None,
        reason: str = "",
    ) -> str: ...
    def revoke_grant(self, grant_id: str) -> bool: ...
    def grants(self) -> List[Grant]: ...
    def approve(self, approval_id: str, approver: str, *, ttl: _Seconds, uses: int = 1) -> None: ...
    @property
    def tracked_sessions(self) -> int: ...
    @property
    def policy_count(self) -> int: ...
    @property
    def error_mode(self) -> _ErrorMode: ...
    def policies(self) -> List[Reason]: ...
    def audit_flush(self) -> None: ...
    def audit_stats(self) -> Dict[str, Any]: ...
    def audit_records(self) -> List[Dict[str, Any]]: ...
    def authorize(
        self,
        principal: _EntityRef,
        action: Union[str, _EntityRef],
        resource: _EntityRef,
        context: Optional[Mapping[str, Any]] = None,
    ) -> Decision: ...
    def authorize_at(
        self,
        principal: _EntityRef,
        action: Union[str, _EntityRef],
        resource: _EntityRef,
        context: Optional[Mapping[str, Any]] = None,
        *,
        now: _Instant,
    ) -> Decision: ...
    def authorize_batch(
        self, requests: Iterable[_BatchRequest], *, now: Optional[_Instant] = None
    ) -> List[Decision]: ...
    def guard(
        self,
        *,
        action: Any,
        resource: Any,
        principal: Any,
        context: Any = None,
    ) -> Callable[[_F], _F]: ...

def load_cases(path: _Path) -> List[Dict[str, Any]]: ...

def audit_verify(files: List[_Path]) -> Dict[str, Any]: ...
