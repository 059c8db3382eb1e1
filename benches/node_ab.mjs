// Two builds of the Node binding side by side in one process, taking turns:
// per-call `authorizeAt` medians on the example requests node_bench.mjs uses.
// On a host whose speed drifts, this pairing (and a CPU pin) is what makes a
// before/after comparison meaningful. Not a test. From the repository root:
//
//     taskset -c 0 node benches/node_ab.mjs OLD_BINDING_DIR NEW_BINDING_DIR [rounds]
//
// (a binding dir is a built bindings-node folder, e.g. from a git worktree of
// the old commit). Both builds must give identical decisions (but evalUs).
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const [oldDir, newDir, roundsArg] = process.argv.slice(2)
if (!oldDir || !newDir) {
  console.error('usage: node benches/node_ab.mjs OLD_BINDING_DIR NEW_BINDING_DIR [rounds]')
  process.exit(2)
}
const rounds = Number(roundsArg || 1500)
const example = join(dirname(fileURLToPath(import.meta.url)), '..', 'policies-examples', 'coding-agent')
const libs = { old: require(resolve(oldDir)), new: require(resolve(newDir)) }
const cases = libs.new.loadCases(join(example, 'cases.toml'))
const step = Math.max(1, Math.floor(cases.length / 20))
const chosen = cases.filter((_, i) => i % step === 0).slice(0, 20)
const requests = chosen.map((c) => c.request)
const nows = chosen.map((c) => new Date(c.now))
const engines = { old: libs.old.Engine.fromDir(example), new: libs.new.Engine.fromDir(example) }
for (let i = 0; i < requests.length; i++) {
  const [a, b] = ['old', 'new'].map((k) => JSON.stringify({ ...engines[k].authorizeAt(requests[i], nows[i]), evalUs: 0 }))
  if (a !== b) throw new Error(`the builds decide request ${i} differently:\n${a}\n${b}`)
}
const samples = { old: [], new: [] }
for (let r = 0; r < rounds; r++) {
  for (const k of r % 2 ? ['old', 'new'] : ['new', 'old']) {
    const engine = engines[k]
    for (let i = 0; i < requests.length; i++) {
      const t0 = process.hrtime.bigint()
      engine.authorizeAt(requests[i], nows[i])
      const t1 = process.hrtime.bigint()
      if (r >= 100) samples[k].push(Number(t1 - t0))
    }
  }
}
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.round(p * (xs.length - 1))] / 1000
for (const k of ['old', 'new']) {
  console.log(`${k}: median ${q(samples[k], 0.5).toFixed(2)} us, p99 ${q(samples[k], 0.99).toFixed(2)} us`)
}
console.log(`old/new median: ${(q(samples.old, 0.5) / q(samples.new, 0.5)).toFixed(2)}`)
