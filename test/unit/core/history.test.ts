// The admin history's rule (docs/decisions.md, "The admin history"): a write that
// fails leaves no record, a record never lacks its write, whatever step a crash interrupts.
// A crash is a step that throws: the history store's claim, commit or abandon, or the registry
// write before or after it changed the object.
import { describe, expect, it } from 'vitest'
import { createAdmin, type WriteContext } from '../../../shared/core/admin.js'
import { ConflictError, UpstreamUnavailableError } from '../../../shared/core/errors.js'
import { createHistory, describeChange, HISTORY_LEASE_SECONDS } from '../../../shared/core/history.js'
import type { AdminRegistry } from '../../../shared/core/ports.js'
import { createMemoryHistoryLog } from '../../support/memory-history.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createAuditLog, createTestClock, generateRsaKey, makeIssuer, rejectionOf } from '../fixtures.js'

const key = await generateRsaKey('onprem-a-1')
const nextKey = await generateRsaKey('onprem-a-2')
const alice: WriteContext = { actor: 'arn:aws:iam::111122223333:user/alice', requestId: 'req-1' }
const crash = () => new Error('the process died here')

const issuerBody = (keys = [key.jwk]) => ({
  issuer: 'https://kubernetes.default.svc.cluster.local',
  audiences: ['irsa-broker'],
  jwks: { keys: keys.map((jwk) => ({ ...jwk, alg: 'RS256', use: 'sig' })) },
})
const bindingBody = (overrides: Record<string, unknown> = {}) => ({
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
  subjects: ['system:serviceaccount:ml:*'],
  ...overrides,
})

/** The registry, with writes that can be made to go through and then fail (a crash after the write). */
const setup = () => {
  const memory = createMemoryRegistry()
  let crashAfterWrite = false
  const registry: AdminRegistry = {
    ...memory,
    putBinding: async (binding, expected) => {
      await memory.putBinding(binding, expected)
      if (crashAfterWrite) {
        crashAfterWrite = false
        throw crash()
      }
    },
  }
  const clock = createTestClock()
  const log = createMemoryHistoryLog()
  const history = createHistory({ log, clock, registry })
  const admin = createAdmin({ registry, clock, audit: createAuditLog().sink, history })
  const read = async () => (await history.read({ issuerId: 'onprem-a' })).records
  return {
    memory,
    clock,
    log,
    history,
    admin,
    read,
    crashAfterNextBindingWrite: () => {
      crashAfterWrite = true
    },
  }
}

