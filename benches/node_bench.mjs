// Per-call decision time from Node: agentauthz vs @cedar-policy/cedar-wasm, side by side.
//
// Not a test. Run from the repository root:
//
//     (cd bindings-node && npm install)     # builds the agentauthz native module
//     (cd benches && npm install)           # @cedar-policy/cedar-wasm (devDependency)
//     node benches/node_bench.mjs [--rounds 300]
//
// Requests: about 20 realistic cases of policies-examples/coding-agent/cases.toml
// (every outcome, several actions), each timed one call at a time with
// process.hrtime.bigint(), the implementations taking turns in blocks of
// rounds so that all see the same machine load. agentauthz decides with `engine.authorizeAt`
// (the loaded engine, the case's `now`: the same work as `authorize`, with a
// fixed clock so that the expected outcomes hold; with the real clock the
// cases' credentials would be expired and denied before Cedar runs). cedar-wasm decides with
// `statefulIsAuthorized` on a policy set and schema cached by `preparsePolicySet`
// / `preparseSchema`, its fastest documented path; its API takes the entities
// with every call, and plain Cedar has no clock, so `context.now` is filled in
// by the caller. Both evaluate with cedar-policy; agentauthz also answers
// allow/deny/ask with the owners to ask. The `isAuthorized` row (everything
// parsed per call) and the batch row (`authorizeBatch(requests, now)`, per
// request) are for reference.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

const require = createRequire(import.meta.url)
const repo = join(dirname(fileURLToPath(import.meta.url)), '..')
const example = join(repo, 'policies-examples', 'coding-agent')

const args = process.argv.slice(2)
const roundsAt = args.indexOf('--rounds')
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 300
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: node benches/node_bench.mjs [--rounds N]')
  process.exit(2)
}

let agentauthz
try {
  agentauthz = require(join(repo, 'bindings-node'))
} catch (e) {
  console.error(`agentauthz is not built: (cd bindings-node && npm install)\n${e.message}`)
  process.exit(1)
}
let cedar
try {
  cedar = require('@cedar-policy/cedar-wasm/nodejs')
} catch {
  console.error('@cedar-policy/cedar-wasm is not installed: (cd benches && npm install)')
  process.exit(1)
}

/** About `n` cases spread over the file, with every outcome represented. */
function pickCases(n = 20) {
  const cases = agentauthz.loadCases(join(example, 'cases.toml'))
  const step = Math.max(1, Math.floor(cases.length / n))
  const chosen = cases.filter((_, i) => i % step === 0).slice(0, n)
  for (const outcome of ['allow', 'deny', 'ask']) {
    if (!chosen.some((c) => c.outcome === outcome)) chosen[chosen.length - 1] = cases.find((c) => c.outcome === outcome)
  }
  return chosen
}

// ---------------------------------------------------------------- agentauthz

const engine = agentauthz.Engine.fromDir(example)
const cases = pickCases()
const requests = cases.map((c) => c.request)
const nows = cases.map((c) => new Date(c.now))

// ---------------------------------------------------------------- cedar-wasm

const schemaText = readFileSync(join(example, 'coding-agent.cedarschema'), 'utf8')
const policyText = readdirCedar()
  .map((f) => readFileSync(join(example, f), 'utf8'))
  .join('\n')
const entities = JSON.parse(readFileSync(join(example, 'entities.json'), 'utf8'))

function readdirCedar() {
  return require('node:fs')
    .readdirSync(example)
    .filter((f) => f.endsWith('.cedar'))
    .sort()
}

function check(answer, what) {
  if (answer.type !== 'success') throw new Error(`${what}: ${JSON.stringify(answer.errors ?? answer)}`)
  return answer
}
check(cedar.preparseSchema('coding-agent', schemaText), 'preparseSchema')
check(cedar.preparsePolicySet('coding-agent', { staticPolicies: policyText }), 'preparsePolicySet')

const uid = (text) => {
  const m = /^(.+)::"(.*)"$/s.exec(text)
  return { type: m[1], id: JSON.parse(`"${m[2]}"`) }
}
const cedarCalls = cases.map((c) => ({
  principal: uid(c.request.principal),
  action: { type: 'Action', id: c.request.action },
  resource: uid(c.request.resource),
  context: { ...c.request.context, now: { __extn: { fn: 'datetime', arg: c.now } } },
}))
const statefulCalls = cedarCalls.map((call) => ({
  ...call,
  entities,
  preparsedPolicySetId: 'coding-agent',
  preparsedSchemaName: 'coding-agent',
  validateRequest: true,
}))
const statelessCalls = cedarCalls.map((call) => ({
  ...call,
  entities,
  policies: { staticPolicies: policyText },
  schema: schemaText,
  validateRequest: true,
}))

