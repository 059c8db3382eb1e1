'use strict'
// Bad input never crashes the process: authorize* deny with the problem in
// `errors` (policy: null); only an exception thrown by the caller's own code
// (a getter, a toJSON) propagates.
const test = require('node:test')
const assert = require('node:assert/strict')
const { agentauthz, exampleDir, context } = require('./_common')

const engine = agentauthz.Engine.fromDir(exampleDir)
const base = () => ({
  principal: 'Agent::"ci-bot"',
  action: 'open_pr',
  resource: 'Repository::"acme/api"',
  context: context({ branch: 'fix' }),
})
const withContext = (extra) => {
  const r = base()
  Object.assign(r.context, extra)
  return r
}

/** Denied, with one request error matching `message`, by every entry point. */
async function deniedWith(request, message) {
  const decisions = [
    engine.authorize(request),
    engine.authorizeAt(request, new Date()),
    engine.authorizeBatch([request])[0],
    await engine.authorizeAsync(request),
  ]
  for (const d of decisions) {
    assert.equal(d.outcome, 'deny')
    assert.equal(d.allowed, false)
    assert.deepEqual(d.reasons, [])
    assert.equal(d.errors.length, 1, JSON.stringify(d.errors))
    assert.equal(d.errors[0].policy, null)
    assert.match(d.errors[0].message, message)
    assert.equal(d.policyVersion, engine.policyVersion)
  }
}

test('the base request is allowed (so the denials below are due to the input)', () => {
  assert.equal(engine.authorize(base()).outcome, 'allow')
})

test('not a request object', async () => {
  for (const [value, got] of [
    [undefined, 'undefined'],
    [null, 'null'],
    [42, 'a number'],
    ['Agent::"ci-bot"', 'a string'],
    [[base()], 'an array'],
    [Symbol('x'), 'a symbol'],
    [() => base(), 'a function'],
    [10n, 'a bigint'],
  ]) {
    await deniedWith(value, new RegExp(`^malformed request: a request must be an object .*got ${got}$`))
  }
})

test('missing, unknown and mistyped fields', async () => {
  const { principal, action, resource, context } = base()
  await deniedWith({}, /missing field `principal`/)
  await deniedWith({ principal, action, context }, /missing field `resource`/)
  await deniedWith({ principal, action, resource: undefined }, /missing field `resource`/)
  await deniedWith({ principal, action, resource, contxt: context }, /unknown field `contxt`/)
  await deniedWith({ principal: 42, action, resource }, /invalid principal: expected an entity reference, got a number/)
  await deniedWith({ principal: 'ci-bot', action, resource }, /invalid principal: `ci-bot` is not an entity reference/)
  await deniedWith({ principal: { type: 'Agent' }, action, resource }, /invalid principal: an entity object needs/)
  await deniedWith({ principal: { type: 'Agent', id: 7 }, action, resource }, /invalid principal/)
  await deniedWith({ principal, action: '', resource, context }, /empty action name/)
  await deniedWith({ principal, action: 7, resource, context }, /invalid action/)
  await deniedWith({ principal, action, resource, context: 'x' }, /context must be a JSON object/)
  await deniedWith({ principal, action, resource, context: [1] }, /context must be a JSON object/)
})

test('requests the schema rejects', async () => {
  const { principal, resource, context } = base()
  const d = engine.authorize({ principal, action: 'no_such_action', resource, context })
  assert.equal(d.outcome, 'deny')
  assert.equal(d.errors.length, 1)
  assert.equal(d.errors[0].policy, null)
  const wrongType = engine.authorize({ principal, action: 'open_pr', resource: 'Secret::"prod/x"', context })
  assert.equal(wrongType.outcome, 'deny')
  assert.match(wrongType.errors[0].message, /schema|Secret/)
  const extra = engine.authorize(withContext({ not_in_schema: 'x' }))
  assert.equal(extra.outcome, 'deny')
  assert.match(extra.errors[0].message, /invalid context: .*not_in_schema/)
  const wrong = engine.authorize(withContext({ diff_lines: 'many' }))
  assert.equal(wrong.outcome, 'deny')
  assert.match(wrong.errors[0].message, /^(invalid context|request does not conform to the schema): .*diff_lines/)
})

