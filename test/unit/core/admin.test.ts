import { describe, expect, it } from 'vitest'
import { type AdminDeps, createAdmin, type WriteContext } from '../../../shared/core/admin.js'
import type { Issuer } from '../../../shared/core/model.js'
import type { AdminRegistry } from '../../../shared/core/ports.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import {
  createAuditLog,
  createTestClock,
  generateRsaKey,
  ISSUER_DEFAULTS,
  makeIssuer,
  NOW,
  rejectionOf,
} from '../fixtures.js'

const key = await generateRsaKey('onprem-a-1')
const ROLE_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'

const issuerBody = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  issuer: 'https://kubernetes.default.svc.cluster.local',
  audiences: ['irsa-broker'],
  jwks: { keys: [{ ...key.jwk, alg: 'RS256', use: 'sig' }] },
  ...overrides,
})

const bindingBody = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  roleArn: ROLE_ARN,
  subjects: ['system:serviceaccount:ml:*'],
  ...overrides,
})

const alice: WriteContext = { actor: 'arn:aws:iam::111122223333:user/alice', requestId: 'req-1' }
const bob: WriteContext = { actor: 'arn:aws:iam::111122223333:user/bob', requestId: 'req-2' }

const setup = (registry: AdminRegistry = createMemoryRegistry()) => {
  const clock = createTestClock()
  const audit = createAuditLog()
  let changes = 0
  const deps: AdminDeps = {
    registry,
    clock,
    audit: audit.sink,
    onChange: () => {
      changes++
    },
  }
  return { admin: createAdmin(deps), registry, clock, audit, changes: () => changes }
}

describe('admin issuers: create', () => {
  it('creates an issuer with defaults and server fields stamped by the server', async () => {
    // Prepare
    const { admin, registry } = setup()
    // Act
    const { object, created } = await admin.putIssuer('onprem-a', issuerBody(), alice)
    // Assess
    expect(created).toBe(true)
    expect(object).toMatchObject({
      issuerId: 'onprem-a',
      ...ISSUER_DEFAULTS,
      version: 1,
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
      updatedBy: alice.actor,
    })
    expect(await registry.getIssuer('onprem-a')).toEqual(object)
  })

  it('records an audit entry and signals the change', async () => {
    // Prepare
    const { admin, audit, changes } = setup()
    // Act
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    // Assess
    expect(audit.records).toEqual([
      {
        type: 'audit',
        actor: alice.actor,
        requestId: 'req-1',
        event: 'admin.issuer.put',
        issuerId: 'onprem-a',
        versionBefore: undefined,
        versionAfter: 1,
      },
    ])
    expect(changes()).toBe(1)
  })

  it('answers 409 to a create without version when the issuer exists, and changes nothing', async () => {
    // Prepare
    const { admin, registry, changes } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    const before = await registry.getIssuer('onprem-a')
    // Act
    const error = await rejectionOf(
      admin.putIssuer('onprem-a', issuerBody({ description: 'overwrite' }), bob),
    )
    // Assess
    expect(error).toMatchObject({ code: 'Conflict', statusCode: 409, reason: 'exists' })
    expect(await registry.getIssuer('onprem-a')).toEqual(before)
    expect(changes()).toBe(1)
  })

  it('ignores server fields sent on create and sets its own', async () => {
    // Prepare
    const { admin } = setup()
    // Act
    const { object } = await admin.putIssuer(
      'onprem-a',
      issuerBody({
        createdAt: '1999-01-01T00:00:00.000Z',
        updatedAt: '1999-01-01T00:00:00.000Z',
        updatedBy: 'mallory',
      }),
      alice,
    )
    // Assess
    expect(object).toMatchObject({
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
      updatedBy: alice.actor,
    })
  })

  it('refuses an issuerId in the body that differs from the path', async () => {
    // Prepare
    const { admin, registry } = setup()
    // Act
    const error = await rejectionOf(admin.putIssuer('onprem-a', issuerBody({ issuerId: 'onprem-b' }), alice))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', field: 'issuerId' })
    expect(await registry.listIssuers()).toEqual([])
  })

  it.each([
    ['no body', undefined],
    ['an array', [issuerBody()]],
    ['a string', 'issuer'],
    ['null', null],
  ])('refuses %s as an issuer document', async (_label, body) => {
    // Prepare
    const { admin } = setup()
    // Act
    const error = await rejectionOf(admin.putIssuer('onprem-a', body, alice))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', message: 'the body must be a JSON object' })
  })

  it('refuses an unsafe key and names it under jwks, storing nothing', async () => {
    // Prepare
    const { admin, registry } = setup()
    // Act
    const error = await rejectionOf(
      admin.putIssuer('onprem-a', issuerBody({ jwks: { keys: [{ ...key.jwk, e: 'AQ' }] } }), alice),
    )
    // Assess
    expect(error).toMatchObject({
      code: 'InvalidParameterValue',
      field: 'jwks.keys[0].e',
      reason: 'jwks_rejected',
    })
    expect(await registry.getIssuer('onprem-a')).toBeUndefined()
  })

  it('refuses an unknown field naming it', async () => {
    // Prepare
    const { admin } = setup()
    // Act
    const error = await rejectionOf(admin.putIssuer('onprem-a', issuerBody({ audience: 'x' }), alice))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', message: 'audience: is not a known field' })
  })
})

