'use strict'

// agentauthz for Node: the native engine (src/*.rs, built into agentauthz.node
// by `npm install`), the error classes and the `guard` wrapper.

function loadNative() {
  try {
    return require('./agentauthz.node')
  } catch (e) {
    const err = new Error(
      `agentauthz: cannot load the native module ${__dirname}/agentauthz.node (${e.message}). ` +
        `It is built from source by \`npm install\` in ${__dirname}, which needs a Rust toolchain (cargo).`,
    )
    err.code = 'MODULE_NOT_BUILT'
    err.cause = e
    throw err
  }
}

const native = loadNative()

/** Base class of every error this package throws. */
class AgentAuthzError extends Error {
  constructor(message, code, details) {
    super(message)
    this.name = new.target.name
    this.code = code
    if (details) Object.assign(this, details)
  }
}

/** The schema does not parse or is not well-formed. */
class SchemaError extends AgentAuthzError {
  constructor(message, details) {
    super(message, 'SCHEMA_ERROR', details)
  }
}

/** A policy, the policy folder or its entities could not be loaded. */
class PolicyError extends AgentAuthzError {
  constructor(message, details) {
    super(message, 'POLICY_ERROR', details)
  }
}

/** An argument has the wrong type or shape. */
class RequestError extends AgentAuthzError {
  constructor(message, details) {
    super(message, 'REQUEST_ERROR', details)
  }
}

/** A test-cases file could not be read. */
class CasesError extends AgentAuthzError {
  constructor(message, details) {
    super(message, 'CASES_ERROR', details)
  }
}

/** `approve` was given an approval id this engine never issued (or forgot). */
class ApprovalError extends AgentAuthzError {
  constructor(message, details) {
    super(message, 'APPROVAL_ERROR', details)
  }
}

/** A revocations file could not be read or written. */
class FileError extends AgentAuthzError {
  constructor(message, details) {
    super(message, 'FILE_ERROR', details)
  }
}

function entityText(ref) {
  if (ref && typeof ref === 'object') return `${ref.type}::${JSON.stringify(String(ref.id))}`
  return String(ref)
}

function describe(request) {
  const action = request.action && typeof request.action === 'object' ? entityText(request.action) : request.action
  return `${entityText(request.principal)} -> ${action} on ${entityText(request.resource)}`
}

function because(decision) {
  const parts = []
  if (decision.reasons.length) parts.push(`policies: ${decision.reasons.map((r) => r.policyId).join(', ')}`)
  else if (!decision.errors.length) parts.push('no policy permits it')
  if (decision.errors.length) parts.push(`errors: ${decision.errors.map((e) => e.message).join('; ')}`)
  return parts.length ? ` (${parts.join('; ')})` : ''
}

/** Thrown by a guarded tool when the decision is `deny`; the tool did not run. */
class DeniedError extends AgentAuthzError {
  constructor(decision, request) {
    super(`denied: ${describe(request)}${because(decision)}`, 'DENIED')
    this.decision = decision
    this.request = request
  }
}

/** Thrown by a guarded tool when the decision is `ask`; the tool did not run. */
class ApprovalRequiredError extends AgentAuthzError {
  constructor(decision, request) {
    super(
      `approval required from ${decision.askOwners.join(', ')}: ${describe(request)}${because(decision)}`,
      'APPROVAL_REQUIRED',
    )
    this.decision = decision
    this.request = request
    this.askOwner = decision.askOwner
    this.askOwners = decision.askOwners
  }
}

native.__registerErrorClasses({
  SCHEMA_ERROR: SchemaError,
  POLICY_ERROR: PolicyError,
  REQUEST_ERROR: RequestError,
  CASES_ERROR: CasesError,
  APPROVAL_ERROR: ApprovalError,
  FILE_ERROR: FileError,
})

const { Engine, loadCases, auditVerify } = native

function isEntityRef(v) {
  return typeof v === 'string' || (v !== null && typeof v === 'object')
}

function resolve(part, args) {
  return typeof part === 'function' ? part(...args) : part
}

/**
 * Wraps `tool` so that every call is authorized first (see index.d.ts).
 * @this {Engine}
 */
