'use strict'
// Every error the package throws: class, code, and a message that says what
// was wrong and where.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const fs = require('node:fs')
const os = require('node:os')
const { agentauthz, exampleDir, casesFile, exampleCopy, read, context } = require('./_common')

const {
  Engine,
  loadCases,
  AgentAuthzError,
  SchemaError,
  PolicyError,
  RequestError,
  CasesError,
} = agentauthz

const schema = read('coding-agent.cedarschema')
const permitAll = 'permit(principal, action, resource);'

/** assert.throws with class, code and properties (messages as regexes). */
function throwsLike(fn, cls, props) {
  let caught
  try {
    fn()
  } catch (e) {
    caught = e
  }
  assert.ok(caught, 'expected an error')
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${caught && caught.constructor.name}: ${caught.message}`)
  assert.ok(caught instanceof AgentAuthzError)
  assert.ok(caught instanceof Error)
  assert.equal(caught.name, cls.name)
  assert.match(caught.stack, new RegExp(`^${cls.name}: `))
  for (const [k, v] of Object.entries(props)) {
    if (v instanceof RegExp) assert.match(String(caught[k]), v, `${k}: ${caught[k]}`)
    else assert.deepEqual(caught[k], v, `${k}`)
  }
  return caught
}

test('SchemaError: schema text that does not parse, with file and line', () => {
  throwsLike(() => new Engine({ schema: 'entity A;\nentity B {', policies: permitAll }), SchemaError, {
    code: 'SCHEMA_ERROR',
    kind: 'schema',
    file: '<schema>',
    line: 2,
    message: /^<schema>:2: schema error: /,
  })
})

test('SchemaError: a schema file in a folder names the file', () => {
  const dir = exampleCopy({ 'coding-agent.cedarschema': 'entity Agent;\n\nentity Repo {\n  name: Strin\n' })
  const e = throwsLike(() => Engine.fromDir(dir), SchemaError, { code: 'SCHEMA_ERROR', kind: 'schema' })
  assert.equal(e.file, path.join(dir, 'coding-agent.cedarschema'))
  assert.match(e.message, /coding-agent\.cedarschema/)
})

test('PolicyError (syntax): file and line of the broken policy', () => {
  const dir = exampleCopy({ '99-bad.cedar': '// a broken policy\n\npermit(principal, action, resource)\nwhen { principal.trust_tier > };\n' })
  const e = throwsLike(() => Engine.fromDir(dir), PolicyError, { code: 'POLICY_ERROR', kind: 'syntax' })
  assert.equal(e.file, path.join(dir, '99-bad.cedar'))
  assert.equal(typeof e.line, 'number')
  assert.ok(e.line >= 3 && e.line <= 4, `line ${e.line}`)
  assert.match(e.message, new RegExp(`99-bad\\.cedar:${e.line}: policy syntax error`))
  // Several texts are numbered.
  throwsLike(() => new Engine({ schema, policies: [permitAll, '\n\npermit(principal, action, resource) when { 1 + };'] }), PolicyError, {
    kind: 'syntax',
    file: '<policies#2>',
    line: 3,
  })
})

test('PolicyError (validation): every issue, with file, line and policy id', () => {
  const text = '@id("ok")\npermit(principal, action, resource);\n\n@id("typo")\npermit(principal, action, resource)\nwhen { principal.trust_teir > 1 };\n'
  const e = throwsLike(() => new Engine({ schema, policies: text }), PolicyError, {
    code: 'POLICY_ERROR',
    kind: 'validation',
    file: '<policies>',
    policyId: 'typo',
    message: /policy validation error.*\n.*<policies>:\d+: policy `typo`: .*trust_teir/,
  })
  assert.equal(e.issues.length, 1)
  assert.equal(e.issues[0].policyId, 'typo')
  assert.equal(e.issues[0].file, '<policies>')
  assert.equal(e.issues[0].line, e.line)
  assert.ok(e.line >= 5, `line ${e.line}`)
  assert.match(e.issues[0].message, /trust_teir/)
})

test('PolicyError (duplicate-id), (unsupported), (entities)', () => {
  throwsLike(
    () => new Engine({ schema, policies: '@id("x")\npermit(principal, action, resource);\n@id("x")\nforbid(principal, action, resource);' }),
    PolicyError,
    { kind: 'duplicate-id', policyId: 'x', message: /duplicate policy id `x`/ },
  )
  throwsLike(() => new Engine({ schema, policies: '@ask("security")\npermit(principal, action, resource);' }), PolicyError, {
    kind: 'unsupported',
    message: /@ask applies to forbid policies only/,
  })
  throwsLike(() => new Engine({ schema, policies: 'permit(principal, action == ?principal, resource);' }), PolicyError, {
    code: 'POLICY_ERROR',
  })
  throwsLike(
    () =>
      new Engine({
        schema,
        policies: permitAll,
        entities: [{ uid: { type: 'Nope', id: 'x' }, attrs: {}, parents: [] }],
      }),
    PolicyError,
    { kind: 'entities', file: '<entities>', message: /Nope/ },
  )
  throwsLike(() => new Engine({ schema, policies: permitAll, entities: '[{' }), PolicyError, {
    kind: 'entities',
    message: /^<entities>: entity error: /,
  })
  const dir = exampleCopy({ 'entities.json': '[{"uid": {"type": "Agent", "id": "x"}, "attrs": {}, "parents": []}]' })
  throwsLike(() => Engine.fromDir(dir), PolicyError, { kind: 'entities', file: path.join(dir, 'entities.json') })
})

test('PolicyError (io), (folder): missing folder, folder without schema or policies', () => {
  throwsLike(() => Engine.fromDir(path.join(exampleDir, 'no-such-dir')), PolicyError, {
    kind: 'io',
    message: /cannot read .*no-such-dir/,
  })
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'agentauthz-empty-'))
  throwsLike(() => Engine.fromDir(empty), PolicyError, { kind: 'folder', file: empty, message: /no \*\.cedarschema file/ })
  const noPolicies = exampleCopy(
    Object.fromEntries(fs.readdirSync(exampleDir).filter((f) => f.endsWith('.cedar')).map((f) => [f, null])),
  )
  throwsLike(() => Engine.fromDir(noPolicies), PolicyError, { kind: 'folder', message: /no \*\.cedar policy files/ })
})

test('RequestError: constructor and fromDir arguments of the wrong type', () => {
  const cases = [
    [() => new Engine(), /options must be an object, got undefined/],
    [() => new Engine(42), /options must be an object, got a number/],
    [() => new Engine([]), /options must be an object, got an array/],
    [() => new Engine({ policies: permitAll }), /options\.schema must be .*got undefined/],
    [() => new Engine({ schema: 5, policies: permitAll }), /options\.schema must be .*got a number/],
    [() => new Engine({ schema }), /options\.policies must be .*got undefined/],
    [() => new Engine({ schema, policies: [permitAll, 7] }), /options\.policies must be .*a number at index 1/],
    [() => new Engine({ schema, policies: permitAll, entities: 5 }), /options\.entities must be .*got a number/],
    [() => new Engine({ schema, policies: permitAll, entities: [NaN] }), /options\.entities\[0\]: NaN/],
    [() => new Engine({ schema, policies: permitAll, errorMode: 'lenient' }), /unknown error mode `lenient`/],
    [() => new Engine({ schema, policies: permitAll, polices: 'x' }), /unknown option `polices`/],
    [() => Engine.fromDir(42), /dir must be a string path, got a number/],
    [() => Engine.fromDir(), /dir must be a string path, got undefined/],
    [() => Engine.fromDir(exampleDir, { errorMode: 1 }), /unknown error mode/],
    [() => Engine.fromDir(exampleDir, { mode: 'strict' }), /unknown option `mode`/],
    [() => Engine.fromDir(exampleDir, 'strict'), /options must be an object, got a string/],
  ]
  for (const [fn, message] of cases) throwsLike(fn, RequestError, { code: 'REQUEST_ERROR', message })
})

test('RequestError: authorizeAt, authorizeBatch and loadCases arguments', () => {
  const engine = Engine.fromDir(exampleDir)
  const req = { principal: 'Agent::"ci-bot"', action: 'read_repo', resource: 'Repository::"acme/api"', context: context() }
  for (const [at, message] of [
    [undefined, /got undefined/],
    ['yesterday', /`yesterday` is not an RFC 3339 instant/],
    [new Date('nope'), /invalid Date/],
    [{}, /got an object/],
    [NaN, /invalid Date/],
    [1e300, /out of range/],
  ]) {
    throwsLike(() => engine.authorizeAt(req, at), RequestError, { message: new RegExp(`^authorizeAt: now must be .*${message.source}`) })
  }
  throwsLike(() => engine.authorizeBatch(req), RequestError, { message: /requests must be an array, got an object/ })
  throwsLike(() => engine.authorizeBatch(), RequestError, { message: /got undefined/ })
  throwsLike(() => engine.authorizeBatch([req], 'soon'), RequestError, { message: /^authorizeBatch: now must be .*`soon`/ })
  throwsLike(() => loadCases(7), RequestError, { message: /path must be a string/ })
})

test('CasesError: missing or invalid cases file', () => {
  throwsLike(() => loadCases(path.join(exampleDir, 'missing.toml')), CasesError, {
    code: 'CASES_ERROR',
    kind: 'io',
    message: /cannot read .*missing\.toml/,
  })
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agentauthz-cases-')), 'cases.toml')
  fs.writeFileSync(bad, '[[case]]\nname = "no outcome"\nprincipal = \'Agent::"a"\'\naction = "read_repo"\nresource = \'Repository::"r"\'\n')
  throwsLike(() => loadCases(bad), CasesError, { kind: 'invalid', file: bad, message: /no outcome: missing `outcome`/ })
  assert.ok(loadCases(casesFile).length > 0)
})

test('error classes can be constructed and caught by code', () => {
  const e = new PolicyError('boom', { file: 'x.cedar', line: 3 })
  assert.equal(e.code, 'POLICY_ERROR')
  assert.equal(e.file, 'x.cedar')
  assert.equal(e.name, 'PolicyError')
  assert.ok(e instanceof AgentAuthzError)
})
