'use strict'

// agentauthz/adapters: put agentauthz in front of every tool call of an agent
// framework. The core (ToolGuard) maps a tool call to a request through
// declarative per-tool rules, decides, asks an approver on `ask` and hands each
// verdict to `onDecision`. The framework wrappers need no framework import:
// guardTools wraps Vercel AI SDK `tool()` definitions (their `execute`),
// guardMcpServer an @modelcontextprotocol/sdk server. Types: adapters.d.ts.

/** Entity reference as `Type::"id"` text (for summaries). */
function entityText(ref) {
  if (ref === null || ref === undefined) return null
  if (typeof ref === 'object') return `${ref.type}::${JSON.stringify(String(ref.id))}`
  return String(ref)
}

function part(spec, arg) {
  return typeof spec === 'function' ? spec(arg) : spec
}

const RULE_KEYS = ['action', 'resource', 'context', 'principal']

function toRule(value, what) {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object') throw new TypeError(`${what}: a tool rule must be an object, got ${typeof value}`)
  const unknown = Object.keys(value).filter((k) => !RULE_KEYS.includes(k))
  if (unknown.length) throw new TypeError(`${what}: unknown rule keys ${unknown.join(', ')} (allowed: ${RULE_KEYS.join(', ')})`)
  return value
}

function over(rule, base) {
  const out = {}
  for (const k of RULE_KEYS) out[k] = rule[k] !== undefined && rule[k] !== null ? rule[k] : base[k]
  return out
}

/** What the guard decided for one tool call, and what happened. */
class Verdict {
  constructor(call, request, decision, outcome, error = null) {
    this.call = call
    this.request = request
    this.decision = decision
    this.outcome = outcome
    this.approved = null
    this.message = null
    this.error = error
    /** The engine's allow after an approved ask (the approval handed to the engine), or null. */
    this.approval = null
  }

  /** Whether the tool runs: allowed, or asked and approved. */
  get proceed() {
    return this.outcome === 'allow' || (this.outcome === 'ask' && this.approved === true)
  }

  /** A JSON-ready summary (without the context). */
  toJSON() {
    const req = this.request || {}
    const session = this.call.session
    return {
      tool: this.call.tool,
      principal: entityText(req.principal),
      action: typeof req.action === 'object' && req.action !== null ? entityText(req.action) : (req.action ?? null),
      resource: entityText(req.resource),
      session: typeof session === 'string' || typeof session === 'number' ? session : null,
      outcome: this.outcome,
      approved: this.approved,
      proceed: this.proceed,
      message: this.message,
      error: this.error,
      decision: this.decision
        ? {
            outcome: this.decision.outcome,
            reasons: this.decision.reasons.map((r) => r.policyId),
            askOwner: this.decision.askOwner ?? null,
            approvalId: this.decision.approvalId ?? null,
            errors: this.decision.errors.map((e) => e.message),
            policyVersion: this.decision.policyVersion,
          }
        : null,
    }
  }
}

/** Authorizes tool calls with an Engine (see adapters.d.ts). */
class ToolGuard {
  constructor(engine, options = {}) {
    if (!engine || typeof engine.authorize !== 'function') {
      throw new TypeError('ToolGuard: the first argument must be an agentauthz Engine')
    }
    const { principal, rules, default: defaultRule, approver, onDecision, refusal, approverName } = options
    this.engine = engine
    this.principal = principal ?? null
    this.defaultRule = toRule(defaultRule, 'ToolGuard default')
    this.rules = new Map()
    for (const [name, rule] of Object.entries(rules || {})) {
      this.rules.set(name, over(toRule(rule, `ToolGuard rule ${name}`), this.defaultRule))
    }
    for (const [name, fn] of [['approver', approver], ['onDecision', onDecision], ['refusal', refusal]]) {
      if (fn !== undefined && fn !== null && typeof fn !== 'function') throw new TypeError(`ToolGuard: ${name} must be a function`)
    }
    this.approver = approver ?? null
    this.approverName = approverName ?? 'approver'
    this.onDecision = onDecision ?? null
    this.refusal = refusal ?? ToolGuard.refusalText
  }

  /** The request a call maps to: principal, action, resource, context. */
  request(call) {
    const rule = this.rules.get(call.tool) || this.defaultRule
    const principal =
      rule.principal !== undefined && rule.principal !== null
        ? part(rule.principal, call)
        : call.agent !== undefined && call.agent !== null
          ? call.agent
          : this.principal
    const action = rule.action !== undefined && rule.action !== null ? part(rule.action, call) : call.tool
    const resource =
      rule.resource !== undefined && rule.resource !== null ? part(rule.resource, call) : { type: 'Tool', id: call.tool }
    const context =
      rule.context !== undefined && rule.context !== null ? part(rule.context, call) : { ...(call.arguments || {}) }
    return { principal, action, resource, context }
  }

