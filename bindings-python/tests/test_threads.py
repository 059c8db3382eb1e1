"""One engine, many threads deciding at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

import agentauthz
from conftest import NOW, ctx

REQUESTS: List[Tuple[str, str, str, dict, str]] = [
    ('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx(), "allow"),
    ('Agent::"ci-bot"', "read_repo", 'Repository::"acme/web"', ctx(), "deny"),
    ('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx(diff_lines=5000), "ask"),
    ('Agent::"rogue-bot"', "read_repo", 'Repository::"acme/api"', ctx(), "deny"),
]


def test_many_threads_share_one_engine(engine: agentauthz.Engine) -> None:
    errors: List[str] = []
    barrier = threading.Barrier(16)

    def work(seed: int) -> int:
        barrier.wait()
        n = 0
        for i in range(300):
            p, a, r, c, want = REQUESTS[(seed + i) % len(REQUESTS)]
            d = engine.authorize_at(p, a, r, c, now=NOW)
            if d.outcome != want:
                errors.append(f"{a} {r}: {d.outcome} != {want} {d.errors}")
            n += 1
        return n

    with ThreadPoolExecutor(max_workers=16) as pool:
        total = sum(pool.map(work, range(16)))
    assert total == 16 * 300
    assert errors == []


def test_threads_batch_and_load_concurrently(engine: agentauthz.Engine) -> None:
    batch = [{"principal": p, "action": a, "resource": r, "context": c} for p, a, r, c, _ in REQUESTS] * 50
    want = [w for *_, w in REQUESTS] * 50

    def work(_: int) -> bool:
        out = engine.authorize_batch(batch, now=NOW)
        return [d.outcome for d in out] == want

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(8)))


def test_decisions_cross_threads(engine: agentauthz.Engine) -> None:
    d = engine.authorize_at(*REQUESTS[0][:4], now=NOW)
    out: List[str] = []
    t = threading.Thread(target=lambda: out.append(d.outcome + str(d.to_dict()["reasons"])))
    t.start()
    t.join()
    assert out == ["allow['permit-write-code-trusted']"]
