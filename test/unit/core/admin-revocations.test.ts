// The revocation writes of the admin plane (shared/core/admin.ts): they write the issuer item at
// the version they read, make the change again on the new issuer when another write raced
// them (at most 3 attempts, then 409), and leave an audit record.
import { describe, expect, it } from 'vitest'
import { createAdmin, type WriteContext } from '../../../shared/core/admin.js'
import { ConflictError } from '../../../shared/core/errors.js'
import { createHistory } from '../../../shared/core/history.js'
import type { AdminRegistry } from '../../../shared/core/ports.js'
import { createMemoryHistoryLog } from '../../support/memory-history.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createAuditLog, createTestClock, makeIssuer, NOW, rejectionOf } from '../fixtures.js'

const alice: WriteContext = { actor: 'arn:aws:iam::111122223333:user/alice', requestId: 'req-1' }
const SUBJECT = 'system:serviceaccount:ml:trainer'

/**
 * A memory registry whose issuer writes meet another writer first, `races` times: just before
 * each, a concurrent edit of the issuer's description moves its version.
 */
const racedRegistry = (races: number) => {
  const memory = createMemoryRegistry()
  memory.seed({ issuers: [makeIssuer({ issuerId: 'onprem-a', version: 1 })] })
  let left = races
  let attempts = 0
  const registry: AdminRegistry = {
    ...memory,
    async putIssuer(issuer, expectedVersion) {
      attempts++
      if (left > 0) {
        left--
        const current = await memory.getIssuer(issuer.issuerId)
        if (current)
          await memory.putIssuer(
            { ...current, description: `edited ${races - left}`, version: current.version + 1 },
            current.version,
          )
      }
      return memory.putIssuer(issuer, expectedVersion)
    },
  }
  return { registry, memory, attempts: () => attempts }
}

const setup = (registry: AdminRegistry) => {
  const audit = createAuditLog()
  let changes = 0
  const admin = createAdmin({
    registry,
    clock: createTestClock(),
    audit: audit.sink,
    onChange: () => {
      changes++
    },
  })
  return { admin, audit, changes: () => changes }
}

describe('revocation writes', () => {
  it('revokes the whole issuer with {}: notBefore now, one audit record, the issuer one version on', async () => {
    // Prepare
    const { registry, memory } = racedRegistry(0)
    const { admin, audit, changes } = setup(registry)

    // Act
    const { object, created } = await admin.addRevocation('onprem-a', {}, alice)

    // Assess
    expect(created).toBe(true)
    expect(object).toEqual({
      revocationId: expect.stringMatching(/^r[A-Za-z0-9_-]{16}$/),
      notBefore: NOW.toISOString(),
      createdAt: NOW.toISOString(),
      createdBy: alice.actor,
    })
    const issuer = await memory.getIssuer('onprem-a')
    expect(issuer?.version).toBe(2)
    expect(issuer?.revocations).toEqual([object])
    expect(changes()).toBe(1)
    expect(audit.records).toEqual([
      expect.objectContaining({
        event: 'admin.revocation.put',
        issuerId: 'onprem-a',
        revocationId: object.revocationId,
        notBefore: NOW.toISOString(),
        versionAfter: 2,
        actor: alice.actor,
      }),
    ])
  })

  it('makes the change again on the issuer another write moved, keeping that write', async () => {
    // Prepare
    const { registry, memory, attempts } = racedRegistry(2)
    const { admin } = setup(registry)

    // Act
    const { object } = await admin.addRevocation('onprem-a', { subject: SUBJECT }, alice)

    // Assess
    expect(attempts()).toBe(3)
    const issuer = await memory.getIssuer('onprem-a')
    expect(issuer?.description).toBe('edited 2')
    expect(issuer?.revocations).toEqual([object])
    expect(issuer?.version).toBe(4)
  })

  it('gives up after 3 raced attempts with 409 version_conflict, changing nothing of its own', async () => {
    // Prepare
    const { registry, memory, attempts } = racedRegistry(3)
    const { admin, audit, changes } = setup(registry)

    // Act
    const error = await rejectionOf(
      admin.addRevocation('onprem-a', { subject: SUBJECT }, alice),
      ConflictError,
    )

    // Assess
    expect(error.reason).toBe('version_conflict')
    expect(attempts()).toBe(3)
    expect((await memory.getIssuer('onprem-a'))?.revocations).toBeUndefined()
    expect(audit.records).toEqual([])
    expect(changes()).toBe(0)
  })

  it('lifts a revocation by id (an audit record), and an unknown id is a 404 that writes nothing', async () => {
    // Prepare
    const { registry, memory } = racedRegistry(0)
    const { admin, audit } = setup(registry)
    const { object } = await admin.addRevocation('onprem-a', { subject: SUBJECT }, alice)

    // Act
    await admin.liftRevocation('onprem-a', object.revocationId, alice)
    const unknown = await rejectionOf(admin.liftRevocation('onprem-a', object.revocationId, alice))

    // Assess
    expect(unknown.code).toBe('NotFound')
    const issuer = await memory.getIssuer('onprem-a')
    expect(issuer?.revocations).toBeUndefined()
    expect(issuer?.version).toBe(3)
    expect(audit.records.map((record) => record.event)).toEqual([
      'admin.revocation.put',
      'admin.revocation.delete',
    ])
  })
  it('leaves one history record per revocation write (the field revocations), none for a refused one', async () => {
    // Prepare
    const { registry } = racedRegistry(0)
    const clock = createTestClock()
    const history = createHistory({ log: createMemoryHistoryLog(), clock, registry })
    const admin = createAdmin({ registry, clock, audit: createAuditLog().sink, history })

    // Act
    const { object } = await admin.addRevocation('onprem-a', { subject: SUBJECT }, alice)
    clock.advance(60)
    await admin.addRevocation('onprem-a', { subject: SUBJECT }, alice)
    await admin.liftRevocation('onprem-a', object.revocationId, alice)
    const unknown = await rejectionOf(admin.liftRevocation('onprem-a', object.revocationId, alice))
    const { records } = await history.read({ issuerId: 'onprem-a' })

    // Assess
    expect(unknown.code).toBe('NotFound')
    expect(
      records.map(({ object, action, versionBefore, versionAfter, changed, actor }) => ({
        object,
        action,
        versionBefore,
        versionAfter,
        changed,
        actor,
      })),
    ).toEqual(
      [
        [1, 2],
        [2, 3],
        [3, 4],
      ].map(([versionBefore, versionAfter]) => ({
        object: 'issuer',
        action: 'update',
        versionBefore,
        versionAfter,
        changed: ['revocations'],
        actor: alice.actor,
      })),
    )
  })
})