describe('admin issuers: update', () => {
  const created = async () => {
    const context = setup()
    await context.admin.putIssuer('onprem-a', issuerBody(), alice)
    context.clock.advance(60)
    return context
  }

  it('updates with the body version it read: version +1, createdAt kept', async () => {
    // Prepare
    const { admin, clock } = await created()
    // Act
    const { object, created: wasCreated } = await admin.putIssuer(
      'onprem-a',
      issuerBody({ version: 1, description: 'on-prem A' }),
      bob,
    )
    // Assess
    expect(wasCreated).toBe(false)
    expect(object).toMatchObject({
      description: 'on-prem A',
      version: 2,
      createdAt: NOW.toISOString(),
      updatedAt: clock.now().toISOString(),
      updatedBy: bob.actor,
    })
  })

  it.each(['"1"', 'W/"1"', '1', ' "1" '])('updates with If-Match %j', async (ifMatch) => {
    // Prepare
    const { admin } = await created()
    // Act
    const { object } = await admin.putIssuer('onprem-a', issuerBody({ description: 'x' }), {
      ...bob,
      ifMatch,
    })
    // Assess
    expect(object.version).toBe(2)
  })

  it('answers 409 to a stale body version and changes nothing', async () => {
    // Prepare
    const { admin, registry } = await created()
    await admin.putIssuer('onprem-a', issuerBody({ version: 1, description: 'second' }), alice)
    const before = await registry.getIssuer('onprem-a')
    // Act
    const error = await rejectionOf(
      admin.putIssuer('onprem-a', issuerBody({ version: 1, description: 'stale' }), bob),
    )
    // Assess
    expect(error).toMatchObject({ code: 'Conflict', reason: 'version_conflict' })
    expect(error.message).toContain('version 2, not 1')
    expect(await registry.getIssuer('onprem-a')).toEqual(before)
  })

  it('answers 409 to a stale If-Match and changes nothing', async () => {
    // Prepare
    const { admin, registry } = await created()
    const before = await registry.getIssuer('onprem-a')
    // Act
    const error = await rejectionOf(
      admin.putIssuer('onprem-a', issuerBody({ enabled: false }), { ...bob, ifMatch: '"7"' }),
    )
    // Assess
    expect(error.code).toBe('Conflict')
    expect(await registry.getIssuer('onprem-a')).toEqual(before)
  })

  it('refuses a body version that disagrees with If-Match', async () => {
    // Prepare
    const { admin } = await created()
    // Act
    const error = await rejectionOf(
      admin.putIssuer('onprem-a', issuerBody({ version: 1 }), { ...bob, ifMatch: '"2"' }),
    )
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', field: 'version' })
  })

  it.each(['*', '"abc"', '"0"', '""'])('refuses the If-Match value %j', async (ifMatch) => {
    // Prepare
    const { admin } = await created()
    // Act
    const error = await rejectionOf(admin.putIssuer('onprem-a', issuerBody(), { ...bob, ifMatch }))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', field: 'If-Match' })
  })

  it('answers 404 to an update of an issuer that does not exist', async () => {
    // Prepare
    const { admin, registry } = setup()
    // Act
    const error = await rejectionOf(admin.putIssuer('onprem-z', issuerBody({ version: 1 }), alice))
    // Assess
    expect(error.code).toBe('NotFound')
    expect(await registry.getIssuer('onprem-z')).toBeUndefined()
  })

  it('takes back a document exactly as read (GET, edit, PUT)', async () => {
    // Prepare
    const { admin } = await created()
    const read = await admin.getIssuer('onprem-a')
    // Act
    const { object } = await admin.putIssuer('onprem-a', { ...read, description: 'edited' }, bob)
    // Assess
    expect(object).toMatchObject({
      description: 'edited',
      version: 2,
      createdAt: read.createdAt,
      updatedBy: bob.actor,
    })
  })

  it('answers 409 when another writer changes the issuer between read and write', async () => {
    // Prepare: a registry where a concurrent writer commits right after every read
    const memory = createMemoryRegistry()
    const racing: AdminRegistry = {
      ...memory,
      async getIssuer(issuerId) {
        const read = await memory.getIssuer(issuerId)
        if (read)
          await memory.putIssuer(
            { ...read, version: read.version + 1, description: 'other writer' },
            read.version,
          )
        return read
      },
    }
    memory.seed({
      issuers: [
        makeIssuer({
          ...(issuerBody() as unknown as Issuer),
          issuerId: 'onprem-a',
          algorithms: ['RS256'],
          updatedBy: 'seed',
        }),
      ],
    })
    const { admin, changes } = setup(racing)
    // Act
    const error = await rejectionOf(
      admin.putIssuer('onprem-a', issuerBody({ version: 1, description: 'mine' }), bob),
    )
    // Assess
    expect(error.code).toBe('Conflict')
    expect((await memory.getIssuer('onprem-a'))?.description).toBe('other writer')
    expect(changes()).toBe(0)
  })
})

