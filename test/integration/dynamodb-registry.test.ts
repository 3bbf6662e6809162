// The Registry port on a real DynamoDB wire protocol (in-memory dynalite): items, the `byIss`
// index, and the conditional writes that make admin updates optimistic.
import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../infra/local/processes.js'
import {
  createDynamoDbRegistry,
  createDynamoDbRegistryPages,
} from '../../shared/adapters/dynamodb-registry.js'
import { ConflictError, UpstreamUnavailableError } from '../../shared/core/errors.js'
import type { Binding, Issuer } from '../../shared/core/model.js'
import type { Registry } from '../../shared/core/ports.js'
import {
  createRegistryTable,
  dynamoDbClient,
  type EmbeddedDynamoDb,
  startDynalite,
} from '../support/dynalite.js'
import { createTestIssuer, K8S_ISSUER } from '../support/workload-issuer.js'
import { makeBinding, makeIssuer, rejectionOf } from '../unit/fixtures.js'

const TABLE = 'irsa-broker-registry-test'

let jwks: Issuer['jwks']

const issuerOf = (issuerId: string, overrides: Partial<Issuer> = {}): Issuer =>
  makeIssuer({ issuerId, audiences: ['irsa-broker'], jwks, ...overrides })

const bindingOf = (issuerId: string, bindingId: string, overrides: Partial<Binding> = {}): Binding =>
  makeBinding({
    bindingId,
    issuerId,
    roleArn: `arn:aws:iam::111122223333:role/${bindingId}`,
    profile: bindingId,
    subjects: ['system:serviceaccount:ml:trainer'],
    ...overrides,
  })

let dynamo: EmbeddedDynamoDb
let client: DynamoDBClient
let registry: Registry

beforeAll(async () => {
  jwks = (await createTestIssuer()).jwks
  dynamo = await startDynalite()
  client = dynamoDbClient(dynamo.endpoint)
  await createRegistryTable(client, TABLE)
  registry = createDynamoDbRegistry(client, TABLE)
})

afterAll(async () => {
  client?.destroy()
  await dynamo?.stop()
})

describe('DynamoDB registry: paged reads', () => {
  it("pages an issuer's bindings by id within its own partition: a position past them, or of another issuer, reaches no other issuer's bindings", async () => {
    // Prepare
    const pages = createDynamoDbRegistryPages(client, TABLE)
    await registry.putIssuer(issuerOf('page-a'), undefined)
    await registry.putIssuer(issuerOf('page-b'), undefined)
    for (const id of ['b3', 'b1', 'b2']) await registry.putBinding(bindingOf('page-a', id), undefined)
    for (const id of ['b4', 'zz']) await registry.putBinding(bindingOf('page-b', id), undefined)

    // Act
    const first = await pages.listBindingsPage('page-a', { limit: 2 })
    const second = await pages.listBindingsPage('page-a', { limit: 2, after: first.next })
    const pastTheEnd = await pages.listBindingsPage('page-a', { limit: 10, after: { bindingId: 'b3' } })
    const otherPosition = await pages.listBindingsPage('page-a', { limit: 10, after: { bindingId: 'b4' } })
    const issuers = await pages.listIssuersPage({ limit: 1, after: { issuerId: 'page-a' } })

    // Assess
    expect(first.items.map((b) => b.bindingId)).toEqual(['b1', 'b2'])
    expect(first.next).toEqual({ bindingId: 'b2' })
    expect(second.items.map((b) => b.bindingId)).toEqual(['b3'])
    expect(second.next).toBeUndefined()
    expect(pastTheEnd).toEqual({ items: [] })
    expect(otherPosition).toEqual({ items: [] })
    expect(issuers.items.map((issuer) => issuer.issuerId)).toEqual(['page-b'])
  })
})

