'use strict'
// Every case of policies-examples/coding-agent/cases.toml, through loadCases +
// authorizeAt: the same file the Rust, CLI and Python tests read.
const test = require('node:test')
const assert = require('node:assert/strict')
const { agentauthz, exampleDir, casesFile } = require('./_common')

const engine = agentauthz.Engine.fromDir(exampleDir)
const cases = agentauthz.loadCases(casesFile)

test('the cases file loads', () => {
  assert.ok(cases.length >= 100, `${cases.length} cases`)
  for (const c of cases) {
    assert.equal(typeof c.name, 'string')
    assert.ok(['allow', 'deny', 'ask'].includes(c.outcome))
    assert.equal(typeof c.request.principal, 'string')
    assert.equal(typeof c.now, 'string')
  }
})

for (const c of cases) {
  test(`case: ${c.name}`, () => {
    const d = engine.authorizeAt(c.request, new Date(c.now))
    assert.equal(d.outcome, c.outcome, JSON.stringify(d.errors))
    assert.equal(d.allowed, c.outcome === 'allow')
    if (c.reasons !== null) {
      assert.deepEqual(new Set(d.reasons.map((r) => r.policyId)), new Set(c.reasons))
    }
    if (c.outcome !== 'deny') assert.deepEqual(d.errors, [])
    if (c.outcome === 'ask') {
      assert.ok(d.askOwners.length > 0)
      assert.equal(d.askOwner, d.askOwners[0])
      const asked = new Set(d.reasons.map((r) => r.annotations.ask))
      assert.deepEqual(new Set(d.askOwners), asked)
    } else {
      assert.equal(d.askOwner, null)
    }
    // The RFC 3339 text gives the same decision as the Date.
    assert.equal(engine.authorizeAt(c.request, c.now).outcome, c.outcome)
  })
}
