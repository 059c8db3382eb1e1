'use strict'
// engine.guard(spec, tool): the tool runs only when the decision is allow.
const test = require('node:test')
const assert = require('node:assert/strict')
const { agentauthz, exampleDir, context } = require('./_common')

const { Engine, DeniedError, ApprovalRequiredError, AgentAuthzError, RequestError } = agentauthz
const engine = Engine.fromDir(exampleDir)

const callApi = {
  action: 'call_api',
  principal: 'Agent::"ci-bot"',
  resource: (args) => `ApiHost::"${new URL(args.url).host}"`,
  context: (args) => context({ host: new URL(args.url).host, url: args.url }, ['api']),
}

function recorder(impl) {
  const calls = []
  const fn = function (...args) {
    calls.push(args)
    return impl ? impl.apply(this, args) : { ok: true, args }
  }
  return { fn, calls }
}

test('sync tool: allowed calls run the tool and return its result', () => {
  const tool = recorder((args) => `fetched ${args.url}`)
  const fetchTool = engine.guard(callApi, tool.fn)
  assert.equal(fetchTool({ url: 'https://pypi.org/simple/requests/' }), 'fetched https://pypi.org/simple/requests/')
  assert.equal(tool.calls.length, 1)
  assert.equal(typeof fetchTool, 'function')
})

test('sync tool: a deny throws DeniedError before the tool runs', () => {
  const tool = recorder()
  const fetchTool = engine.guard(callApi, tool.fn)
  let err
  try {
    fetchTool({ url: 'https://pastebin.com/api/api_post.php' })
  } catch (e) {
    err = e
  }
  assert.ok(err instanceof DeniedError)
  assert.ok(err instanceof AgentAuthzError)
  assert.equal(err.code, 'DENIED')
  assert.equal(err.decision.outcome, 'deny')
  assert.deepEqual(
    err.decision.reasons.map((r) => r.policyId),
    ['api-host-allowlist'],
  )
  assert.equal(err.request.resource, 'ApiHost::"pastebin.com"')
  assert.match(err.message, /^denied: Agent::"ci-bot" -> call_api on ApiHost::"pastebin\.com" \(policies: api-host-allowlist\)$/)
  assert.equal(tool.calls.length, 0)
})

test('sync tool: an ask throws ApprovalRequiredError naming the owner; approval lets it run', () => {
  const tool = recorder(() => 'secret-value')
  const spec = {
    action: 'read_secret',
    principal: { type: 'Agent', id: 'ci-bot' },
    resource: (name) => ({ type: 'Secret', id: name }),
    context: (name, approval) => context({ approval }, ['secrets:read']),
  }
  const readSecret = engine.guard(spec, tool.fn)
  assert.throws(
    () => readSecret('prod/api-db-password'),
    (e) => {
      assert.ok(e instanceof ApprovalRequiredError)
      assert.equal(e.code, 'APPROVAL_REQUIRED')
      assert.equal(e.askOwner, 'security')
      assert.deepEqual(e.askOwners, ['security'])
      assert.equal(e.decision.outcome, 'ask')
      assert.match(e.message, /^approval required from security: Agent::"ci-bot" -> read_secret on Secret::"prod\/api-db-password"/)
      return true
    },
  )
  assert.equal(tool.calls.length, 0)
  assert.equal(readSecret('prod/api-db-password', { approver: 'carol@acme.dev', owner: 'security' }), 'secret-value')
  assert.equal(tool.calls.length, 1)
})

test('async tool: the wrapper is async; denials reject instead of throwing', async () => {
  const calls = []
  const fetchTool = engine.guard(callApi, async (args) => {
    calls.push(args)
    await new Promise((r) => setTimeout(r, 1))
    return { status: 200, url: args.url }
  })
  const ok = fetchTool({ url: 'https://api.github.com/repos' })
  assert.ok(ok instanceof Promise)
  assert.deepEqual(await ok, { status: 200, url: 'https://api.github.com/repos' })
  const denied = fetchTool({ url: 'https://webhook.site/abc' })
  assert.ok(denied instanceof Promise, 'an async wrapper never throws synchronously')
  await assert.rejects(denied, (e) => e instanceof DeniedError && e.decision.reasons[0].policyId === 'api-host-allowlist')
  assert.equal(calls.length, 1)
  // Errors from the tool itself pass through.
  const failing = engine.guard(callApi, async () => {
    throw new Error('upstream 503')
  })
  await assert.rejects(failing({ url: 'https://pypi.org/' }), /upstream 503/)
})

