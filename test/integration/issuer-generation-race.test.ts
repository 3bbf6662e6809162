// Issue 12.2 on a real DynamoDB wire protocol (dynalite): a binding written while its issuer is
// deleted with cascade must not survive into an issuer re-created later under the same id. The
// race runs many times with the PUT started at varied moments of the DELETE, and the test counts
// the rounds in which the PUT's item outlived the delete, so it shows the race was really run.
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDynamoDbHistoryLog } from '../../shared/adapters/dynamodb-history.js'
import {
  createDynamoDbRegistry,
  createDynamoDbRegistryPages,
} from '../../shared/adapters/dynamodb-registry.js'
import { createAdmin, type WriteContext } from '../../shared/core/admin.js'
import { createHistory } from '../../shared/core/history.js'
import type { AdminRegistry } from '../../shared/core/ports.js'
import {
  createRegistryTable,
  dynamoDbClient,
  type EmbeddedDynamoDb,
  startDynalite,
} from '../support/dynalite.js'
import { createAuditLog, createTestClock, generateRsaKey, makeBinding } from '../unit/fixtures.js'

const TABLE = 'irsa-broker-generation-race'
const ROUNDS = 200
const alice: WriteContext = { actor: 'arn:aws:iam::111122223333:user/alice', requestId: 'req-1' }

let dynamo: EmbeddedDynamoDb
let client: DynamoDBClient
let registry: AdminRegistry

beforeAll(async () => {
  dynamo = await startDynalite()
  client = dynamoDbClient(dynamo.endpoint)
  await createRegistryTable(client, TABLE)
  registry = { ...createDynamoDbRegistry(client, TABLE), ...createDynamoDbRegistryPages(client, TABLE) }
})

afterAll(async () => {
  client?.destroy()
  await dynamo?.stop()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const bindingItemExists = async (issuerId: string, bindingId: string) =>
  (
    await client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: `ISSUER#${issuerId}` }, sk: { S: `BINDING#${bindingId}` } },
        ConsistentRead: true,
      }),
    )
  ).Item !== undefined

describe('issuer generations: cascade delete racing a binding write', () => {
  it(`gives an issuer re-created under the same id none of the old one's bindings, over ${ROUNDS} races`, async () => {
    // Prepare
    const oldKey = await generateRsaKey('old-cluster')
    const newKey = await generateRsaKey('new-cluster')
    // With the admin history, as the deployed admin runs: a binding its issuer's delete ended
    // has a history head the re-created binding must get past.
    const clock = createTestClock()
    const history = createHistory({ log: createDynamoDbHistoryLog(client, TABLE), clock, registry })
    const admin = createAdmin({ registry, clock, audit: createAuditLog().sink, history })
    const issuerBody = (jwk: object) => ({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      audiences: ['irsa-broker'],
      jwks: { keys: [{ ...jwk, alg: 'RS256', use: 'sig' }] },
    })
    const bindingBody = {
      roleArn: 'arn:aws:iam::111122223333:role/admin',
      subjects: ['system:serviceaccount:*'],
    }
    let orphanRounds = 0
    const leaks: string[] = []

    for (let round = 0; round < ROUNDS; round++) {
      const issuerId = `race-${round}`
      await admin.putIssuer(issuerId, issuerBody(oldKey.jwk), alice)
      await admin.putBinding(issuerId, 'existing', bindingBody, alice)

      // Act: the cascade delete and the binding write at once, one of them started a little
      // later (0 to 7 ms, by round) so that the write lands at every step of the delete.
      // Even rounds race the admin's cascade delete (whose sweep clears what it finds); odd
      // rounds the registry's own writes, as a cascade whose sweep ran out of time leaves them.
      const offset = (round % 12) - 4
      const viaAdmin = round % 2 === 0
      const x = {
        issuerId,
        bindingId: 'x',
        roleArn: bindingBody.roleArn,
        profile: 'x',
        subjects: bindingBody.subjects,
      }
      await Promise.allSettled([
        sleep(Math.max(offset, 0)).then(async () => {
          if (viaAdmin) await admin.deleteIssuer(issuerId, { cascade: true }, alice)
          else await registry.deleteIssuer(issuerId, undefined)
        }),
        sleep(Math.max(-offset, 0)).then(async () => {
          if (viaAdmin) await admin.putBinding(issuerId, 'x', bindingBody, alice)
          else await registry.putBinding(makeBinding({ ...x, version: 1 }), undefined)
        }),
      ])
      const issuerGone = (await registry.getIssuer(issuerId)) === undefined
      if (issuerGone && (await bindingItemExists(issuerId, 'x'))) orphanRounds++
      if (!issuerGone) await admin.deleteIssuer(issuerId, { cascade: true }, alice)
      await admin.putIssuer(issuerId, issuerBody(newKey.jwk), alice)

      // Assess (per round, collected): the new issuer sees no binding by any read.
      const listed = await registry.listBindings(issuerId)
      const byId = await registry.getBinding(issuerId, 'x')
      const byProfile = await registry.findBindingByProfile(issuerId, 'x')
      const paged = await registry.listBindingsPage(issuerId, { limit: 100 })
      if (listed.length > 0 || byId || byProfile || paged.items.length > 0) leaks.push(issuerId)
      // …and a binding of the same id is a create again, not a conflict with the inert item.
      const again = await admin.putBinding(issuerId, 'x', bindingBody, alice).catch((error: Error) => error)
      if (again instanceof Error || !again.created) leaks.push(`${issuerId}: x not created again`)
    }

    // Assess
    expect(leaks).toEqual([])
    expect(orphanRounds).toBeGreaterThan(0)
  }, 120_000)
})
