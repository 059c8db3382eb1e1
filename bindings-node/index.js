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

const nativeAuthorize = Engine.prototype.authorize
const nativeAuthorizeAt = Engine.prototype.authorizeAt

// The native conversion stays reachable for the differential test.
for (const [name, fn] of [
  ['__authorizeNative', nativeAuthorize],
  ['__authorizeAtNative', nativeAuthorizeAt],
]) {
  Object.defineProperty(Engine.prototype, name, { value: fn, writable: false, configurable: false, enumerable: false })
}

Object.defineProperty(Engine.prototype, 'authorize', {
  value: function authorize(request) {
    const text = requestJson(request)
    return text === undefined ? nativeAuthorize.call(this, request) : JSON.parse(this.__authorizeJson(text))
  },
  writable: true,
  configurable: true,
  enumerable: false,
})

Object.defineProperty(Engine.prototype, 'authorizeAt', {
  value: function authorizeAt(request, now) {
    const text = requestJson(request)
    return text === undefined
      ? nativeAuthorizeAt.call(this, request, now)
      : JSON.parse(this.__authorizeAtJson(text, now))
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
