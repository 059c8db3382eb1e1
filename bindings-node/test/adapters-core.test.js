'use strict'
// agentauthz/adapters: the framework-independent guard (mapping, outcomes,
// approvals, recording), the Cedar schema fragments, and packaging (the
// frameworks are optional peers, not dependencies).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { pkgDir } = require('./_common')
const { toolsDir, TOOLS, toolsEngine, makeGuard } = require('./_tools')
const adapters = require('agentauthz/adapters') // the package's "exports" subpath
const { ToolGuard, Verdict, cedarSchemaForTools, cedarType, typedArguments } = adapters
const { Engine } = require('..')

test('package: adapters subpath export; frameworks are optional peers, not dependencies', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))
  assert.deepEqual(pkg.exports['./adapters'], { types: './adapters.d.ts', default: './adapters.js' })
  assert.equal(pkg.dependencies, undefined)
  for (const name of ['ai', '@modelcontextprotocol/sdk']) {
    assert.ok(pkg.peerDependencies[name], name)
    assert.equal(pkg.peerDependenciesMeta[name].optional, true, name)
    assert.ok(pkg.devDependencies[name], name)
  }
  assert.ok(pkg.files.includes('adapters.js') && pkg.files.includes('adapters.d.ts'))
  // loading the adapters loads no framework (and not the native module)
  const r = spawnSync(
    process.execPath,
    ['-e', "require('agentauthz/adapters'); console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /node_modules|agentauthz\\.node/.test(f))))"],
    { cwd: pkgDir, encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), '[]')
})

test('default mapping and per-tool overrides', async () => {
  const engine = toolsEngine()
  const g = new ToolGuard(engine, { principal: 'Agent::"ci-bot"' })
  assert.deepEqual(g.request({ tool: 'read_file', arguments: { path: 'README.md' } }), {
    principal: 'Agent::"ci-bot"',
    action: 'read_file',
    resource: { type: 'Tool', id: 'read_file' },
    context: { path: 'README.md' },
  })
  assert.deepEqual(g.request({ tool: 'read_file', arguments: {}, agent: { type: 'Agent', id: 'intern' } }).principal, {
    type: 'Agent',
    id: 'intern',
  })
  const seen = []
  const g2 = new ToolGuard(engine, {
    principal: 'Agent::"ci-bot"',
    default: { context: (c) => ({ path: c.arguments.file }) },
    rules: {
      cat: { action: 'read_file', resource: (c) => (seen.push(c.tool), 'Tool::"read_file"') },
      shell: { action: 'run_command', principal: 'Agent::"intern"', context: { command: 'ls' } },
    },
  })
  const cat = await g2.check({ tool: 'cat', arguments: { file: '.env' } })
  assert.deepEqual(cat.request.context, { path: '.env' })
  assert.deepEqual(cat.decision.reasons.map((r) => r.policyId), ['no-secret-files'])
  assert.deepEqual(seen, ['cat'])
  const shell = await g2.check({ tool: 'shell', arguments: {}, agent: 'Agent::"ci-bot"' })
  assert.equal(shell.request.principal, 'Agent::"intern"')
  assert.deepEqual(shell.decision.reasons.map((r) => r.policyId), ['interns-no-shell'])
  assert.throws(() => new ToolGuard(engine, { rules: { x: { actoin: 'read_file' } } }), /unknown rule keys actoin/)
  assert.throws(() => new ToolGuard({}), /Engine/)
})

test('allow runs, deny refuses (the tool does not run), each verdict recorded', async () => {
  const log = []
  const g = makeGuard(log)
  const ran = []
  assert.equal(await g.run({ tool: 'read_file', arguments: { path: 'README.md' } }, () => (ran.push('read'), 'contents')), 'contents')
  const refused = await g.run({ tool: 'read_file', arguments: { path: 'app/.env' } }, async () => (ran.push('secret'), 'leak'))
  assert.deepEqual(ran, ['read'])
  assert.match(refused, /^Tool call refused: `read_file` is not allowed here \(denied by policy no-secret-files \(owner: security\)\)/)
  assert.deepEqual(log.map((v) => [v.call.tool, v.outcome, v.proceed]), [['read_file', 'allow', true], ['read_file', 'deny', false]])
  assert.ok(log[1] instanceof Verdict)
  const summary = JSON.parse(JSON.stringify(log[1]))
  assert.equal(summary.principal, 'Agent::"ci-bot"')
  assert.equal(summary.resource, 'Tool::"read_file"')
  assert.deepEqual(summary.decision.reasons, ['no-secret-files'])
})

