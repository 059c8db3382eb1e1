#!/usr/bin/env node
// Builds the native module from source (the package's `install` script) and
// keeps index.d.ts in step with the Rust source.
//
//   node build.mjs           build agentauthz.node (release); index.d.ts is left alone
//   node build.mjs --dts     also rewrite index.d.ts from src/header.d.ts + src/*.rs
//   node build.mjs --check   regenerate the types to a temp folder and fail if
//                            index.d.ts differs (drift check; also run by `npm test`)
//
// The build runs `napi build --release` (@napi-rs/cli, a devDependency) into a
// temporary folder, then copies the module here. Nothing is downloaded: the
// CLI only drives `cargo build`. Without the CLI (e.g. `npm install
// --omit=dev`) it falls back to plain `cargo build` (no type generation).

import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const mode = process.argv[2] ?? 'build'
if (!['build', '--dts', '--check'].includes(mode)) {
  console.error(`usage: node build.mjs [--dts | --check]`)
  process.exit(2)
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: here, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.error) throw r.error
  if (r.status !== 0) {
    throw Object.assign(new Error(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status})`), {
      exitCode: r.status || 1,
    })
  }
}

function napiCli() {
  try {
    const require = createRequire(join(here, 'package.json'))
    return join(dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js')
  } catch {
    return null
  }
}

/**
 * Copies the built module next to index.js without ever leaving a half-written
 * file, dropping debug info on the way where `strip` exists (the workspace's
 * release profile keeps line tables, which make the module ~10x larger).
 */
function install(from) {
  const dest = join(here, 'agentauthz.node')
  const staged = `${dest}.${process.pid}.tmp`
  copyFileSync(from, staged)
  if (process.platform !== 'win32') spawnSync('strip', ['-S', staged], { stdio: 'ignore' })
  renameSync(staged, dest)
}

function cargoFallback() {
  console.error('agentauthz: @napi-rs/cli not found; building with cargo directly (no type generation)')
  run('cargo', ['build', '--release', '-p', 'agentauthz-node'])
  const meta = spawnSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], {
    cwd: here,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  const targetDir = JSON.parse(meta.stdout).target_directory
  const file =
    process.platform === 'win32'
      ? 'agentauthz_node.dll'
      : process.platform === 'darwin'
        ? 'libagentauthz_node.dylib'
        : 'libagentauthz_node.so'
  install(join(targetDir, 'release', file))
}

function main() {
const cli = napiCli()
if (!cli) {
  if (mode !== 'build') {
    throw new Error('@napi-rs/cli is needed to generate types; run `npm install` first')
  }
  cargoFallback()
  return
}

const out = mkdtempSync(join(tmpdir(), 'agentauthz-node-'))
try {
  run(process.execPath, [cli, 'build', '--release', '--output-dir', out, '--dts', 'index.d.ts'])
  const generated = readFileSync(join(out, 'index.d.ts'), 'utf8')
  if (mode === 'build' || mode === '--dts') install(join(out, 'agentauthz.node'))
  if (mode === '--dts') {
    writeFileSync(join(here, 'index.d.ts'), generated)
    console.error('agentauthz: wrote index.d.ts')
  }
  if (mode === '--check') {
    let committed = ''
    try {
      committed = readFileSync(join(here, 'index.d.ts'), 'utf8')
    } catch {}
    if (committed !== generated) {
      const fresh = join(out, 'index.d.ts')
      spawnSync('diff', ['-u', join(here, 'index.d.ts'), fresh], { stdio: 'inherit' })
      console.error(
        'agentauthz: index.d.ts has drifted from src/header.d.ts and src/*.rs; run `npm run build:dts` and commit it',
      )
      process.exitCode = 1
    } else {
      console.error('agentauthz: index.d.ts is up to date')
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true })
}
}

try {
  main()
} catch (e) {
  console.error(`agentauthz: ${e.message}`)
  process.exitCode = e.exitCode ?? 1
}
