'use strict'
// Hostile input through the Node door (issue #8), table-driven. The cases run
// in a child process (this file, with HOSTILE_CHILD=1), which prints one JSON
// line per case, so a crash (abort, stack overflow) fails the cases from the
// crashing one on instead of taking the test runner down. Each case must end
// in a thrown error whose message names the problem, or in a deny carrying
// the error. Bad-input details per field are in bad-input.test.js; this file
// is the shared list of issue #8, plus bounded load with reloads and
// revocations through authorizeAsync.
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const { agentauthz, exampleDir, exampleCopy, context, read } = require('./_common')

const MB10 = 10 << 20
const P = 'Agent::"ci-bot"'
const A = 'open_pr'
const R = 'Repository::"acme/api"'
const SCHEMA = read('coding-agent.cedarschema')
const POLICIES = ['10-permits.cedar', '20-identity.cedar', '30-code.cedar', '40-secrets-external-production.cedar', '50-session.cedar'].map(read)

const nestObject = (n) => {
  let v = 'leaf'
  for (let i = 0; i < n; i++) v = { a: v }
  return v
}
const nestArray = (n) => {
  let v = 'leaf'
  for (let i = 0; i < n; i++) v = [v]
  return v
}
const req = (over = {}, ctx = {}) => ({ principal: P, action: A, resource: R, context: context(ctx), ...over })
const withPolicy = (text) => new agentauthz.Engine({ schema: SCHEMA, policies: [...POLICIES, text] })
const nestedPolicy = `permit(principal, action, resource) when { ${'('.repeat(20000)}true${')'.repeat(20000)} };`