describe('DynamoDB registry: reads and writes', () => {
  it('stores an issuer on create and reads it back whole, server fields included', async () => {
    // Prepare
    const issuer = issuerOf('rw-issuer', { description: 'on-prem cluster A' })

    // Act
    await registry.putIssuer(issuer, undefined)
    const read = await registry.getIssuer('rw-issuer')

    // Assess
    expect(read).toEqual(issuer)
  })

  it('answers undefined for an issuer or binding that was never stored', async () => {
    // Act
    const issuer = await registry.getIssuer('never-stored')
    const binding = await registry.getBinding('rw-issuer', 'never-stored')

    // Assess
    expect(issuer).toBeUndefined()
    expect(binding).toBeUndefined()
  })

  it('lists issuers sorted by issuerId and never lists bindings as issuers', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('list-b'), undefined)
    await registry.putIssuer(issuerOf('list-a'), undefined)
    await registry.putBinding(bindingOf('list-a', 'list-a-binding'), undefined)

    // Act
    const listed = await registry.listIssuers()

    // Assess
    const ids = listed.map((issuer) => issuer.issuerId)
    expect(ids).toEqual([...ids].sort((a, b) => a.localeCompare(b)))
    expect(ids).toEqual(expect.arrayContaining(['list-a', 'list-b', 'rw-issuer']))
    expect(ids).not.toContain('list-a-binding')
    expect(listed.every((issuer) => typeof issuer.issuer === 'string')).toBe(true)
  })

  it('stores bindings in their issuer partition: get one, list all of one issuer and only those', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('bind-x'), undefined)
    await registry.putIssuer(issuerOf('bind-y'), undefined)
    const first = bindingOf('bind-x', 'reader')
    const second = bindingOf('bind-x', 'writer', { profile: 'rw', sessionTags: { team: 'ml' } })
    const other = bindingOf('bind-y', 'reader')
    for (const binding of [first, second, other]) await registry.putBinding(binding, undefined)

    // Act
    const one = await registry.getBinding('bind-x', 'writer')
    const ofX = await registry.listBindings('bind-x')
    const ofNobody = await registry.listBindings('no-such-issuer')

    // Assess
    expect(one).toEqual(second)
    expect(ofX.sort((a, b) => a.bindingId.localeCompare(b.bindingId))).toEqual([first, second])
    expect(ofNobody).toEqual([])
  })

  it('finds a binding by its profile within its issuer only, and nothing for a profile no binding has', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('profile-x'), undefined)
    await registry.putIssuer(issuerOf('profile-y'), undefined)
    const reader = bindingOf('profile-x', 'reader', { profile: 'ml' })
    await registry.putBinding(reader, undefined)
    await registry.putBinding(bindingOf('profile-x', 'writer', { profile: 'ml-writer' }), undefined)

    // Act
    const found = await registry.findBindingByProfile('profile-x', 'ml')
    const otherIssuer = await registry.findBindingByProfile('profile-y', 'ml')
    const noSuchProfile = await registry.findBindingByProfile('profile-x', 'nobody')

    // Assess
    expect(found).toEqual(reader)
    expect(otherIssuer).toBeUndefined()
    expect(noSuchProfile).toBeUndefined()
  })

  it('finds every issuer sharing one iss through the byIss index, and none of another iss', async () => {
    // Prepare
    const sharedIss = 'https://shared-iss.example.test'
    const sharing = ['gsi-onprem-a', 'gsi-onprem-b', 'gsi-onprem-c'].map((id) =>
      issuerOf(id, { issuer: sharedIss }),
    )
    for (const issuer of sharing) await registry.putIssuer(issuer, undefined)
    await registry.putIssuer(
      issuerOf('gsi-elsewhere', { issuer: 'https://other-iss.example.test' }),
      undefined,
    )

    // Act
    const found = await registry.findIssuersByIss(sharedIss)
    const unknown = await registry.findIssuersByIss('https://unknown-iss.example.test')

    // Assess
    expect(found.sort((a, b) => a.issuerId.localeCompare(b.issuerId))).toEqual(sharing)
    expect(unknown).toEqual([])
  })

  it('moves an issuer to its new iss in the index when an update changes `issuer`', async () => {
    // Prepare
    const before = issuerOf('gsi-moving', { issuer: 'https://moving-before.example.test' })
    await registry.putIssuer(before, undefined)

    // Act
    await registry.putIssuer({ ...before, issuer: 'https://moving-after.example.test', version: 2 }, 1)

    // Assess
    expect(await registry.findIssuersByIss('https://moving-before.example.test')).toEqual([])
    expect(
      (await registry.findIssuersByIss('https://moving-after.example.test')).map((i) => i.version),
    ).toEqual([2])
  })

  it('updates an issuer when the expected version matches the stored one', async () => {
    // Prepare
    const stored = issuerOf('update-ok')
    await registry.putIssuer(stored, undefined)

    // Act
    await registry.putIssuer({ ...stored, description: 'edited', version: 2 }, 1)

    // Assess
    expect(await registry.getIssuer('update-ok')).toEqual({ ...stored, description: 'edited', version: 2 })
  })

  it('deletes an issuer and a binding when the expected version matches', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('delete-ok'), undefined)
    await registry.putBinding(bindingOf('delete-ok', 'gone'), undefined)

    // Act
    await registry.deleteBinding('delete-ok', 'gone', 1)
    await registry.deleteIssuer('delete-ok', 1)

    // Assess
    expect(await registry.getBinding('delete-ok', 'gone')).toBeUndefined()
    expect(await registry.getIssuer('delete-ok')).toBeUndefined()
  })
})

