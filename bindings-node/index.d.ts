/* Types of the agentauthz Node binding.
 * index.d.ts is generated: this header (src/header.d.ts) followed by the types
 * napi-rs derives from src/*.rs. Edit those, then run `npm run build:dts`;
 * `npm test` fails if index.d.ts has drifted from them. */

/** `allow`, `deny`, or `ask` (a human owner must approve first). */
export type Outcome = 'allow' | 'deny' | 'ask'

/** How policy evaluation errors affect outcomes (default `fail-closed`). */
export type ErrorMode = 'fail-closed' | 'strict' | 'cedar'

/** An entity reference: `'Type::"id"'` or `{ type, id }`. */
export type EntityRef = string | { type: string; id: string }

/**
 * A Cedar context value. Numbers must be safe integers (Cedar has no floats),
 * `bigint`s must fit in 64 bits, `Date`s become RFC 3339 `datetime` strings,
 * and properties whose value is `undefined` are omitted.
 */
export type ContextValue =
  | string
  | number
  | bigint
  | boolean
  | Date
  | EntityRef
  | ContextValue[]
  | { [key: string]: ContextValue | undefined }

/** A request: may `principal` do `action` to `resource`, in `context`? */
export interface AuthorizeRequest {
  principal: EntityRef
  /** A bare action name (`open_pr`) or a full uid (`Action::"open_pr"`). */
  action: string | { type: string; id: string }
  resource: EntityRef
  /** `context.now` is supplied by the engine's clock, never by the request. */
  context?: { [key: string]: ContextValue | undefined } | null
}

/** Options of `new Engine(options)`. */
export interface EngineOptions {
  /** Cedar schema text. */
  schema: string
  /** Cedar policy text, or several texts. */
  policies: string | string[]
  /** Cedar entity JSON: text, or the array itself. */
  entities?: string | unknown[] | null
  errorMode?: ErrorMode
}

/** Options of `Engine.fromDir(dir, options)`. */
export interface LoadOptions {
  errorMode?: ErrorMode
}

export type ErrorCode =
  | 'POLICY_ERROR'
  | 'SCHEMA_ERROR'
  | 'REQUEST_ERROR'
  | 'CASES_ERROR'
  | 'DENIED'
  | 'APPROVAL_REQUIRED'

/** Base class of every error this package throws. */
export declare class AgentAuthzError extends Error {
  readonly code: ErrorCode
}

/** The schema does not parse or is not well-formed. */
export declare class SchemaError extends AgentAuthzError {
  readonly code: 'SCHEMA_ERROR'
  readonly kind: 'schema'
  readonly file?: string
  readonly line?: number
}

/** A policy, the policy folder or its entities could not be loaded. */
export declare class PolicyError extends AgentAuthzError {
  readonly code: 'POLICY_ERROR'
  readonly kind:
    | 'syntax'
    | 'validation'
    | 'duplicate-id'
    | 'unsupported'
    | 'entities'
    | 'io'
    | 'folder'
    | 'load'
  /** The file (or `<policies>` for text), when known. */
  readonly file?: string
  /** 1-based line, when known. */
  readonly line?: number
  readonly policyId?: string
  /** For `validation`: every problem found. */
  readonly issues?: PolicyIssue[]
}

/** An argument has the wrong type or shape. */
export declare class RequestError extends AgentAuthzError {
  readonly code: 'REQUEST_ERROR'
}

/** A test-cases file could not be read. */
export declare class CasesError extends AgentAuthzError {
  readonly code: 'CASES_ERROR'
  readonly kind: 'io' | 'invalid'
  readonly file?: string
}

/** Thrown by a guarded tool when the decision is `deny`; the tool did not run. */
export declare class DeniedError extends AgentAuthzError {
  readonly code: 'DENIED'
  readonly decision: Decision
  readonly request: AuthorizeRequest
}

/** Thrown by a guarded tool when the decision is `ask`; the tool did not run. */
export declare class ApprovalRequiredError extends AgentAuthzError {
  readonly code: 'APPROVAL_REQUIRED'
  readonly decision: Decision
  readonly request: AuthorizeRequest
  /** The first owner whose approval is needed. */
  readonly askOwner: string
  /** Every owner whose approval is needed. */
  readonly askOwners: string[]
}

/** How `engine.guard` builds a request from a tool's arguments. */
export interface GuardSpec<A extends unknown[]> {
  /** The action (a bare name such as `call_api`, or `Action::"call_api"`). */
  action: string
  /** The principal, or a function of the tool's arguments returning it. */
  principal: EntityRef | ((...args: A) => EntityRef)
  /** The resource, or a function of the tool's arguments returning it. */
  resource: EntityRef | ((...args: A) => EntityRef)
  /** The context, or a function of the tool's arguments returning it. */
  context?: AuthorizeRequest['context'] | ((...args: A) => AuthorizeRequest['context'])
}

