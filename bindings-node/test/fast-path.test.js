'use strict'
// authorize / authorizeAt take a binary fast path for plain data (index.js,
// src/wire.rs), and the JSON text path when that one cannot be used (a
// reentrant call, a request too big for its buffer, `now` as text); both
// must decide exactly as the native conversion of the same values:
// every example case, and thousands of seeded random variations of them
// (unknown, missing and mistyped attributes, Dates, entity objects, odd
// strings, nested sets and records, Cedar escapes), compared on the whole
// decision but its timing. Values the fast path must not take (null, floats,
// BigInt, class instances, lone surrogates, ...) are covered by
// bad-input.test.js and hostile.test.js through authorize and authorizeAt.
const test = require('node:test')
const assert = require('node:assert/strict')
const { agentauthz, exampleDir, casesFile } = require('./_common')

const engine = agentauthz.Engine.fromDir(exampleDir)
const cases = agentauthz.loadCases(casesFile)

const strip = (d) => ({ ...d, evalUs: 0 })

// Counts the public method's use of the fast path, so that the comparisons
// below cannot silently compare the native conversion with itself.
let fastCalls = 0
const rawAt = engine.__authorizeAtJson
engine.__authorizeAtJson = function (...args) {
  fastCalls++
  return rawAt.apply(this, args)
}

// Counts the binary path's calls, and those whose decision came back in the
// numeric form (built in index.js from the policy table) rather than as text.
let wireCalls = 0
let wireNumeric = 0
let wireClean = 0
const rawWire = engine.__authorizeWire
engine.__authorizeWire = function (...args) {
  wireCalls++
  const result = rawWire.apply(this, args)
  if (result === 1) wireNumeric++
  return result
}

/**
 * The decision by the public method (binary path: `now` as a Date; JSON text
 * path: `now` as text), the raw JSON path and the native conversion agree.
 */
function agree(request, now, label) {
  const native = strip(engine.__authorizeAtNative(request, now))
  const viaJson = strip(JSON.parse(rawAt.call(engine, JSON.stringify(request), now)))
  const pub = strip(engine.authorizeAt(request, now))
  const wired = strip(engine.authorizeAt(request, new Date(now)))
  if (wired.errors.length === 0 && wired.shadow === null) wireClean++
  assert.deepEqual(viaJson, native, `${label}: JSON path vs native\n${JSON.stringify(request)}`)
  assert.deepEqual(pub, native, `${label}: authorizeAt (text now) vs native`)
  assert.deepEqual(wired, native, `${label}: authorizeAt (Date now, binary) vs native\n${JSON.stringify(request)}`)
  return native
}

test('every example case decides the same on the fast path and the native conversion', () => {
  const seen = new Set()
  fastCalls = 0
  wireCalls = 0
  wireNumeric = 0
  wireClean = 0
  for (const c of cases) {
    seen.add(agree(c.request, c.now, c.name).outcome)
    const plain = strip(engine.__authorizeNative(c.request))
    const d = strip(engine.authorize(c.request))
    assert.deepEqual(d, plain, c.name)
    if (d.errors.length === 0 && d.shadow === null) wireClean++
  }
  assert.deepEqual([...seen].sort(), ['allow', 'ask', 'deny'])
  assert.equal(fastCalls, cases.length)
  assert.equal(wireCalls, 2 * cases.length)
  // Every decision without errors comes back in the numeric form, engine
  // guards' denials (credentials expired by the real clock) included.
  assert.ok(wireClean > cases.length, `decisions without errors: ${wireClean}`)
  assert.equal(wireNumeric, wireClean)
})

// A small seeded generator (mulberry32), so a failure reproduces.
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const STRINGS = [
  '',
  'x',
  'main',
  'acme/api',
  'quote " and backslash \\',
  'line\nbreak\ttab',
  'unicode é ü 日本',
  'emoji 🚀',
  '\u0000nul',
  '2026-11-25T10:00:00Z',
  '2026-11-25T10:00:00.123+02:00',
  'not a date',
  'Agent::"ci-bot"',
]

