// agentauthz (Node binding) vs @cedar-policy/cedar-wasm on the generated workload folders.
//
// Not a test; run by benches/run_all.py (scripts/bench-all.sh), which writes
// the folders with gen-workload. Prints one JSON object per size.
//
//     node benches/node_scale.mjs --dir target/bench-workloads --sizes 10,1000 [--quick]
//
// Each decision is timed alone with process.hrtime.bigint(). agentauthz:
// `engine.authorize` on the loaded engine, request objects built once.
// cedar-wasm: `statefulIsAuthorized` on a policy set and schema cached by
// `preparsePolicySet` / `preparseSchema`, its fastest documented path (its API
// takes the entities with every call: they are passed as the parsed array);
// it evaluates the whole policy set per call, so it gets a time budget per
// size (the number of samples is reported). Every decision is compared with
// the outcomes recorded in requests.jsonl; a difference exits with status 1.
// The agentauthz binding is loaded from bindings-node (or BENCH_NODE_BINDING).

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const repo = join(dirname(fileURLToPath(import.meta.url)), '..')

const args = process.argv.slice(2)
const opt = (name) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const dir = opt('--dir')
const sizes = (opt('--sizes') ?? '').split(',').filter(Boolean).map(Number)
const quick = args.includes('--quick')
if (!dir || sizes.length === 0) {
  console.error('usage: node benches/node_scale.mjs --dir DIR --sizes 10,1000 [--quick]')
  process.exit(2)
}
const rounds = quick ? 5 : 25
const budgetNs = BigInt(quick ? 400e6 : 3e9)

const agentauthz = require(process.env.BENCH_NODE_BINDING ?? join(repo, 'bindings-node'))
let cedar = null
try {
  cedar = require('@cedar-policy/cedar-wasm/nodejs')
} catch {
  console.error('node_scale: @cedar-policy/cedar-wasm is not installed: (cd benches && npm install)')
}

function fail(message) {
  console.error(`node_scale: ${message}`)
  process.exit(1)
}

const pct = (xs) => {
  const s = BigInt64Array.from(xs).sort()
  const at = (q) => Number(s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]) / 1000
  return [at(0.5), at(0.99)]
}

const ref = (e) => `${e.type}::${JSON.stringify(e.id)}`

function check(answer, what) {
  if (answer.type !== 'success') fail(`${what}: ${JSON.stringify(answer.errors ?? answer)}`)
  return answer
}

function measure(n) {
  const d = join(dir, String(n))
  const schema = readFileSync(join(d, 'workload.cedarschema'), 'utf8')
  const policies = readFileSync(join(d, 'policies.cedar'), 'utf8')
  const entitiesText = readFileSync(join(d, 'entities.json'), 'utf8')
  const rows = readFileSync(join(d, 'requests.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))

  let t = process.hrtime.bigint()
  const engine = new agentauthz.Engine({ schema, policies, entities: entitiesText })
  const loadUs = Number(process.hrtime.bigint() - t) / 1000
  const requests = rows.map(({ request: r }) => ({
    principal: ref(r.principal),
    action: r.action,
    resource: ref(r.resource),
    context: r.context,
  }))
  for (const r of requests) engine.authorize(r)
  const ns = []
  for (let k = 0; k < rounds; k++) {
    for (let i = 0; i < requests.length; i++) {
      const t0 = process.hrtime.bigint()
      const decision = engine.authorize(requests[i])
      ns.push(process.hrtime.bigint() - t0)
      if (decision.outcome !== rows[i].agentauthz) {
        fail(`${n} policies, request ${i}: agentauthz ${decision.outcome}, expected ${rows[i].agentauthz}`)
      }
    }
  }
  const [median, p99] = pct(ns)
  const out = { n, agentauthz: { median_us: median, p99_us: p99, samples: ns.length, load_us: loadUs } }
  if (!cedar) return { ...out, cedar_wasm: null }

  const entities = JSON.parse(entitiesText)
  const id = `workload-${n}`
  t = process.hrtime.bigint()
  check(cedar.preparseSchema(id, schema), 'preparseSchema')
  check(cedar.preparsePolicySet(id, { staticPolicies: policies }), 'preparsePolicySet')
  const cLoadUs = Number(process.hrtime.bigint() - t) / 1000
  const calls = rows.map(({ request: r }) => ({
    principal: r.principal,
    action: { type: 'Action', id: r.action },
    resource: r.resource,
    context: r.context,
    entities,
    preparsedPolicySetId: id,
    preparsedSchemaName: id,
    validateRequest: true,
  }))
  const cns = []
  const minSamples = n <= 1000 ? 10 : 3
  const start = process.hrtime.bigint()
  for (let i = 0; ; i++) {
    if ((process.hrtime.bigint() - start >= budgetNs && cns.length >= minSamples) || cns.length >= calls.length * rounds) break
    const k = i % calls.length
    const t0 = process.hrtime.bigint()
    const answer = cedar.statefulIsAuthorized(calls[k])
    cns.push(process.hrtime.bigint() - t0)
    const decision = check(answer, `request ${k}`).response.decision
    if (decision !== rows[k].cedar) fail(`${n} policies, request ${k}: cedar-wasm ${decision}, expected ${rows[k].cedar}`)
  }
  const [cmedian, cp99] = pct(cns)
  return {
    ...out,
    cedar_wasm: {
      median_us: cmedian,
      p99_us: cp99,
      samples: cns.length,
      distinct_requests: Math.min(cns.length, calls.length),
      load_us: cLoadUs,
      version: cedar.getCedarSDKVersion(),
    },
  }
}

for (const n of sizes) console.log(JSON.stringify(measure(n)))