describe('DynamoDB registry: conditional writes', () => {
  it('refuses a create-only issuer write over an existing item with ConflictError and keeps the item', async () => {
    // Prepare
    const stored = issuerOf('create-twice', { description: 'first' })
    await registry.putIssuer(stored, undefined)

    // Act
    const error = await rejectionOf(registry.putIssuer({ ...stored, description: 'second' }, undefined))

    // Assess
    expect(error).toBeInstanceOf(ConflictError)
    expect((error as ConflictError).code).toBe('Conflict')
    expect(await registry.getIssuer('create-twice')).toEqual(stored)
  })

  it('refuses a create-only binding write over an existing item with ConflictError', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('create-binding-twice'), undefined)
    const stored = bindingOf('create-binding-twice', 'dup')
    await registry.putBinding(stored, undefined)

    // Act
    const error = await rejectionOf(registry.putBinding({ ...stored, profile: 'other' }, undefined))

    // Assess
    expect(error).toBeInstanceOf(ConflictError)
    expect((error as ConflictError).code).toBe('Conflict')
    expect(await registry.getBinding('create-binding-twice', 'dup')).toEqual(stored)
  })

  it('refuses an issuer update naming a stale version with ConflictError and leaves the stored item unchanged', async () => {
    // Prepare
    const v1 = issuerOf('stale-update', { description: 'v1' })
    await registry.putIssuer(v1, undefined)
    const v2 = { ...v1, description: 'v2', version: 2 }
    await registry.putIssuer(v2, 1)

    // Act
    const error = await rejectionOf(registry.putIssuer({ ...v1, description: 'lost update', version: 2 }, 1))

    // Assess
    expect(error).toBeInstanceOf(ConflictError)
    expect((error as ConflictError).code).toBe('Conflict')
    expect(await registry.getIssuer('stale-update')).toEqual(v2)
  })

  it('refuses a binding update naming a stale version with ConflictError and leaves it unchanged', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('stale-binding'), undefined)
    const v1 = bindingOf('stale-binding', 'b')
    await registry.putBinding(v1, undefined)
    const v2 = { ...v1, enabled: false, version: 2 }
    await registry.putBinding(v2, 1)

    // Act
    const error = await rejectionOf(registry.putBinding({ ...v1, version: 2, profile: 'lost' }, 1))

    // Assess
    expect(error).toBeInstanceOf(ConflictError)
    expect(await registry.getBinding('stale-binding', 'b')).toEqual(v2)
  })

  it('refuses an update of an item that does not exist with ConflictError instead of creating it', async () => {
    // Act
    const error = await rejectionOf(registry.putIssuer(issuerOf('not-there', { version: 4 }), 3))

    // Assess
    expect(error).toBeInstanceOf(ConflictError)
    expect(await registry.getIssuer('not-there')).toBeUndefined()
  })

  it('refuses to delete an issuer or a binding with a stale version (Conflict) and keeps both', async () => {
    // Prepare
    const issuer = issuerOf('stale-delete', { version: 3 })
    const binding = bindingOf('stale-delete', 'kept', { version: 2 })
    await registry.putIssuer(issuer, undefined)
    await registry.putBinding(binding, undefined)

    // Act
    const issuerError = await rejectionOf(registry.deleteIssuer('stale-delete', 2))
    const bindingError = await rejectionOf(registry.deleteBinding('stale-delete', 'kept', 1))

    // Assess
    expect(issuerError).toBeInstanceOf(ConflictError)
    expect((issuerError as ConflictError).code).toBe('Conflict')
    expect(bindingError).toBeInstanceOf(ConflictError)
    expect((bindingError as ConflictError).code).toBe('Conflict')
    expect(await registry.getIssuer('stale-delete')).toEqual(issuer)
    expect(await registry.getBinding('stale-delete', 'kept')).toEqual(binding)
  })

  it('lets exactly one of N concurrent writers from the same read version win; the others get Conflict and no update is lost', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 20 }),
        fc.integer({ min: 0, max: 3 }),
        async (writers, priorUpdates) => {
          // Prepare
          const issuerId = `race-${run++}`
          let stored = issuerOf(issuerId)
          await registry.putIssuer(stored, undefined)
          for (let update = 0; update < priorUpdates; update++) {
            const next = { ...stored, version: stored.version + 1 }
            await registry.putIssuer(next, stored.version)
            stored = next
          }
          const read = await registry.getIssuer(issuerId)
          if (!read) throw new Error('the issuer was just written')

          // Act
          const outcomes = await Promise.allSettled(
            Array.from({ length: writers }, (_, writer) =>
              registry.putIssuer(
                { ...read, description: `writer-${writer}`, version: read.version + 1 },
                read.version,
              ),
            ),
          )

          // Assess
          const winners = outcomes.flatMap((outcome, writer) =>
            outcome.status === 'fulfilled' ? [writer] : [],
          )
          const losers = outcomes.flatMap((outcome) =>
            outcome.status === 'rejected' ? [outcome.reason] : [],
          )
          expect(winners).toHaveLength(1)
          expect(losers).toHaveLength(writers - 1)
          for (const loser of losers) {
            expect(loser).toBeInstanceOf(ConflictError)
            expect((loser as ConflictError).code).toBe('Conflict')
          }
          const final = await registry.getIssuer(issuerId)
          expect(final?.version).toBe(read.version + 1)
          expect(final?.description).toBe(`writer-${winners[0]}`)
        },
      ),
      { numRuns: 12 },
    )
  })
})

