'use strict'
// authorizeAsync runs on the libuv pool; many calls in flight at once.
const test = require('node:test')
const assert = require('node:assert/strict')
const { agentauthz, exampleDir, casesFile } = require('./_common')

const engine = agentauthz.Engine.fromDir(exampleDir)
const cases = agentauthz.loadCases(casesFile)

const strip = ({ evalUs, ...rest }) => rest

test('1,000 concurrent authorizeAsync calls agree with authorize', async () => {
  // Requests from the cases file, with credentials made valid at the real
  // clock (cases.toml fixes its own `now`), compared with the synchronous decision.
  const now = Date.now()
  const fresh = cases.map(({ request }) => {
    const cred = request.context.credential
    if (cred.issued_at !== '2026-11-25T09:30:00Z' || cred.expires_at !== '2026-11-25T10:30:00Z') return request
    return {
      ...request,
      context: { ...request.context, credential: { ...cred, issued_at: new Date(now - 60e3), expires_at: new Date(now + 30 * 60e3) } },
    }
  })
  const requests = Array.from({ length: 1000 }, (_, i) => fresh[i % fresh.length])
  const pending = requests.map((r) => engine.authorizeAsync(r))
  assert.equal(pending.length, 1000)
  const decisions = await Promise.all(pending)
  const expected = requests.map((r) => strip(engine.authorize(r)))
  assert.deepEqual(decisions.map(strip), expected)
  const outcomes = new Set(decisions.map((d) => d.outcome))
  assert.deepEqual([...outcomes].sort(), ['allow', 'ask', 'deny'])
})

test('concurrent calls interleave with the event loop', async () => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 0)
  const all = []
  for (let round = 0; round < 5; round++) {
    all.push(...cases.map((c) => engine.authorizeAsync(c.request)))
    await new Promise((r) => setImmediate(r))
  }
  const decisions = await Promise.all(all)
  clearInterval(timer)
  assert.equal(decisions.length, 5 * cases.length)
  for (const d of decisions) assert.ok(['allow', 'deny', 'ask'].includes(d.outcome))
})

test('bad requests resolve to a deny, never reject', async () => {
  const results = await Promise.all([engine.authorizeAsync(undefined), engine.authorizeAsync({}), engine.authorizeAsync({ principal: 1 })])
  for (const d of results) {
    assert.equal(d.outcome, 'deny')
    assert.equal(d.errors[0].policy, null)
  }
})
