#!/usr/bin/env bash
# Instructions per `authorizeAt` call from Node, counted by callgrind: a
# figure the host's speed does not move. Not a test. From the repository root:
#
#     bash benches/node_instructions.sh [BINDING_DIR]      # default: bindings-node
#
# Runs the example requests node_bench.mjs uses for 500 and for 1,500 rounds
# with the JIT on (TurboFan and Sparkplug compiling on the main thread, so
# that tiering does not depend on valgrind's speed) and prints the difference
# per call. Needs valgrind; takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
binding=$(realpath "${1:-bindings-node}")
command -v valgrind >/dev/null || { echo "node_instructions: valgrind is not installed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/loop.mjs" <<JS
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const a = require('$binding')
const example = '$PWD/policies-examples/coding-agent'
const engine = a.Engine.fromDir(example)
const cases = a.loadCases(example + '/cases.toml')
const step = Math.max(1, Math.floor(cases.length / 20))
const chosen = cases.filter((_, i) => i % step === 0).slice(0, 20)
const requests = chosen.map((c) => c.request)
const nows = chosen.map((c) => new Date(c.now))
let x = 0
for (let r = 0; r < Number(process.argv[2]); r++) for (let i = 0; i < 20; i++) x += engine.authorizeAt(requests[i], nows[i]).evalUs
console.log(x > 0)
JS
count() {
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$work/cg.$1" \
    node --no-concurrent-recompilation --no-concurrent-sparkplug "$work/loop.mjs" "$1" >/dev/null 2>&1
  callgrind_annotate "$work/cg.$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
small=$(count 500)
large=$(count 1500)
echo "instructions per authorizeAt call: $(( (large - small) / 20000 ))  ($binding)"
