'use strict'
// Shared by the tests (node --test also loads this file; it defines no tests).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const pkgDir = path.resolve(__dirname, '..')
const repoDir = path.resolve(pkgDir, '..')
const exampleDir = path.join(repoDir, 'policies-examples', 'coding-agent')
const casesFile = path.join(exampleDir, 'cases.toml')

const agentauthz = require(pkgDir)

/** A credential valid at `now` (issued 10 minutes before, expiring 20 after), with Dates. */
function credential(scopes = ['repo:read', 'repo:write'], now = Date.now()) {
  return {
    id: 'cred-1',
    issued_at: new Date(now - 10 * 60e3),
    expires_at: new Date(now + 20 * 60e3),
    scopes,
  }
}

const session = () => ({ id: 's-1', actions: 3, repos_touched: 1 })

/** A context valid now, with extra fields. */
function context(extra = {}, scopes) {
  return { credential: credential(scopes), session: session(), ...extra }
}

/** A temporary copy of the example folder, with files added or replaced (null removes). */
function exampleCopy(changes = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentauthz-test-'))
  for (const f of fs.readdirSync(exampleDir)) fs.copyFileSync(path.join(exampleDir, f), path.join(dir, f))
  for (const [name, text] of Object.entries(changes)) {
    if (text === null) fs.rmSync(path.join(dir, name))
    else fs.writeFileSync(path.join(dir, name), text)
  }
  return dir
}

function read(name) {
  return fs.readFileSync(path.join(exampleDir, name), 'utf8')
}

module.exports = { agentauthz, pkgDir, repoDir, exampleDir, casesFile, credential, session, context, exampleCopy, read }
