// Shared by the Node examples (the counterpart of workspace.py): an in-memory
// workspace behind the tools of tools.json, the policy folder, and a ToolGuard that
// prints every decision. Packages are resolved from bindings-node (run
// `npm install` there first). Nothing touches the disk or the network.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

export const here = new URL('.', import.meta.url)
export const require = createRequire(new URL('../../bindings-node/package.json', import.meta.url))
const { Engine } = require('agentauthz')
const { ToolGuard, typedArguments } = require('agentauthz/adapters')

export const TOOLS = JSON.parse(readFileSync(new URL('tools.json', here), 'utf8'))

export const files = new Map([
  ['README.md', '# demo\n'],
  ['src/app.py', "print('hello')\n"],
  ['.env', 'API_KEY=do-not-leak\n'],
  ['tmp/build.log', 'ok\n'],
])

export const impl = {
  read_file: ({ path, max_bytes = 4096 }) => (files.get(path) ?? `(no such file: ${path})`).slice(0, max_bytes),
  write_file: ({ path, content }) => (files.set(path, content), `wrote ${content.length} bytes to ${path}`),
  delete_file: ({ path }) => (files.delete(path) ? `deleted ${path}` : `(no such file: ${path})`),
  run_command: ({ command, argv = [] }) => `$ ${[command, ...argv].join(' ')}\n(simulated: exit 0)`,
  fetch_url: ({ url }) => `(simulated body of ${url})`,
}

/** Stands in for a human owner: approves deletes under tmp/, nothing else. */
export function approveTmpOnly(verdict) {
  const approved = String(verdict.call.arguments.path ?? '').startsWith('tmp/')
  console.log(`  ? ask ${verdict.decision.askOwner}: ${verdict.call.tool} ${JSON.stringify(verdict.call.arguments)} -> ${approved ? 'approved' : 'refused'}`)
  return approved
}

/** onDecision hook: one line per decision (where the audit log plugs in). */
export function show(verdict) {
  const r = verdict.toJSON()
  const ids = r.decision ? r.decision.reasons.join(',') : r.error
  console.log(`  ${r.tool.padEnd(12)} ${String(r.principal).padEnd(18)} ${r.outcome.padEnd(5)} ${(verdict.proceed ? 'runs' : 'refused').padEnd(8)} ${ids}`)
}

/** The policy folder's engine behind a guard (context: the arguments the schema declares). */
export function makeGuard(principal = 'Agent::"ci-bot"') {
  return new ToolGuard(Engine.fromDir(new URL('.', here).pathname), {
    principal,
    default: { context: typedArguments(TOOLS) },
    approver: approveTmpOnly,
    onDecision: show,
  })
}
