"""The audit log through the Python API: file, ring and callback sinks,
flush, redaction, the drop/block modes and chain verification."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

import agentauthz

from conftest import EXAMPLE, NOW, ctx

BOT = 'Agent::"ci-bot"'
REPO = 'Repository::"acme/api"'
SECRET = "tok-3f9a-very-secret"


def decide(engine: agentauthz.Engine, n: int) -> List[agentauthz.Decision]:
    actions = ["read_repo", "open_pr", "push_commit", "merge_pr"]
    context = ctx(path=SECRET, branch="main")
    return [engine.authorize_at(BOT, actions[i % len(actions)], REPO, context, now=NOW) for i in range(n)]


def test_records_reach_the_callback_in_order_with_a_valid_chain(tmp_path: Path) -> None:
    seen: List[Dict[str, Any]] = []
    threads = set()

    def sink(record: Dict[str, Any]) -> None:
        threads.add(threading.get_ident())
        seen.append(record)

    path = tmp_path / "audit.jsonl"
    engine = agentauthz.Engine.from_dir(
        EXAMPLE, audit={"file": str(path), "ring": 5, "callback": sink, "redact": ["path"]}
    )
    decisions = decide(engine, 12)
    engine.audit_flush()  # nothing made before it is lost
    assert [r["seq"] for r in seen] == list(range(12))
    assert threads and threading.get_ident() not in threads  # called from the writer thread
    prev = "0" * 64
    for record, decision in zip(seen, decisions):
        assert record["prev_hash"] == prev and len(record["hash"]) == 64
        prev = record["hash"]
        assert record["outcome"] == decision.outcome
        assert [r["id"] for r in record.get("reasons", [])] == decision.policy_ids
        assert record["principal"] == BOT
    # The file holds the same lines, verifies, and never the redacted value.
    text = path.read_text()
    assert SECRET not in text and SECRET not in json.dumps(seen)
    assert all(r["context"]["path"] == "[REDACTED]" for r in seen)
    lines = [json.loads(line) for line in text.splitlines()]
    assert [r["hash"] for r in lines] == [r["hash"] for r in seen]
    report = agentauthz.audit_verify([path])
    assert report["intact"] and report["records"] == 12 and report["broken"] is None
    # The ring keeps the last five.
    assert [r["seq"] for r in engine.audit_records()] == [7, 8, 9, 10, 11]
    stats = engine.audit_stats()
    assert (stats["records"], stats["dropped"], stats["write_errors"], stats["next_seq"]) == (12, 0, 0, 12)

    # Tampering is named.
    lines[4]["outcome"] = "allow" if lines[4]["outcome"] != "allow" else "deny"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    broken = agentauthz.audit_verify([path])
    assert not broken["intact"] and "edited" in broken["broken"]


def test_a_raising_callback_is_counted_and_decisions_go_on(tmp_path: Path) -> None:
    def sink(record: Dict[str, Any]) -> None:
        if record["seq"] % 2:
            raise RuntimeError("sink down")

    engine = agentauthz.Engine.from_dir(EXAMPLE, audit={"ring": 10, "callback": sink})
    assert len(decide(engine, 6)) == 6
    engine.audit_flush()
    stats = engine.audit_stats()
    assert (stats["records"], stats["write_errors"]) == (6, 3)
    assert "sink down" in stats["last_error"]
    assert len(engine.audit_records()) == 6


def test_drop_mode_writes_a_counted_gap_and_block_mode_loses_nothing(tmp_path: Path) -> None:
    def slow(record: Dict[str, Any]) -> None:
        time.sleep(0.002)

    path = tmp_path / "drop.jsonl"
    engine = agentauthz.Engine.from_dir(EXAMPLE, audit={"file": path, "capacity": 2, "callback": slow})
    decide(engine, 100)
    engine.audit_flush()
    stats = engine.audit_stats()
    assert stats["dropped"] > 0
    report = agentauthz.audit_verify([path])
    assert report["intact"] and report["lost"] == stats["dropped"]
    assert report["records"] - report["gaps"] + report["lost"] == 100

    path = tmp_path / "block.jsonl"
    engine = agentauthz.Engine.from_dir(
        EXAMPLE, audit={"file": path, "capacity": 2, "callback": slow, "on_full": "block"}
    )
    decide(engine, 30)
    engine.audit_flush()
    assert engine.audit_stats()["dropped"] == 0
    report = agentauthz.audit_verify([path])
    assert report["intact"] and (report["records"], report["gaps"]) == (30, 0)


def test_bad_audit_options_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown audit option"):
        agentauthz.Engine.from_dir(EXAMPLE, audit={"fiel": "x"})
    with pytest.raises(ValueError, match="on_full"):
        agentauthz.Engine.from_dir(EXAMPLE, audit={"ring": 1, "on_full": "wait"})
    with pytest.raises(TypeError, match="callable"):
        agentauthz.Engine.from_dir(EXAMPLE, audit={"callback": 3})
    with pytest.raises(agentauthz.AuthzError, match="audit log"):
        agentauthz.Engine.from_dir(EXAMPLE, audit={"file": str(tmp_path / "missing" / "a.jsonl")})
    with pytest.raises(ValueError, match="no audit log"):
        agentauthz.Engine.from_dir(EXAMPLE).audit_flush()
