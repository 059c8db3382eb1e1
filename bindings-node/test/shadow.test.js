'use strict'
// Shadow mode: @mode("shadow") policies and `enforcement: 'shadow'` never change
// the outcome; `decision.shadow` says what enforcing them would decide.
const test = require('node:test')
const assert = require('node:assert/strict')
const { agentauthz } = require('./_common')

const { Engine, RequestError } = agentauthz

const SCHEMA = `
entity Agent;
entity Repository;
action read, push appliesTo { principal: Agent, resource: Repository, context: { n: Long } };
`
const POLICIES = `
@id("permit-all") permit (principal, action, resource);
@id("no-big-push") @mode("shadow") forbid (principal, action == Action::"push", resource) when { context.n > 100 };
@id("ask-reads") @mode("shadow") @ask("security") forbid (principal, action == Action::"read", resource);
`
const req = (action, n) => ({ principal: 'Agent::"bot"', action, resource: 'Repository::"r"', context: { n } })

test('a shadow forbid never changes the outcome and reports its effect', async () => {
  const engine = new Engine({ schema: SCHEMA, policies: POLICIES })
  const d = engine.authorize(req('push', 500))
  assert.equal(d.outcome, 'allow')
  assert.deepEqual(d.shadow, { outcome: 'deny', reasons: ['no-big-push'], askOwners: [], policies: ['no-big-push'], changed: true })
  assert.equal(engine.authorize(req('push', 5)).shadow.changed, false)
  const read = await engine.authorizeAsync(req('read', 0))
  assert.equal(read.outcome, 'allow')
  assert.equal(read.shadow.outcome, 'ask')
  assert.deepEqual(read.shadow.askOwners, ['security'])
})

test('no shadow section without shadow policies', () => {
  const engine = new Engine({ schema: SCHEMA, policies: '@id("p") permit (principal, action, resource);' })
  assert.equal(engine.authorize(req('push', 1)).shadow, null)
})

test('engine-wide shadow mode allows and records the would-be outcome', () => {
  const engine = new Engine({
    schema: SCHEMA,
    policies: '@id("no-push") forbid (principal, action == Action::"push", resource);',
    enforcement: 'shadow',
  })
  const d = engine.authorize(req('push', 1))
  assert.equal(d.outcome, 'allow')
  assert.equal(d.shadow.outcome, 'deny')
  assert.deepEqual(d.shadow.policies, ['no-push'])
  const bad = engine.authorize(req('push', 'many'))
  assert.equal(bad.outcome, 'deny')
  assert.ok(bad.errors.length > 0)
})

test('an unknown enforcement is refused', () => {
  assert.throws(() => new Engine({ schema: SCHEMA, policies: POLICIES, enforcement: 'audit' }), RequestError)
})
