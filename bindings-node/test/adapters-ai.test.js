'use strict'
// Vercel AI SDK adapter with the real `ai` package: tool() definitions wrapped by
// guardTools, driven by generateText with the SDK's scripted model
// (MockLanguageModelV3 from 'ai/test'), so no network is used.

const test = require('node:test')
const assert = require('node:assert/strict')
const { generateText, tool, stepCountIs } = require('ai')
const { MockLanguageModelV3 } = require('ai/test')
const { z } = require('zod')
const { guardTools, guardTool } = require('agentauthz/adapters')
const { makeGuard, auditedGuard } = require('./_tools')

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
}

/** A model that answers each step from a script: tool calls, then text. */
function scriptedModel(steps) {
  let i = 0
  return new MockLanguageModelV3({
    doGenerate: async () => {
      const step = steps[i++]
      if (!step) throw new Error('the script ran out')
      if (typeof step === 'string') {
        return { content: [{ type: 'text', text: step }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] }
      }
      return {
        content: step.map(([toolName, input], k) => ({ type: 'tool-call', toolCallId: `c${i}-${k}`, toolName, input: JSON.stringify(input) })),
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        usage,
        warnings: [],
      }
    },
  })
}

function workspaceTools(ran) {
  return {
    read_file: tool({
      description: 'Read a text file of the workspace.',
      inputSchema: z.object({ path: z.string(), max_bytes: z.number().int().optional() }),
      execute: async ({ path }) => (ran.push(`read ${path}`), `contents of ${path}`),
    }),
    delete_file: tool({
      description: 'Delete a file of the workspace.',
      inputSchema: z.object({ path: z.string() }),
      execute: async ({ path }) => (ran.push(`delete ${path}`), `deleted ${path}`),
    }),
    run_command: tool({
      description: 'Run a command in the workspace.',
      inputSchema: z.object({ command: z.string(), argv: z.array(z.string()).optional() }),
      execute: ({ command }) => (ran.push(`run ${command}`), { exitCode: 0, stdout: `ran ${command}` }),
    }),
  }
}

function toolResults(result) {
  return result.steps.flatMap((s) => s.toolResults).map((r) => [r.toolCallId, r.output])
}

test('generateText: allow runs, deny refuses, ask runs only when approved; every call recorded', async () => {
  const ran = []
  const log = []
  const asked = []
  const { guard, trail } = auditedGuard(log, {
    approver: async (v) => (asked.push(v), v.call.arguments.path === 'tmp/build.log'),
  })
  const model = scriptedModel([
    [
      ['read_file', { path: 'README.md' }],
      ['read_file', { path: '.env' }],
      ['delete_file', { path: 'tmp/build.log' }],
      ['delete_file', { path: 'src/app.py' }],
    ],
    'done',
  ])
  const result = await generateText({ model, tools: guardTools(workspaceTools(ran), guard), prompt: 'tidy up', stopWhen: stepCountIs(3) })
  assert.equal(result.text, 'done')
  assert.deepEqual(ran, ['read README.md', 'delete tmp/build.log']) // the denied and the refused call did not run
  const out = toolResults(result)
  assert.deepEqual(out[0], ['c1-0', 'contents of README.md'])
  assert.match(out[1][1], /^Tool call refused: `read_file` is not allowed here \(denied by policy no-secret-files \(owner: security\)\)/)
  assert.deepEqual(out[2], ['c1-2', 'deleted tmp/build.log'])
  assert.equal(out[3][1], 'Tool call refused: `delete_file` needs approval from platform, who did not approve it.')
  // the model's second step saw the refusals as tool results
  const secondPrompt = JSON.stringify(model.doGenerateCalls[1].prompt)
  assert.match(secondPrompt, /no-secret-files/)
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
  assert.ok(log.every((v) => v.call.native && typeof v.call.native.toolCallId === 'string'))
  // The engine's audit log records each call; the approved ask is decided again
  // after the approval (allow), the refused one stays an ask. The SDK runs the
  // step's tool calls concurrently, so the order of records is not fixed.
  const key = (r) => JSON.stringify(r)
  assert.deepEqual(trail().map(key).sort(), [
    ['read_file', 'README.md', 'allow'],
    ['read_file', '.env', 'deny'],
    ['delete_file', 'tmp/build.log', 'ask'],
    ['delete_file', 'tmp/build.log', 'allow'],
    ['delete_file', 'src/app.py', 'ask'],
  ].map(key).sort())
})

test('principal and session from the execute options (experimental_context)', async () => {
  const ran = []
  const log = []
  const tools = guardTools(workspaceTools(ran), makeGuard(log), {
    agent: (options) => options.experimental_context.agent,
    session: (options) => options.experimental_context.session,
  })
  const run = (agent) =>
    generateText({
      model: scriptedModel([[['run_command', { command: 'make', argv: ['test'] }]], 'ok']),
      tools,
      prompt: 'build',
      stopWhen: stepCountIs(2),
      experimental_context: { agent, session: `s-${agent.id}` },
    })
  const intern = await run({ type: 'Agent', id: 'intern' })
  assert.match(toolResults(intern)[0][1], /interns-no-shell/)
  const bot = await run({ type: 'Agent', id: 'ci-bot' })
  assert.deepEqual(toolResults(bot)[0][1], { exitCode: 0, stdout: 'ran make' })
  assert.deepEqual(ran, ['run make'])
  assert.deepEqual(log.map((v) => [v.toJSON().principal, v.toJSON().session, v.outcome]), [
    ['Agent::"intern"', 's-intern', 'deny'],
    ['Agent::"ci-bot"', 's-ci-bot', 'allow'],
  ])
})

test('guardTool keeps the definition and leaves tools without execute alone', () => {
  const original = workspaceTools([]).read_file
  const guarded = guardTool('read_file', original, makeGuard([]))
  assert.notEqual(guarded, original)
  assert.equal(guarded.description, original.description)
  assert.equal(guarded.inputSchema, original.inputSchema)
  assert.notEqual(guarded.execute, original.execute)
  const clientSide = tool({ description: 'ask the user', inputSchema: z.object({ q: z.string() }) })
  assert.equal(guardTool('ask_user', clientSide, makeGuard([])), clientSide)
  assert.throws(() => guardTool('x', original, {}), /ToolGuard/)
})
