// MCP (Node): an McpServer whose tools are guarded by agentauthz, and real MCP clients
// over the SDK's in-memory transport. Each client's name is its principal, so the
// intern is not even shown run_command. Offline.
//
//   (cd bindings-node && npm install)
//   node policies-examples/mcp-tools/mcp_example.mjs

import { require, impl, makeGuard } from './workspace.mjs'

const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js')
const { Client } = require('@modelcontextprotocol/sdk/client/index.js')
const { InMemoryTransport } = require('@modelcontextprotocol/sdk/inMemory.js')
const { z } = require('zod')
const { guardMcpServer } = require('agentauthz/adapters')

const shapes = {
  read_file: { path: z.string(), max_bytes: z.number().int().optional() },
  write_file: { path: z.string(), content: z.string() },
  delete_file: { path: z.string() },
  run_command: { command: z.string(), argv: z.array(z.string()).optional() },
  fetch_url: { url: z.string(), timeout_s: z.number().optional() },
}

/** One server per connection (as the SDK serves one client per server instance). */
function buildServer() {
  const server = new McpServer({ name: 'workspace', version: '1.0.0' })
  for (const [name, inputSchema] of Object.entries(shapes)) {
    server.registerTool(name, { inputSchema }, async (args) => ({ content: [{ type: 'text', text: impl[name](args) }] }))
  }
  // The principal: the client's declared name (use the transport's authInfo behind HTTP).
  guardMcpServer(server, makeGuard(null), { agent: () => ({ type: 'Agent', id: server.server.getClientVersion().name }) })
  return server
}

async function session(name, calls) {
  console.log(`MCP client '${name}':`)
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
  await buildServer().connect(serverTransport)
  const client = new Client({ name, version: '1.0.0' })
  await client.connect(clientTransport)
  console.log('  tools listed:', (await client.listTools()).tools.map((t) => t.name).join(', '))
  for (const [tool, args] of calls) {
    const result = await client.callTool({ name: tool, arguments: args })
    console.log(`    -> ${result.isError ? 'ERROR ' : ''}${result.content[0].text.split('\n')[0]}`)
  }
  await client.close()
}

await session('ci-bot', [['run_command', { command: 'make', argv: ['test'] }], ['read_file', { path: '.env' }]])
await session('intern', [['run_command', { command: 'ls' }], ['delete_file', { path: 'src/app.py' }]])
