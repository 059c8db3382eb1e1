// Types of `agentauthz/adapters` (hand-written; adapters.js is plain JavaScript).
// The framework wrappers are typed structurally, so these types need neither
// `ai` nor `@modelcontextprotocol/sdk` installed.

import type { Decision, Engine, EntityRef } from './index'

/** One tool call as a framework reports it. */
export interface ToolCall {
  /** The tool's name. */
  tool: string
  /** Its (parsed) arguments. */
  arguments: Record<string, unknown>
  /** The principal it acts as; null/undefined uses the guard's `principal`. */
  agent?: EntityRef | null
  /** Whatever identifies the session. */
  session?: unknown
  /** The framework's own object for the call (AI SDK execute options, MCP request extra). */
  native?: unknown
}

/** A rule part: a value, or a function of the call. */
export type RulePart<T> = T | ((call: ToolCall) => T)

/**
 * How one tool's calls map to a request. Parts left undefined fall back to the
 * guard's default rule, then to: action = the tool's name, resource =
 * `Tool::"<name>"`, context = the arguments, principal = the call's agent or the
 * guard's principal.
 */
export interface ToolRule {
  action?: RulePart<string>
  resource?: RulePart<EntityRef>
  context?: RulePart<Record<string, unknown>>
  principal?: RulePart<EntityRef>
}

/** The request a call maps to. */
export interface ToolRequest {
  principal: EntityRef
  action: string
  resource: EntityRef
  context: Record<string, unknown>
}

/** What the guard decided for one call, and what happened. */
export declare class Verdict {
  readonly call: ToolCall
  /** null when the request could not be built (a deny; `error` says why). */
  readonly request: ToolRequest | null
  /** The engine's decision; null when the request could not be built. */
  readonly decision: Decision | null
  readonly outcome: 'allow' | 'deny' | 'ask'
  /** true/false once an approver answered an ask; null otherwise. */
  approved: boolean | null
  /** The refusal text when the tool does not run. */
  message: string | null
  /** The engine's allow after an approved ask (the guard hands the approval to
   *  `engine.approve` and decides the call again), or null. */
  approval: Decision | null
  readonly error: string | null
  /** Whether the tool runs: allowed, or asked and approved. */
  get proceed(): boolean
  /** A JSON-ready summary (principal, action, resource as text; no context). */
  toJSON(): {
    tool: string
    principal: string | null
    action: string | null
    resource: string | null
    session: string | number | null
    outcome: 'allow' | 'deny' | 'ask'
    approved: boolean | null
    proceed: boolean
    message: string | null
    error: string | null
    decision: {
      outcome: 'allow' | 'deny' | 'ask'
      reasons: string[]
      askOwner: string | null
      approvalId: string | null
      errors: string[]
      policyVersion: string
    } | null
  }
}

export interface ToolGuardOptions {
  /** Principal for calls that name no agent. */
  principal?: EntityRef | null
  /** Per-tool rules, by tool name. */
  rules?: Record<string, ToolRule>
  /** The rule for parts a tool's rule leaves open. */
  default?: ToolRule
  /** Asked on `ask` (with the verdict: decision.askOwner, decision.approvalId, call); must return/resolve to `true` to run. Without one, an ask is refused. */
  approver?: (verdict: Verdict) => boolean | Promise<boolean>
  /** Who approvals are recorded as (`engine.approve`); default `approver`. */
  approverName?: string
  /** Receives every verdict, after the approver answered (where an audit log plugs in). */
  onDecision?: (verdict: Verdict) => void
  /** The text the model reads when a call does not run. */
  refusal?: (verdict: Verdict) => string
}

/** Authorizes tool calls with an Engine. Fail closed: a rule that throws is a deny. */
export declare class ToolGuard {
  constructor(engine: Engine, options?: ToolGuardOptions)
  readonly engine: Engine
  /** The request a call maps to. */
  request(call: ToolCall): ToolRequest
  /** Map and authorize (no approver, nothing recorded). Never throws. */
  decide(call: ToolCall): Verdict
  /** Record a deny for a call that could not be read at all. */
  refuse(call: ToolCall, error: string): Verdict
  /** Decide, ask the approver on ask, record. */
  check(call: ToolCall): Promise<Verdict>
  /** Run `tool()` if the call may proceed, else resolve to the refusal text. */
  run<T>(call: ToolCall, tool: () => T | Promise<T>): Promise<T | string>
  /** The default refusal text. */
  static refusalText(verdict: Verdict): string
}

/** Where a wrapper takes the principal or session from: a value or a function of the framework's call object. */
export type FromCall<N, T> = T | ((native: N) => T)

export interface GuardToolOptions {
  /** The principal: a value, or a function of the AI SDK's execute options (e.g. of `options.experimental_context`). */
  agent?: FromCall<any, EntityRef | null | undefined>
  /** The session: a value, or a function of the execute options. */
  session?: FromCall<any, unknown>
}

/** The part of an AI SDK tool() definition the wrapper uses. */
export interface ExecutableTool {
  execute?: (input: any, options: any) => unknown
}

/**
 * A copy of a Vercel AI SDK tool() definition whose `execute` is authorized
 * first: allowed runs it; denied (or an ask not approved) resolves to the
 * refusal text, which the model reads as the tool result. Tools without
 * `execute` are returned unchanged.
 */
export declare function guardTool<T extends ExecutableTool>(name: string, tool: T, guard: ToolGuard, options?: GuardToolOptions): T
/** guardTool for every entry of a `tools` record (keys are the tool names). */
export declare function guardTools<T extends Record<string, ExecutableTool>>(tools: T, guard: ToolGuard, options?: GuardToolOptions): T

export interface GuardMcpServerOptions {
  /** The caller's principal: a value, or a function of the request's `extra` (authInfo, sessionId, requestInfo). */
  agent?: FromCall<any, EntityRef | null | undefined>
  /** The session: a value, or a function of `extra`. */
  session?: FromCall<any, unknown>
}

/**
 * Guards an `McpServer` or low-level `Server` of @modelcontextprotocol/sdk 1.x
 * (before or after its tools are registered): tools/call is authorized before
 * the tool's handler runs (a refusal is a result with isError and the refusal
 * text); tools/list leaves out the tools whose decision with empty arguments is
 * deny. Returns the server.
 */
export declare function guardMcpServer<S extends object>(server: S, guard: ToolGuard, options?: GuardMcpServerOptions): S

/** An MCP tool as listed (only these fields are read). */
export interface McpToolLike {
  name: string
  description?: string
  inputSchema?: { properties?: Record<string, unknown> } & Record<string, unknown>
}

export interface CedarSchemaOptions {
  /** Principal entity type(s) (default "Agent"; declare them in the rest of the schema). */
  principal?: string | string[]
  /** Resource entity type (default "Tool"). */
  resource?: string
  /** Declare the resource type (default true). */
  declareResource?: boolean
}

/** A Cedar schema fragment: one action per tool, its input properties as optional typed context attributes. */
export declare function cedarSchemaForTools(tools: Iterable<McpToolLike>, options?: CedarSchemaOptions): string
/** The Cedar type of one JSON-schema property (string→String, integer→Long, boolean→Bool, arrays of those→Set, objects→records), or null. */
export declare function cedarType(prop: unknown, depth?: number): string | null
/** A rule `context` function keeping the arguments cedarSchemaForTools declared for the call's tool. */
export declare function typedArguments(tools: Iterable<McpToolLike>): (call: ToolCall) => Record<string, unknown>