test('ask runs only when the approver approves (sync or async); without one it is refused', async () => {
  const log = []
  const asked = []
  const g = makeGuard(log, {
    approver: async (v) => (asked.push(v), String(v.call.arguments.path).startsWith('tmp/')),
  })
  const ran = []
  assert.equal(await g.run({ tool: 'delete_file', arguments: { path: 'tmp/x' } }, () => (ran.push('tmp'), 'deleted')), 'deleted')
  const refused = await g.run({ tool: 'delete_file', arguments: { path: 'src/app.py' } }, () => (ran.push('src'), 'deleted'))
  assert.deepEqual(ran, ['tmp'])
  assert.equal(refused, 'Tool call refused: `delete_file` needs approval from platform, who did not approve it.')
  assert.deepEqual(asked.map((v) => v.decision.askOwner), ['platform', 'platform'])
  assert.deepEqual(log.map((v) => [v.outcome, v.approved, v.proceed]), [['ask', true, true], ['ask', false, false]])
  // a truthy non-boolean is not an approval
  const truthy = makeGuard([], { approver: () => 'yes' })
  assert.equal((await truthy.check({ tool: 'delete_file', arguments: { path: 'tmp/x' } })).proceed, false)
  // no approver
  const none = await makeGuard([]).check({ tool: 'delete_file', arguments: { path: 'tmp/x' } })
  assert.deepEqual([none.outcome, none.approved, none.proceed], ['ask', null, false])
  assert.equal(none.message, 'Tool call refused: `delete_file` needs approval from platform, and none was given.')
  // an approver that throws: recorded as not approved, and the error propagates
  const errLog = []
  const failing = makeGuard(errLog, { approver: async () => { throw new Error('approval service down') } })
  await assert.rejects(failing.run({ tool: 'delete_file', arguments: { path: 'tmp/x' } }, () => ran.push('no')), /approval service down/)
  assert.deepEqual(errLog.map((v) => [v.outcome, v.approved]), [['ask', false]])
  assert.deepEqual(ran, ['tmp'])
})

test('an approval goes through the engine: approve (one use) then decide again; a refusal then stops the tool', async () => {
  const log = []
  const guard = makeGuard(log, { approver: () => true, approverName: 'alice' })
  const ran = []
  assert.equal(await guard.run({ tool: 'delete_file', arguments: { path: 'tmp/a' } }, () => (ran.push('a'), 'deleted')), 'deleted')
  let v = log.at(-1)
  assert.deepEqual([v.outcome, v.approved, v.proceed], ['ask', true, true])
  assert.equal(v.approval.outcome, 'allow')
  assert.deepEqual(v.approval.reasons.map((r) => r.policyId ?? r), ['approval:' + v.decision.approvalId])
  assert.match(JSON.stringify(v.approval), /alice/)
  // one use: the same call asks again
  assert.equal(guard.engine.authorize(v.request).outcome, 'ask')
  // the engine refuses after the approval (the agent was revoked meanwhile): the tool does not run
  const revoking = new ToolGuard(guard.engine, {
    principal: 'Agent::"ci-bot"',
    default: { context: typedArguments(TOOLS) },
    onDecision: (x) => log.push(x),
    approver: () => (guard.engine.revoke({ agent: 'Agent::"ci-bot"' }, 'incident'), true),
  })
  assert.notEqual(await revoking.run({ tool: 'delete_file', arguments: { path: 'tmp/b' } }, () => (ran.push('b'), 'deleted')), 'deleted')
  v = log.at(-1)
  assert.deepEqual([v.outcome, v.approved, v.proceed], ['ask', false, false])
  assert.equal(v.approval.outcome, 'deny')
  assert.match(v.error, /after the approval/)
  assert.deepEqual(ran, ['a'])
})

