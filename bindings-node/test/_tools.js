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

module.exports = { toolsDir, TOOLS, toolsEngine, makeGuard }
