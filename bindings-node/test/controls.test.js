'use strict'
// Runtime controls: revocation, time-bound grants, session counters,
// approvals and hot reload.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { agentauthz, exampleDir, context, exampleCopy } = require('./_common')

const { Engine, ApprovalError, FileError, PolicyError, SchemaError, RequestError, AgentAuthzError } = agentauthz

const CI_BOT = 'Agent::"ci-bot"'
const API_REPO = 'Repository::"acme/api"'

// A small model of its own: reads are permitted, pushes only as the policies say.
const SCHEMA = `
entity Agent;
entity Repository { protected: Bool };
entity File in [Repository];
type Session = { id: String, actions: Long, repos_touched: Long, same_action?: Long };
action read, push appliesTo {
  principal: Agent, resource: [Repository, File],
  context: { now: datetime, session?: Session, n?: Long }
};
`
const ENTITIES = [
  { uid: { type: 'Repository', id: 'r' }, attrs: { protected: false }, parents: [] },
  { uid: { type: 'Repository', id: 'p' }, attrs: { protected: true }, parents: [] },
  { uid: { type: 'File', id: 'r/a.rs' }, attrs: {}, parents: [{ type: 'Repository', id: 'r' }] },
]
const READ_ONLY = '@id("read") permit(principal, action == Action::"read", resource);'
// Pushes are allowed; to a protected repository they need security's approval;
// a push with n > 100 is a hard deny that no approval lifts.
const ASKING = `
@id("allow-all") permit(principal, action, resource);
@id("protected") @owner("security") @ask("security")
forbid(principal, action == Action::"push", resource is Repository) when { resource.protected };
@id("hard") @owner("security")
forbid(principal, action == Action::"push", resource) when { context has n && context.n > 100 };
`
const A = 'Agent::"a"'

const small = (policies, extra = {}) => new Engine({ schema: SCHEMA, policies, entities: ENTITIES, ...extra })
const req = (principal, action, resource, ctx) => ({ principal, action, resource, context: ctx })
const readApi = (engine, { agent = CI_BOT, session = 's-1', credential = 'cred-1' } = {}) => {
  const ctx = context()
  ctx.session.id = session
  ctx.credential.id = credential
  return engine.authorize(req(agent, 'read_repo', API_REPO, ctx)).outcome
}
const tmpFile = (name) => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agentauthz-controls-')), name)

// ------------------------------------------------------------ revocation

for (const subject of [{ agent: CI_BOT }, { agent: { type: 'Agent', id: 'ci-bot' } }, { session: 's-1' }, { credential: 'cred-1' }]) {
  test(`revoke ${JSON.stringify(subject)} denies the next decision until restored`, () => {
    const engine = Engine.fromDir(exampleDir)
    assert.equal(readApi(engine), 'allow')
    assert.equal(engine.revoke(subject, 'incident INC-42'), undefined)
    const d = engine.authorize(req(CI_BOT, 'read_repo', API_REPO, context()))
    assert.equal(d.outcome, 'deny')
    assert.deepEqual(d.reasons.map((r) => r.policyId), ['guard:revoked'])
    assert.match(d.reasons[0].annotations.reason, /INC-42/)
    // Other agents, sessions and credentials are unaffected.
    assert.equal(readApi(engine, { agent: 'Agent::"review-bot"', session: 's-9', credential: 'cred-9' }), 'allow')
    assert.equal(engine.restore(subject), true)
    assert.equal(engine.restore(subject), false)
    assert.equal(readApi(engine), 'allow')
    assert.deepEqual(engine.revocations(), [])
  })
}

test('revocations are listed with kind, id, reason and a Date', () => {
  const engine = Engine.fromDir(exampleDir)
  const before = Date.now()
  engine.revoke({ agent: CI_BOT }, 'compromised')
  engine.revoke({ session: 's-7' }, 'leaked transcript')
  engine.revoke({ credential: 'cred-3' }, 'rotated')
  const revs = engine.revocations()
  assert.deepEqual(
    revs.map(({ kind, id, reason }) => [kind, id, reason]),
    [
      ['agent', CI_BOT, 'compromised'],
      ['session', 's-7', 'leaked transcript'],
      ['credential', 'cred-3', 'rotated'],
    ],
  )
  for (const r of revs) {
    assert.ok(r.revokedAt instanceof Date)
    assert.ok(r.revokedAt.getTime() >= before - 1 && r.revokedAt.getTime() <= Date.now(), r.revokedAt.toISOString())
  }
})