test('numbers Cedar cannot hold: NaN, Infinity, floats, unsafe integers, huge BigInts', async () => {
  await deniedWith(withContext({ diff_lines: NaN }), /^invalid context: context\.diff_lines: NaN is not a number/)
  await deniedWith(withContext({ diff_lines: Infinity }), /context\.diff_lines: Infinity/)
  await deniedWith(withContext({ diff_lines: -Infinity }), /context\.diff_lines: Infinity/)
  await deniedWith(withContext({ diff_lines: 1.5 }), /context\.diff_lines: 1\.5 is not an integer \(Cedar has no floating-point numbers\)/)
  await deniedWith(withContext({ diff_lines: 2 ** 60 }), /beyond Number\.MAX_SAFE_INTEGER/)
  await deniedWith(withContext({ diff_lines: 2n ** 63n }), /9223372036854775808n does not fit in a 64-bit signed integer/)
  await deniedWith(withContext({ diff_lines: -(2n ** 70n) }), /does not fit/)
  // In range: fine.
  assert.equal(engine.authorize(withContext({ diff_lines: 2n ** 40n - 2n ** 40n + 10n })).outcome, 'allow')
  assert.equal(engine.authorize(withContext({ diff_lines: -0 })).outcome, 'allow')
})

test('values that are not data: undefined in arrays, holes, functions, symbols, invalid dates', async () => {
  const scopes = (list) => {
    const r = base()
    r.context.credential.scopes = list
    return r
  }
  await deniedWith(scopes(['repo:read', undefined]), /context\.credential\.scopes\[1\]: undefined is not a value/)
  // eslint-disable-next-line no-sparse-arrays
  await deniedWith(scopes(['repo:read', , 'repo:write']), /scopes\[1\]: undefined is not a value/)
  await deniedWith(withContext({ branch: () => 'main' }), /context\.branch: a function is not a value/)
  await deniedWith(withContext({ branch: Symbol('main') }), /context\.branch: a symbol is not a value/)
  await deniedWith(withContext({ branch: { toJSON: () => undefined } }), /toJSON\(\) returned undefined/)
  const r = base()
  r.context.credential.expires_at = new Date('not a date')
  await deniedWith(r, /context\.credential\.expires_at: Invalid Date/)
  await deniedWith(withContext({ 'odd key': 1.25 }), /context\["odd key"\]: 1\.25/)
})

test('cycles are refused with the path', async () => {
  const loop = { id: 's-1', actions: 3, repos_touched: 1 }
  loop.self = loop
  await deniedWith(withContext({ session: loop }), /context\.session\.self: cyclic reference/)
  const arr = ['repo:read']
  arr.push(arr)
  const r = base()
  r.context.credential.scopes = arr
  await deniedWith(r, /context\.credential\.scopes\[1\]: cyclic reference/)
  const req = base()
  req.context.request = req
  await deniedWith(req, /context\.request: cyclic reference/)
  // Shared (non-cyclic) references are fine.
  const shared = { approver: 'a', owner: 'platform' }
  const ok = engine.authorize(withContext({ approval: shared, extra: undefined }))
  assert.equal(ok.outcome, 'allow')
})

