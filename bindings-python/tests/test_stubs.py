"""The type stubs match the runtime module (mypy's stubtest, no allowlist)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_stubtest(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    cmd = [sys.executable, "-m", "mypy.stubtest", "agentauthz"]
    # cwd: keep mypy's cache out of the work tree.
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