function guard(spec, tool) {
  if (spec === null || typeof spec !== 'object') {
    throw new RequestError(`guard: spec must be an object {action, principal, resource, context?}, got ${typeof spec}`)
  }
  if (typeof spec.action !== 'string' || spec.action === '') {
    throw new RequestError('guard: spec.action must be an action name such as "call_api"')
  }
  for (const field of ['principal', 'resource']) {
    const v = spec[field]
    if (!(typeof v === 'function' || isEntityRef(v))) {
      throw new RequestError(
        `guard: spec.${field} must be an entity reference ('Type::"id"' or {type, id}) or a function of the tool's arguments`,
      )
    }
  }
  const ctx = spec.context
  if (!(ctx === undefined || ctx === null || typeof ctx === 'function' || typeof ctx === 'object')) {
    throw new RequestError("guard: spec.context must be an object or a function of the tool's arguments")
  }
  if (typeof tool !== 'function') {
    throw new RequestError(`guard: tool must be a function, got ${typeof tool}`)
  }
  const engine = this
  const { action, principal, resource, context } = spec
  const check = (args) => {
    const request = {
      principal: resolve(principal, args),
      action,
      resource: resolve(resource, args),
      context: resolve(context, args),
    }
    const decision = engine.authorize(request)
    if (decision.outcome === 'allow') return
    if (decision.outcome === 'ask') throw new ApprovalRequiredError(decision, request)
    throw new DeniedError(decision, request)
  }
  let guarded
  if (Object.prototype.toString.call(tool) === '[object AsyncFunction]') {
    guarded = async function (...args) {
      check(args)
      return await tool.apply(this, args)
    }
  } else {
    guarded = function (...args) {
      check(args)
      return tool.apply(this, args)
    }
  }
  Object.defineProperty(guarded, 'name', { value: `guarded ${tool.name || 'tool'}` })
  return guarded
}

// The JSON fast path of `authorize` / `authorizeAt`. Reading a request
// through N-API costs a native call per property and creating the decision
// one per field; instead, a request that is plain data (plain objects and
// arrays, strings, safe integers, booleans, Dates from 1970 to 9999) within
// the limits is written by `JSON.stringify`, decided natively, and the
// decision comes back as JSON for `JSON.parse`. (A getter in such data runs
// twice: once for the check, once for JSON.stringify.) Anything else (null, undefined in an
// array, BigInt, floats, functions, class instances, objects with toJSON,
// lone surrogates, cycles, data near the depth or size limit) takes the
// native conversion, which accepts or refuses it with the same rules and
// messages as before. The two paths decide identically (test/fast-path.test.mjs).
const [MAX_DEPTH, MAX_BYTES] = native.__requestLimits()
const MAX_ISO_MS = 253402300799999 // 9999-12-31T23:59:59.999Z: later years print with a sign
const OBJECT_PROTO = Object.prototype
const DATE_PROTO = Date.prototype
const DATE_TO_JSON = Date.prototype.toJSON
let budget = 0

/**
 * Whether `v` is plain data that `JSON.stringify` writes exactly as the
 * native conversion reads it; false sends the request the native way.
 */