// ---------------------------------------------------------------- agreement

let agree = 0
for (let i = 0; i < cases.length; i++) {
  const ours = engine.authorizeAt(requests[i], nows[i])
  if (ours.outcome !== cases[i].outcome) throw new Error(`agentauthz disagrees with cases.toml on ${cases[i].name}`)
  const theirs = check(cedar.statefulIsAuthorized(statefulCalls[i]), cases[i].name).response
  const plain = ours.outcome === 'allow' ? 'allow' : 'deny' // Cedar has no ask
  if (theirs.decision === plain) agree++
  else console.error(`differs: ${cases[i].name}: agentauthz ${ours.outcome}, cedar-wasm ${theirs.decision}`)
}

// ---------------------------------------------------------------- timing

const impls = [
  ['agentauthz  authorizeAt', (i) => engine.authorizeAt(requests[i], nows[i])],
  ['cedar-wasm  statefulIsAuthorized', (i) => cedar.statefulIsAuthorized(statefulCalls[i])],
  ['cedar-wasm  isAuthorized (no preparse)', (i) => cedar.isAuthorized(statelessCalls[i])],
]
const samples = impls.map(() => [])
const warmup = Math.max(20, Math.floor(rounds / 10))
// Blocks of rounds: within a block one implementation runs the requests back
// to back (its caches warm, as in a real process); blocks rotate between
// implementations so that all see the same machine load, with a full GC
// before each block so that one implementation's garbage is not collected on
// another's time.
// The first round of each block re-warms caches after the other
// implementations ran and is not counted.
const block = Math.max(10, Math.ceil(rounds / 5))
for (let done = 0, n = 0; done < rounds; done += block, n++) {
  const count = Math.min(block, rounds - done)
  for (let j = 0; j < impls.length; j++) {
    const k = (n + j) % impls.length
    const f = impls[k][1]
    gc()
    for (let b = -(n === 0 ? warmup : 1); b < count; b++) {
      for (let i = 0; i < cases.length; i++) {
        const t0 = process.hrtime.bigint()
        f(i)
        const t1 = process.hrtime.bigint()
        if (b >= 0) samples[k].push(Number(t1 - t0))
      }
    }
  }
}

// Batch: per-request cost of authorizeBatch over all the requests (one call
// per distinct `now` among the cases).
const groups = new Map()
cases.forEach((c, i) => groups.set(c.now, [...(groups.get(c.now) ?? []), i]))
const batches = [...groups].map(([now, idx]) => [idx.map((i) => requests[i]), new Date(now)])
const batch = []
gc()
for (let r = 0; r < warmup + rounds; r++) {
  const t0 = process.hrtime.bigint()
  for (const [reqs, now] of batches) engine.authorizeBatch(reqs, now)
  const t1 = process.hrtime.bigint()
  if (r >= warmup) batch.push(Number(t1 - t0) / requests.length)
}

const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.round((q / 100) * (s.length - 1))))] / 1000
}
const rows = impls.map(([name], k) => [name, pct(samples[k], 50), pct(samples[k], 99), samples[k].length])
rows.splice(2, 0, ['agentauthz  authorizeBatch (per request)', pct(batch, 50), pct(batch, 99), batch.length])

console.log(
  `agentauthz Node binding vs @cedar-policy/cedar-wasm ${cedar.getCedarSDKVersion()} ` +
    `(Cedar ${cedar.getCedarVersion()}); Node ${process.version}, ${os.cpus().length} CPUs, ` +
    `load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
)
console.log(
  `${cases.length} requests from cases.toml (${['allow', 'deny', 'ask'].map((o) => `${cases.filter((c) => c.outcome === o).length} ${o}`).join(', ')}), ` +
    `${rounds} rounds; decisions agree on ${agree}/${cases.length} (ask counted as deny)\n`,
)
const w = Math.max(...rows.map((r) => r[0].length))
console.log(`${'call'.padEnd(w)}  ${'median µs'.padStart(10)}  ${'p99 µs'.padStart(10)}  ${'calls'.padStart(7)}`)
for (const [name, med, p99, n] of rows) {
  console.log(`${name.padEnd(w)}  ${med.toFixed(1).padStart(10)}  ${p99.toFixed(1).padStart(10)}  ${String(n).padStart(7)}`)
}
const [, ourMed, ourP99] = rows[0]
const [, theirMed, theirP99] = rows[1]
console.log(
  `\ncedar-wasm statefulIsAuthorized / agentauthz authorizeAt: ` +
    `median ${(theirMed / ourMed).toFixed(1)}x, p99 ${(theirP99 / ourP99).toFixed(1)}x`,
)
