'use strict'
// The Node examples of policies-examples/mcp-tools run offline and show each outcome.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { toolsDir } = require('./_tools')

function run(script) {
  const r = spawnSync(process.execPath, [path.join(toolsDir, script)], { encoding: 'utf8', timeout: 120e3 })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  return r.stdout
}

test('ai_sdk_example.mjs', () => {
  const out = run('ai_sdk_example.mjs')
  assert.match(out, /read_file\s+Agent::"ci-bot"\s+allow runs/)
  assert.match(out, /fetch_url\s+Agent::"ci-bot"\s+deny\s+refused\s+fetch-allowlist/)
  assert.match(out, /-> deleted tmp\/build\.log/)
})

test('mcp_example.mjs', () => {
  const out = run('mcp_example.mjs')
  assert.match(out, /MCP client 'intern':\n  tools listed: read_file, write_file, delete_file, fetch_url\n/)
  assert.match(out, /ERROR Tool call refused: `run_command` is not allowed here \(denied by policy interns-no-shell/)
  assert.match(out, /who did not approve it/)
})