test('async tool: asks reject with ApprovalRequiredError', async () => {
  const deploy = engine.guard(
    {
      action: 'deploy',
      principal: 'Agent::"deploy-bot"',
      resource: (env) => `Environment::"${env}"`,
      context: () => context({}, ['deploy']),
    },
    async (env) => `deployed ${env}`,
  )
  assert.equal(await deploy('staging'), 'deployed staging')
  const hour = new Date().getUTCHours()
  if (hour >= 9 && hour < 17) {
    await assert.rejects(deploy('production'), (e) => e instanceof ApprovalRequiredError && e.askOwner === 'release-managers')
  } else {
    // Outside the change window production deploys are denied outright.
    await assert.rejects(deploy('production'), DeniedError)
  }
})

test('a tool returning a promise without being async still gets checked first', async () => {
  const tool = recorder(() => Promise.resolve('later'))
  const fetchTool = engine.guard(callApi, tool.fn)
  assert.equal(await fetchTool({ url: 'https://pypi.org/' }), 'later')
  assert.throws(() => fetchTool({ url: 'https://pastebin.com/' }), DeniedError)
  assert.equal(tool.calls.length, 1)
})

test('`this` and all arguments reach the tool', () => {
  const client = {
    base: 'https://pypi.org',
    get: engine.guard(
      { ...callApi, resource: (args) => `ApiHost::"${new URL(args.url).host}"` },
      function (args, extra) {
        return [this.base, args.url, extra]
      },
    ),
  }
  assert.deepEqual(client.get({ url: 'https://pypi.org/x' }, 42), ['https://pypi.org', 'https://pypi.org/x', 42])
  assert.equal(client.get.name, 'guarded tool')
  function namedTool() {}
  assert.equal(engine.guard(callApi, namedTool).name, 'guarded namedTool')
})

test('principal, resource and context may be values or functions', () => {
  const tool = recorder()
  const fixed = engine.guard(
    {
      action: 'read_repo',
      principal: (who) => `Agent::"${who}"`,
      resource: 'Repository::"acme/api"',
      context: context(),
    },
    tool.fn,
  )
  fixed('ci-bot')
  assert.throws(() => fixed('rogue-bot'), (e) => e instanceof DeniedError && e.decision.reasons[0].policyId === 'agent-suspended')
  assert.equal(tool.calls.length, 1)
})

test('a bad request built by the spec denies (fail closed); exceptions in spec functions propagate', () => {
  const tool = recorder()
  const bad = engine.guard({ ...callApi, resource: () => 'not an entity' }, tool.fn)
  assert.throws(
    () => bad({ url: 'https://pypi.org/' }),
    (e) => e instanceof DeniedError && /invalid resource/.test(e.decision.errors[0].message) && /errors: invalid resource/.test(e.message),
  )
  const throwing = engine.guard(callApi, tool.fn)
  assert.throws(() => throwing({ url: 'not a url' }), TypeError) // new URL() throws
  assert.equal(tool.calls.length, 0)
})

test('guard checks its arguments', () => {
  const tool = () => {}
  for (const [spec, fn, message] of [
    [undefined, tool, /spec must be an object/],
    [{ ...callApi, action: undefined }, tool, /spec\.action must be/],
    [{ ...callApi, action: '' }, tool, /spec\.action must be/],
    [{ ...callApi, principal: undefined }, tool, /spec\.principal must be/],
    [{ ...callApi, resource: 42 }, tool, /spec\.resource must be/],
    [{ ...callApi, context: 'x' }, tool, /spec\.context must be/],
    [callApi, 'not a function', /tool must be a function/],
  ]) {
    assert.throws(() => engine.guard(spec, fn), (e) => e instanceof RequestError && e.code === 'REQUEST_ERROR' && message.test(e.message))
  }
})