  /** Map and authorize a call: no approver, nothing recorded. Never throws. */
  decide(call) {
    let request
    let decision
    try {
      request = this.request(call)
      if (request.principal === null || request.principal === undefined) {
        throw new Error('no principal: the call names no agent and the guard has no principal')
      }
      decision = this.engine.authorize(request)
    } catch (e) {
      // Fail closed: a rule that throws is a deny.
      const verdict = new Verdict(call, null, null, 'deny', `${e && e.name ? e.name : 'Error'}: ${e && e.message ? e.message : e}`)
      verdict.message = this.refusal(verdict)
      return verdict
    }
    const verdict = new Verdict(call, request, decision, decision.outcome)
    if (verdict.outcome === 'deny') verdict.message = this.refusal(verdict)
    return verdict
  }

  /** Record a deny for a call that could not be read at all. */
  refuse(call, error) {
    const verdict = new Verdict(call, null, null, 'deny', error)
    verdict.message = this.refusal(verdict)
    return this._record(verdict)
  }

  _settle(verdict, answer) {
    verdict.approved = answer === undefined ? null : answer === true
    if (verdict.approved === true) this._applyApproval(verdict)
    if (verdict.approved !== true) verdict.message = this.refusal(verdict)
    return verdict
  }

  /** Hand an approved ask to the engine (one use, a short life) and decide it
   *  again, so the engine and its audit log record the approved call; anything
   *  but an allow (e.g. a revocation meanwhile) refuses. */
  _applyApproval(verdict) {
    let again
    try {
      this.engine.approve(verdict.decision.approvalId, this.approverName, { ttlSeconds: 1, uses: 1 })
      again = this.engine.authorize(verdict.request)
    } catch (e) {
      verdict.approved = false
      verdict.error = `the approval could not be applied: ${e && e.message ? e.message : e}`
      return
    }
    verdict.approval = again
    if (again.outcome !== 'allow') {
      verdict.approved = false
      verdict.error = `the engine decided ${again.outcome} after the approval`
    }
  }

  _record(verdict) {
    if (this.onDecision) this.onDecision(verdict)
    return verdict
  }

  /** Decide, ask the approver on `ask` (awaited), record. An approver that throws
   *  counts as not approved (recorded) and the error propagates. */
  async check(call) {
    const verdict = this.decide(call)
    if (verdict.outcome !== 'ask') return this._record(verdict)
    return this._ask(verdict)
  }

  /** The `ask` part of `check`: the approver (awaited), then the record. */
  async _ask(verdict) {
    if (!this.approver) return this._record(this._settle(verdict, undefined))
    let answer
    try {
      answer = await this.approver(verdict)
    } catch (e) {
      this._record(this._settle(verdict, false))
      throw e
    }
    return this._record(this._settle(verdict, answer === true))
  }

  /** Run `tool()` (awaited) if the call may proceed, else resolve to the refusal text. */
  async run(call, tool) {
    const verdict = await this.check(call)
    if (verdict.proceed) return await tool()
    return verdict.message
  }

  /** The default refusal: which tool, why, whom to ask; written for the model. */
  static refusalText(verdict) {
    const name = verdict.call.tool
    const d = verdict.decision
    if (!d) {
      return `Tool call refused: \`${name}\` was not run because its authorization request could not be evaluated (${verdict.error}). Do not retry it.`
    }
    if (verdict.outcome === 'ask') {
      const owner = d.askOwner || 'an owner'
      return verdict.approved === null
        ? `Tool call refused: \`${name}\` needs approval from ${owner}, and none was given.`
        : `Tool call refused: \`${name}\` needs approval from ${owner}, who did not approve it.`
    }
    const parts = d.reasons.map((r) => (r.annotations && r.annotations.owner ? `${r.policyId} (owner: ${r.annotations.owner})` : r.policyId))
    let why = parts.length ? `denied by policy ${parts.join(', ')}` : 'no policy permits it'
    if (d.errors.length) why += `; errors: ${d.errors.map((e) => e.message).join('; ')}`
    return `Tool call refused: \`${name}\` is not allowed here (${why}). Do not retry it; choose another way or stop.`
  }
}

// ---- Vercel AI SDK -------------------------------------------------------