function plain(v, depth) {
  switch (typeof v) {
    case 'string':
      // At most 3 UTF-8 bytes per UTF-16 unit: an upper bound of the native count.
      budget -= 3 * v.length + 8
      return budget >= 0 && v.isWellFormed()
    case 'number':
      budget -= 8
      return Number.isSafeInteger(v)
    case 'boolean':
      budget -= 8
      return true
    case 'object': {
      if (v === null || depth >= MAX_DEPTH) return false
      budget -= 8
      if (Array.isArray(v)) {
        const n = v.length
        budget -= 8 * n
        if (budget < 0) return false
        for (let i = 0; i < n; i++) {
          const item = v[i]
          if (item === undefined || !plain(item, depth + 1)) return false
        }
        return true
      }
      const proto = Object.getPrototypeOf(v)
      if (proto === DATE_PROTO) {
        const t = v.toJSON === DATE_TO_JSON ? v.getTime() : NaN
        return t >= 0 && t <= MAX_ISO_MS
      }
      if ((proto !== OBJECT_PROTO && proto !== null) || v.toJSON !== undefined) return false
      for (const key in v) {
        const item = v[key]
        if (item === undefined) continue
        budget -= 3 * key.length
        if (!key.isWellFormed() || !plain(item, depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

function requestJson(request) {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) return undefined
  // Saved and restored: a getter in the request may itself call authorize.
  const outer = budget
  budget = MAX_BYTES
  try {
    return plain(request, 0) ? JSON.stringify(request) : undefined
  } finally {
    budget = outer
  }
}

// The binary fast path (src/wire.rs gives the format). The same plain data
// as the JSON path above, in the same order and with the same checks, is
// written into a buffer the engine keeps for this purpose; one native call
// decides it and, for a common decision, writes back the outcome, `evalUs` and
// numbers into a table of the engine's policies held here, from which the
// decision object is built without parsing text. The decision is the object
// JSON.parse would have made of the JSON path's text. Reentrant calls (a
// getter in a request that calls authorize on the same engine), requests that
// do not fit the buffer and `now` values other than numbers and Dates take
// the paths above.
const WIRE_BYTES = 16384
// Bytes 8..12: the used length of the kept strings (the dictionary below).
const WIRE_AT = 12
const WIRE_TEXT_AT = 6144
// The first part of the text region keeps short ASCII strings across calls
// (keys, entity references, action names repeat from call to call): a string
// found there is referred to, not copied again. Per-call text follows it.
const WIRE_DICT_BYTES = 2048
const WIRE_DICT_STRING = 64
const OUTCOMES = ['allow', 'deny', 'ask']
const WIRE = Symbol('agentauthz.wire')
let wbuf = null
let wview = null
let wpos = 0
let wtext = 0
let wroom = false
let wstate = null

class WireState {
  constructor(engine) {
    // The engine and its policy table for the native entry point.
    this.handle = engine.__wireHandle()
    this.buf = Buffer.alloc(WIRE_BYTES)
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)
    this.generation = 0
    this.version = ''
    this.reasons = []
    this.stale = true
    this.busy = false
    // string -> its offset in the dictionary part of the text region
    this.dict = new Map()
    this.dictUsed = 0
  }

  refresh(engine) {
    const table = JSON.parse(engine.__reasonTable())
    this.generation = table.generation
    this.version = table.version
    this.reasons = table.reasons
    this.stale = false
  }
}

function wireState(engine) {
  let state = engine[WIRE]
  if (state === undefined) {
    state = new WireState(engine)
    Object.defineProperty(engine, WIRE, { value: state, writable: false, configurable: false, enumerable: false })
  }
  return state
}

/**
 * A string: its UTF-8 text at wtext, its offset and length at wpos; false
 * when it is not well formed or does not fit.
 */
function wireString(s) {
  const n = s.length
  if (wpos + 8 > WIRE_TEXT_AT) {
    wroom = true
    return false
  }
  const known = wstate.dict.get(s)
  if (known !== undefined) {
    // ASCII (only such strings are kept): its byte length is its length.
    wview.setUint32(wpos, known, true)
    wview.setUint32(wpos + 4, n, true)
    wpos += 8
    return true
  }
  if (wtext + 3 * n > wbuf.length) {
    wroom = true
    return false
  }
  const start = wtext
  let ascii = true
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) {
      if (!s.isWellFormed()) return false
      wtext = start + wbuf.write(s, start, 'utf8')
      ascii = false
      break
    }
    wbuf[wtext++] = c
  }
  let offset = start - WIRE_TEXT_AT
  const length = wtext - start
  if (ascii && n <= WIRE_DICT_STRING && wstate.dictUsed + n <= WIRE_DICT_BYTES) {
    // Kept for the next calls: copied into the dictionary (which only grows
    // during a call, so earlier references in this request stay valid).
    const at = wstate.dictUsed
    wbuf.copyWithin(WIRE_TEXT_AT + at, start, start + n)
    wstate.dictUsed = at + n
    wstate.dict.set(s, at)
    wtext = start
    offset = at
  }
  wview.setUint32(wpos, offset, true)
  wview.setUint32(wpos + 4, length, true)
  wpos += 8
  return true
}

/** `plain` (above), writing the value at wpos as it checks it. */
function wire(v, depth) {
  if (wpos + 9 > WIRE_TEXT_AT) {
    wroom = true
    return false
  }
  switch (typeof v) {
    case 'string':
      budget -= 3 * v.length + 8
      if (budget < 0) return false
      wbuf[wpos++] = 4
      return wireString(v)
    case 'number':
      budget -= 8
      if (!Number.isSafeInteger(v)) return false
      wbuf[wpos] = 3
      wview.setFloat64(wpos + 1, v, true)
      wpos += 9
      return true
    case 'boolean':
      budget -= 8
      wbuf[wpos++] = v ? 2 : 1
      return true
    case 'object': {
      if (v === null || depth >= MAX_DEPTH) return false
      budget -= 8
      const at = wpos
      if (Array.isArray(v)) {
        const n = v.length
        budget -= 8 * n
        if (budget < 0) return false
        wbuf[at] = 5
        wpos += 9
        for (let i = 0; i < n; i++) {
          const item = v[i]
          if (item === undefined || !wire(item, depth + 1)) return false
        }
        wview.setUint32(at + 1, n, true)
        wview.setUint32(at + 5, wpos - at - 9, true)
        return true
      }
      const proto = Object.getPrototypeOf(v)
      if (proto === DATE_PROTO) {
        const t = v.toJSON === DATE_TO_JSON ? v.getTime() : NaN
        if (!(t >= 0 && t <= MAX_ISO_MS)) return false
        // As JSON.stringify writes a Date (toJSON: toISOString), outside the budget as in `plain`.
        const text = v.toISOString()
        const outer = budget
        wbuf[wpos++] = 4
        const ok = wireString(text)
        budget = outer
        return ok
      }
      if ((proto !== OBJECT_PROTO && proto !== null) || v.toJSON !== undefined) return false
      wbuf[at] = 6
      wpos += 9
      let n = 0
      for (const key in v) {
        const item = v[key]
        if (item === undefined) continue
        budget -= 3 * key.length
        n++
        if (!wireString(key) || !wire(item, depth + 1)) return false
      }
      wview.setUint32(at + 1, n, true)
      wview.setUint32(at + 5, wpos - at - 9, true)
      return true
    }
    default:
      return false
  }
}

/** The decision __authorizeWire wrote into the state's buffer. */
function wireDecision(state) {
  const view = state.view
  const buf = state.buf
  const table = state.reasons
  const outcome = view.getUint32(0, true)
  const n = view.getUint32(4, true)
  const evalUs = view.getFloat64(8, true)
  const reasons = []
  let at = 16
  for (let i = 0; i < n; i++) {
    const index = view.getUint32(at, true)
    at += 4
    if (index !== 0xffffffff) {
      const r = table[index]
      reasons.push({ policyId: r.policyId, effect: r.effect, annotations: { ...r.annotations } })
      continue
    }
    // A reason outside the table (an engine guard's), inline.
    let len = view.getUint32(at, true)
    const policyId = buf.toString('utf8', at + 4, at + 4 + len)
    at += 4 + len
    const effect = view.getUint32(at, true) === 1 ? 'forbid' : 'permit'
    const count = view.getUint32(at + 4, true)
    at += 8
    const annotations = {}
    for (let j = 0; j < count; j++) {
      len = view.getUint32(at, true)
      const key = buf.toString('utf8', at + 4, at + 4 + len)
      at += 4 + len
      len = view.getUint32(at, true)
      annotations[key] = buf.toString('utf8', at + 4, at + 4 + len)
      at += 4 + len
    }
    reasons.push({ policyId, effect, annotations })
  }
  let approvalId = null
  const idLength = view.getUint32(at, true)
  at += 4
  if (idLength !== 0xffffffff) {
    approvalId = buf.toString('utf8', at, at + idLength)
    at += idLength
  }
  const owners = view.getUint32(at, true)
  at += 4
  const askOwners = []
  for (let i = 0; i < owners; i++) {
    const len = view.getUint32(at, true)
    at += 4
    askOwners.push(buf.toString('utf8', at, at + len))
    at += len
  }
  return {
    outcome: OUTCOMES[outcome],
    allowed: outcome === 0,
    reasons,
    errors: [],
    askOwner: askOwners.length > 0 ? askOwners[0] : null,
    askOwners,
    approvalId,
    policyVersion: state.version,
    evalUs,
    shadow: null,
  }
}

/**
 * Decides `request` through the binary path; undefined when the request is
 * not plain data or does not fit (the caller then takes the other paths).
 */
function authorizeWire(engine, request, nowMs) {
  const state = wireState(engine)
  if (state.busy) return null
  if (state.stale) state.refresh(engine)
  state.busy = true
  // Saved and restored: a getter in the request may call authorize on another engine.
  const outerBudget = budget
  const outerBuf = wbuf
  const outerView = wview
  const outerPos = wpos
  const outerText = wtext
  const outerRoom = wroom
  const outerState = wstate
  try {
    wbuf = state.buf
    wview = state.view
    wstate = state
    wpos = WIRE_AT
    wtext = WIRE_TEXT_AT + WIRE_DICT_BYTES
    wroom = false
    if (state.dictUsed + WIRE_DICT_STRING > WIRE_DICT_BYTES) {
      // Full: start again (never during a call, whose references it holds).
      state.dict.clear()
      state.dictUsed = 0
    }
    budget = MAX_BYTES
    if (!wire(request, 0)) return wroom ? null : undefined
    // The header: the table generation held here (a decision overwrites it)
    // and how much of the dictionary is in use (the native side reads no more).
    wview.setUint32(0, state.generation, true)
    wview.setUint32(8, state.dictUsed, true)
    const result = engine.__authorizeWire(state.handle, state.buf, wpos - WIRE_AT, wtext - WIRE_TEXT_AT, nowMs)
    if (result === 1) return wireDecision(state)
    if (state.view.getUint32(4, true) !== state.generation) state.stale = true
    return JSON.parse(result)
  } finally {
    budget = outerBudget
    wbuf = outerBuf
    wview = outerView
    wpos = outerPos
    wtext = outerText
    wroom = outerRoom
    wstate = outerState
    state.busy = false
  }
}

/** `now` as epoch milliseconds for the binary path; undefined for the other paths. */
function nowMillis(now) {
  if (typeof now === 'number') return Number.isFinite(now) ? now : undefined
  if (now !== null && typeof now === 'object' && Object.getPrototypeOf(now) === DATE_PROTO) {
    const t = now.getTime()
    return Number.isFinite(t) ? t : undefined
  }
  return undefined
}

const nativeAuthorize = Engine.prototype.authorize
const nativeAuthorizeAt = Engine.prototype.authorizeAt
const nativeAuthorizeBatch = Engine.prototype.authorizeBatch

// The binary entry point, a free native function (cheaper to call than a
// method: see Engine::wire_handle), as a method that the tests can wrap.
Object.defineProperty(Engine.prototype, '__authorizeWire', {
  value: native.__authorizeWire,
  writable: true,
  configurable: false,
  enumerable: false,
})

// The native conversion and the JSON path stay reachable for the differential tests.
for (const [name, fn] of [
  ['__authorizeNative', nativeAuthorize],
  ['__authorizeAtNative', nativeAuthorizeAt],
  ['__authorizeBatchNative', nativeAuthorizeBatch],
  [
    '__authorizeText',
    function (request) {
      const text = requestJson(request)
      return text === undefined ? nativeAuthorize.call(this, request) : JSON.parse(this.__authorizeJson(text))
    },
  ],
  [
    '__authorizeAtText',
    function (request, now) {
      const text = requestJson(request)
      return text === undefined
        ? nativeAuthorizeAt.call(this, request, now)
        : JSON.parse(this.__authorizeAtJson(text, now))
    },
  ],
]) {
  Object.defineProperty(Engine.prototype, name, { value: fn, writable: false, configurable: false, enumerable: false })
}

function isRequestObject(request) {
  return request !== null && typeof request === 'object' && !Array.isArray(request)
}

Object.defineProperty(Engine.prototype, 'authorize', {
  value: function authorize(request) {
    if (isRequestObject(request)) {
      const d = authorizeWire(this, request, NaN)
      if (d === undefined) return nativeAuthorize.call(this, request)
      if (d !== null) return d
    }
    return this.__authorizeText(request)
  },
  writable: true,
  configurable: true,
  enumerable: false,
})

Object.defineProperty(Engine.prototype, 'authorizeAt', {
  value: function authorizeAt(request, now) {
    const ms = nowMillis(now)
    if (ms !== undefined && isRequestObject(request)) {
      const d = authorizeWire(this, request, ms)
      if (d === undefined) return nativeAuthorizeAt.call(this, request, now)
      if (d !== null) return d
    }
    return this.__authorizeAtText(request, now)
  },
  writable: true,
  configurable: true,
  enumerable: false,
})

// A batch of plain-data requests takes the binary path request by request
// (the native batch converts each request value by value); the same
// decisions, each at the engine's clock or at `now`.
Object.defineProperty(Engine.prototype, 'authorizeBatch', {
  value: function authorizeBatch(requests, now) {
    const ms = now === undefined ? NaN : nowMillis(now)
    if (!Array.isArray(requests) || ms === undefined) return nativeAuthorizeBatch.call(this, requests, now)
    const out = []
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]
      let d = isRequestObject(request) ? authorizeWire(this, request, ms) : undefined
      if (d === undefined) d = nativeAuthorizeBatch.call(this, [request], now)[0]
      else if (d === null) d = now === undefined ? this.__authorizeText(request) : this.__authorizeAtText(request, now)
      out.push(d)
    }
    return out
  },
  writable: true,
  configurable: true,
  enumerable: false,
})

Object.defineProperty(Engine.prototype, 'guard', {
  value: guard,
  writable: true,
  configurable: true,
  enumerable: false,
})

module.exports = {
  Engine,
  loadCases,
  auditVerify,
  AgentAuthzError,
  SchemaError,
  PolicyError,
  RequestError,
  CasesError,
  ApprovalError,
  FileError,
  DeniedError,
  ApprovalRequiredError,
}
