#!/usr/bin/env bash
# Runs every scale benchmark (Rust, Python, Node; agentauthz vs plain Cedar,
# cedarpy and cedar-wasm) and writes benches/RESULTS.md. Not part of CI.
#   scripts/bench-all.sh            full run, 10 .. 100,000 policies
#   scripts/bench-all.sh --quick    smoke run
# Options and environment: see benches/run_all.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 benches/run_all.py "$@"
