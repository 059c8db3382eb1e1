"""The @engine.guard decorator, on sync and async functions."""

from __future__ import annotations

import asyncio
import inspect
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List
from urllib.parse import urlparse

import pytest

import agentauthz


def live_ctx(**extra: Any) -> Dict[str, Any]:
    """A context whose credential is valid right now (guard uses the real clock)."""
    now = datetime.now(timezone.utc)
    c: Dict[str, Any] = {
        "credential": {
            "id": "cred-1",
            "issued_at": now - timedelta(minutes=5),
            "expires_at": now + timedelta(minutes=30),
            "scopes": ["repo:read", "repo:write", "api"],
        },
        "session": {"id": "s-1", "actions": 3, "repos_touched": 1},
    }
    c.update(extra)
    return c


def host_of(url: str) -> str:
    return urlparse(url).hostname or ""


def test_sync_guard_allows_and_denies(engine: agentauthz.Engine) -> None:
    calls: List[str] = []

    @engine.guard(
        action="call_api",
        principal='Agent::"ci-bot"',
        resource=lambda url, **kw: f'ApiHost::"{host_of(url)}"',
        context=lambda url, **kw: live_ctx(host=host_of(url), url=url),
    )
    def fetch(url: str, timeout: int = 5) -> str:
        """Fetch a URL."""
        calls.append(url)
        return f"body of {url}"

    assert fetch.__name__ == "fetch" and fetch.__doc__ == "Fetch a URL."
    assert fetch("https://api.github.com/repos", timeout=3) == "body of https://api.github.com/repos"
    with pytest.raises(agentauthz.Denied) as e:
        fetch("https://pastebin.com/api/api_post.php")
    assert calls == ["https://api.github.com/repos"]  # the body never ran for the denied call
    err = e.value
    assert not isinstance(err, agentauthz.ApprovalRequired)
    assert err.decision.outcome == "deny"
    assert err.decision.policy_ids == ["api-host-allowlist"]
    assert err.request is not None and err.request["resource"] == 'ApiHost::"pastebin.com"'
    assert "denied" in str(err) and "api-host-allowlist" in str(err) and "pastebin.com" in str(err)


def test_guard_raises_approval_required(engine: agentauthz.Engine) -> None:
    @engine.guard(
        action="modify_ci",
        principal=("Agent", "ci-bot"),
        resource=lambda path: ("File", f"acme/api/{path}"),
        context=lambda path: live_ctx(path=path),
    )
    def edit(path: str) -> str:
        return "edited"

    with pytest.raises(agentauthz.ApprovalRequired) as e:
        edit(".github/workflows/ci.yml")
    err = e.value
    assert isinstance(err, agentauthz.Denied)
    assert err.owner == "platform" and err.owners == ["platform"]
    assert err.decision.outcome == "ask"
    assert "approval required from platform" in str(err)


def test_guard_with_static_values_and_callable_principal(engine: agentauthz.Engine) -> None:
    seen: List[Any] = []

    def who(*args: Any, **kwargs: Any) -> str:
        seen.append((args, kwargs))
        return kwargs.get("agent", 'Agent::"ci-bot"')

    @engine.guard(action="open_pr", principal=who, resource='Repository::"acme/api"', context=lambda **kw: live_ctx())
    def open_pr(*, agent: str = 'Agent::"ci-bot"') -> bool:
        return True

    assert open_pr() is True
    with pytest.raises(agentauthz.Denied, match="no policy permits it"):
        open_pr(agent='Agent::"triage-bot"')
    assert seen == [((), {}), ((), {"agent": 'Agent::"triage-bot"'})]


def test_guard_on_a_method(engine: agentauthz.Engine) -> None:
    class Client:
        agent = 'Agent::"ci-bot"'

        @engine.guard(
            action="call_api",
            principal=lambda self, url: self.agent,
            resource=lambda self, url: ("ApiHost", host_of(url)),
            context=lambda self, url: live_ctx(host=host_of(url)),
        )
        def get(self, url: str) -> int:
            return 200

    assert Client().get("https://api.github.com/x") == 200
    with pytest.raises(agentauthz.Denied):
        Client().get("https://webhook.site/x")


def test_async_guard(engine: agentauthz.Engine) -> None:
    ran: List[str] = []

    @engine.guard(
        action="call_api",
        principal='Agent::"ci-bot"',
        resource=lambda url: f'ApiHost::"{host_of(url)}"',
        context=lambda url: live_ctx(host=host_of(url)),
    )
    async def fetch(url: str) -> str:
        ran.append(url)
        await asyncio.sleep(0)
        return "ok"

    assert inspect.iscoroutinefunction(fetch)

    async def main() -> None:
        assert await fetch("https://api.github.com/") == "ok"
        coro = fetch("https://pastebin.com/")
        with pytest.raises(agentauthz.Denied):
            await coro
        results = await asyncio.gather(*(fetch("https://api.github.com/") for _ in range(10)))
        assert results == ["ok"] * 10

    asyncio.run(main())
    assert ran == ["https://api.github.com/"] * 11


def test_guard_bad_request_raises_request_error(engine: agentauthz.Engine) -> None:
    @engine.guard(action="call_api", principal="not-an-entity", resource='ApiHost::"x"')
    def f() -> None:
        raise AssertionError("body must not run")

    with pytest.raises(agentauthz.RequestError, match="principal"):
        f()


def test_guard_requires_keywords(engine: agentauthz.Engine) -> None:
    with pytest.raises(TypeError):
        engine.guard("call_api")  # type: ignore[misc]
    with pytest.raises(TypeError):
        engine.guard(action="call_api", resource='ApiHost::"x"')  # type: ignore[call-arg]