test('revoke arguments are checked', () => {
  const engine = Engine.fromDir(exampleDir)
  const bad = [
    [undefined, 'x'],
    [{}, 'x'],
    [{ agent: CI_BOT, session: 's' }, 'x'],
    [{ user: 'x' }, 'x'],
    [{ agent: 'ci-bot' }, 'x'], // a bare id is not an entity reference
    [{ session: 7 }, 'x'],
    [{ agent: CI_BOT }, undefined],
    [[CI_BOT], 'x'],
  ]
  for (const [subject, reason] of bad) {
    assert.throws(() => engine.revoke(subject, reason), (e) => e instanceof RequestError && e.code === 'REQUEST_ERROR', JSON.stringify(subject))
  }
  assert.throws(() => engine.restore({}), RequestError)
  assert.deepEqual(engine.revocations(), [])
})

test('a revocation reaches authorizeAsync calls in flight on the thread pool', async () => {
  const engine = Engine.fromDir(exampleDir)
  const request = req(CI_BOT, 'read_repo', API_REPO, context())
  const before = Array.from({ length: 200 }, () => engine.authorizeAsync(request))
  engine.revoke({ agent: CI_BOT }, 'kill switch')
  const after = Array.from({ length: 200 }, () => engine.authorizeAsync(request))
  // Decisions made after revoke() returned all deny, whichever pool thread ran them.
  for (const d of await Promise.all(after)) {
    assert.equal(d.outcome, 'deny')
    assert.deepEqual(d.reasons.map((r) => r.policyId), ['guard:revoked'])
  }
  for (const d of await Promise.all(before)) assert.ok(['allow', 'deny'].includes(d.outcome))
  engine.restore({ agent: CI_BOT })
  assert.equal((await engine.authorizeAsync(request)).outcome, 'allow')
})

test('revocations survive a new engine through a file', () => {
  const file = tmpFile('revocations.json')
  const engine = Engine.fromDir(exampleDir)
  engine.revoke({ session: 's-1' }, 'leaked transcript')
  engine.revoke({ agent: CI_BOT }, 'INC-9')
  engine.saveRevocations(file)
  assert.deepEqual(new Set(JSON.parse(fs.readFileSync(file, 'utf8')).map((r) => r.reason)), new Set(['leaked transcript', 'INC-9']))

  const fresh = Engine.fromDir(exampleDir)
  assert.equal(readApi(fresh), 'allow')
  fresh.loadRevocations(file)
  assert.deepEqual(fresh.revocations(), engine.revocations())
  assert.equal(readApi(fresh), 'deny')
  assert.equal(readApi(fresh, { agent: 'Agent::"review-bot"', credential: 'cred-9' }), 'deny') // the session
  assert.equal(readApi(fresh, { agent: 'Agent::"review-bot"', session: 's-2', credential: 'cred-9' }), 'allow')
})

test('bad revocation files throw FileError and change nothing', () => {
  const engine = Engine.fromDir(exampleDir)
  engine.revoke({ agent: CI_BOT }, 'keep me')
  const missing = tmpFile('missing.json')
  assert.throws(
    () => engine.loadRevocations(missing),
    (e) => e instanceof FileError && e instanceof AgentAuthzError && e.code === 'FILE_ERROR' && e.kind === 'io' && e.file === missing,
  )
  const garbage = tmpFile('garbage.json')
  fs.writeFileSync(garbage, '{"not": "a list"}')
  assert.throws(() => engine.loadRevocations(garbage), (e) => e instanceof FileError && e.kind === 'invalid' && /garbage\.json/.test(e.message))
  assert.throws(() => engine.saveRevocations(path.join(path.dirname(missing), 'no-such-dir', 'r.json')), FileError)
  assert.throws(() => engine.saveRevocations(42), RequestError)
  assert.deepEqual(engine.revocations().map((r) => r.reason), ['keep me'])
  assert.equal(readApi(engine), 'deny')
})

// ------------------------------------------------------------ grants