// [name, (engine) => result, [kind, pattern]]: kind is 'throws' (an Error whose
// message matches), 'deny' (a deny whose errors match), 'decided' (any
// decision: odd but legal input) or 'loaded' (an Engine).
const CASES = [
  // Wrong types and missing fields.
  ['request is a number', (e) => e.authorize(42), ['deny', /a request must be an object/]],
  ['principal is a number', (e) => e.authorize(req({ principal: 7 })), ['deny', /invalid principal/]],
  ['action is null', (e) => e.authorize(req({ action: null })), ['deny', /action/]],
  ['context is a string', (e) => e.authorize(req({ context: 'ctx' })), ['deny', /context must be a JSON object/]],
  ['missing resource', (e) => e.authorize({ principal: P, action: A }), ['deny', /missing field `resource`/]],
  ['Engine options missing policies', () => new agentauthz.Engine({ schema: SCHEMA }), ['throws', /policies/]],
  ['schema is a number', () => new agentauthz.Engine({ schema: 7, policies: '' }), ['throws', /schema/]],
  // Unknown entity types and actions.
  ['unknown principal type', (e) => e.authorize(req({ principal: 'Robot::"x"' })), ['deny', /Robot/]],
  ['unknown action', (e) => e.authorize(req({ action: 'format_disk' })), ['deny', /format_disk/]],
  ['undeclared context attribute', (e) => e.authorize(req({}, { evil: true })), ['deny', /evil/]],
  // Empty and huge strings.
  ['empty principal', (e) => e.authorize(req({ principal: '' })), ['deny', /invalid principal/]],
  ['empty action', (e) => e.authorize(req({ action: '' })), ['deny', /empty action name/]],
  ['10 MB context string', (e) => e.authorize(req({}, { branch: 'x'.repeat(MB10) })), ['deny', /request exceeds a limit/]],
  ['10 MB principal', (e) => e.authorize(req({ principal: `Agent::"${'x'.repeat(MB10)}"` })), ['deny', /request exceeds a limit/]],
  ['10 MB context key', (e) => e.authorize(req({}, { ['k'.repeat(MB10)]: 1 })), ['deny', /request exceeds a limit/]],
  ['10 MB policy text', () => withPolicy(`forbid(principal, action, resource) when { context has path && context.path == "${'x'.repeat(MB10)}" };`), ['loaded']],
  // Lone surrogates (JS strings may hold them; UTF-8 cannot).
  ['lone surrogate in context', (e) => e.authorize(req({}, { branch: 'fix\ud800' })), ['deny', /context\.branch: a string with a lone surrogate/]],
  ['lone surrogate in principal', (e) => e.authorize(req({ principal: 'Agent::"\udfff"' })), ['deny', /lone surrogate/]],
  ['lone surrogate in a context key', (e) => e.authorize(req({}, { '\udc00': 1 })), ['deny', /lone surrogate/]],
  ['lone surrogate via authorizeAsync', (e) => e.authorizeAsync(req({}, { branch: '\ud800' })), ['deny', /lone surrogate/]],
  ['lone surrogate in policy text', () => withPolicy('permit(principal, action, resource) when { "\ud800" == "" };'), ['throws', /lone surrogate/]],
  ['U+FFFD itself is fine', (e) => e.authorize(req({}, { branch: 'fix-\ufffd' })), ['decided']],
  // NUL bytes.
  ['NUL in a context string', (e) => e.authorize(req({}, { branch: 'fix\0main' })), ['decided']],
  ['NUL in the principal id', (e) => e.authorize(req({ principal: 'Agent::"ci\0bot"' })), ['deny', /./]],
  ['NUL in policy text', () => withPolicy('permit(principal,\0 action, resource);'), ['throws', /./]],
  // Deep nesting and cycles.
  ['object nested 10,000 deep', (e) => e.authorize(req({}, { deep: nestObject(10000) })), ['deny', /nested deeper than 32/]],
  ['array nested 100,000 deep', (e) => e.authorize(req({}, { deep: nestArray(100000) })), ['deny', /nested deeper than 32/]],
  ['10,000 deep via authorizeAsync', (e) => e.authorizeAsync(req({}, { deep: nestObject(10000) })), ['deny', /nested deeper than 32/]],
  ['10,000 deep in a batch', (e) => e.authorizeBatch([req({}, { deep: nestObject(10000) })]), ['deny', /nested deeper than 32/]],
  ['entities nested 10,000 deep (objects)', () => new agentauthz.Engine({ schema: SCHEMA, policies: POLICIES, entities: [{ uid: { type: 'Team', id: 't' }, attrs: { x: nestArray(10000) }, parents: [] }] }), ['throws', /nested deeper/]],
  ['entities nested 10,000 deep (JSON text)', () => new agentauthz.Engine({ schema: SCHEMA, policies: POLICIES, entities: `[{"uid": {"type": "Team", "id": "t"}, "attrs": {"x": ${'['.repeat(10000)}${']'.repeat(10000)}}, "parents": []}]` }), ['throws', /./]],
  ['cyclic object', (e) => {
    const r = req()
    r.context.session.self = r.context.session
    return e.authorize(r)
  }, ['deny', /cyclic reference/]],
  ['cyclic request via authorizeAsync', (e) => {
    const r = req()
    r.context.request = r
    return e.authorizeAsync(r)
  }, ['deny', /cyclic reference/]],
  // Huge sets.
  ['200,000-element array', (e) => e.authorize(req({}, { scopes: Array.from({ length: 200000 }, (_, i) => `s${i}`) })), ['deny', /request exceeds a limit/]],
  ['a JS Set of 200,000 (no enumerable properties)', (e) => e.authorize(req({}, { scopes: new Set(Array.from({ length: 200000 }, (_, i) => i)) })), ['deny', /./]],
  // Integers beyond i64.
  ['number 2**64', (e) => e.authorize(req({}, { diff_lines: 2 ** 64 })), ['deny', /beyond Number\.MAX_SAFE_INTEGER/]],
  ['BigInt 2n**70n', (e) => e.authorize(req({}, { diff_lines: 2n ** 70n })), ['deny', /does not fit in a 64-bit signed integer/]],
  ['BigInt -(2n**64n)', (e) => e.authorize(req({}, { diff_lines: -(2n ** 64n) })), ['deny', /does not fit/]],
  // Pathological policy and schema text.
  ['policy nested 20,000 parentheses', () => withPolicy(nestedPolicy), ['throws', /nested deeper than/]],
  ['policy nested 20,000 sets', () => withPolicy(`permit(principal, action, resource) when { ${'['.repeat(20000)}${']'.repeat(20000)} == [] };`), ['throws', /nested deeper than/]],
  ['policy with 20,000 negations', () => withPolicy(`permit(principal, action, resource) when { ${'!'.repeat(20000)}true };`), ['throws', /./]],
  ['schema nested 10,000 deep', () => new agentauthz.Engine({ schema: `entity A { x: ${'Set<'.repeat(10000)}Long${'>'.repeat(10000)} };`, policies: '' }), ['throws', /nested deeper than/]],
  ['reload with a pathological policy', (e) => {
    const version = e.policyVersion
    try {
      e.reload({ schema: SCHEMA, policies: [...POLICIES, nestedPolicy] })
    } finally {
      assert.equal(e.policyVersion, version)
      assert.equal(e.authorize(req()).outcome, 'allow')
    }
  }, ['throws', /nested deeper than/]],
]

async function child() {
  const engine = agentauthz.Engine.fromDir(exampleDir)
  for (const [name, call] of CASES) {
    const out = { name }
    try {
      const r = await call(engine)
      if (Array.isArray(r)) Object.assign(out, { result: 'decision', outcome: r[0].outcome, errors: r[0].errors.map((e) => e.message.slice(0, 500)) })
      else if (r instanceof agentauthz.Engine) out.result = 'loaded'
      else Object.assign(out, { result: 'decision', outcome: r.outcome, errors: r.errors.map((e) => e.message.slice(0, 500)) })
    } catch (e) {
      Object.assign(out, { result: 'throws', type: e?.constructor?.name, message: String(e?.message ?? e).slice(0, 500) })
    }
    process.stdout.write(JSON.stringify(out) + '\n')
  }
}

