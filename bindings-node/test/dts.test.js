'use strict'
// index.d.ts is generated (src/header.d.ts + the types napi-rs derives from
// src/*.rs). Regenerate it to a temp folder and fail if the committed file differs.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { pkgDir } = require('./_common')

test('index.d.ts has not drifted from the Rust source', { timeout: 30 * 60e3 }, () => {
  const r = spawnSync(process.execPath, [path.join(pkgDir, 'build.mjs'), '--check'], { cwd: pkgDir, encoding: 'utf8' })
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
  assert.match(r.stderr, /index\.d\.ts is up to date/)
})
