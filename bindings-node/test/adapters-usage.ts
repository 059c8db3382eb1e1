// Type-checked (not run) by adapters-types.test.js: the adapters as documented.
import { Engine } from 'agentauthz'
import { ToolGuard, Verdict, guardTools, guardMcpServer, cedarSchemaForTools, typedArguments } from 'agentauthz/adapters'
import { tool } from 'ai'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'

const tools = [{ name: 'read_file', inputSchema: { type: 'object', properties: { path: { type: 'string' } } } }]
const engine = new Engine({ schema: 'entity Agent;\n' + cedarSchemaForTools(tools), policies: 'permit(principal, action, resource);' })
const log: Verdict[] = []
const guard = new ToolGuard(engine, {
  principal: 'Agent::"ci-bot"',
  default: { context: typedArguments(tools) },
  rules: { cat: { action: 'read_file', resource: (call) => ({ type: 'Tool', id: call.tool }) } },
  approver: async (v: Verdict) => v.decision?.askOwner === 'platform',
  onDecision: (v) => log.push(v),
})

const aiTools = guardTools(
  {
    read_file: tool({
      description: 'Read a file',
      inputSchema: z.object({ path: z.string() }),
      execute: async ({ path }) => `contents of ${path}`,
    }),
  },
  guard,
  { agent: (options) => (options.experimental_context as { agent: string }).agent },
)
const readFile = aiTools.read_file // same type as the input tool
void readFile

const server = new McpServer({ name: 'workspace', version: '1.0.0' })
const same: McpServer = guardMcpServer(server, guard, { agent: (extra) => ({ type: 'Agent', id: String(extra.authInfo?.clientId) }) })
void same

async function direct(): Promise<string> {
  const v = await guard.check({ tool: 'read_file', arguments: { path: 'x' } })
  const summary = v.toJSON()
  const out: string | number = await guard.run({ tool: 'read_file', arguments: {} }, async () => 42)
  return `${v.proceed} ${summary.outcome} ${out} ${guard.decide({ tool: 'x', arguments: {} }).outcome}`
}
void direct
