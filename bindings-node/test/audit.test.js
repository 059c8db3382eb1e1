'use strict'
// The audit log through the Node API: file, ring and callback sinks, flush,
// redaction, drop/block modes, a throwing callback, chain verification.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { agentauthz, exampleDir, context } = require('./_common')

const { Engine, auditVerify, RequestError } = agentauthz
const SECRET = 'tok-3f9a-very-secret'
const ACTIONS = ['read_repo', 'open_pr', 'push_commit', 'merge_pr']

function decide(engine, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    out.push(
      engine.authorize({
        principal: 'Agent::"ci-bot"',
        action: ACTIONS[i % ACTIONS.length],
        resource: 'Repository::"acme/api"',
        context: context({ path: SECRET, branch: 'main' }),
      }),
    )
  }
  return out
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'agentauthz-audit-'))
/** Lets the JS thread run the callbacks the writer queued. */
async function until(cond) {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
  assert.ok(cond(), 'timed out waiting for the audit callback')
}

test('records reach the callback in order with a valid chain; file verifies; redaction applies', async () => {
  const seen = []
  const file = path.join(tmp(), 'audit.jsonl')
  const engine = Engine.fromDir(exampleDir, {
    audit: { file, ring: 5, redact: ['path'], callback: (r) => seen.push(r) },
  })
  const decisions = decide(engine, 12)
  engine.auditFlush()
  await until(() => seen.length === 12)
  assert.deepEqual(
    seen.map((r) => r.seq),
    [...Array(12).keys()],
  )
  let prev = '0'.repeat(64)
  seen.forEach((r, i) => {
    assert.equal(r.prev_hash, prev)
    assert.match(r.hash, /^[0-9a-f]{64}$/)
    prev = r.hash
    assert.equal(r.outcome, decisions[i].outcome)
    assert.equal(r.context.path, '[REDACTED]')
  })
  const text = fs.readFileSync(file, 'utf8')
  assert.ok(!text.includes(SECRET) && !JSON.stringify(seen).includes(SECRET))
  assert.deepEqual(
    text.trim().split('\n').map((l) => JSON.parse(l).hash),
    seen.map((r) => r.hash),
  )
  const report = auditVerify([file])
  assert.equal(report.intact, true)
  assert.equal(report.records, 12)
  assert.equal(report.broken, null)
  assert.deepEqual(
    engine.auditRecords().map((r) => r.seq),
    [7, 8, 9, 10, 11],
  )
  assert.deepEqual(engine.auditStats(), { records: 12, dropped: 0, writeErrors: 0, lastError: null, nextSeq: 12 })

  // An edited record is named.
  const lines = text.trim().split('\n')
  lines[3] = lines[3].replace(/"outcome":"(allow|deny|ask)"/, (m, o) => `"outcome":"${o === 'allow' ? 'deny' : 'allow'}"`)
  fs.writeFileSync(file, lines.join('\n') + '\n')
  const broken = auditVerify([file])
  assert.equal(broken.intact, false)
  assert.match(broken.broken, /edited/)
})

test('a throwing callback is counted and never breaks decisions', async () => {
  let calls = 0
  const engine = Engine.fromDir(exampleDir, {
    audit: {
      ring: 10,
      callback: (r) => {
        calls++
        if (r.seq % 2) throw new Error('sink down')
      },
    },
  })
  assert.equal(decide(engine, 6).length, 6)
  engine.auditFlush()
  await until(() => calls === 6)
  const stats = engine.auditStats()
  assert.equal(stats.records, 6)
  assert.equal(stats.writeErrors, 3)
  assert.match(stats.lastError, /sink down/)
  assert.equal(engine.auditRecords().length, 6)
})

test('drop mode writes a counted gap; block mode loses nothing', () => {
  const dir = tmp()
  // A one-record queue: the writer (which polls, sleeping up to 1 ms when idle)
  // falls behind 300 back-to-back decisions at once.
  const dropFile = path.join(dir, 'drop.jsonl')
  const dropping = Engine.fromDir(exampleDir, { audit: { file: dropFile, capacity: 1 } })
  decide(dropping, 300)
  dropping.auditFlush()
  const s = dropping.auditStats()
  assert.ok(s.dropped > 0, JSON.stringify(s))
  const report = auditVerify([dropFile])
  assert.equal(report.intact, true)
  assert.equal(report.lost, s.dropped)
  assert.equal(report.records - report.gaps + report.lost, 300)

  const blockFile = path.join(dir, 'block.jsonl')
  const blocking = Engine.fromDir(exampleDir, { audit: { file: blockFile, capacity: 1, onFull: 'block' } })
  decide(blocking, 50)
  blocking.auditFlush()
  assert.equal(blocking.auditStats().dropped, 0)
  const r = auditVerify([blockFile])
  assert.equal(r.intact, true)
  assert.equal(r.records, 50)
  assert.equal(r.gaps, 0)
})

test('bad audit options fail loudly', () => {
  assert.throws(() => Engine.fromDir(exampleDir, { audit: { fiel: 'x' } }), RequestError)
  assert.throws(() => Engine.fromDir(exampleDir, { audit: { ring: 1, onFull: 'wait' } }), RequestError)
  assert.throws(() => Engine.fromDir(exampleDir, { audit: { callback: 3 } }), RequestError)
  assert.throws(() => Engine.fromDir(exampleDir, { audit: { file: '/nonexistent-dir/x/a.jsonl' } }), /audit/)
  assert.throws(() => Engine.fromDir(exampleDir).auditFlush(), RequestError)
})
