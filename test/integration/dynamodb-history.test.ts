// The admin history on dynalite (no transactions there): a crash before or after each DynamoDB
// call of a recorded write (claim the head, write the object, file the record, free the head)
// leaves a record if and only if the object was written, once the claim is settled.
import {
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  type ServiceInputTypes,
} from '@aws-sdk/client-dynamodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDynamoDbHistoryLog } from '../../shared/adapters/dynamodb-history.js'
import {
  createDynamoDbRegistry,
  createDynamoDbRegistryPages,
} from '../../shared/adapters/dynamodb-registry.js'
import { createAdmin, type WriteContext } from '../../shared/core/admin.js'
import { createHistory, HISTORY_LEASE_SECONDS } from '../../shared/core/history.js'
import {
  createRegistryTable,
  dynamoDbClient,
  type EmbeddedDynamoDb,
  startDynalite,
} from '../support/dynalite.js'
import { createAuditLog, createTestClock, generateRsaKey } from '../unit/fixtures.js'

const TABLE = 'irsa-broker-history-test'
const alice: WriteContext = { actor: 'arn:aws:iam::111122223333:user/alice', requestId: 'req-1' }

type Step = 'claim' | 'write' | 'file' | 'free'
const STEPS: readonly Step[] = ['claim', 'write', 'file', 'free']

/** Which step of a recorded write a DynamoDB call is. */
const stepOf = (command: { input: ServiceInputTypes }): Step | undefined => {
  if (command instanceof DeleteItemCommand) return 'write'
  if (!(command instanceof PutItemCommand)) return undefined
  const item = command.input.Item ?? {}
  const sk = item.sk?.S ?? ''
  if (sk.startsWith('HEAD#')) return item.claim ? 'claim' : 'free'
  if (sk.startsWith('AT#')) return 'file'
  return 'write'
}

/** A client whose next call of `step` dies before it is sent, or after it was applied. */
const faultyClient = (real: DynamoDBClient) => {
  let fault: { step: Step; when: 'before' | 'after' } | undefined
  const client = {
    send: async (command: never) => {
      const armed = fault && stepOf(command) === fault.step ? fault : undefined
      if (armed) fault = undefined
      if (armed?.when === 'before') throw new Error(`crash before ${armed.step}`)
      const answer = await real.send(command)
      if (armed?.when === 'after') throw new Error(`crash after ${armed.step}`)
      return answer
    },
  } as unknown as DynamoDBClient
  return { client, crashAt: (step: Step, when: 'before' | 'after') => (fault = { step, when }) }
}

let dynamo: EmbeddedDynamoDb
let real: DynamoDBClient
let key: Awaited<ReturnType<typeof generateRsaKey>>

beforeAll(async () => {
  key = await generateRsaKey('onprem-a-1')
  dynamo = await startDynalite()
  real = dynamoDbClient(dynamo.endpoint)
  await createRegistryTable(real, TABLE)
})

afterAll(async () => {
  real?.destroy()
  await dynamo?.stop()
})

let issuerCount = 0
const setup = async () => {
  const issuerId = `issuer-${++issuerCount}`
  const { client, crashAt } = faultyClient(real)
  const registry = { ...createDynamoDbRegistry(client, TABLE), ...createDynamoDbRegistryPages(client, TABLE) }
  const log = createDynamoDbHistoryLog(client, TABLE)
  const clock = createTestClock()
  const history = createHistory({ log, clock, registry })
  const admin = createAdmin({ registry, clock, audit: createAuditLog().sink, history })
  await admin.putIssuer(
    issuerId,
    {
      issuer: `https://${issuerId}.example`,
      audiences: ['irsa-broker'],
      jwks: { keys: [{ ...key.jwk, alg: 'RS256', use: 'sig' }] },
    },
    alice,
  )
  await admin.putBinding(
    issuerId,
    'reader',
    { roleArn: 'arn:aws:iam::111122223333:role/reader', subjects: ['system:serviceaccount:ml:*'] },
    alice,
  )
  return { issuerId, admin, registry, history, clock, crashAt }
}

const WRITES = {
  update: (admin: ReturnType<typeof createAdmin>, issuerId: string) =>
    admin.putBinding(
      issuerId,
      'reader',
      {
        roleArn: 'arn:aws:iam::111122223333:role/reader',
        subjects: ['system:serviceaccount:ml:x'],
        version: 1,
      },
      alice,
    ),
  delete: (admin: ReturnType<typeof createAdmin>, issuerId: string) =>
    admin.deleteBinding(issuerId, 'reader', { version: 1 }, alice),
} as const

describe('admin history on DynamoDB: a crash at any step', () => {
  for (const [write, run] of Object.entries(WRITES))
    for (const step of STEPS)
      for (const when of ['before', 'after'] as const)
        it(`${write}, crash ${when} ${step}: a record if and only if the binding was written`, async () => {
          // Prepare
          const { issuerId, admin, registry, history, clock, crashAt } = await setup()
          crashAt(step, when)
          // Act
          await run(admin, issuerId).catch(() => undefined)
          const binding = await registry.getBinding(issuerId, 'reader')
          const written = write === 'update' ? binding?.version === 2 : binding === undefined
          clock.advance(HISTORY_LEASE_SECONDS + 1)
          const { records } = await history.read({ issuerId })
          // Assess
          const after = records.filter((r) => r.object === 'binding' && r.versionBefore === 1)
          expect(after.length).toBe(written ? 1 : 0)
          // The steps before the write decide nothing: a crash there writes nothing.
          if (step === 'claim' || (step === 'write' && when === 'before')) expect(written).toBe(false)
          // And the object is free again for the next write.
          await expect(
            admin.putBinding(
              issuerId,
              'reader',
              {
                roleArn: 'arn:aws:iam::111122223333:role/reader',
                subjects: ['system:serviceaccount:ml:y'],
                ...(binding ? { version: binding.version } : {}),
              },
              alice,
            ),
          ).resolves.toBeDefined()
        })
})

describe('admin history on DynamoDB: reading', () => {
  it('keeps a deleted issuer history, in order, page by page', async () => {
    // Prepare
    const { issuerId, admin, history } = await setup()
    await admin.deleteIssuer(issuerId, { cascade: true }, alice)
    // Act
    const first = await history.read({ issuerId, limit: '2' })
    const second = await history.read({ issuerId, limit: '2', nextToken: first.nextToken })
    // Assess
    expect([...first.records, ...second.records].map((r) => `${r.object}:${r.action}`)).toEqual([
      'issuer:create',
      'binding:create',
      'issuer:delete',
    ])
    expect(second.nextToken).toBeUndefined()
  })
})
