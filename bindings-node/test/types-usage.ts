// Compiled (not run) by types.test.js with `tsc --noEmit --strict`: the API of
// the issue, as a TypeScript user writes it, must type-check against index.d.ts.
import {
  Engine,
  loadCases,
  DeniedError,
  ApprovalRequiredError,
  PolicyError,
  SchemaError,
  RequestError,
  AgentAuthzError,
  ApprovalError,
  FileError,
  type Decision,
  type Grant,
  type Revocation,
  type AuthorizeRequest,
  type Outcome,
  type Case,
} from '..'

const engine: Engine = Engine.fromDir('policies-examples/coding-agent')
const other = new Engine({ schema: '', policies: ['', ''], entities: [], errorMode: 'strict' })
const req: AuthorizeRequest = {
  principal: 'Agent::"ci-bot"',
  action: 'open_pr',
  resource: { type: 'Repository', id: 'acme/api' },
  context: {
    credential: { id: 'c', issued_at: new Date(), expires_at: '2026-11-25T10:30:00Z', scopes: ['repo:write'] },
    session: { id: 's', actions: 3n, repos_touched: 1 },
    approval: undefined,
  },
}
const d: Decision = engine.authorize(req)
const outcome: Outcome = d.outcome
const allowed: boolean = d.allowed
const ids: string[] = d.reasons.map((r) => r.policyId + (r.annotations['owner'] ?? ''))
const errs: Array<string | null> = d.errors.map((e) => e.policy)
const owner: string | null = d.askOwner
const owners: string[] = d.askOwners
const version: string = d.policyVersion + other.policyVersion
const us: number = d.evalUs

async function main(): Promise<void> {
  const a: Decision = await engine.authorizeAsync(req)
  const batch: Decision[] = engine.authorizeBatch([req, req]).concat(engine.authorizeBatch([req], new Date()))
  const at: Decision = engine.authorizeAt(req, new Date('2026-11-25T10:00:00Z'))
  const cases: Case[] = loadCases('policies-examples/coding-agent/cases.toml')

  // Runtime controls.
  const counting = Engine.fromDir('x', { sessionCounters: { maxSessions: 10, idleSeconds: 60 } })
  const tracked: number = counting.trackedSessions + new Engine({ schema: '', policies: '', sessionCounters: true }).trackedSessions
  engine.revoke({ agent: 'Agent::"ci-bot"' }, 'INC-1')
  engine.revoke({ agent: { type: 'Agent', id: 'ci-bot' } }, 'INC-1')
  engine.revoke({ session: 's-1' }, 'INC-1')
  const restored: boolean = engine.restore({ credential: 'c-1' })
  const revs: Revocation[] = engine.revocations()
  const revokedAt: Date = revs[0]!.revokedAt
  const kind: 'agent' | 'session' | 'credential' = revs[0]!.kind
  engine.saveRevocations('r.json')
  engine.loadRevocations('r.json')
  const gid: string = engine.grant({ principal: 'Agent::"a"', actions: ['push_commit'], resource: 'Repository::"r"', ttlSeconds: 60 })
  engine.grant({ principal: 'Agent::"a"', actions: 'open_pr', resource: 'Repository::"r"', expiresAt: new Date(), reason: 'x' })
  const gone: boolean = engine.revokeGrant(gid)
  const grants: Grant[] = engine.grants()
  const expiresAt: Date = grants[0]!.expiresAt
  const approvalId: string | null = d.approvalId
  if (approvalId !== null) engine.approve(approvalId, 'carol', { ttlSeconds: 60, uses: 2 })
  const v: string = engine.reload('dir') + engine.reload({ schema: '', policies: [''], entities: [] })
  try {
    engine.approve('apr-x', 'carol', { ttlSeconds: 60 })
  } catch (e) {
    if (e instanceof ApprovalError) console.log(e.approvalId)
    if (e instanceof FileError) console.log(e.kind, e.file)
  }
  console.log(tracked, restored, revokedAt, kind, gone, expiresAt, v)
  for (const c of cases) engine.authorizeAt(c.request, c.now ?? new Date())

  const fetchTool = async (args: { url: string }): Promise<string> => args.url
  const guarded = engine.guard(
    {
      action: 'call_api',
      principal: 'Agent::"ci-bot"',
      resource: (args) => `ApiHost::"${new URL(args.url).host}"`,
      context: (args) => ({ url: args.url }),
    },
    fetchTool,
  )
  const body: string = await guarded({ url: 'https://pypi.org' })
  const syncTool = engine.guard({ action: 'read_repo', principal: 'Agent::"x"', resource: 'Repository::"r"' }, (n: number) => n * 2)
  const doubled: number = syncTool(21)

  try {
    new Engine({ schema: 'x', policies: 'y' })
  } catch (e) {
    if (e instanceof PolicyError) console.log(e.file, e.line, e.kind, e.issues?.[0]?.policyId)
    if (e instanceof SchemaError) console.log(e.line)
    if (e instanceof RequestError || e instanceof AgentAuthzError) console.log(e.code)
    if (e instanceof DeniedError) console.log(e.decision.reasons)
    if (e instanceof ApprovalRequiredError) console.log(e.askOwner.toUpperCase(), e.askOwners)
  }
  console.log(a, batch, at, body, doubled, outcome, allowed, ids, errs, owner, owners, version, us)
}
void main

// @ts-expect-error: the request needs a resource
engine.authorize({ principal: 'Agent::"x"', action: 'a' })
// @ts-expect-error: unknown error modes are rejected
Engine.fromDir('x', { errorMode: 'lenient' })
// @ts-expect-error: a grant needs ttlSeconds or expiresAt
engine.grant({ principal: 'Agent::"a"', actions: 'push', resource: 'Repository::"r"' })
// @ts-expect-error: a revocation names an agent, a session or a credential
engine.revoke({ user: 'x' }, 'reason')
// @ts-expect-error: approve needs a ttl
engine.approve('apr-x', 'carol', { uses: 1 })
