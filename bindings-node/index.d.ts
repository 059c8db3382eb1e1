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
  /**
   * The version (content hash) of the policy set now in force (changes on
   * a successful `reload`).
   */
  get policyVersion(): string
  /**
   * Validates new policies and swaps them in atomically: a policy folder,
   * or `{ schema, policies, entities? }` as for the constructor. Returns
   * the new version. On any error it throws (`SchemaError`, `PolicyError`)
   * and the old set keeps serving. Revocations, grants, approvals and
   * session counters are kept.
   */
  reload(source: string | ReloadSources): string
  /**
   * Revokes (kill switch) one agent (`{ agent: 'Agent::"ci-bot"' }`),
   * session (`{ session: id }`) or credential (`{ credential: id }`): from
   * the next decision on, on every thread, any request naming it is denied
   * before policies run (`guard:revoked`, with `reason`).
   */
  revoke(subject: RevocationSubject, reason: string): void
  /** Lifts a revocation; returns whether there was one. */
  restore(subject: RevocationSubject): boolean
  /** The revocations in force, sorted by kind and id. */
  revocations(): Array<Revocation>
  /** Writes the revocations to a JSON file (atomically). Throws `FileError`. */
  saveRevocations(path: string): void
  /**
   * Replaces the revocations with those saved in a JSON file (by
   * `saveRevocations` or the CLI's `agentauthz revoke`). Throws `FileError`
   * (`kind` `io` or `invalid`); the revocations in force are then unchanged.
   */
  loadRevocations(path: string): void
  /**
   * Adds a time-bound grant: `principal` may do `actions` to `resource` (or
   * anything in it) until `expiresAt` or for `ttlSeconds` from now (exactly
   * one of the two). Effective at once, it stops matching at expiry with no
   * reload; forbid policies still apply. Returns the grant id.
   */
  grant(grant: GrantOptions): string
  /** Removes a grant; returns whether it existed. */
  revokeGrant(grantId: string): boolean
  /** The unexpired grants. */
  grants(): Array<Grant>
  /**
   * Records a human approval of an ask's `approvalId`: the same request
   * (principal, action, resource, asking policies) is then allowed for
   * `ttlSeconds` and at most `uses` times (default 1), then asks again.
   * Throws `ApprovalError` for an id this engine never issued. A request
   * that a forbid without `@ask` denies is never allowed by it.
   */
  approve(approvalId: string, approver: string, options: ApproveOptions): void
  /** How many sessions the session counters track now (0 when they are off). */
  get trackedSessions(): number
  /** The number of loaded policies. */
  get policyCount(): number
  /** How policy evaluation errors affect outcomes. */
  get errorMode(): ErrorMode
  /** Every loaded policy's id, file, effect and annotations, sorted by id. */
  policies(): Array<PolicyInfo>
  /**
   * Waits until every decision made so far is written to every audit sink
   * (the file fsynced; records for a `callback` are queued to the JS
   * thread, which runs them once this call returns and JavaScript regains
   * control). Throws `AuthzError` if a write failed (the records are kept
   * and retried) and `RequestError` when the engine has no audit log.
   */
  auditFlush(): void
  /**
   * The audit log's counters: `records` written (gap records included),
   * `dropped` (decisions not recorded because the queue was full),
   * `writeErrors` (write failures and callback exceptions), `lastError`
   * and `nextSeq`.
   */
  auditStats(): AuditStats
  /**
   * The records in the audit ring (`audit: { ring: N }`), oldest first;
   * empty without a ring.
   */
  auditRecords(): Array<AuditRecord>
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

/**
 * Checks an audit log's hash chain across files (oldest first: the rotated
 * `FILE.000001`, ... then `FILE`). `broken` names the file, line, seq and
 * kind of the first break (edited, deleted, inserted, reordered, truncated).
 */
export declare function auditVerify(files: string[]): AuditVerifyReport

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
  /**
   * For ask (and for an allow granted by an approval): the stable id to
   * pass to `engine.approve` once the owner approves; otherwise `null`.
   */
  approvalId: string | null
  /** The version (content hash) of the policy set that decided. */
  policyVersion: string
  /** Time spent deciding, in microseconds. */
  evalUs: number
  /**
   * What enforcing the shadow policies would decide; `null` when no policy
   * is in shadow mode (`@mode("shadow")` or `enforcement: 'shadow'`).
   */
  shadow: Shadow | null
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

/** What enforcing the shadow policies would decide. */
export interface Shadow {
  /** The would-be outcome with every policy (shadow ones included) enforced. */
  outcome: Outcome
  /** The would-be determining policy ids. */
  reasons: Array<string>
  /** For a would-be ask: the owners who would be asked. */
  askOwners: Array<string>
  /** The satisfied policies that are not enforced. */
  policies: Array<string>
  /** Whether enforcing the shadow policies would change the outcome. */
  changed: boolean
}