describe('admin history: records', () => {
  it('records every write with actor, versions and changed field names, oldest first', async () => {
    // Prepare
    const { admin, clock, read } = setup()
    // Act
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    clock.advance(1)
    await admin.putBinding('onprem-a', 'reader', bindingBody(), alice)
    clock.advance(1)
    await admin.putBinding(
      'onprem-a',
      'reader',
      bindingBody({ version: 1, sessionTags: { team: 'ml' } }),
      alice,
    )
    clock.advance(1)
    await admin.putBinding(
      'onprem-a',
      'reader',
      bindingBody({ version: 2, sessionTags: { team: 'ml' }, enabled: false }),
      alice,
    )
    clock.advance(1)
    await admin.deleteIssuer('onprem-a', { cascade: true }, alice)
    // Assess
    const records = await read()
    expect(
      records.map((r) => [r.object, r.action, r.versionBefore, r.versionAfter, r.changed, r.actor]),
    ).toEqual([
      ['issuer', 'create', undefined, 1, expect.arrayContaining(['issuer', 'jwks']), alice.actor],
      ['binding', 'create', undefined, 1, expect.arrayContaining(['roleArn', 'subjects']), alice.actor],
      ['binding', 'update', 1, 2, ['sessionTags'], alice.actor],
      ['binding', 'update', 2, 3, ['enabled'], alice.actor],
      ['issuer', 'delete', 1, undefined, [], alice.actor],
    ])
  })

  it('records a cascade as the issuer delete alone, and a binding of the re-registered issuer as a create', async () => {
    // Prepare: a binding at version 2 whose issuer is deleted with cascade (the binding ends
    // with its issuer's generation, with no write of its own) and then registered again.
    const { admin, clock, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    await admin.putBinding('onprem-a', 'reader', bindingBody(), alice)
    await admin.putBinding('onprem-a', 'reader', bindingBody({ version: 1, durationSeconds: 900 }), alice)
    clock.advance(1)
    await admin.deleteIssuer('onprem-a', { cascade: true }, alice)
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    // Act: the same binding id again, a create (its history head still says version 2)
    const again = await admin.putBinding('onprem-a', 'reader', bindingBody(), alice)
    // Assess
    expect(again).toMatchObject({ created: true, object: { version: 1 } })
    expect((await read()).map((r) => [r.object, r.action, r.versionBefore, r.versionAfter])).toEqual([
      ['issuer', 'create', undefined, 1],
      ['binding', 'create', undefined, 1],
      ['binding', 'update', 1, 2],
      ['issuer', 'delete', 1, undefined],
      ['issuer', 'create', undefined, 1],
      ['binding', 'create', undefined, 1],
    ])
  })

  it('names key changes by kid and never copies a key, a document value or a token', async () => {
    // Prepare
    const { admin, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    // Act
    await admin.putIssuer('onprem-a', { ...issuerBody([nextKey.jwk]), version: 1 }, alice)
    // Assess
    const records = await read()
    expect(records[1]).toMatchObject({
      changed: ['jwks'],
      kidsAdded: ['onprem-a-2'],
      kidsRemoved: ['onprem-a-1'],
    })
    const text = JSON.stringify(records)
    for (const jwk of [key.jwk, nextKey.jwk]) {
      expect(text).not.toContain(jwk.n)
      expect(text).not.toContain(jwk.e === 'AQAB' ? '"AQAB"' : jwk.e)
    }
    expect(text).not.toContain('kubernetes.default.svc')
  })

  it('describes a change by names alone, leaving server stamps out', () => {
    // Act
    const change = describeChange(
      makeIssuer({ version: 1 }),
      makeIssuer({ version: 2, enabled: false, updatedAt: 'x' }),
    )
    // Assess
    expect(change).toEqual({ action: 'update', versionBefore: 1, versionAfter: 2, changed: ['enabled'] })
  })
})

describe('admin history: a failed write leaves no record', () => {
  it('a stale version (409) leaves no record and the object free for the next write', async () => {
    // Prepare
    const { admin, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    await admin.putBinding('onprem-a', 'reader', bindingBody(), alice)
    // Act
    const error = await rejectionOf(
      admin.putBinding('onprem-a', 'reader', bindingBody({ version: 7 }), alice),
    )
    await admin.putBinding('onprem-a', 'reader', bindingBody({ version: 1, enabled: false }), alice)
    // Assess
    expect(error).toBeInstanceOf(ConflictError)
    expect((await read()).map((r) => r.versionAfter)).toEqual([1, 1, 2])
  })

  it('a conditional failure under the claim (a write that lost) leaves no record', async () => {
    // Prepare
    const { admin, memory, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    memory.failNext('putBinding', new ConflictError('changed meanwhile'))
    // Act
    const error = await rejectionOf(admin.putBinding('onprem-a', 'reader', bindingBody(), alice))
    // Assess
    expect(error).toBeInstanceOf(ConflictError)
    expect((await read()).map((r) => r.object)).toEqual(['issuer'])
    await admin.putBinding('onprem-a', 'reader', bindingBody(), alice)
    expect((await read()).map((r) => r.object)).toEqual(['issuer', 'binding'])
  })

  it('a crash at the claim writes nothing and records nothing', async () => {
    // Prepare
    const { admin, log, memory, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    log.failNext('claim', crash())
    // Act
    await expect(admin.putBinding('onprem-a', 'reader', bindingBody(), alice)).rejects.toThrow('died')
    // Assess
    expect(await memory.getBinding('onprem-a', 'reader')).toBeUndefined()
    expect((await read()).map((r) => r.object)).toEqual(['issuer'])
  })

  it('a crash after the claim, before the write, is settled as no write: no record, ever', async () => {
    // Prepare
    const { admin, clock, memory, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    memory.failNext('putBinding', new UpstreamUnavailableError('dynamodb'))
    // Act
    await rejectionOf(admin.putBinding('onprem-a', 'reader', bindingBody(), alice))
    const during = await rejectionOf(admin.putBinding('onprem-a', 'reader', bindingBody(), alice))
    clock.advance(HISTORY_LEASE_SECONDS + 1)
    const after = await read()
    // Assess
    expect(during).toMatchObject({ reason: 'write_in_progress' })
    expect(after.map((r) => r.object)).toEqual(['issuer'])
    await admin.putBinding('onprem-a', 'reader', bindingBody(), alice)
    expect((await read()).map((r) => [r.object, r.versionAfter])).toEqual([
      ['issuer', 1],
      ['binding', 1],
    ])
  })

  it('a crash while abandoning a lost write is settled as no write', async () => {
    // Prepare
    const { admin, clock, log, memory, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    memory.failNext('putBinding', new ConflictError('changed meanwhile'))
    log.failNext('abandon', crash())
    // Act
    await rejectionOf(admin.putBinding('onprem-a', 'reader', bindingBody(), alice)).catch(() => undefined)
    clock.advance(HISTORY_LEASE_SECONDS + 1)
    // Assess
    expect((await read()).map((r) => r.object)).toEqual(['issuer'])
    expect(await log.claims('onprem-a')).toEqual([])
  })
})

describe('admin history: a write that happened has its record', () => {
  it('a crash after the write, before the commit, shows the record once the claim is settled', async () => {
    // Prepare
    const { admin, clock, log, memory, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    log.failNext('commit', crash())
    // Act
    await expect(admin.putBinding('onprem-a', 'reader', bindingBody(), alice)).rejects.toThrow('died')
    const before = await read()
    clock.advance(HISTORY_LEASE_SECONDS + 1)
    const after = await read()
    // Assess
    expect(await memory.getBinding('onprem-a', 'reader')).toMatchObject({ version: 1 })
    expect(before.map((r) => r.object)).toEqual(['issuer'])
    expect(after.map((r) => [r.object, r.action, r.versionAfter])).toEqual([
      ['issuer', 'create', 1],
      ['binding', 'create', 1],
    ])
  })

  it('a crash in the registry call after it wrote is settled as a write by the next writer', async () => {
    // Prepare
    const { admin, clock, crashAfterNextBindingWrite, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    crashAfterNextBindingWrite()
    // Act
    await expect(admin.putBinding('onprem-a', 'reader', bindingBody(), alice)).rejects.toThrow('died')
    clock.advance(HISTORY_LEASE_SECONDS + 1)
    await admin.putBinding('onprem-a', 'reader', bindingBody({ version: 1, enabled: false }), alice)
    // Assess
    expect((await read()).map((r) => [r.object, r.versionBefore, r.versionAfter])).toEqual([
      ['issuer', undefined, 1],
      ['binding', undefined, 1],
      ['binding', 1, 2],
    ])
  })

  it('a retried write whose first try went through (409 on the retry) is a success with its record', async () => {
    // Prepare
    const memory = createMemoryRegistry()
    const registry: AdminRegistry = {
      ...memory,
      putIssuer: async (issuer, expected) => {
        await memory.putIssuer(issuer, expected)
        throw new ConflictError('the retry found its own write')
      },
    }
    const clock = createTestClock()
    const log = createMemoryHistoryLog()
    const admin = createAdmin({
      registry,
      clock,
      audit: createAuditLog().sink,
      history: createHistory({ log, clock, registry }),
    })
    // Act
    const { object } = await admin.putIssuer('onprem-a', issuerBody(), alice)
    // Assess
    expect(object.version).toBe(1)
    expect(log.records().map((r) => [r.object, r.versionAfter])).toEqual([['issuer', 1]])
    expect(await log.claims('onprem-a')).toEqual([])
  })
})

describe('admin history: concurrent writes of one object', () => {
  it('take turns: the second waits for the first claim, then finds a stale version (409), and one record is kept', async () => {
    // Prepare
    const { admin, read } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    await admin.putBinding('onprem-a', 'reader', bindingBody(), alice)
    // Act
    const outcomes = await Promise.allSettled([
      admin.putBinding('onprem-a', 'reader', bindingBody({ version: 1, durationSeconds: 900 }), alice),
      admin.putBinding('onprem-a', 'reader', bindingBody({ version: 1, durationSeconds: 1800 }), alice),
    ])
    // Assess
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []))
    expect(refused).toHaveLength(1)
    expect(refused[0]).toMatchObject({ reason: 'version_conflict' })
    expect((await read()).filter((r) => r.versionBefore === 1)).toHaveLength(1)
  })
})

describe('admin history: reading', () => {
  it('pages with limit and nextToken, oldest first, from `since` on', async () => {
    // Prepare
    const { admin, clock, history } = setup()
    await admin.putIssuer('onprem-a', issuerBody(), alice)
    for (const bindingId of ['a', 'b', 'c', 'd']) {
      clock.advance(1)
      await admin.putBinding('onprem-a', bindingId, bindingBody({ profile: bindingId }), alice)
    }
    // Act
    const first = await history.read({ issuerId: 'onprem-a', limit: '2' })
    const second = await history.read({ issuerId: 'onprem-a', limit: '2', nextToken: first.nextToken })
    const third = await history.read({ issuerId: 'onprem-a', limit: '2', nextToken: second.nextToken })
    const since = await history.read({ issuerId: 'onprem-a', since: first.records[1]?.at })
    // Assess
    expect([...first.records, ...second.records, ...third.records].map((r) => r.bindingId ?? '-')).toEqual([
      '-',
      'a',
      'b',
      'c',
      'd',
    ])
    expect(third.nextToken).toBeUndefined()
    expect(since.records.map((r) => r.bindingId)).toEqual(['a', 'b', 'c', 'd'])
  })

  it('refuses a missing issuerId, a bad since and a forged nextToken with a 400 naming the field', async () => {
    // Prepare
    const { history } = setup()
    // Act
    const refusals = await Promise.all([
      rejectionOf(history.read({})),
      rejectionOf(history.read({ issuerId: 'onprem-a', since: 'yesterday' })),
      rejectionOf(history.read({ issuerId: 'onprem-a', nextToken: 'forged' })),
      rejectionOf(history.read({ issuerId: 'onprem-a', limit: '0' })),
    ])
    // Assess
    expect(refusals.map((error) => [error.code, (error as { field?: string }).field])).toEqual([
      ['InvalidParameterValue', 'issuerId'],
      ['InvalidParameterValue', 'since'],
      ['InvalidParameterValue', 'nextToken'],
      ['InvalidParameterValue', 'limit'],
    ])
  })
})
