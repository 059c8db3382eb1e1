"""Type stubs of the native module (Rust, pyo3)."""

import datetime
import os
from typing import Any, Callable, Dict, Iterable, List, Literal, Mapping, Optional, Tuple, TypeVar, Union, final

__all__ = ["Decision", "Engine", "MAX_CONTEXT_DEPTH", "MAX_REQUEST_BYTES", "Reason", "__version__", "load_cases"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Entity references: 'Type::"id"', ("Type", "id") or {"type": ..., "id": ...}.
_EntityRef = Union[str, Tuple[str, str], Mapping[str, str]]
_ErrorMode = Literal["fail-closed", "strict", "cedar"]
_Instant = Union[datetime.datetime, str]
# A batch item: a dict with principal, action, resource and optional context,
# or a (principal, action, resource[, context]) tuple.
_BatchRequest = Union[Mapping[str, Any], Tuple[Any, ...]]

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
    ) -> "Engine": ...
    @staticmethod
    def from_dir(path: Union[str, "os.PathLike[str]"], *, error_mode: _ErrorMode = "fail-closed") -> "Engine": ...
    @property
    def policy_version(self) -> str: ...
    @property
    def policy_count(self) -> int: ...
    @property
    def error_mode(self) -> _ErrorMode: ...
    def policies(self) -> List[Reason]: ...
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

def load_cases(path: Union[str, "os.PathLike[str]"]) -> List[Dict[str, Any]]: ...
