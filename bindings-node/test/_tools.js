'use strict'
// Shared by the adapter tests (node --test also loads this file; it defines no tests):
// the MCP-tools example engine and a guard over it.

const fs = require('node:fs')
const path = require('node:path')
const { repoDir } = require('./_common')

const toolsDir = path.join(repoDir, 'policies-examples', 'mcp-tools')
const TOOLS = JSON.parse(fs.readFileSync(path.join(toolsDir, 'tools.json'), 'utf8'))

function toolsEngine() {
  const { Engine } = require('..')
  return Engine.fromDir(toolsDir)
}

/** A guard over the example policies recording into `log`; options override. */
function makeGuard(log, options = {}) {
  const { ToolGuard, typedArguments } = require('agentauthz/adapters')
  return new ToolGuard(toolsEngine(), {
    principal: 'Agent::"ci-bot"',
    default: { context: typedArguments(TOOLS) },
    onDecision: (v) => log.push(v),
    ...options,
  })
}

/**
 * A guard (as makeGuard) over an engine with a file audit log (block mode:
 * nothing dropped), and `trail()`: [action id, path argument or null, outcome]
 * of every record, after a flush; the chain must verify.
 */
function auditedGuard(log, options = {}) {
  const os = require('node:os')
  const assert = require('node:assert/strict')
  const { Engine, auditVerify } = require('..')
  const { ToolGuard, typedArguments } = require('agentauthz/adapters')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentauthz-adapter-audit-'))
  const file = path.join(dir, 'audit.jsonl')
  const engine = Engine.fromDir(toolsDir, { audit: { file, onFull: 'block' } })
  const guard = new ToolGuard(engine, {
    principal: 'Agent::"ci-bot"',
    default: { context: typedArguments(TOOLS) },
    onDecision: (v) => log.push(v),
    ...options,
  })
  const trail = () => {
    engine.auditFlush()
    const report = auditVerify([file])
    assert.equal(report.intact, true)
    assert.equal(report.broken, null)
    const records = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    assert.equal(records.length, report.records)
    fs.rmSync(dir, { recursive: true, force: true })
    return records.map((r) => [r.action.split('"')[1], (r.context || {}).path ?? null, r.outcome])
  }
  return { guard, trail }
}

module.exports = { toolsDir, TOOLS, toolsEngine, makeGuard, auditedGuard }
