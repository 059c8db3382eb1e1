// The package is CommonJS; named ESM imports must work too.
import test from 'node:test'
import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Engine, loadCases, DeniedError, ApprovalRequiredError, PolicyError } from '../index.js'

const exampleDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'policies-examples', 'coding-agent')

test('named ESM imports', () => {
  const engine = Engine.fromDir(exampleDir)
  const [first] = loadCases(join(exampleDir, 'cases.toml'))
  assert.equal(engine.authorizeAt(first.request, new Date(first.now)).outcome, first.outcome)
  for (const cls of [DeniedError, ApprovalRequiredError, PolicyError]) assert.equal(typeof cls, 'function')
})
