"""The type stubs match the runtime module (mypy's stubtest).

stubtest also walks the pure-Python adapters (agentauthz.adapters.*). Following
their framework imports (langchain-core, openai-agents, mcp, pydantic, ...) would
make mypy analyse those packages whole, about 2 minutes instead of seconds, so
they are skipped (typed as Any). The one consequence is that stubtest cannot see
the pydantic machinery GuardedTool inherits from LangChain's BaseTool; only that
class's inherited internals are allowlisted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SKIPPED_IMPORTS = [
    "langchain_core.*",
    "agents.*",
    "mcp.*",
    "mcp_types.*",
    "pydantic.*",
    "pydantic_core.*",
    "openai.*",
    "anyio.*",
    "starlette.*",
    "httpx.*",
]

ALLOWLIST = [
    # LangChain's BaseTool is a pydantic model; with its import skipped, the
    # metaclass and pydantic's generated attributes are invisible to mypy.
    r"agentauthz\.adapters\.langchain\.GuardedTool",
    r"agentauthz\.adapters\.langchain\.GuardedTool\.(__\w+__|model_\w+)",
]


def test_stubtest(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n\n[mypy-" + ",".join(SKIPPED_IMPORTS) + "]\nfollow_imports = skip\n")
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text("\n".join(ALLOWLIST) + "\n")
    cmd = [
        sys.executable, "-m", "mypy.stubtest", "agentauthz",
        "--mypy-config-file", str(config), "--allowlist", str(allowlist),
    ]
    # cwd: keep mypy's cache out of the work tree.
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