/** A copy of an AI SDK tool whose `execute` is authorized first. */
function guardTool(name, tool, guard, options = {}) {
  if (typeof name !== 'string' || !name) throw new TypeError('guardTool: name must be the tool name (its key in `tools`)')
  if (!tool || typeof tool !== 'object') throw new TypeError(`guardTool(${name}): tool must be a tool() definition`)
  if (!(guard instanceof ToolGuard)) throw new TypeError('guardTool: guard must be a ToolGuard')
  const execute = tool.execute
  if (typeof execute !== 'function') return tool // not executed by the SDK: nothing to guard
  const { agent, session } = options
  return {
    ...tool,
    execute: async (input, execOptions) => {
      const call = {
        tool: name,
        arguments: input && typeof input === 'object' ? input : { input },
        agent: part(agent, execOptions),
        session: part(session, execOptions),
        native: execOptions,
      }
      const verdict = await guard.check(call)
      if (!verdict.proceed) return verdict.message
      return await execute.call(tool, input, execOptions)
    },
  }
}

/** guardTool for every entry of an AI SDK `tools` record (same keys). */
function guardTools(tools, guard, options = {}) {
  if (!tools || typeof tools !== 'object') throw new TypeError('guardTools: tools must be a record of tool() definitions')
  const out = {}
  for (const [name, tool] of Object.entries(tools)) out[name] = guardTool(name, tool, guard, options)
  return out
}

// ---- MCP (@modelcontextprotocol/sdk 1.x) ----------------------------------

const GUARDED = Symbol('agentauthz.guarded')

/** Authorize tools/call and filter tools/list of an MCP server (see adapters.d.ts). */
function guardMcpServer(server, guard, options = {}) {
  if (!(guard instanceof ToolGuard)) throw new TypeError('guardMcpServer: guard must be a ToolGuard')
  // McpServer wraps the low-level Server as `.server`.
  const low = server && server.server && typeof server.server.setRequestHandler === 'function' ? server.server : server
  const handlers = low && low._requestHandlers
  if (!low || typeof low.setRequestHandler !== 'function' || !(handlers instanceof Map)) {
    throw new TypeError(
      'guardMcpServer: expects an McpServer or Server of @modelcontextprotocol/sdk 1.x (its request handler map was not found)',
    )
  }
  const { agent, session } = options
  const callOf = (name, args, extra) => ({
    tool: name,
    arguments: args,
    agent: part(agent, extra),
    session: part(session, extra),
    native: extra,
  })
  const refusal = (text) => ({ content: [{ type: 'text', text }], isError: true })

  const wrapCall = (handler) => {
    // Not an async function: an allowed call goes straight to the handler, with
    // no promise of its own and no await unless an approver must be asked (the
    // SDK runs handlers inside a promise chain, so a thrown error still
    // rejects the request).
    const guarded = (request, extra) => {
      const params = request && request.params
      const name = params && params.name
      const args = params && params.arguments !== undefined && params.arguments !== null ? params.arguments : {}
      let verdict
      if (typeof name !== 'string' || typeof args !== 'object' || Array.isArray(args)) {
        verdict = guard.refuse(callOf(typeof name === 'string' ? name : '', {}, extra), 'malformed tools/call parameters')
      } else {
        verdict = guard.decide(callOf(name, args, extra))
        if (verdict.outcome === 'ask') {
          return guard._ask(verdict).then((v) => (v.proceed ? handler(request, extra) : refusal(v.message)))
        }
        guard._record(verdict)
      }
      if (!verdict.proceed) return refusal(verdict.message)
      return handler(request, extra)
    }
    guarded[GUARDED] = true
    return guarded
  }
  const wrapList = (handler) => {
    const guarded = async (request, extra) => {
      const result = await handler(request, extra)
      if (!result || !Array.isArray(result.tools)) return result
      const tools = result.tools.filter(
        (t) => t && typeof t.name === 'string' && guard.decide(callOf(t.name, {}, extra)).outcome !== 'deny',
      )
      return { ...result, tools }
    }
    guarded[GUARDED] = true
    return guarded
  }
  const wrap = (method, handler) => {
    if (typeof handler !== 'function' || handler[GUARDED]) return handler
    if (method === 'tools/call') return wrapCall(handler)
    if (method === 'tools/list') return wrapList(handler)
    return handler
  }
  for (const method of ['tools/call', 'tools/list']) {
    if (handlers.has(method)) Map.prototype.set.call(handlers, method, wrap(method, handlers.get(method)))
  }
  // Handlers set later (McpServer sets them at the first registerTool) are wrapped too.
  if (!handlers[GUARDED]) {
    handlers.set = function (method, handler) {
      return Map.prototype.set.call(this, method, wrap(method, handler))
    }
    handlers[GUARDED] = true
  }
  return server
}

// ---- Cedar schema fragments from MCP tool lists --------------------------