export interface Engine {
  /**
   * Wraps `tool` so that every call is authorized first, with a request built
   * from the call's arguments. On `deny` the wrapper throws `DeniedError`, on
   * `ask` `ApprovalRequiredError`, in both cases before the tool runs; on
   * `allow` it returns what the tool returns. An `async` tool gets an `async`
   * wrapper, which rejects instead of throwing.
   */
  guard<A extends unknown[], R>(spec: GuardSpec<A>, tool: (...args: A) => R): (...args: A) => R
}

/** A loaded, validated policy set that decides requests (see the package README). */
export declare class Engine {
  /**
   * Builds an engine from a schema, policies and optional entities given as
   * text. Throws `SchemaError` / `PolicyError` (naming the file and line)
   * when they do not load, `RequestError` when an option has the wrong type.
   */
  constructor(options: EngineOptions)
  /**
   * Loads a policy folder: one `*.cedarschema`, `*.cedar` files (in sorted
   * order) and an optional `entities.json`.
   */
  static fromDir(dir: string, options?: LoadOptions): Engine
  /** The version (content hash) of the loaded policy set. */
  get policyVersion(): string
  /** The number of loaded policies. */
  get policyCount(): number
  /** How policy evaluation errors affect outcomes. */
  get errorMode(): ErrorMode
  /** Every loaded policy's id, file, effect and annotations, sorted by id. */
  policies(): Array<PolicyInfo>
  /**
   * Decides a request now. Never throws for a bad request: it is denied,
   * with the problem in `errors`.
   */
  authorize(request: AuthorizeRequest): Decision
  /**
   * Decides a request as if the clock read `now` (a `Date`, epoch
   * milliseconds or an RFC 3339 string): for replays and tests.
   */
  authorizeAt(request: AuthorizeRequest, now: Date | number | string): Decision
  /**
   * Decides many requests in one call; the decisions are in request order.
   * With `now`, every request is decided as if the clock read `now` (as
   * `authorizeAt`).
   */
  authorizeBatch(requests: AuthorizeRequest[], now?: Date | number | string): Array<Decision>
  /**
   * Decides a request on the libuv thread pool, off the JavaScript thread.
   * The request is converted before the call returns, so later changes to
   * the object do not affect the decision.
   */
  authorizeAsync(request: AuthorizeRequest): Promise<Decision>
}

/** One test case of a cases file (`cases.toml`). */
export interface Case {
  /** What the case checks, in words. */
  name: string
  /** The request, ready for `authorize` / `authorizeAt`. */
  request: AuthorizeRequest
  /** The clock reading for the case (RFC 3339), if set. */
  now: string | null
  /** The expected outcome. */
  outcome: Outcome
  /** The expected determining policy ids (a set), if given. */
  reasons: Array<string> | null
}

/** The engine's answer to one request. */
export interface Decision {
  /** `allow`, `deny` or `ask` (a human named in `askOwners` must approve). */
  outcome: Outcome
  /** True only when `outcome` is `allow`. */
  allowed: boolean
  /**
   * The determining policies: satisfied permits for allow, satisfied forbids
   * for deny and ask; empty when denied because no permit applied.
   */
  reasons: Array<Reason>
  /** Errors met while deciding (policy evaluation errors, request errors). */
  errors: Array<DecisionError>
  /** For ask: the first owner to ask; otherwise `null`. */
  askOwner: string | null
  /** For ask: every owner whose approval is needed (sorted). */
  askOwners: Array<string>
  /** The version (content hash) of the policy set that decided. */
  policyVersion: string
  /** Time spent deciding, in microseconds. */
  evalUs: number
}

/** An error met while deciding. */
export interface DecisionError {
  /** The policy that could not be evaluated; `null` when the request itself was at fault. */
  policy: string | null
  /** What went wrong. */
  message: string
}

/**
 * Reads a cases file (`cases.toml`): every case's name, request, clock
 * reading, expected outcome and expected reasons. Throws `CasesError`.
 */
export declare function loadCases(path: string): Array<Case>

/** A loaded policy: id, file, effect and annotations. */
export interface PolicyInfo {
  /** The policy id. */
  id: string
  /** The file it was read from. */
  file: string
  /** `permit` or `forbid`. */
  effect: 'permit' | 'forbid'
  /** Every annotation, by name. */
  annotations: Record<string, string>
}

/** A problem found in one policy while validating it (see `PolicyError.issues`). */
export interface PolicyIssue {
  /** The file the policy came from. */
  file: string
  /** 1-based line of the problem, when known. */
  line: number | null
  /** The policy id. */
  policyId: string
  /** What is wrong. */
  message: string
}

/** One determining policy of a decision. */
export interface Reason {
  /** The policy id (its `@id` annotation, else Cedar's `policyN`). */
  policyId: string
  /** `permit` or `forbid`. */
  effect: 'permit' | 'forbid'
  /** Every annotation of the policy (`owner`, `ask`, `control`, ...). */
  annotations: Record<string, string>
}