test('a grant allows before expiry and denies after', () => {
  const e = small(READ_ONLY)
  const now = Date.now()
  const push = (resource, t, principal = A) => e.authorizeAt(req(principal, 'push', resource), t).outcome
  assert.equal(push('Repository::"r"', now), 'deny')
  const expiresAt = new Date(now + 3600e3)
  const id = e.grant({ principal: A, actions: ['push'], resource: { type: 'Repository', id: 'r' }, expiresAt, reason: 'hotfix INC-7' })
  assert.match(id, /^grant-\d+$/)
  const d = e.authorizeAt(req(A, 'push', 'Repository::"r"'), now)
  assert.equal(d.outcome, 'allow')
  assert.deepEqual(d.reasons.map((r) => r.policyId), [id])
  assert.equal(d.reasons[0].annotations.reason, 'hotfix INC-7')
  // Anything in the granted resource is covered; another resource or principal is not.
  assert.equal(push('File::"r/a.rs"', now), 'allow')
  assert.equal(push('Repository::"p"', now), 'deny')
  assert.equal(push('Repository::"r"', now, 'Agent::"b"'), 'deny')
  // Just before expiry it allows; at expiry it stops matching, with no reload.
  assert.equal(push('Repository::"r"', new Date(expiresAt.getTime() - 1)), 'allow')
  assert.equal(push('Repository::"r"', expiresAt), 'deny')
  assert.deepEqual(e.grants(), [
    { id, principal: A, actions: ['Action::"push"'], resource: 'Repository::"r"', expiresAt, reason: 'hotfix INC-7' },
  ])
})

test('a grant with ttlSeconds expires by itself; revokeGrant removes one', () => {
  const e = small(READ_ONLY)
  const t0 = Date.now()
  const id = e.grant({ principal: A, actions: 'Action::"push"', resource: 'Repository::"r"', ttlSeconds: 600 })
  const t1 = Date.now()
  const push = (resource, t) => e.authorizeAt(req(A, 'push', resource), t).outcome
  assert.equal(push('Repository::"r"', t1 + 599e3), 'allow')
  assert.equal(push('Repository::"r"', t1 + 600e3 + 2), 'deny')
  const [g] = e.grants()
  assert.ok(g.expiresAt.getTime() >= t0 + 600e3 - 1 && g.expiresAt.getTime() <= t1 + 600e3, g.expiresAt.toISOString())
  e.grant({ principal: A, actions: ['push', 'read'], resource: 'Repository::"p"', ttlSeconds: 300 })
  assert.equal(e.grants().length, 2)
  assert.equal(e.revokeGrant(id), true)
  assert.equal(e.revokeGrant(id), false)
  assert.equal(push('Repository::"r"', t1), 'deny')
  assert.equal(push('Repository::"p"', t1), 'allow')
})

test('a grant does not override a forbid', () => {
  const e = small(READ_ONLY + ASKING.split('\n').slice(2).join('\n'))
  e.grant({ principal: A, actions: 'push', resource: 'Repository::"p"', ttlSeconds: 60 })
  e.grant({ principal: A, actions: 'push', resource: 'Repository::"r"', ttlSeconds: 60 })
  const ask = e.authorize(req(A, 'push', 'Repository::"p"'))
  assert.equal(ask.outcome, 'ask')
  assert.deepEqual(ask.reasons.map((r) => r.policyId), ['protected'])
  const deny = e.authorize(req(A, 'push', 'Repository::"r"', { n: 101 }))
  assert.equal(deny.outcome, 'deny')
  assert.deepEqual(deny.reasons.map((r) => r.policyId), ['hard'])
})

test('grant arguments are checked', () => {
  const e = small(READ_ONLY)
  const base = { principal: A, actions: 'push', resource: 'Repository::"r"' }
  const bad = [
    undefined,
    base, // neither ttlSeconds nor expiresAt
    { ...base, ttlSeconds: 5, expiresAt: new Date() },
    { ...base, ttlSeconds: 0 },
    { ...base, ttlSeconds: -1 },
    { ...base, ttlSeconds: NaN },
    { ...base, ttlSeconds: '60' },
    { ...base, expiresAt: 'tomorrow' },
    { ...base, expiresAt: new Date(NaN) },
    { ...base, ttlSeconds: 5, principal: 'a' },
    { ...base, ttlSeconds: 5, actions: [] },
    { ...base, ttlSeconds: 5, actions: 7 },
    { ...base, ttlSeconds: 5, reason: 7 },
    { ...base, ttlSeconds: 5, until: 1 },
  ]
  for (const spec of bad) assert.throws(() => e.grant(spec), RequestError, JSON.stringify(spec))
  assert.deepEqual(e.grants(), [])
})

// ------------------------------------------------------------ session counters

const SESSION_POLICIES = `
@id("all") permit(principal, action, resource);
@id("blast") @ask("security")
forbid(principal, action == Action::"push", resource) when { context has session && context.session.repos_touched > 3 };
@id("budget")
forbid(principal, action, resource) when { context has session && context.session has same_action && context.session.same_action > 5 };
`
// The caller's counters (zeros) are overwritten by the engine's.
const push = (e, session, resource) =>
  e.authorize(req(A, 'push', resource, { session: { id: session, actions: 0, repos_touched: 0 } })).outcome

test('session counters bound the blast radius', () => {
  const e = small(SESSION_POLICIES, { sessionCounters: true })
  assert.equal(e.trackedSessions, 0)
  assert.equal(push(e, 's', 'Repository::"r1"'), 'allow')
  assert.equal(push(e, 's', 'Repository::"r2"'), 'allow')
  assert.equal(push(e, 's', 'File::"r/a.rs"'), 'allow') // repository r
  assert.equal(push(e, 's', 'File::"r/a.rs"'), 'allow') // the same repository again
  assert.equal(push(e, 's', 'Repository::"r4"'), 'ask', 'a fourth repository asks')
  // The ask was not counted: a fifth push is fine, a sixth exceeds the budget of 5.
  assert.equal(push(e, 's', 'Repository::"r1"'), 'allow')
  assert.equal(push(e, 's', 'Repository::"r2"'), 'deny', 'the 6th push of the session exceeds the budget of 5')
  // Another session counts on its own.
  assert.equal(push(e, 'other', 'Repository::"r4"'), 'allow')
  assert.equal(e.trackedSessions, 2)
})

test("without session counters the caller's values are used", () => {
  const e = small(SESSION_POLICIES)
  for (let i = 0; i < 8; i++) assert.equal(push(e, 's', `Repository::"r${i}"`), 'allow')
  assert.equal(e.trackedSessions, 0)
  const d = e.authorize(req(A, 'push', 'Repository::"r"', { session: { id: 's', actions: 1, repos_touched: 4 } }))
  assert.equal(d.outcome, 'ask')
})

test('session counters keep memory bounded', () => {
  const e = small(SESSION_POLICIES, { sessionCounters: { maxSessions: 32, idleSeconds: 3600 } })
  for (let i = 0; i < 2000; i++) push(e, `s-${i}`, 'Repository::"r"')
  assert.ok(e.trackedSessions > 0 && e.trackedSessions <= 32, String(e.trackedSessions))
})

test('session counter options are checked', () => {
  for (const sessionCounters of ['yes', 1, [], { maxSessions: 0 }, { maxSessions: 1.5 }, { idleSeconds: -1 }, { idle: 5 }]) {
    assert.throws(() => small(SESSION_POLICIES, { sessionCounters }), RequestError, JSON.stringify(sessionCounters))
  }
  assert.throws(() => Engine.fromDir(exampleDir, { sessionCounters: { maxSessions: -3 } }), RequestError)
  assert.equal(Engine.fromDir(exampleDir, { sessionCounters: { idleSeconds: 3600 } }).trackedSessions, 0)
  assert.equal(small(SESSION_POLICIES, { sessionCounters: false }).trackedSessions, 0)
})

test("the example's blast-radius policy with engine counters", () => {
  // ci-bot's team's six repositories: the sixth opens the blast-radius ask.
  const repos = ['api', 'billing', 'auth', 'worker', 'search', 'sdk']
  const run = (engine) =>
    repos.map((r) => {
      const ctx = context({ branch: 'fix/1' })
      ctx.session = { id: 'blast', actions: 1, repos_touched: 1 }
      const d = engine.authorize(req(CI_BOT, 'open_pr', `Repository::"acme/${r}"`, ctx))
      return [d.outcome, d.reasons.map((x) => x.policyId)]
    })
  const counting = Engine.fromDir(exampleDir, { sessionCounters: true })
  const outcomes = run(counting)
  assert.deepEqual(outcomes.slice(0, 5).map(([o]) => o), Array(5).fill('allow'), JSON.stringify(outcomes))
  assert.deepEqual(outcomes[5], ['ask', ['blast-radius-repos']])
  assert.equal(counting.trackedSessions, 1)
  assert.deepEqual(run(Engine.fromDir(exampleDir)).map(([o]) => o), Array(6).fill('allow'))
})

// ------------------------------------------------------------ approvals