test('fail closed on unmappable calls', async () => {
  const log = []
  const plain = new ToolGuard(toolsEngine(), { principal: 'Agent::"ci-bot"', onDecision: (v) => log.push(v) })
  // 2.5 has no Cedar value: the engine denies the request with an error
  const v = await plain.check({ tool: 'fetch_url', arguments: { url: 'https://pypi.org/', timeout_s: 2.5 } })
  assert.equal(v.outcome, 'deny')
  assert.ok(v.decision.errors.length > 0)
  assert.match(v.message, /errors:/)
  // typedArguments drops it, so the policies decide
  assert.equal((await makeGuard([]).check({ tool: 'fetch_url', arguments: { url: 'https://pypi.org/', timeout_s: 2.5 } })).proceed, true)
  // a rule that throws
  const broken = new ToolGuard(toolsEngine(), { principal: 'Agent::"a"', rules: { read_file: { context: () => { throw new RangeError('boom') } } } })
  const b = await broken.check({ tool: 'read_file', arguments: {} })
  assert.equal(b.outcome, 'deny')
  assert.equal(b.decision, null)
  assert.match(b.error, /RangeError: boom/)
  // no principal
  const n = await new ToolGuard(toolsEngine()).check({ tool: 'read_file', arguments: {} })
  assert.equal(n.outcome, 'deny')
  assert.match(n.error, /no principal/)
  // an unknown tool has no action in the schema
  assert.equal((await makeGuard([]).check({ tool: 'format_disk', arguments: {} })).outcome, 'deny')
})

test('schema fragment equals the Python-derived example schema and loads with policies', () => {
  const schema = fs.readFileSync(path.join(toolsDir, 'mcp-tools.cedarschema'), 'utf8')
  const body = schema
    .split('\n')
    .filter((l) => !l.startsWith('// The Cedar') && !l.startsWith('//   python'))
    .join('\n')
  assert.equal(body, 'entity Agent;\n' + cedarSchemaForTools(TOOLS))
  const tools = [
    {
      name: 'fs.write-file',
      description: 'Write\n a file.',
      inputSchema: {
        type: 'object',
        properties: {
          path: { type: 'string' },
          mode: { type: 'integer' },
          tags: { type: 'array', items: { type: 'string' } },
          opts: { type: 'object', properties: { overwrite: { type: 'boolean' }, ratio: { type: 'number' } } },
          ratio: { type: 'number' },
        },
      },
    },
    { name: 'ping' },
  ]
  const fragment = cedarSchemaForTools(tools, { principal: ['Agent', 'User'], resource: 'McpTool' })
  assert.match(fragment, /\/\/ Write a file\./)
  assert.match(fragment, /action "ping" appliesTo \{ principal: \[Agent, User\], resource: \[McpTool\], context: \{\} \};/)
  const engine = new Engine({
    schema: 'entity Agent;\nentity User;\n' + fragment,
    policies: `
      @id("write") permit (principal, action == Action::"fs.write-file", resource) when { context has path && context.path like "/tmp/*" };
      @id("no-overwrite") forbid (principal, action, resource) when { context has opts && context.opts has overwrite && context.opts.overwrite };`,
  })
  const ctx = typedArguments(tools)
  const decide = (args) =>
    engine.authorize({ principal: 'Agent::"a"', action: 'fs.write-file', resource: 'McpTool::"fs.write-file"', context: ctx({ tool: 'fs.write-file', arguments: args }) })
  assert.equal(decide({ path: '/tmp/x', mode: 420, tags: ['a'], ratio: 0.5 }).outcome, 'allow')
  assert.equal(decide({ path: '/etc/x' }).outcome, 'deny')
  assert.deepEqual(decide({ path: '/tmp/x', opts: { overwrite: true, ratio: 0.1 } }).reasons.map((r) => r.policyId), ['no-overwrite'])
  assert.throws(() => cedarSchemaForTools([{ name: 'a' }, { name: 'a' }]), /duplicate/)
  for (const [prop, ty] of [
    [{ type: 'string' }, 'String'],
    [{ type: ['integer', 'null'] }, 'Long'],
    [{ anyOf: [{ type: 'boolean' }, { type: 'null' }] }, 'Bool'],
    [{ type: 'array', items: { type: 'integer' } }, 'Set<Long>'],
    [{ type: 'number' }, null],
    [{ type: 'array' }, null],
    [{}, null],
  ]) {
    assert.equal(cedarType(prop), ty, JSON.stringify(prop))
  }
})
