"""The ``Engine.guard`` decorator: authorize each call before the body runs."""

from __future__ import annotations

import functools
import inspect
import typing as t

from ._errors import ApprovalRequired, Denied

_F = t.TypeVar("_F", bound=t.Callable[..., t.Any])


def _resolve(spec: t.Any, args: t.Tuple[t.Any, ...], kwargs: t.Dict[str, t.Any]) -> t.Any:
    """A guard argument: a callable is called with the guarded call's arguments."""
    return spec(*args, **kwargs) if callable(spec) else spec


def make_guard(
    engine: t.Any, action: t.Any, resource: t.Any, principal: t.Any, context: t.Any = None
) -> t.Callable[[_F], _F]:
    """Build the decorator returned by ``Engine.guard`` (see its documentation)."""

    def check(args: t.Tuple[t.Any, ...], kwargs: t.Dict[str, t.Any]) -> None:
        request = {
            "principal": _resolve(principal, args, kwargs),
            "action": _resolve(action, args, kwargs),
            "resource": _resolve(resource, args, kwargs),
            "context": _resolve(context, args, kwargs),
        }
        decision = engine.authorize(
            request["principal"], request["action"], request["resource"], request["context"]
        )
        outcome = decision.outcome
        if outcome == "allow":
            return
        if outcome == "ask":
            raise ApprovalRequired(decision, request)
        raise Denied(decision, request)

    def decorator(fn: _F) -> _F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_guarded(*args: t.Any, **kwargs: t.Any) -> t.Any:
                check(args, kwargs)
                return await fn(*args, **kwargs)

            return async_guarded  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*args: t.Any, **kwargs: t.Any) -> t.Any:
            check(args, kwargs)
            return fn(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorator
