'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { agentauthz, pkgDir, exampleDir, context, credential, session, read } = require('./_common')

const { Engine } = agentauthz
const engine = Engine.fromDir(exampleDir)

const openPr = (extra) => ({
  principal: 'Agent::"ci-bot"',
  action: 'open_pr',
  resource: 'Repository::"acme/api"',
  context: context({ branch: 'fix-timeout', diff_lines: 42, ...extra }),
})

test('fromDir loads the example policies', () => {
  assert.equal(engine.policyCount, 30)
  assert.match(engine.policyVersion, /^sha256:[0-9a-f]+$/)
  assert.equal(engine.errorMode, 'fail-closed')
  const policies = engine.policies()
  assert.equal(policies.length, 30)
  const p = policies.find((x) => x.id === 'prod-secret-read-approval')
  assert.equal(p.effect, 'forbid')
  assert.equal(p.annotations.ask, 'security')
  assert.match(p.file, /40-secrets-external-production\.cedar$/)
})

test('authorize: allow, with the determining policy and its annotations', () => {
  const d = engine.authorize(openPr())
  assert.equal(d.outcome, 'allow')
  assert.equal(d.allowed, true)
  assert.deepEqual(
    d.reasons.map((r) => r.policyId),
    ['permit-write-code-trusted'],
  )
  assert.equal(d.reasons[0].effect, 'permit')
  assert.equal(typeof d.reasons[0].annotations.owner, 'string')
  assert.ok(d.reasons[0].annotations.control.length > 0)
  assert.deepEqual(d.errors, [])
  assert.equal(d.askOwner, null)
  assert.deepEqual(d.askOwners, [])
  assert.equal(d.policyVersion, engine.policyVersion)
  assert.equal(typeof d.evalUs, 'number')
  assert.ok(d.evalUs > 0)
  // A plain object: serialisable, comparable.
  assert.deepEqual(JSON.parse(JSON.stringify(d)), d)
})

test('authorize: deny with reasons, and deny when no permit applies', () => {
  const d = engine.authorize({ ...openPr(), principal: 'Agent::"rogue-bot"' })
  assert.equal(d.outcome, 'deny')
  assert.equal(d.allowed, false)
  assert.deepEqual(
    d.reasons.map((r) => r.policyId),
    ['agent-suspended'],
  )
  const none = engine.authorize({ ...openPr(), resource: 'Repository::"acme/web"' })
  assert.equal(none.outcome, 'deny')
  assert.deepEqual(none.reasons, [])
  assert.deepEqual(none.errors, [])
})

test('authorize: ask names the owner; the approval in context turns it into allow', () => {
  const req = {
    principal: 'Agent::"ci-bot"',
    action: 'read_secret',
    resource: 'Secret::"prod/api-db-password"',
    context: context({}, ['secrets:read']),
  }
  const d = engine.authorize(req)
  assert.equal(d.outcome, 'ask')
  assert.equal(d.allowed, false)
  assert.equal(d.askOwner, 'security')
  assert.deepEqual(d.askOwners, ['security'])
  assert.deepEqual(
    d.reasons.map((r) => [r.policyId, r.effect, r.annotations.ask]),
    [['prod-secret-read-approval', 'forbid', 'security']],
  )
  const approved = engine.authorize({
    ...req,
    context: { ...req.context, approval: { approver: 'carol@acme.dev', owner: 'security' } },
  })
  assert.equal(approved.outcome, 'allow')
})

test('ask with two owners lists both', () => {
  const d = engine.authorize({
    principal: 'Agent::"ci-bot"',
    action: 'modify_ci',
    resource: 'Repository::"acme/api"',
    context: { ...context(), session: { id: 's-1', actions: 20, repos_touched: 7 } },
  })
  assert.equal(d.outcome, 'ask')
  assert.deepEqual(d.askOwners, ['platform', 'security'])
  assert.equal(d.askOwner, 'platform')
})