describe('DynamoDB registry: an unreachable DynamoDB', () => {
  it('turns a refused connection into UpstreamUnavailableError with code ServiceUnavailable, for reads and writes', async () => {
    // Prepare
    const closedPort = await freePort()
    const unreachable = dynamoDbClient(`http://127.0.0.1:${closedPort}`)
    const offline = createDynamoDbRegistry(unreachable, TABLE)

    try {
      // Act
      const failures = [
        await rejectionOf(offline.getIssuer('any')),
        await rejectionOf(offline.findIssuersByIss(K8S_ISSUER)),
        await rejectionOf(offline.listBindings('any')),
        await rejectionOf(offline.listIssuers()),
        await rejectionOf(offline.putIssuer(issuerOf('offline'), undefined)),
        await rejectionOf(offline.deleteBinding('any', 'any', 1)),
      ]

      // Assess
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(UpstreamUnavailableError)
        expect((failure as UpstreamUnavailableError).code).toBe('ServiceUnavailable')
        expect((failure as UpstreamUnavailableError).statusCode).toBe(503)
      }
    } finally {
      unreachable.destroy()
    }
  })
})

describe('DynamoDB registry: bindings by index', () => {
  const ids = (bindings: Binding[]) => bindings.map((binding) => binding.bindingId)

  it('finds an exact-subject binding under its subject only, and a glob or claims-only binding as a pattern', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('index-a'), undefined)
    await registry.putBinding(
      bindingOf('index-a', 'exact', { subjects: ['sa:ml:trainer', 'sa:ml:other'] }),
      undefined,
    )
    await registry.putBinding(bindingOf('index-a', 'glob', { subjects: ['sa:ml:*'] }), undefined)
    await registry.putBinding(
      bindingOf('index-a', 'claims-only', { subjects: undefined, claims: { '/aud': ['x'] } }),
      undefined,
    )
    // Act
    const trainer = await registry.bindingsForSubject('index-a', 'sa:ml:trainer')
    const stranger = await registry.bindingsForSubject('index-a', 'sa:ml:stranger')
    const patterns = await registry.patternBindings('index-a')
    // Assess
    expect(ids(trainer)).toEqual(['exact'])
    expect(ids(stranger)).toEqual([])
    expect(ids(patterns)).toEqual(['claims-only', 'glob'])
  })

  it('moves a binding between index entries when its subjects change, and drops it on delete', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('index-b'), undefined)
    const v1 = bindingOf('index-b', 'moving', { subjects: ['sa:a'] })
    await registry.putBinding(v1, undefined)
    // Act
    await registry.putBinding({ ...v1, version: 2, subjects: ['sa:b'] }, 1)
    const afterMove = [
      await registry.bindingsForSubject('index-b', 'sa:a'),
      await registry.bindingsForSubject('index-b', 'sa:b'),
    ]
    await registry.putBinding({ ...v1, version: 3, subjects: ['sa:*'] }, 2)
    const afterGlob = [
      await registry.bindingsForSubject('index-b', 'sa:b'),
      await registry.patternBindings('index-b'),
    ]
    await registry.deleteBinding('index-b', 'moving', 3)
    // Assess
    expect(afterMove.map(ids)).toEqual([[], ['moving']])
    expect(afterGlob.map(ids)).toEqual([[], ['moving']])
    expect(ids(await registry.patternBindings('index-b'))).toEqual([])
  })

  it('ignores index entries of a deleted issuer once the id is registered again', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('index-c'), undefined)
    await registry.putBinding(bindingOf('index-c', 'old', { subjects: ['sa:x'] }), undefined)
    await registry.putBinding(bindingOf('index-c', 'old-glob', { subjects: ['sa:*'] }), undefined)
    await registry.deleteIssuer('index-c', undefined)
    // Act: the binding items and their index entries are left behind on purpose.
    await registry.putIssuer(issuerOf('index-c'), undefined)
    // Assess
    expect(await registry.bindingsForSubject('index-c', 'sa:x')).toEqual([])
    expect(await registry.patternBindings('index-c')).toEqual([])
  })
})

