"""Shared by the Python examples: an in-memory workspace behind five tools, the
policy folder, and a ToolGuard that prints every decision.

Nothing here touches the disk or the network: the tools work on a dict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import agentauthz
from agentauthz.adapters import ToolGuard, ToolRule, Verdict, typed_arguments

HERE = Path(__file__).resolve().parent
OUT = sys.stdout
"""Where the examples print decisions (an MCP server over stdio sets it to stderr)."""
TOOLS = json.loads((HERE / "tools.json").read_text())

FILES: Dict[str, str] = {
    "README.md": "# demo\n",
    "src/app.py": "print('hello')\n",
    ".env": "API_KEY=do-not-leak\n",
    "tmp/build.log": "ok\n",
}


def read_file(path: str, max_bytes: int = 4096) -> str:
    """Read a text file of the workspace."""
    return FILES.get(path, f"(no such file: {path})")[:max_bytes]


def write_file(path: str, content: str) -> str:
    """Create or replace a text file of the workspace."""
    FILES[path] = content
    return f"wrote {len(content)} bytes to {path}"


def delete_file(path: str) -> str:
    """Delete a file of the workspace."""
    return f"deleted {path}" if FILES.pop(path, None) is not None else f"(no such file: {path})"


def run_command(command: str, argv: Optional[List[str]] = None) -> str:
    """Run a command in the workspace."""
    return f"$ {' '.join([command, *(argv or [])])}\n(simulated: exit 0)"


def fetch_url(url: str, timeout_s: float = 10.0) -> str:
    """Fetch a web page."""
    return f"(simulated body of {url})"


def approve_tmp_only(verdict: Verdict) -> bool:
    """Stands in for a human owner: approves deletes under tmp/, nothing else."""
    d = verdict.decision
    approved = str(verdict.call.arguments.get("path", "")).startswith("tmp/")
    print(f"  ? ask {d.ask_owner} (approval id {d.approval_id}): {verdict.call.tool} "
          f"{json.dumps(dict(verdict.call.arguments))} -> {'approved' if approved else 'refused'}", file=OUT)
    return approved


def show(verdict: Verdict) -> None:
    """on_decision hook: one line per decision (where the audit log plugs in)."""
    r = verdict.to_dict()
    ran = "runs" if verdict.proceed else "refused"
    ids = ",".join(verdict.decision.policy_ids) if verdict.decision is not None else verdict.error
    print(f"  {r['tool']:<12} {r['principal']:<18} {r['outcome']:<5} {ran:<8} {ids}", file=OUT)


def make_guard(principal: Any = 'Agent::"ci-bot"', on_decision: Any = show) -> ToolGuard:
    """The policy folder's engine behind a guard: action = tool name, resource =
    Tool::"<name>", context = the arguments the schema declares."""
    engine = agentauthz.Engine.from_dir(HERE)
    return ToolGuard(
        engine,
        principal=principal,
        default=ToolRule(context=typed_arguments(TOOLS)),
        approver=approve_tmp_only,
        on_decision=on_decision,
    )