function randomValue(r, depth) {
  const k = Math.floor(r() * (depth > 3 ? 5 : 8))
  switch (k) {
    case 0:
      return STRINGS[Math.floor(r() * STRINGS.length)]
    case 1:
      return [0, 1, -1, 42, -0, 2 ** 53 - 1, -(2 ** 53) + 1, 1e15][Math.floor(r() * 8)]
    case 2:
      return r() < 0.5
    case 3:
      return new Date(Date.UTC(2020 + Math.floor(r() * 10), Math.floor(r() * 12), 1 + Math.floor(r() * 28), 10))
    case 4:
      return STRINGS[Math.floor(r() * STRINGS.length)]
    case 5:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1))
    case 6: {
      const o = {}
      for (let i = Math.floor(r() * 4); i > 0; i--) o[['a', 'id', 'b c', '0', 'é'][Math.floor(r() * 5)]] = randomValue(r, depth + 1)
      return o
    }
    default:
      return r() < 0.5
        ? { __entity: { type: 'Agent', id: 'ci-bot' } }
        : { __extn: { fn: 'datetime', arg: '2026-11-25T10:00:00Z' } }
  }
}

function mutate(request, r) {
  const req = structuredClone(request)
  const ctx = req.context && typeof req.context === 'object' ? req.context : (req.context = {})
  const keys = Object.keys(ctx)
  switch (Math.floor(r() * 9)) {
    case 0: // an unknown attribute
      ctx[`extra_${Math.floor(r() * 3)}`] = randomValue(r, 1)
      break
    case 1: // a missing attribute
      if (keys.length) delete ctx[keys[Math.floor(r() * keys.length)]]
      break
    case 2: // a mistyped attribute
      if (keys.length) ctx[keys[Math.floor(r() * keys.length)]] = randomValue(r, 1)
      break
    case 3: // datetimes as Dates
      for (const [k, v] of Object.entries(ctx)) {
        if (typeof v === 'string' && !Number.isNaN(Date.parse(v)) && v.includes('T')) ctx[k] = new Date(v)
      }
      for (const v of Object.values(ctx)) {
        if (v && typeof v === 'object' && !Array.isArray(v)) {
          for (const [k, x] of Object.entries(v)) {
            if (typeof x === 'string' && x.includes('T') && !Number.isNaN(Date.parse(x))) v[k] = new Date(x)
          }
        }
      }
      break
    case 4: // entity references as objects
      for (const f of ['principal', 'resource']) {
        const m = /^(.*)::"(.*)"$/.exec(req[f])
        if (m) req[f] = { type: m[1], id: m[2] }
      }
      break
    case 5: // an odd entity reference or action
      req[['principal', 'resource', 'action'][Math.floor(r() * 3)]] = [
        'Agent::"ci-bot"',
        'Agent::"line\nbreak"',
        'Agent :: "spaced"',
        'Action::"open_pr"',
        'nope',
        '',
        { type: 'Agent', id: 'x"y' },
        42,
      ][Math.floor(r() * 8)]
      break
    case 6: // a nested attribute changed
      for (const v of Object.values(ctx)) {
        if (v && typeof v === 'object' && !Array.isArray(v)) {
          const ks = Object.keys(v)
          if (ks.length) v[ks[Math.floor(r() * ks.length)]] = randomValue(r, 2)
          break
        }
      }
      break
    case 7: // no context at all, or an empty one
      if (r() < 0.5) delete req.context
      else req.context = {}
      break
    default: // an unknown request field
      req.extra = randomValue(r, 1)
  }
  return req
}

test('random variations of the cases decide the same on every path', () => {
  const r = rng(20261126)
  fastCalls = 0
  wireCalls = 0
  const outcomes = new Map()
  const sample = []
  for (let i = 0; i < 3000; i++) {
    const c = cases[Math.floor(r() * cases.length)]
    let req = mutate(c.request, r)
    if (r() < 0.3) req = mutate(req, r)
    const d = agree(req, c.now, `variation ${i} of ${c.name}`)
    if (i % 10 === 0) sample.push({ req })
    const key = d.errors.length ? 'error' : d.outcome
    outcomes.set(key, (outcomes.get(key) || 0) + 1)
  }
  // authorizeBatch (request by request on the binary path) decides the same.
  const batch = engine.authorizeBatch(sample.map((v) => v.req), new Date(cases[0].now))
  const natives = engine.__authorizeBatchNative(sample.map((v) => v.req), new Date(cases[0].now))
  assert.deepEqual(batch.map(strip), natives.map(strip))
  // The variations reach every outcome, and requests the core refuses.
  for (const k of ['allow', 'deny', 'ask', 'error']) assert.ok(outcomes.get(k) > 0, `${k}: ${[...outcomes]}`)
  // Plain data (all of it here but a few numbers beyond the fast path) went the fast ways.
  assert.ok(fastCalls > 2700, `fast path taken ${fastCalls} times of 3000`)
  assert.ok(wireCalls > 2700, `binary path taken ${wireCalls} times of 3000`)
})