test('an approval allows the asked request for its uses, then it asks again', () => {
  const e = small(ASKING)
  const d = e.authorize(req(A, 'push', 'Repository::"p"'))
  assert.equal(d.outcome, 'ask')
  assert.equal(d.askOwner, 'security')
  const id = d.approvalId
  assert.match(id, /^apr-[0-9a-f]+$/)
  assert.equal(e.authorize(req(A, 'push', 'Repository::"p"')).approvalId, id, 'the same ask has the same id')
  assert.notEqual(e.authorize(req('Agent::"b"', 'push', 'Repository::"p"')).approvalId, id)
  assert.equal(e.authorize(req(A, 'push', 'Repository::"r"')).approvalId, null)

  assert.equal(e.approve(id, 'carol@acme.dev', { ttlSeconds: 600, uses: 2 }), undefined)
  for (let i = 0; i < 2; i++) {
    const ok = e.authorize(req(A, 'push', 'Repository::"p"'))
    assert.equal(ok.outcome, 'allow')
    assert.equal(ok.reasons[0].annotations.approver, 'carol@acme.dev')
    assert.equal(ok.approvalId, id)
  }
  assert.equal(e.authorize(req(A, 'push', 'Repository::"p"')).outcome, 'ask', 'two uses, then it asks again')
  assert.equal(e.authorize(req('Agent::"b"', 'push', 'Repository::"p"')).outcome, 'ask')
})

test('an approval ends at its ttl', () => {
  const e = small(ASKING)
  const id = e.authorize(req(A, 'push', 'Repository::"p"')).approvalId
  const t0 = Date.now()
  e.approve(id, 'carol', { ttlSeconds: 60, uses: 100 })
  const t1 = Date.now()
  assert.equal(e.authorizeAt(req(A, 'push', 'Repository::"p"'), t1 + 59e3).outcome, 'allow')
  const late = t1 + 60e3 + 1
  assert.ok(late > t0 + 60e3)
  assert.equal(e.authorizeAt(req(A, 'push', 'Repository::"p"'), late).outcome, 'ask')
})

test('unknown approval ids are refused with ApprovalError', () => {
  const e = small(ASKING)
  assert.throws(
    () => e.approve('apr-0000000000000000', 'carol', { ttlSeconds: 60 }),
    (err) =>
      err instanceof ApprovalError &&
      err instanceof AgentAuthzError &&
      err.code === 'APPROVAL_ERROR' &&
      err.approvalId === 'apr-0000000000000000' &&
      /apr-0000000000000000/.test(err.message),
  )
  const id = e.authorize(req(A, 'push', 'Repository::"p"')).approvalId
  for (const options of [undefined, {}, { ttlSeconds: 0 }, { ttlSeconds: 60, uses: 0 }, { ttlSeconds: 60, uses: 1.5 }, { ttlSeconds: 60, uses: -1 }, { ttl: 60 }]) {
    assert.throws(() => e.approve(id, 'carol', options), RequestError, JSON.stringify(options))
  }
  assert.throws(() => e.approve(7, 'carol', { ttlSeconds: 60 }), RequestError)
  assert.throws(() => e.approve(id, null, { ttlSeconds: 60 }), RequestError)
  assert.equal(e.authorize(req(A, 'push', 'Repository::"p"')).outcome, 'ask', 'a refused approval approves nothing')
})

test('a hard deny is never approved', () => {
  const e = small(ASKING)
  const id = e.authorize(req(A, 'push', 'Repository::"p"')).approvalId
  e.approve(id, 'carol', { ttlSeconds: 600, uses: 10 })
  const d = e.authorize(req(A, 'push', 'Repository::"p"', { n: 101 }))
  assert.equal(d.outcome, 'deny')
  assert.deepEqual(d.reasons.map((r) => r.policyId), ['hard', 'protected'])
  assert.equal(e.authorize(req(A, 'push', 'Repository::"r"', { n: 101 })).approvalId, null)
})

test('the example ask -> approve -> allow flow', () => {
  const engine = Engine.fromDir(exampleDir)
  const request = req(CI_BOT, 'open_pr', API_REPO, context({ diff_lines: 5000 }))
  const d = engine.authorize(request)
  assert.equal(d.outcome, 'ask')
  assert.equal(d.askOwner, 'eng-productivity')
  engine.approve(d.approvalId, 'dana@acme.dev', { ttlSeconds: 300 })
  assert.equal(engine.authorize(request).outcome, 'allow')
  assert.equal(engine.authorize(request).outcome, 'ask')
})

// ------------------------------------------------------------ hot reload

