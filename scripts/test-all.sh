#!/usr/bin/env bash
# Runs every test of the project: Rust (format, lints, unit, property, conformance,
# CLI), the Python binding and the Node binding. Installs what it needs itself:
# Rust crates via cargo, maturin/pytest/mypy into a local virtualenv (.venv),
# npm packages into bindings-node/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
step() { printf '\n=== %s ===\n' "$*"; }

step "Rust: format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust: tests (unit, property, differential, conformance, CLI, docs)"
cargo test --locked -p agentauthz -p agentauthz-cli

if [ -f bindings-python/pyproject.toml ]; then
  step "Python binding: build, install, test"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps ./bindings-python
  .venv/bin/python -m pip install --quiet './bindings-python[test]'
  .venv/bin/python -m pytest bindings-python/tests -q
  if [ -f bindings-python/stubtest-allowlist.txt ]; then
    .venv/bin/python -m mypy.stubtest agentauthz._native --allowlist bindings-python/stubtest-allowlist.txt
  else
    .venv/bin/python -m mypy.stubtest agentauthz._native
  fi
fi

if [ -f bindings-node/package.json ]; then
  step "Node binding: build from source, test"
  (cd bindings-node && npm install --no-audit --no-fund && npm test)
fi

step "All tests passed"
