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
cargo test --locked -p agentauthz -p agentauthz-cli -p agentauthz-hook

step "Fuzzing: every cargo-fuzz target for \${FUZZ_SECONDS:-30} s (stable toolchain, RUSTC_BOOTSTRAP=1)"
bash scripts/fuzz-short.sh

step "Python binding: build (maturin, from source), install, test (incl. mypy stubtest)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet './bindings-python[test]'
.venv/bin/python -m pytest bindings-python/tests -q

step "Node binding: build from source (napi-rs), test (incl. index.d.ts drift check)"
(cd bindings-node && npm install --no-audit --no-fund && npm test)

step "All tests passed"