if (process.env.HOSTILE_CHILD === '1') {
  child().catch((e) => {
    console.error(e)
    process.exit(3)
  })
} else {
  const test = require('node:test')
  const env = { ...process.env, HOSTILE_CHILD: '1' }
  delete env.NODE_TEST_CONTEXT
  const proc = spawnSync(process.execPath, [__filename], {
    env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 600e3,
  })
  const results = new Map(
    (proc.stdout || '')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .map((r) => [r.name, r]),
  )

  for (const [name, , [kind, pattern]] of CASES) {
    test(`hostile: ${name}`, () => {
      const r = results.get(name)
      assert.ok(r, `the child died before or in this case: status ${proc.status} signal ${proc.signal}\n${(proc.stderr || '').slice(-2000)}`)
      if (kind === 'throws') {
        assert.equal(r.result, 'throws', JSON.stringify(r))
        assert.match(r.message, pattern)
        assert.doesNotMatch(r.message, /Maximum call stack|RangeError/)
      } else if (kind === 'deny') {
        assert.equal(r.result, 'decision', JSON.stringify(r))
        assert.equal(r.outcome, 'deny', JSON.stringify(r))
        assert.ok(r.errors.length > 0, `a deny without the error: ${JSON.stringify(r)}`)
        assert.ok(r.errors.some((m) => pattern.test(m)), JSON.stringify(r))
      } else if (kind === 'decided') {
        assert.equal(r.result, 'decision', JSON.stringify(r))
      } else {
        assert.equal(r.result, kind, JSON.stringify(r))
      }
    })
  }

  test('hostile: the child exits cleanly', () => {
    assert.equal(proc.signal, null, proc.stderr)
    assert.equal(proc.status, 0, proc.stderr)
    assert.equal(results.size, CASES.length)
  })

  test('stress: authorizeAsync in flight while reloading, revoking and restoring', async () => {
    const engine = agentauthz.Engine.fromDir(exampleDir)
    const variantDir = exampleCopy({
      '60-extra.cedar': '@id("stress-extra") forbid(principal, action, resource) when { context has path && context.path == "/etc/shadow" };',
    })
    const versions = new Set([engine.policyVersion, engine.reload(variantDir), engine.reload(exampleDir)])
    assert.equal(versions.size, 2)
    const revocable = req({}, { session: { id: 's-revocable', actions: 1, repos_touched: 1 } })
    const steady = req({}, { session: { id: 's-steady', actions: 1, repos_touched: 1 } })
    assert.equal(engine.authorize(revocable).outcome, 'allow')
    let epoch = 0 // odd while revoked: bumped after revoke returns, before restore
    const counts = { decisions: 0, deniedWhileRevoked: 0, reloads: 0, revocations: 0, rounds: 0 }
    const failures = []
    const issue = (request, check) => {
      const before = epoch
      return engine.authorizeAsync(request).then((d) => {
        counts.decisions++
        if (!versions.has(d.policyVersion)) failures.push(`unknown version ${d.policyVersion}`)
        check(d, before === epoch && before % 2 === 1)
      })
    }
    const ms = Number(process.env.AGENTAUTHZ_STRESS_MS || 2000)
    const start = Date.now()
    let pending = []
    const round = () => {
      const batch = []
      for (let i = 0; i < 16; i++) {
        batch.push(
          issue(revocable, (d, revoked) => {
            if (revoked) {
              counts.deniedWhileRevoked++
              if (d.outcome !== 'deny') failures.push(`allowed while revoked: ${JSON.stringify(d)}`)
            }
          }),
          issue(steady, (d) => {
            if (d.outcome !== 'allow') failures.push(`steady session: ${JSON.stringify(d)}`)
          }),
        )
      }
      counts.rounds++
      return batch
    }
    while (Date.now() - start < ms) {
      // Revoked: calls issued and resolved while revoked must deny; calls
      // still in flight from earlier rounds straddle the change.
      engine.revoke({ session: 's-revocable' }, 'stress')
      epoch++
      counts.revocations++
      await Promise.all(round())
      epoch++
      assert.equal(engine.restore({ session: 's-revocable' }), true)
      // Not revoked: calls left in flight across a reload and the next revoke.
      pending.push(...round())
      if (counts.revocations % 4 === 0) {
        engine.reload(counts.reloads % 2 === 0 ? variantDir : exampleDir)
        counts.reloads++
      }
      await new Promise((r) => setImmediate(r))
      if (pending.length > 512) {
        await Promise.all(pending)
        pending = []
      }
    }
    await Promise.all(pending)
    const issued = counts.rounds * 32
    console.log(`node stress: authorizeAsync (libuv pool) + reloads + revocations, ${((Date.now() - start) / 1000).toFixed(1)} s: ${JSON.stringify(counts)}`)
    assert.deepEqual(failures.slice(0, 5), [])
    assert.equal(counts.decisions, issued, 'every authorizeAsync call resolved')
    assert.ok(counts.reloads > 0 && counts.revocations > 0 && counts.deniedWhileRevoked > 0, JSON.stringify(counts))
  })
}