describe('admin issuers: read and delete', () => {
  it('answers 404 for an issuer that does not exist', async () => {
    // Prepare
    const { admin } = setup()
    // Act
    const error = await rejectionOf(admin.getIssuer('nope'))
    // Assess
    expect(error).toMatchObject({ code: 'NotFound', statusCode: 404 })
  })

  it('lists issuers', async () => {
    // Prepare
    const { admin } = setup()
    await admin.putIssuer('b', issuerBody(), alice)
    await admin.putIssuer('a', issuerBody(), alice)
    // Act
    const issuers = await admin.listIssuers()
    // Assess
    expect(issuers.map((i) => i.issuerId)).toEqual(['a', 'b'])
  })

  it('refuses to delete an issuer that still has bindings unless cascading', async () => {
    // Prepare
    const { admin, registry } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    // Act
    const error = await rejectionOf(admin.deleteIssuer('onprem-a', { cascade: false }, alice))
    // Assess
    expect(error).toMatchObject({ code: 'Conflict', reason: 'has_bindings' })
    expect(await registry.getIssuer('onprem-a')).toBeDefined()
    expect(await registry.getBinding('onprem-a', 'readers')).toBeDefined()
  })

  it('deletes an issuer and all its bindings with cascade, leaving other issuers alone', async () => {
    // Prepare
    const { admin, registry, audit } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    await admin.putIssuer('onprem-b', issuerBody(), alice)
    await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    await admin.putBinding('onprem-a', 'writers', bindingBody(), alice)
    await admin.putBinding('onprem-b', 'readers', bindingBody(), alice)
    // Act
    await admin.deleteIssuer('onprem-a', { cascade: true }, bob)
    // Assess
    expect(await registry.getIssuer('onprem-a')).toBeUndefined()
    expect(await registry.listBindings('onprem-a')).toEqual([])
    expect((await registry.listBindings('onprem-b')).map((b) => b.bindingId)).toEqual(['readers'])
    expect(audit.records.at(-1)).toMatchObject({
      event: 'admin.issuer.delete',
      actor: bob.actor,
      issuerId: 'onprem-a',
      versionBefore: 1,
      bindingsDeleted: 2,
    })
  })

  it('deletes an issuer without bindings', async () => {
    // Prepare
    const { admin, registry } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    // Act
    await admin.deleteIssuer('onprem-a', { cascade: false }, alice)
    // Assess
    expect(await registry.getIssuer('onprem-a')).toBeUndefined()
  })

  it('answers 409 to a delete naming a stale version, and keeps the issuer', async () => {
    // Prepare
    const { admin, registry } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    await admin.putIssuer('onprem-a', issuerBody({ version: 1 }), alice)
    // Act
    const byQuery = await rejectionOf(admin.deleteIssuer('onprem-a', { version: 1, cascade: true }, alice))
    const byHeader = await rejectionOf(
      admin.deleteIssuer('onprem-a', { cascade: true }, { ...alice, ifMatch: '"1"' }),
    )
    // Assess
    expect(byQuery.code).toBe('Conflict')
    expect(byHeader.code).toBe('Conflict')
    expect((await registry.getIssuer('onprem-a'))?.version).toBe(2)
  })

  it('answers 404 to deleting an issuer that does not exist', async () => {
    // Prepare
    const { admin } = setup()
    // Act
    const error = await rejectionOf(admin.deleteIssuer('nope', { cascade: true }, alice))
    // Assess
    expect(error.code).toBe('NotFound')
  })
})