test('a broken reload throws and the old set keeps serving', () => {
  const e = small(ASKING)
  const v1 = e.policyVersion
  const push = () => e.authorize(req(A, 'push', 'Repository::"r"'))
  assert.equal(push().outcome, 'allow')
  assert.throws(
    () => e.reload({ schema: SCHEMA, policies: '@id("typo") permit(principal, action, resource) when { resource.protectd };', entities: ENTITIES }),
    (err) => err instanceof PolicyError && err.kind === 'validation' && err.policyId === 'typo',
  )
  assert.throws(() => e.reload({ schema: SCHEMA, policies: 'permit(principal, action, resource) when {' }), (err) => err instanceof PolicyError && err.kind === 'syntax')
  assert.throws(() => e.reload({ schema: 'entity A {', policies: READ_ONLY }), SchemaError)
  assert.throws(
    () => e.reload({ schema: SCHEMA, policies: READ_ONLY, entities: [{ uid: { type: 'Nope', id: 'x' }, attrs: {}, parents: [] }] }),
    (err) => err instanceof PolicyError && err.kind === 'entities',
  )
  assert.equal(e.policyVersion, v1)
  assert.equal(push().outcome, 'allow')
  assert.equal(push().policyVersion, v1)

  const v2 = e.reload({ schema: SCHEMA, policies: [READ_ONLY], entities: JSON.stringify(ENTITIES) })
  assert.notEqual(v2, v1)
  assert.equal(e.policyVersion, v2)
  assert.equal(push().outcome, 'deny')
  assert.equal(push().policyVersion, v2)
  assert.equal(e.reload({ schema: SCHEMA, policies: ASKING, entities: ENTITIES }), v1, 'the version is a content hash')
})

test('reload from a folder keeps revocations', () => {
  const dir = exampleCopy()
  const e = Engine.fromDir(dir)
  const v1 = e.policyVersion
  e.revoke({ agent: 'Agent::"review-bot"' }, 'kept across reloads')
  fs.writeFileSync(path.join(dir, '60-broken.cedar'), '@id("broken")\npermit(principal, action, resource) when { principal.nope };\n')
  assert.throws(() => e.reload(dir), (err) => err instanceof PolicyError && err.file.endsWith('60-broken.cedar'))
  assert.equal(e.policyVersion, v1)
  assert.equal(readApi(e), 'allow')
  fs.writeFileSync(path.join(dir, '60-broken.cedar'), '@id("no-reads-of-api") forbid(principal, action == Action::"read_repo", resource == Repository::"acme/api");\n')
  const v2 = e.reload(dir)
  assert.notEqual(v2, v1)
  const d = e.authorize(req(CI_BOT, 'read_repo', API_REPO, context()))
  assert.equal(d.outcome, 'deny')
  assert.deepEqual(d.reasons.map((r) => r.policyId), ['no-reads-of-api'])
  assert.equal(d.policyVersion, v2)
  assert.deepEqual(e.revocations().map((r) => r.reason), ['kept across reloads'])
  assert.throws(() => e.reload(path.join(dir, 'missing')), (err) => err instanceof PolicyError && err.kind === 'io')
  for (const bad of [undefined, 7, [], { schema: SCHEMA }, { schema: SCHEMA, policies: READ_ONLY, extra: 1 }]) {
    assert.throws(() => e.reload(bad), RequestError, JSON.stringify(bad))
  }
  assert.equal(e.policyVersion, v2)
})

test('reloads while authorizeAsync calls are in flight: every decision matches its version', async () => {
  const e = small(ASKING)
  const vAsk = e.policyVersion
  const vRead = e.reload({ schema: SCHEMA, policies: READ_ONLY, entities: ENTITIES })
  e.reload({ schema: SCHEMA, policies: ASKING, entities: ENTITIES })
  const pending = []
  for (let i = 0; i < 100; i++) {
    for (let j = 0; j < 5; j++) pending.push(e.authorizeAsync(req(A, 'push', 'Repository::"r"')))
    e.reload({ schema: SCHEMA, policies: i % 2 === 0 ? READ_ONLY : ASKING, entities: ENTITIES })
  }
  const decisions = await Promise.all(pending)
  const versions = new Set()
  for (const d of decisions) {
    versions.add(d.policyVersion)
    if (d.policyVersion === vAsk) assert.deepEqual([d.outcome, d.reasons.map((r) => r.policyId)], ['allow', ['allow-all']])
    else if (d.policyVersion === vRead) assert.deepEqual([d.outcome, d.reasons], ['deny', []])
    else assert.fail(`unknown version ${d.policyVersion}`)
  }
  assert.ok(versions.size >= 1)
})
