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
  /**
   * `'shadow'` makes every policy advisory: requests that pass the engine guards
   * are allowed and `decision.shadow` records what enforcing would decide.
   */
  enforcement?: 'enforce' | 'shadow'
  /** Engine-kept session counters (off by default); see `SessionCounterOptions`. */
  sessionCounters?: boolean | SessionCounterOptions
  /** Record every decision in a hash-chained audit log; see `AuditOptions`. */
  audit?: AuditOptions
}

/** Options of `Engine.fromDir(dir, options)`. */
export interface LoadOptions {
  errorMode?: ErrorMode
  /**
   * `'shadow'` makes every policy advisory: requests that pass the engine guards
   * are allowed and `decision.shadow` records what enforcing would decide.
   */
  enforcement?: 'enforce' | 'shadow'
  /** Engine-kept session counters (off by default); see `SessionCounterOptions`. */
  sessionCounters?: boolean | SessionCounterOptions
  /** Record every decision in a hash-chained audit log; see `AuditOptions`. */
  audit?: AuditOptions
}

/**
 * The audit log: every decision becomes one hash-chained JSON record, written
 * by a background thread (never on the deciding call).
 */
export interface AuditOptions {
  /** Append-only JSONL file; an existing log's chain is continued. */
  file?: string
  /** Rotate the file at this size (`FILE.000001`, ...); the chain runs on. */
  rotateBytes?: number
  /** Keep the last `ring` records in memory for `auditRecords()`. */
  ring?: number
  /** Dotted context paths replaced by `"[REDACTED]"` before hashing or any sink. */
  redact?: string[]
  /**
   * When the queue is full: `'drop'` (default) drops the record and writes a
   * `gap` record counting the loss; `'block'` makes the decision wait.
   */
  onFull?: 'drop' | 'block'
  /** Queue length (default 65,536). */
  capacity?: number
  /**
   * Called on the JS thread with each record, in order. What it throws is
   * counted in `auditStats().writeErrors`, never rethrown.
   */
  callback?: (record: AuditRecord) => void
}

/** The audit log's counters. */
export interface AuditStats {
  /** Records written (gap records included). */
  records: number
  /** Decisions not recorded because the queue was full (`onFull: 'drop'`). */
  dropped: number
  /** Write failures and callback exceptions. */
  writeErrors: number
  lastError: string | null
  /** The `seq` the next record will get. */
  nextSeq: number
}

/** The result of `auditVerify`. */
export interface AuditVerifyReport {
  intact: boolean
  records: number
  firstSeq: number | null
  lastSeq: number | null
  /** Gap records, and the decisions they say were lost. */
  gaps: number
  lost: number
  /** The first break (file, line, seq, kind), or null. */
  broken: string | null
}

/** One audit record (fields that do not apply are absent). */
export interface AuditRecord {
  seq: number
  ts: string
  decision_id?: string
  policy_version?: string
  principal?: string
  action?: string
  resource?: string
  context?: Record<string, unknown>
  outcome?: Outcome
  reasons?: Array<{ id: string; effect: 'permit' | 'forbid'; owner?: string; ask?: string; control?: string }>
  errors?: Array<{ policy: string | null; message: string }>
  ask_owners?: string[]
  approval_id?: string
  eval_us?: number
  /** For a gap record: how many decisions were dropped. */
  gap?: { lost: number }
  shadow?: Record<string, unknown>
  prev_hash: string
  hash: string
}

/**
 * Session counters: for a request whose `context.session.id` is set, the engine
 * fills `context.session.actions`, `.same_action` and `.repos_touched` (those the
 * schema declares) from its own count of the session's allowed actions.
 */
export interface SessionCounterOptions {
  /** At most this many sessions are tracked, least recently seen dropped first (default 100,000). */
  maxSessions?: number
  /** Sessions idle this long are forgotten (default 8 hours). */
  idleSeconds?: number
}

/** The sources of `engine.reload`, as for `new Engine`. */
export interface ReloadSources {
  schema: string
  policies: string | string[]
  entities?: string | unknown[] | null
}

/** What `engine.revoke` / `engine.restore` name: exactly one of these. */
export type RevocationSubject = { agent: EntityRef } | { session: string } | { credential: string }

/** The argument of `engine.grant`: give exactly one of `ttlSeconds` and `expiresAt`. */
export type GrantOptions = {
  principal: EntityRef
  /** Bare action names (`push_commit`) or full uids, one or several. */
  actions: string | { type: string; id: string } | Array<string | { type: string; id: string }>
  /** The resource; anything in it (e.g. files of a repository) is included. */
  resource: EntityRef
  /** Why (shown in the decisions the grant allows). */
  reason?: string
} & ({ ttlSeconds: number; expiresAt?: undefined } | { expiresAt: Date | number | string; ttlSeconds?: undefined })

/** One revocation in force (see `engine.revoke`). */
export interface Revocation {
  kind: 'agent' | 'session' | 'credential'
  /** The agent's entity reference (`Agent::"ci-bot"`), or the session or credential id. */
  id: string
  /** Why (shown in every decision the revocation causes). */
  reason: string
  revokedAt: Date
}

/** One time-bound grant in force (see `engine.grant`). */
export interface Grant {
  /** `grant-N`. */
  id: string
  /** Who is granted (`Agent::"ci-bot"`). */
  principal: string
  /** Which actions (`Action::"push_commit"`, ...). */
  actions: string[]
  /** Which resource; anything in it is included. */
  resource: string
  /** When it stops matching. */
  expiresAt: Date
  /** Why it was granted. */
  reason: string
}

/** The options of `engine.approve`. */
export interface ApproveOptions {
  /** How long the approval lasts, in seconds. */
  ttlSeconds: number
  /** How many decisions it allows (default 1). */
  uses?: number
}

export type ErrorCode =
  | 'POLICY_ERROR'
  | 'SCHEMA_ERROR'
  | 'REQUEST_ERROR'
  | 'CASES_ERROR'
  | 'APPROVAL_ERROR'
  | 'FILE_ERROR'
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

/** `engine.approve` was given an approval id this engine never issued (or forgot). */
export declare class ApprovalError extends AgentAuthzError {
  readonly code: 'APPROVAL_ERROR'
  /** The refused id. */
  readonly approvalId: string
}

/** A revocations file could not be read or written. */
export declare class FileError extends AgentAuthzError {
  readonly code: 'FILE_ERROR'
  /** `io`: the system refused; `invalid`: the content is not a revocations list. */
  readonly kind: 'io' | 'invalid'
  readonly file: string
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