test('entity references as strings or {type, id}; action as name, uid or object', () => {
  const forms = [
    { principal: 'Agent::"ci-bot"', action: 'open_pr', resource: 'Repository::"acme/api"' },
    { principal: { type: 'Agent', id: 'ci-bot' }, action: 'open_pr', resource: { type: 'Repository', id: 'acme/api' } },
    { principal: 'Agent::"ci-bot"', action: 'Action::"open_pr"', resource: 'Repository::"acme/api"' },
    { principal: 'Agent::"ci-bot"', action: { type: 'Action', id: 'open_pr' }, resource: 'Repository::"acme/api"' },
    {
      principal: { __entity: { type: 'Agent', id: 'ci-bot' } },
      action: 'open_pr',
      resource: 'Repository::"acme/api"',
    },
  ]
  for (const f of forms) {
    const d = engine.authorize({ ...f, context: context() })
    assert.equal(d.outcome, 'allow', JSON.stringify(f) + ' ' + JSON.stringify(d.errors))
  }
})

test('context: Dates map to Cedar datetime; ISO strings work too', () => {
  const now = Date.now()
  const expired = {
    id: 'c',
    issued_at: new Date(now - 30 * 60e3),
    expires_at: new Date(now - 1000),
    scopes: ['repo:read'],
  }
  const req = { principal: 'Agent::"ci-bot"', action: 'read_repo', resource: 'Repository::"acme/api"' }
  const d = engine.authorize({ ...req, context: { credential: expired, session: session() } })
  assert.equal(d.outcome, 'deny')
  // The policy, or the engine's own credential guard that runs before Cedar.
  assert.match(d.reasons.map((r) => r.policyId).join(), /^(guard:)?credential-expired$/)
  const iso = credential(['repo:read'])
  iso.issued_at = iso.issued_at.toISOString()
  iso.expires_at = iso.expires_at.toISOString()
  assert.equal(engine.authorize({ ...req, context: { credential: iso, session: session() } }).outcome, 'allow')
  const plain = engine.authorize({
    ...req,
    context: {
      credential: { ...iso, issued_at: iso.issued_at.replace(/\.\d+Z$/, 'Z'), expires_at: iso.expires_at.replace(/\.\d+Z$/, 'Z') },
      session: session(),
    },
  })
  assert.equal(plain.outcome, 'allow', JSON.stringify(plain.errors))
  // Before 1970 too (through Date.prototype.toJSON): a valid datetime, far too long-lived.
  const old = engine.authorize({
    ...req,
    context: { credential: { ...credential(['repo:read']), issued_at: new Date('1969-07-20T20:17:00Z') }, session: session() },
  })
  assert.equal(old.outcome, 'deny')
  assert.deepEqual(old.errors, [])
  assert.deepEqual(
    old.reasons.map((r) => r.policyId),
    ['credential-lifetime-max-1h'],
  )
})

test('context: BigInt within 64 bits, undefined properties omitted, objects with toJSON', () => {
  const d = engine.authorize(openPr({ diff_lines: 42n, approval: undefined, path: { toJSON: () => 'src/x.rs' } }))
  assert.equal(d.outcome, 'allow', JSON.stringify(d.errors))
  const big = engine.authorize(openPr({ diff_lines: 5000n }))
  assert.equal(big.outcome, 'ask')
  assert.deepEqual(big.askOwners, ['eng-productivity'])
})

test('authorizeAt decides at the given time (Date, RFC 3339 string or epoch ms)', () => {
  const req = {
    principal: 'Agent::"deploy-bot"',
    action: 'deploy',
    resource: 'Environment::"production"',
    context: {
      credential: {
        id: 'c',
        issued_at: '2026-11-25T22:30:00Z',
        expires_at: '2026-11-25T23:30:00Z',
        scopes: ['deploy'],
      },
      session: session(),
      approval: { approver: 'dave@acme.dev', owner: 'release-managers' },
    },
  }
  for (const at of [new Date('2026-11-25T23:00:00Z'), '2026-11-25T23:00:00Z', Date.parse('2026-11-25T23:00:00Z')]) {
    const d = engine.authorizeAt(req, at)
    assert.equal(d.outcome, 'deny')
    assert.deepEqual(
      d.reasons.map((r) => r.policyId),
      ['prod-deploy-change-window'],
    )
  }
  // Inside the change window, with a credential valid then.
  const inWindow = {
    ...req,
    context: {
      ...req.context,
      credential: { ...req.context.credential, issued_at: '2026-11-25T09:30:00Z', expires_at: '2026-11-25T10:30:00Z' },
    },
  }
  assert.equal(engine.authorizeAt(inWindow, new Date('2026-11-25T10:00:00Z')).outcome, 'allow')
})

