// Overhead of the Node framework adapters per tool call, over a bare authorize.
//
// Not a test. Run from the repository root:
//
//     (cd bindings-node && npm install)      # the native module, `ai`, the MCP SDK
//     node benches/node_adapters_bench.mjs [--rounds 200] [--batch 200]
//
// The engine is policies-examples/mcp-tools; the call is read_file {path:
// "README.md"} (allowed). Each row is the median over rounds of the mean time per
// call in a batch (process.hrtime.bigint), rows interleaved round by round so
// machine noise hits them alike; async rows await each call in one async loop.
// Overhead = row - bare authorize (async rows: - bare authorize awaited in the
// same kind of loop). The framework rows are measured against a *bare authorize
// in the same slot*: a minimal hand-written wrapper that calls
// engine.authorize and then the unguarded execute / handler, as the Python
// bench does. Running the framework's code right after a decision costs more
// than the two apart (measured for MCP: 11.2 us decide + 2.8 us handler, 17.3 us
// together), and that cost is the framework's, paid by any integration:
//
// - ToolGuard.decide / check: map the call (typedArguments), authorize, build and
//   record the Verdict;
// - AI SDK: a guardTools() tool's execute vs the unguarded tool()'s execute;
// - MCP: the guarded tools/call handler of an McpServer vs the unguarded one
//   (the SDK's own validation and the tool run in both).

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(new URL('../bindings-node/package.json', import.meta.url))
const { Engine } = require('agentauthz')
const { ToolGuard, typedArguments, guardTools, guardMcpServer } = require('agentauthz/adapters')

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const rounds = arg('--rounds', 200)
const batch = arg('--batch', 200)

const dir = new URL('../policies-examples/mcp-tools/', import.meta.url).pathname
const TOOLS = JSON.parse(readFileSync(dir + 'tools.json', 'utf8'))
const engine = Engine.fromDir(dir)
const ARGS = { path: 'README.md' }
const PRINCIPAL = 'Agent::"ci-bot"'
let recorded = 0
const guard = new ToolGuard(engine, {
  principal: PRINCIPAL,
  default: { context: typedArguments(TOOLS) },
  onDecision: () => recorded++,
})
const request = () => ({ principal: PRINCIPAL, action: 'read_file', resource: { type: 'Tool', id: 'read_file' }, context: { ...ARGS } })

const rows = {
  'bare authorize': { fn: () => engine.authorize(request()) },
  'ToolGuard.decide': { fn: () => guard.decide({ tool: 'read_file', arguments: ARGS }) },
  'bare authorize (awaited, async loop)': { fn: async () => engine.authorize(request()), async: true },
  'ToolGuard.check (awaited)': { fn: () => guard.check({ tool: 'read_file', arguments: ARGS }), async: true },
}

try {
  const { tool } = require('ai')
  const { z } = require('zod')
  const plain = tool({ description: 'Read', inputSchema: z.object({ path: z.string() }), execute: async ({ path }) => `contents of ${path}` })
  const guarded = guardTools({ read_file: plain }, guard).read_file
  const opts = { toolCallId: 'c1', messages: [] }
  if ((await guarded.execute(ARGS, opts)) !== 'contents of README.md') throw new Error('guarded tool did not run')
  rows['AI SDK execute (unguarded)'] = { fn: () => plain.execute(ARGS, opts), async: true }
  rows['AI SDK bare authorize + execute'] = {
    fn: async () => {
      if (!engine.authorize(request()).allowed) return 'refused'
      return plain.execute(ARGS, opts)
    },
    async: true,
  }
  rows['AI SDK execute (guardTools)'] = { fn: () => guarded.execute(ARGS, opts), async: true }
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND') throw e
  console.log('(ai not installed: AI SDK rows skipped)')
}

try {
  const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js')
  const { z } = require('zod')
  const handlerOf = (guarded) => {
    const server = new McpServer({ name: 'bench', version: '1.0.0' })
    server.registerTool('read_file', { inputSchema: { path: z.string() } }, async ({ path }) => ({ content: [{ type: 'text', text: path }] }))
    if (guarded) guardMcpServer(server, guard)
    return server.server._requestHandlers.get('tools/call')
  }
  const plainHandler = handlerOf(false)
  const guardedHandler = handlerOf(true)
  const req = { method: 'tools/call', params: { name: 'read_file', arguments: ARGS } }
  const extra = { signal: new AbortController().signal, requestId: 1, sendNotification: async () => {}, sendRequest: async () => {} }
  const out = await guardedHandler(req, extra)
  if (out.isError) throw new Error(`guarded MCP call failed: ${JSON.stringify(out)}`)
  rows['MCP tools/call handler (unguarded)'] = { fn: () => plainHandler(req, extra), async: true }
  rows['MCP bare authorize + handler'] = {
    fn: async () => {
      const { name, arguments: args } = req.params
      if (!engine.authorize({ principal: PRINCIPAL, action: name, resource: { type: 'Tool', id: name }, context: { ...args } }).allowed) {
        return { content: [{ type: 'text', text: 'refused' }], isError: true }
      }
      return plainHandler(req, extra)
    },
    async: true,
  }
  rows['MCP tools/call handler (guardMcpServer)'] = { fn: () => guardedHandler(req, extra), async: true }
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND') throw e
  console.log('(@modelcontextprotocol/sdk not installed: MCP rows skipped)')
}

async function timed({ fn, async }) {
  const t0 = process.hrtime.bigint()
  if (async) for (let i = 0; i < batch; i++) await fn()
  else for (let i = 0; i < batch; i++) fn()
  return Number(process.hrtime.bigint() - t0) / batch / 1000
}

const samples = Object.fromEntries(Object.keys(rows).map((k) => [k, []]))
for (const row of Object.values(rows)) await timed(row) // warm up
for (let r = 0; r < rounds; r++) {
  for (const [name, row] of Object.entries(rows)) samples[name].push(await timed(row))
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]))
const bare = med['bare authorize']
const bareAsync = med['bare authorize (awaited, async loop)']
const overhead = {
  'ToolGuard.decide': med['ToolGuard.decide'] - bare,
  'ToolGuard.check (awaited)': med['ToolGuard.check (awaited)'] - bareAsync,
  'AI SDK execute (guardTools)': med['AI SDK execute (guardTools)'] - med['AI SDK bare authorize + execute'],
  'MCP tools/call handler (guardMcpServer)': med['MCP tools/call handler (guardMcpServer)'] - med['MCP bare authorize + handler'],
}
console.log(`Node ${process.version}; ${rounds} rounds x ${batch} calls; median us/call (${recorded} verdicts recorded)`)
console.log(`${'row'.padEnd(44)} ${'median'.padStart(8)} ${'overhead'.padStart(9)}`)
for (const [name, m] of Object.entries(med)) {
  const o = overhead[name]
  console.log(`${name.padEnd(44)} ${m.toFixed(2).padStart(8)} ${o === undefined || Number.isNaN(o) ? '' : (o >= 0 ? '+' : '') + o.toFixed(2).padStart(8)}`)
}