const SCALARS = { string: 'String', integer: 'Long', boolean: 'Bool' }
const MAX_DEPTH = 8

function jsonType(prop) {
  const ty = prop.type
  if (Array.isArray(ty)) {
    const rest = ty.filter((x) => x !== 'null')
    return rest.length === 1 && typeof rest[0] === 'string' ? rest[0] : null
  }
  return typeof ty === 'string' ? ty : null
}

function nonNullBranch(prop) {
  for (const key of ['anyOf', 'oneOf']) {
    if (Array.isArray(prop[key])) {
      const rest = prop[key].filter((b) => !(b && typeof b === 'object' && b.type === 'null'))
      return { found: true, branch: rest.length === 1 ? rest[0] : null }
    }
  }
  return { found: false, branch: null }
}

/** The Cedar type of a JSON-schema property, or null. */
function cedarType(prop, depth = 0) {
  if (!prop || typeof prop !== 'object' || Array.isArray(prop) || depth > MAX_DEPTH) return null
  const { found, branch } = nonNullBranch(prop)
  if (found) return branch ? cedarType(branch, depth) : null
  const ty = jsonType(prop)
  if (ty && SCALARS[ty]) return SCALARS[ty]
  if (ty === 'array') {
    const inner = prop.items && typeof prop.items === 'object' ? SCALARS[jsonType(prop.items)] : undefined
    return inner ? `Set<${inner}>` : null
  }
  if (ty === 'object' && prop.properties && typeof prop.properties === 'object') return record(prop.properties, depth + 1)
  return null
}

function record(props, depth) {
  const attrs = []
  for (const [name, sub] of Object.entries(props)) {
    const ty = cedarType(sub, depth)
    if (ty) attrs.push(`${JSON.stringify(name)}?: ${ty}`)
  }
  return `{${attrs.join(', ')}}`
}

function inputSchemaOf(tool) {
  const s = tool && (tool.inputSchema ?? tool.input_schema)
  return s && typeof s === 'object' ? s : {}
}

/** A Cedar schema fragment: one action per MCP tool, its input properties as optional typed context. */
function cedarSchemaForTools(tools, options = {}) {
  const { principal = 'Agent', resource = 'Tool', declareResource = true } = options
  const principals = Array.isArray(principal) ? principal : [principal]
  const lines = declareResource ? [`entity ${resource};`] : []
  const seen = new Set()
  for (const tool of tools) {
    const name = tool && tool.name
    if (typeof name !== 'string' || !name) throw new Error(`an MCP tool without a name: ${JSON.stringify(tool)}`)
    if (seen.has(name)) throw new Error(`duplicate MCP tool name: ${JSON.stringify(name)}`)
    seen.add(name)
    if (typeof tool.description === 'string' && tool.description.trim()) {
      lines.push(`// ${tool.description.split(/\s+/).filter(Boolean).join(' ')}`)
    }
    const props = inputSchemaOf(tool).properties
    const context = props && typeof props === 'object' ? record(props, 1) : '{}'
    lines.push(
      `action ${JSON.stringify(name)} appliesTo { principal: [${principals.join(', ')}], resource: [${resource}], context: ${context} };`,
    )
  }
  return lines.join('\n') + '\n'
}

function propertiesOf(prop) {
  const { branch } = nonNullBranch(prop)
  const p = (branch && branch.properties) || prop.properties
  return p && typeof p === 'object' ? p : {}
}

function compile(props, depth) {
  const out = new Map()
  for (const [name, prop] of Object.entries(props)) {
    const ty = cedarType(prop, depth)
    if (ty) out.set(name, ty.startsWith('{') ? compile(propertiesOf(prop), depth + 1) : null)
  }
  return out
}

function filterArgs(args, compiled) {
  const out = {}
  if (!args || typeof args !== 'object') return out
  for (const [name, value] of Object.entries(args)) {
    if (value === null || value === undefined || !compiled.has(name)) continue
    const nested = compiled.get(name)
    out[name] = nested && typeof value === 'object' && !Array.isArray(value) ? filterArgs(value, nested) : value
  }
  return out
}

/** A rule `context` function: the call's arguments that cedarSchemaForTools declared. */
function typedArguments(tools) {
  const compiled = new Map()
  for (const tool of tools) {
    const props = inputSchemaOf(tool).properties
    compiled.set(tool.name, props && typeof props === 'object' ? compile(props, 1) : new Map())
  }
  const empty = new Map()
  return (call) => filterArgs(call.arguments, compiled.get(call.tool) || empty)
}

module.exports = {
  ToolGuard,
  Verdict,
  guardTool,
  guardTools,
  guardMcpServer,
  cedarSchemaForTools,
  cedarType,
  typedArguments,
}