test('authorizeBatch returns decisions in request order', () => {
  const reqs = [
    openPr(),
    { ...openPr(), principal: 'Agent::"rogue-bot"' },
    { principal: 'Agent::"ci-bot"', action: 'read_secret', resource: 'Secret::"prod/api-db-password"', context: context({}, ['secrets:read']) },
    null,
  ]
  const ds = engine.authorizeBatch(reqs)
  assert.deepEqual(
    ds.map((d) => d.outcome),
    ['allow', 'deny', 'ask', 'deny'],
  )
  assert.deepEqual(ds.slice(0, 3), reqs.slice(0, 3).map((r) => engine.authorize(r)).map((d, i) => ({ ...d, evalUs: ds[i].evalUs })))
  assert.deepEqual(engine.authorizeBatch([]), [])
  // With a clock reading, like authorizeAt.
  const at = new Date('2026-11-25T10:00:00Z')
  const cases = agentauthz.loadCases(require('./_common').casesFile).filter((c) => c.now === '2026-11-25T10:00:00Z')
  assert.deepEqual(
    engine.authorizeBatch(cases.map((c) => c.request), at).map((d) => d.outcome),
    cases.map((c) => c.outcome),
  )
  assert.deepEqual(
    engine.authorizeBatch(cases.map((c) => c.request), undefined).map((d) => d.outcome),
    cases.map((c) => engine.authorize(c.request).outcome),
  )
})

test('new Engine({schema, policies, entities, errorMode}) from text', () => {
  const schema = read('coding-agent.cedarschema')
  const files = fs.readdirSync(exampleDir).filter((f) => f.endsWith('.cedar')).sort()
  const texts = files.map(read)
  const entities = read('entities.json')
  const one = new Engine({ schema, policies: texts.join('\n'), entities })
  const many = new Engine({ schema, policies: texts, entities: JSON.parse(entities) })
  assert.ok(one instanceof Engine)
  for (const e of [one, many]) {
    assert.equal(e.policyCount, 30)
    assert.equal(e.authorize(openPr()).outcome, 'allow')
  }
  // Without entities, nothing is known about ci-bot: no permit applies.
  const bare = new Engine({ schema, policies: texts })
  assert.equal(bare.authorize(openPr()).outcome, 'deny')
  assert.equal(new Engine({ schema, policies: texts, entities: null }).policyCount, 30)
})

test('error modes: cedar ignores @ask, strict is reported', () => {
  const cedar = Engine.fromDir(exampleDir, { errorMode: 'cedar' })
  assert.equal(cedar.errorMode, 'cedar')
  const req = {
    principal: 'Agent::"ci-bot"',
    action: 'read_secret',
    resource: 'Secret::"prod/api-db-password"',
    context: context({}, ['secrets:read']),
  }
  assert.equal(cedar.authorize(req).outcome, 'deny')
  assert.equal(Engine.fromDir(exampleDir, { errorMode: 'strict' }).errorMode, 'strict')
  assert.equal(Engine.fromDir(exampleDir, {}).errorMode, 'fail-closed')
})

test('the request is read when authorize is called, not later', async () => {
  const req = openPr()
  const p = engine.authorizeAsync(req)
  req.principal = 'Agent::"rogue-bot"'
  assert.equal((await p).outcome, 'allow')
})

test('works in a worker thread, with its own error classes', async () => {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const a = require(workerData.pkgDir)
    const e = a.Engine.fromDir(workerData.exampleDir)
    let err
    try { new a.Engine({ schema: 'entity A {', policies: '' }) } catch (x) { err = x }
    parentPort.postMessage({ policies: e.policyCount, isSchemaError: err instanceof a.SchemaError, code: err.code })
  `
  const worker = new Worker(code, { eval: true, workerData: { pkgDir, exampleDir } })
  const msg = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  await worker.terminate()
  assert.deepEqual(msg, { policies: 30, isSchemaError: true, code: 'SCHEMA_ERROR' })
  // The main thread's classes still work after the worker registered its own.
  assert.throws(() => new Engine({ schema: 'entity A {', policies: '' }), agentauthz.SchemaError)
})

test('index.d.ts is next to index.js and the package points at both', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))
  assert.equal(pkg.name, 'agentauthz')
  assert.equal(pkg.types, 'index.d.ts')
  assert.ok(fs.existsSync(path.join(pkgDir, pkg.types)))
})
