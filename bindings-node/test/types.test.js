'use strict'
// index.d.ts is valid TypeScript and describes the API as used in
// types-usage.ts (type-checked with --strict, not run).
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { pkgDir } = require('./_common')

test('index.d.ts type-checks with the documented usage', { timeout: 120e3 }, () => {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [pkgDir] })
  const r = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', '--skipLibCheck', 'false', path.join(__dirname, 'types-usage.ts')],
    { cwd: pkgDir, encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stdout + r.stderr)
})
