'use strict'
// adapters.d.ts is valid TypeScript and describes the adapters as used in
// adapters-usage.ts (type-checked with --strict against the real `ai` and MCP SDK types, not run).
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { pkgDir } = require('./_common')

test('adapters.d.ts type-checks with the documented usage', { timeout: 180e3 }, () => {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [pkgDir] })
  const r = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', '--skipLibCheck', 'true', path.join(__dirname, 'adapters-usage.ts')],
    { cwd: pkgDir, encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stdout + r.stderr)
})