test('a getter that decides another request during the check leaves the outer request intact', () => {
  const c = cases.find((k) => k.outcome === 'allow')
  const request = structuredClone(c.request)
  let inner = 0
  Object.defineProperty(request.context, 'note', {
    enumerable: true,
    get() {
      inner++
      return engine.authorizeAt(c.request, c.now).outcome
    },
  })
  agree(request, c.now, 'reentrant getter')
  assert.ok(inner >= 2)
})

test('getters that decide on the binary path during the write leave the outer request intact', () => {
  // The outer request is being written into this engine's buffer when the
  // getter runs: the inner call on the same engine must take another path,
  // and a call on another engine must leave the shared writer state alone.
  const other = agentauthz.Engine.fromDir(exampleDir)
  const c = cases.find((k) => k.outcome === 'allow' && k.request.context && k.request.context.session)
  const now = new Date(c.now)
  const request = structuredClone(c.request)
  const id = request.context.session.id
  const seen = []
  Object.defineProperty(request.context.session, 'id', {
    enumerable: true,
    get() {
      seen.push(engine.authorizeAt(c.request, now).outcome, other.authorizeAt(c.request, now).outcome)
      return id
    },
  })
  const d = agree(request, c.now, 'reentrant getter (binary)')
  assert.equal(d.outcome, 'allow')
  assert.ok(seen.length >= 6 && seen.every((o) => o === 'allow'), `${seen}`)
})

test('the binary entry point decides arbitrary bytes without crashing', () => {
  // __authorizeWire is internal but reachable: random and truncated buffers
  // must give a decision (denied as malformed, or decided), never a crash.
  const r = rng(7)
  const c = cases.find((k) => k.outcome === 'allow')
  const handle = engine.__wireHandle()
  // Anything but an engine's handle throws (a TypeError or the binding's error), never crashes.
  for (const bad of [undefined, null, {}, 1, 'x', Buffer.alloc(8), engine]) {
    assert.throws(() => rawWire.call(engine, bad, Buffer.alloc(8192), 0, 0, NaN), Error, String(bad))
  }
  // The text starts at 6144; its first 2048 bytes are the kept strings'
  // region, whose used length is at bytes 8..12.
  let read = 0
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.alloc(8192 + 256 + Math.floor(r() * 256))
    for (let j = 0; j < buf.length; j++) buf[j] = r() < 0.5 ? Math.floor(r() * 8) : Math.floor(r() * 256)
    // Half the time, text that is valid UTF-8 and a plausible used length
    // for the kept region, so that the values are read too.
    if (r() < 0.5) {
      for (let j = 6144; j < buf.length; j++) buf[j] = 0x61 + Math.floor(r() * 26)
      buf.writeUInt32LE(Math.floor(r() * 96), 8)
    }
    const len = Math.floor(r() * (buf.length + 16))
    const textLen = (r() < 0.9 ? 2048 : 0) + Math.floor(r() * 64)
    const out = rawWire.call(engine, handle, buf, len, textLen, r() < 0.5 ? NaN : Date.parse(c.now))
    if (out === 1) {
      read++
      continue
    }
    const d = JSON.parse(out)
    assert.equal(d.allowed, false)
    if (!d.errors.some((e) => e.message.includes('buffer is malformed'))) read++
  }
  // Not every buffer stops at the checks before the values are read.
  assert.ok(read > 100, `${read} buffers read past the header`)
})

test('the string dictionary of the binary path starts again when full, deciding the same', () => {
  // Short ASCII strings are kept in the engine's buffer across calls; unique
  // 60-character session ids fill it every few dozen calls.
  const c = cases.find((k) => k.outcome === 'allow' && k.now && k.request.context && k.request.context.session)
  const timed = cases.filter((k) => k.now)
  for (let i = 0; i < 400; i++) {
    const req = structuredClone(c.request)
    req.context.session.id = `session-${i}-`.padEnd(60, 'x')
    const other = timed[i % timed.length]
    for (const [r, now] of [
      [req, new Date(c.now)],
      [other.request, new Date(other.now)],
    ]) {
      assert.deepEqual(strip(engine.authorizeAt(r, now)), strip(engine.__authorizeAtNative(r, now)), `call ${i}`)
    }
  }
})