test('deep nesting is refused without exhausting the stack', async () => {
  const nest = (n) => {
    let v = 'leaf'
    for (let i = 0; i < n; i++) v = { v }
    return v
  }
  await deniedWith(withContext({ deep: nest(40) }), /^request exceeds a limit: context(\.deep)(\.v)+: nested deeper than 32 levels$/)
  await deniedWith(withContext({ deep: nest(1_000_000) }), /nested deeper than 32 levels/)
  let arr = []
  for (let i = 0; i < 100_000; i++) arr = [arr]
  await deniedWith(withContext({ deep: arr }), /nested deeper than 32 levels/)
  // Moderately nested data is converted (then rejected by the schema, not by the limit).
  const d = engine.authorize(withContext({ deep: nest(20) }))
  assert.doesNotMatch(d.errors[0].message, /limit/)
})

test('huge strings, arrays and repeated sub-objects are refused', async () => {
  await deniedWith(withContext({ branch: 'x'.repeat(2 << 20) }), /^request exceeds a limit: context\.branch: a string of 2097152 bytes; at most 1048576 are accepted$/)
  await deniedWith(withContext({ branch: 'é'.repeat(600_000) }), /request exceeds a limit/)
  await deniedWith(withContext({ many: new Array(1_000_000).fill(1) }), /larger than 1048576 bytes in total/)
  const piece = { text: 'y'.repeat(1000) }
  let fan = [piece, piece]
  for (let i = 0; i < 30; i++) fan = [fan, fan] // 2^31 leaves if expanded
  await deniedWith(withContext({ fan }), /larger than 1048576 bytes in total/)
  await deniedWith({ ...base(), principal: `Agent::"${'a'.repeat(1 << 20)}"` }, /request exceeds a limit: principal: a string/)
})

test('undefined context and undefined properties are omitted', () => {
  const { principal, action, resource } = base()
  const d = engine.authorize({ principal, action, resource, context: undefined })
  assert.equal(d.outcome, 'deny') // the schema requires credential and session
  assert.match(d.errors[0].message, /invalid context/)
  assert.equal(engine.authorize(withContext({ approval: undefined, path: undefined })).outcome, 'allow')
  assert.equal(engine.authorize({ ...base(), context: { ...base().context, [Symbol('x')]: 1 } }).outcome, 'allow')
})

test("exceptions from the caller's own code propagate and leave the engine usable", async () => {
  const getter = withContext({})
  Object.defineProperty(getter.context, 'branch', {
    enumerable: true,
    get() {
      throw new Error('getter exploded')
    },
  })
  assert.throws(() => engine.authorize(getter), /getter exploded/)
  assert.throws(() => engine.authorizeAsync(getter), /getter exploded/)
  assert.throws(() => engine.authorizeBatch([base(), getter]), /getter exploded/)
  const toJSON = withContext({
    branch: {
      toJSON() {
        throw new TypeError('toJSON exploded')
      },
    },
  })
  assert.throws(() => engine.authorize(toJSON), TypeError)
  const proxy = new Proxy(base(), {
    get(target, key) {
      if (key === 'resource') throw new RangeError('proxy exploded')
      return target[key]
    },
  })
  assert.throws(() => engine.authorize(proxy), RangeError)
  // A harmless Proxy is just an object.
  assert.equal(engine.authorize(new Proxy(base(), {})).outcome, 'allow')
  assert.equal(engine.authorize(base()).outcome, 'allow')
  assert.equal((await engine.authorizeAsync(base())).outcome, 'allow')
})

test('class instances, boxed values and Object.create(null) objects', () => {
  class Session {
    constructor() {
      this.id = 's-1'
      this.actions = 3
      this.repos_touched = 1
    }
    get hidden() {
      return 'not enumerable, not sent'
    }
  }
  const bare = Object.assign(Object.create(null), { branch: 'fix' })
  const r = base()
  r.context = Object.assign(Object.create(null), r.context, { session: new Session() }, bare)
  assert.equal(engine.authorize(r).outcome, 'allow', JSON.stringify(engine.authorize(r).errors))
  // A Map has no enumerable properties: it converts to {} and the schema rejects it.
  const m = engine.authorize(withContext({ session: new Map([['id', 's-1']]) }))
  assert.equal(m.outcome, 'deny')
})
