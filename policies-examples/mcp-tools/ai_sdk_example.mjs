// Vercel AI SDK: tool() definitions guarded by agentauthz, run by generateText with
// the SDK's scripted model (MockLanguageModelV3 from 'ai/test'): no network.
//
//   (cd bindings-node && npm install)
//   node policies-examples/mcp-tools/ai_sdk_example.mjs

import { require, impl, makeGuard } from './workspace.mjs'

const { generateText, tool, stepCountIs } = require('ai')
const { MockLanguageModelV3 } = require('ai/test')
const { z } = require('zod')
const { guardTools } = require('agentauthz/adapters')

const tools = guardTools(
  {
    read_file: tool({ description: 'Read a text file of the workspace.', inputSchema: z.object({ path: z.string() }), execute: impl.read_file }),
    delete_file: tool({ description: 'Delete a file of the workspace.', inputSchema: z.object({ path: z.string() }), execute: impl.delete_file }),
    fetch_url: tool({
      description: 'Fetch a web page.',
      inputSchema: z.object({ url: z.string(), timeout_s: z.number().optional() }),
      execute: impl.fetch_url,
    }),
  },
  makeGuard(),
)

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } }
const script = [
  [
    ['read_file', { path: 'src/app.py' }],
    ['fetch_url', { url: 'https://pastebin.com/raw/x', timeout_s: 2.5 }],
    ['delete_file', { path: 'tmp/build.log' }],
  ],
  'Done: read the app, the fetch was refused, the log is deleted.',
]
let step = 0
const model = new MockLanguageModelV3({
  doGenerate: async () => {
    const s = script[step++]
    return typeof s === 'string'
      ? { content: [{ type: 'text', text: s }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] }
      : {
          content: s.map(([toolName, input], i) => ({ type: 'tool-call', toolCallId: `c${i}`, toolName, input: JSON.stringify(input) })),
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
          usage,
          warnings: [],
        }
  },
})

console.log('Vercel AI SDK generateText guarded by agentauthz (policies-examples/mcp-tools):')
const result = await generateText({ model, tools, prompt: 'tidy up', stopWhen: stepCountIs(3) })
for (const r of result.steps.flatMap((s) => s.toolResults)) console.log(`    -> ${String(r.output).split('\n')[0]}`)
console.log('final:', result.text)