describe('admin bindings', () => {
  const withIssuer = async () => {
    const context = setup()
    await context.admin.putIssuer('onprem-a', issuerBody(), alice)
    return context
  }

  it('answers 404 to a binding for an issuer that does not exist', async () => {
    // Prepare
    const { admin, registry } = setup()
    // Act
    const error = await rejectionOf(admin.putBinding('nope', 'readers', bindingBody(), alice))
    // Assess
    expect(error.code).toBe('NotFound')
    expect(await registry.getBinding('nope', 'readers')).toBeUndefined()
  })

  it('creates a binding whose profile defaults to its bindingId', async () => {
    // Prepare
    const { admin, registry } = await withIssuer()
    // Act
    const { object, created } = await admin.putBinding('onprem-a', 'ml-readers', bindingBody(), alice)
    // Assess
    expect(created).toBe(true)
    expect(object).toMatchObject({
      issuerId: 'onprem-a',
      bindingId: 'ml-readers',
      profile: 'ml-readers',
      durationSeconds: 3600,
      enabled: true,
      version: 1,
      updatedBy: alice.actor,
    })
    expect(await registry.getBinding('onprem-a', 'ml-readers')).toEqual(object)
  })

  it('answers 409 to a second create of the same binding, and changes nothing', async () => {
    // Prepare
    const { admin, registry } = await withIssuer()
    await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    const before = await registry.getBinding('onprem-a', 'readers')
    // Act
    const error = await rejectionOf(
      admin.putBinding(
        'onprem-a',
        'readers',
        bindingBody({ roleArn: 'arn:aws:iam::111122223333:role/admin' }),
        bob,
      ),
    )
    // Assess
    expect(error).toMatchObject({ code: 'Conflict', reason: 'exists' })
    expect(await registry.getBinding('onprem-a', 'readers')).toEqual(before)
  })

  it('answers 409 to a binding whose profile another binding of the issuer has, naming that binding, and stores nothing', async () => {
    // Prepare
    const { admin, registry } = await withIssuer()
    await admin.putBinding('onprem-a', 'readers', bindingBody({ profile: 'ml' }), alice)
    await admin.putBinding('onprem-a', 'writers', bindingBody({ profile: 'ml-writer' }), alice)
    const writers = await registry.getBinding('onprem-a', 'writers')
    // Act
    const created = await rejectionOf(
      admin.putBinding('onprem-a', 'others', bindingBody({ profile: 'ml' }), bob),
    )
    const renamed = await rejectionOf(
      admin.putBinding('onprem-a', 'writers', bindingBody({ profile: 'ml', version: 1 }), bob),
    )
    // A profile defaulting to the binding id counts too.
    const defaulted = await rejectionOf(admin.putBinding('onprem-a', 'ml-writer', bindingBody(), bob))
    // Assess
    for (const error of [created, renamed])
      expect(error).toMatchObject({
        code: 'Conflict',
        reason: 'duplicate_profile',
        message: expect.stringContaining('binding "onprem-a/readers"'),
      })
    expect(defaulted.message).toContain('binding "onprem-a/writers"')
    expect(await registry.getBinding('onprem-a', 'others')).toBeUndefined()
    expect(await registry.getBinding('onprem-a', 'ml-writer')).toBeUndefined()
    expect(await registry.getBinding('onprem-a', 'writers')).toEqual(writers)
  })

  it('lets a binding keep its own profile on update, and another issuer use the same profile', async () => {
    // Prepare
    const { admin } = await withIssuer()
    await admin.putIssuer('onprem-b', issuerBody({ issuer: 'https://oidc.onprem-b.example.com' }), alice)
    await admin.putBinding('onprem-a', 'readers', bindingBody({ profile: 'ml' }), alice)
    // Act
    const updated = await admin.putBinding(
      'onprem-a',
      'readers',
      bindingBody({ profile: 'ml', durationSeconds: 900, version: 1 }),
      bob,
    )
    const elsewhere = await admin.putBinding('onprem-b', 'readers', bindingBody({ profile: 'ml' }), bob)
    // Assess
    expect(updated.object).toMatchObject({ profile: 'ml', version: 2 })
    expect(elsewhere.created).toBe(true)
  })

  it('updates with If-Match and refuses a stale version without changing anything', async () => {
    // Prepare
    const { admin, registry } = await withIssuer()
    await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    // Act
    const { object } = await admin.putBinding('onprem-a', 'readers', bindingBody({ durationSeconds: 900 }), {
      ...bob,
      ifMatch: '"1"',
    })
    const stale = await rejectionOf(
      admin.putBinding('onprem-a', 'readers', bindingBody({ version: 1, enabled: false }), bob),
    )
    // Assess
    expect(object).toMatchObject({ version: 2, durationSeconds: 900 })
    expect(stale.code).toBe('Conflict')
    expect(await registry.getBinding('onprem-a', 'readers')).toEqual(object)
  })

  it('ignores server fields sent back as read and stamps its own', async () => {
    // Prepare
    const { admin, clock } = await withIssuer()
    const { object: first } = await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    clock.advance(10)
    // Act
    const { object } = await admin.putBinding(
      'onprem-a',
      'readers',
      { ...first, createdAt: 'forged', updatedAt: 'forged', updatedBy: 'mallory', description: 'edited' },
      bob,
    )
    // Assess
    expect(object).toMatchObject({
      version: 2,
      createdAt: first.createdAt,
      updatedAt: clock.now().toISOString(),
      updatedBy: bob.actor,
      description: 'edited',
    })
  })

  it.each([
    ['issuerId', { issuerId: 'onprem-b' }],
    ['bindingId', { bindingId: 'writers' }],
  ])('refuses a %s in the body that differs from the path', async (field, overrides) => {
    // Prepare
    const { admin } = await withIssuer()
    // Act
    const error = await rejectionOf(admin.putBinding('onprem-a', 'readers', bindingBody(overrides), alice))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', field })
  })

  it('stores a binding with a condition that compiles', async () => {
    // Prepare
    const { admin } = await withIssuer()
    const condition = "claims['kubernetes.io'].namespace.startsWith('ml')"
    // Act
    const { object } = await admin.putBinding('onprem-a', 'readers', bindingBody({ condition }), alice)
    // Assess
    expect(object.condition).toBe(condition)
  })

  it('refuses a binding whose condition does not compile, naming the position, and stores nothing', async () => {
    // Prepare
    const { admin, registry } = await withIssuer()
    // Act
    const error = await rejectionOf(
      admin.putBinding('onprem-a', 'readers', bindingBody({ condition: 'claims.sub == ' }), alice),
    )
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', field: 'condition' })
    expect((error as Error).message).toMatch(/^condition: invalid CEL at position 14 /)
    expect(await registry.getBinding('onprem-a', 'readers')).toBeUndefined()
  })

  it('answers 404 reading a missing binding and listing bindings of a missing issuer', async () => {
    // Prepare
    const { admin } = await withIssuer()
    // Act
    const missingBinding = await rejectionOf(admin.getBinding('onprem-a', 'nope'))
    const missingIssuer = await rejectionOf(admin.listBindings('nope'))
    // Assess
    expect(missingBinding.code).toBe('NotFound')
    expect(missingIssuer.code).toBe('NotFound')
  })

  it('deletes a binding naming its current version', async () => {
    // Prepare
    const { admin, registry, audit } = await withIssuer()
    await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    // Act
    await admin.deleteBinding('onprem-a', 'readers', { version: 1 }, bob)
    // Assess
    expect(await registry.getBinding('onprem-a', 'readers')).toBeUndefined()
    expect(audit.records.at(-1)).toMatchObject({
      event: 'admin.binding.delete',
      issuerId: 'onprem-a',
      bindingId: 'readers',
      versionBefore: 1,
      actor: bob.actor,
    })
  })

  it('answers 409 to deleting a binding with a stale version, and keeps it', async () => {
    // Prepare
    const { admin, registry } = await withIssuer()
    await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    await admin.putBinding('onprem-a', 'readers', bindingBody({ version: 1 }), alice)
    // Act
    const error = await rejectionOf(
      admin.deleteBinding('onprem-a', 'readers', {}, { ...bob, ifMatch: '"1"' }),
    )
    // Assess
    expect(error.code).toBe('Conflict')
    expect((await registry.getBinding('onprem-a', 'readers'))?.version).toBe(2)
  })

  it('answers 404 to deleting a binding that does not exist', async () => {
    // Prepare
    const { admin } = await withIssuer()
    // Act
    const error = await rejectionOf(admin.deleteBinding('onprem-a', 'nope', {}, alice))
    // Assess
    expect(error.code).toBe('NotFound')
  })

  it('never writes key material into admin audit records', async () => {
    // Prepare
    const { admin, audit } = await withIssuer()
    // Act
    await admin.putBinding('onprem-a', 'readers', bindingBody(), alice)
    // Assess
    const serialized = JSON.stringify(audit.records)
    expect(audit.records.map((r) => r.event)).toEqual(['admin.issuer.put', 'admin.binding.put'])
    expect(serialized).not.toContain(key.jwk.n)
  })
})
