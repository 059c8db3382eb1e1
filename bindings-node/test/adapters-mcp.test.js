'use strict'
// MCP adapter with the real @modelcontextprotocol/sdk: guarded servers (McpServer and
// the low-level Server) and a real Client over the SDK's in-memory transport. A tool
// denied to a principal is neither listed nor callable by it.

const test = require('node:test')
const assert = require('node:assert/strict')
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js')
const { Server } = require('@modelcontextprotocol/sdk/server/index.js')
const { Client } = require('@modelcontextprotocol/sdk/client/index.js')
const { InMemoryTransport } = require('@modelcontextprotocol/sdk/inMemory.js')
const { ListToolsRequestSchema, CallToolRequestSchema } = require('@modelcontextprotocol/sdk/types.js')
const { z } = require('zod')
const { guardMcpServer, cedarSchemaForTools } = require('agentauthz/adapters')
const { TOOLS, makeGuard, auditedGuard } = require('./_tools')

/** The caller's principal: the client's declared name (the SDK serves one client per server). */
const caller = (server) => () => ({ type: 'Agent', id: server.server.getClientVersion().name })

function registerTools(server, ran) {
  server.registerTool(
    'read_file',
    { description: 'Read a text file of the workspace.', inputSchema: { path: z.string(), max_bytes: z.number().int().optional() } },
    async ({ path }) => (ran.push(`read ${path}`), { content: [{ type: 'text', text: `contents of ${path}` }] }),
  )
  server.registerTool(
    'delete_file',
    { description: 'Delete a file of the workspace.', inputSchema: { path: z.string() } },
    async ({ path }) => (ran.push(`delete ${path}`), { content: [{ type: 'text', text: `deleted ${path}` }] }),
  )
  server.registerTool(
    'run_command',
    { description: 'Run a command in the workspace.', inputSchema: { command: z.string(), argv: z.array(z.string()).optional() } },
    async ({ command }) => (ran.push(`run ${command}`), { content: [{ type: 'text', text: `ran ${command}` }] }),
  )
}

async function connect(server, name) {
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
  await server.connect(serverTransport)
  const client = new Client({ name, version: '1.0.0' })
  await client.connect(clientTransport)
  return client
}

const text = (result) => result.content[0].text

test('a denied tool is neither listed nor callable (guarded before the tools are registered)', async () => {
  const ran = []
  const log = []
  const serve = async (name) => {
    const server = new McpServer({ name: 'workspace', version: '1.0.0' })
    guardMcpServer(server, makeGuard(log, { principal: null }), { agent: caller(server) })
    registerTools(server, ran)
    return connect(server, name)
  }
  const intern = await serve('intern')
  assert.deepEqual((await intern.listTools()).tools.map((t) => t.name), ['read_file', 'delete_file'])
  const refused = await intern.callTool({ name: 'run_command', arguments: { command: 'ls' } })
  assert.equal(refused.isError, true)
  assert.match(text(refused), /interns-no-shell/)
  assert.deepEqual(ran, []) // the handler never ran
  const bot = await serve('ci-bot')
  assert.deepEqual((await bot.listTools()).tools.map((t) => t.name), ['read_file', 'delete_file', 'run_command'])
  const ok = await bot.callTool({ name: 'run_command', arguments: { command: 'ls', argv: ['-l'] } })
  assert.equal(ok.isError, undefined)
  assert.equal(text(ok), 'ran ls')
  assert.deepEqual(ran, ['run ls'])
  // listing is not recorded; each call is
  assert.deepEqual(log.map((v) => [v.toJSON().principal, v.call.tool, v.outcome]), [
    ['Agent::"intern"', 'run_command', 'deny'],
    ['Agent::"ci-bot"', 'run_command', 'allow'],
  ])
  assert.deepEqual(log[1].call.arguments, { command: 'ls', argv: ['-l'] })
  await intern.close()
  await bot.close()
})

test('allow, deny and ask over MCP (guarded after the tools are registered)', async () => {
  const ran = []
  const log = []
  const asked = []
  const server = new McpServer({ name: 'workspace', version: '1.0.0' })
  registerTools(server, ran)
  const { guard, trail } = auditedGuard(log, { approver: async (v) => (asked.push(v), v.call.arguments.path === 'tmp/build.log') })
  assert.equal(guardMcpServer(server, guard), server)
  guardMcpServer(server, guard) // guarding twice does not decide twice
  const client = await connect(server, 'ci-bot')
  const results = []
  for (const [name, args] of [
    ['read_file', { path: 'README.md' }],
    ['read_file', { path: '.env' }],
    ['delete_file', { path: 'tmp/build.log' }],
    ['delete_file', { path: 'src/app.py' }],
  ]) {
    results.push(await client.callTool({ name, arguments: args }))
  }
  assert.deepEqual(ran, ['read README.md', 'delete tmp/build.log'])
  assert.deepEqual(results.map((r) => r.isError === true), [false, true, false, true])
  assert.equal(text(results[0]), 'contents of README.md')
  assert.match(text(results[1]), /no-secret-files \(owner: security\)/)
  assert.equal(text(results[2]), 'deleted tmp/build.log')
  assert.equal(text(results[3]), 'Tool call refused: `delete_file` needs approval from platform, who did not approve it.')
  assert.deepEqual(asked.map((v) => v.decision.askOwner), ['platform', 'platform'])
  assert.deepEqual(
    log.map((v) => [v.call.tool, v.outcome, v.approved, v.proceed]),
    [
      ['read_file', 'allow', null, true],
      ['read_file', 'deny', null, false],
      ['delete_file', 'ask', true, true],
      ['delete_file', 'ask', false, false],
    ],
  )
  await client.close()
  // The engine's audit log records each call in order (a client's calls are
  // sequential here); the approved ask is decided again after the approval.
  assert.deepEqual(trail(), [
    ['read_file', 'README.md', 'allow'],
    ['read_file', '.env', 'deny'],
    ['delete_file', 'tmp/build.log', 'ask'],
    ['delete_file', 'tmp/build.log', 'allow'],
    ['delete_file', 'src/app.py', 'ask'],
  ])
})

test('low-level Server with raw JSON-schema tools; the listed tools give the schema fragment', async () => {
  const ran = []
  const log = []
  const server = new Server({ name: 'lowlevel', version: '1.0.0' }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }))
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    ran.push(request.params.name)
    return { content: [{ type: 'text', text: `ran ${request.params.name}` }] }
  })
  guardMcpServer(server, makeGuard(log, { principal: null }), { agent: () => ({ type: 'Agent', id: server.getClientVersion().name }) })
  const client = await connect(server, 'intern')
  const listed = (await client.listTools()).tools
  assert.deepEqual(listed.map((t) => t.name), ['read_file', 'write_file', 'delete_file', 'fetch_url'])
  const denied = await client.callTool({ name: 'run_command', arguments: { command: 'ls' } })
  const fetched = await client.callTool({ name: 'fetch_url', arguments: { url: 'https://pypi.org/simple/', timeout_s: 1.5 } })
  assert.equal(denied.isError, true)
  assert.equal(fetched.isError, undefined)
  assert.deepEqual(ran, ['fetch_url'])
  assert.deepEqual(log.map((v) => v.outcome), ['deny', 'allow'])
  assert.match(cedarSchemaForTools(listed), /action "fetch_url" appliesTo \{ principal: \[Agent\], resource: \[Tool\], context: \{"url"\?: String\} \};/)
  assert.throws(() => guardMcpServer({}, makeGuard([])), /McpServer or Server/)
  await client.close()
})