describe('DynamoDB registry: sweeping the bindings of a deleted issuer', () => {
  it('deletes every binding item and index entry of a deleted issuer in batches, and keeps the live ones of another', async () => {
    // Prepare
    await registry.putIssuer(issuerOf('sweep-a'), undefined)
    await registry.putIssuer(issuerOf('sweep-b'), undefined)
    for (let i = 0; i < 130; i++)
      await registry.putBinding(
        bindingOf('sweep-a', `b-${i}`, { subjects: [`sa:${i % 3 === 0 ? '*' : i}`] }),
        undefined,
      )
    await registry.putBinding(bindingOf('sweep-b', 'kept', { subjects: ['sa:1'] }), undefined)
    await registry.deleteIssuer('sweep-a', undefined)
    // Act
    const outOfTime = await registry.sweepBindings('sweep-a', 0)
    const swept = await registry.sweepBindings('sweep-a', 60_000)
    await registry.putIssuer(issuerOf('sweep-a'), undefined)
    // Assess
    expect(outOfTime).toEqual({ deleted: 0, done: false })
    expect(swept).toEqual({ deleted: 130, done: true })
    expect(await registry.sweepBindings('sweep-a', 60_000)).toEqual({ deleted: 0, done: true })
    const leftInIndex = await client.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'PATTERNS#sweep-a' } },
      }),
    )
    expect(leftInIndex.Items).toEqual([])
    expect(
      (await registry.bindingsForSubject('sweep-b', 'sa:1')).map((binding) => binding.bindingId),
    ).toEqual(['kept'])
  })
})
