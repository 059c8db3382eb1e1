"""Shared fixtures: the example policy folder, located relative to this file."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict

import pytest

import agentauthz

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "policies-examples" / "coding-agent"
CASES = EXAMPLE / "cases.toml"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)

BASE_CONTEXT: Dict[str, Any] = {
    "credential": {
        "id": "cred-1",
        "issued_at": datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc),
        "expires_at": datetime(2026, 11, 25, 10, 30, tzinfo=timezone.utc),
        "scopes": ["repo:read", "repo:write", "api"],
    },
    "session": {"id": "s-1", "actions": 3, "repos_touched": 1},
}


def ctx(**extra: Any) -> Dict[str, Any]:
    """The base context (valid credential at NOW) plus `extra` attributes."""
    c = copy.deepcopy(BASE_CONTEXT)
    c.update(extra)
    return c


@pytest.fixture(scope="session")
def engine() -> agentauthz.Engine:
    """The coding-agent example engine."""
    return agentauthz.Engine.from_dir(EXAMPLE)


@pytest.fixture(scope="session")
def texts() -> Dict[str, str]:
    """The example folder's schema, policies (concatenated) and entities as text."""
    return {
        "schema": (EXAMPLE / "coding-agent.cedarschema").read_text(),
        "policies": "\n".join(p.read_text() for p in sorted(EXAMPLE.glob("*.cedar"))),
        "entities": (EXAMPLE / "entities.json").read_text(),
    }


MCP_EXAMPLE = REPO / "policies-examples" / "mcp-tools"


@pytest.fixture(scope="session")
def tools_engine() -> agentauthz.Engine:
    """The MCP-tools example engine (schema derived from its tools.json)."""
    return agentauthz.Engine.from_dir(MCP_EXAMPLE)


# The audit trail of the adapters' allow/deny/ask scenario (read README.md, read
# .env, delete tmp/build.log approved, delete src/app.py refused): the approved
# ask is decided again after the approval (allow), the refused one stays an ask.
CALL_TRAIL = [
    ("read_file", "README.md", "allow"),
    ("read_file", ".env", "deny"),
    ("delete_file", "tmp/build.log", "ask"),
    ("delete_file", "tmp/build.log", "allow"),
    ("delete_file", "src/app.py", "ask"),
]


class Audited:
    """The MCP-tools example engine with a file audit log (Block mode: nothing
    dropped), and the trail it wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = agentauthz.Engine.from_dir(MCP_EXAMPLE, audit={"file": str(path), "on_full": "block"})

    def trail(self) -> list:
        """(action id, path argument or None, outcome) of every record, after a
        flush; the chain must verify."""
        self.engine.audit_flush()
        report = agentauthz.audit_verify([self.path])
        assert report["intact"] and report["broken"] is None, report
        out = []
        for line in self.path.read_text().splitlines():
            r = json.loads(line)
            action = r["action"].split('"')[1]
            out.append((action, (r.get("context") or {}).get("path"), r["outcome"]))
        assert len(out) == report["records"]
        return out


@pytest.fixture
def audited(tmp_path: Path) -> Audited:
    """A fresh audited MCP-tools engine per test."""
    return Audited(tmp_path / "audit.jsonl")
