// Registry port on DynamoDB: the reads of dynamodb-registry-reader.ts and the writes. Each object
// is stored whole as JSON in `doc`, with its `version` beside it for conditional writes; a failed
// condition becomes a ConflictError, any other failure an UpstreamUnavailableError (503, retry is
// safe). Index entries (shared/core/binding-index.ts) are written after their binding.
//
// Generations (docs/decisions.md, "Issuer generations"): an issuer's item carries `gen`, a random
// id new at every create and kept by every update; each binding item carries the `gen` of the
// issuer it was written under. A binding counts only while its `gen` is its issuer's current one,
// so a binding written while its issuer was being deleted (or before it was re-created under the
// same id) is inert for every reader, whatever the interleaving. Items written before generations
// have none: "" on both sides, which still match, so no migration is needed.
import { randomUUID } from 'node:crypto'
import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import { indexEntriesOf } from '../core/binding-index.js'
import { NotFoundError } from '../core/errors.js'
import type { Binding, Issuer } from '../core/model.js'
import { byCodeUnits } from '../core/order.js'
import { type Page, type PageRequest, pageOf } from '../core/pagination.js'
import type { Registry, RegistryPages } from '../core/ports.js'
import {
  BINDING_PREFIX,
  bindingKey,
  createDynamoDbReads,
  docOf,
  genOf,
  guarded,
  ISSUER_SK,
  type Item,
  issuerKey,
  issuerPk,
} from './dynamodb-registry-reader.js'

/** The `gen` attribute to write for generation `gen` (none for the legacy ""). */
const genAttribute = (gen: string): Item => (gen ? { gen: { S: gen } } : {})

/**
 * Condition that the stored binding belongs to generation `gen` (`same`), or does not (`!same`):
 * a missing `gen` attribute is generation "".
 */
const genCondition = (gen: string, same: boolean): string =>
  gen
    ? same
      ? '#gen = :gen'
      : '(attribute_not_exists(#gen) OR #gen <> :gen)'
    : same
      ? 'attribute_not_exists(#gen)'
      : 'attribute_exists(#gen)'

const genValues = (gen: string): Item => (gen ? { ':gen': { S: gen } } : {})

/** Condition for a write that expects `expectedVersion` (or, when undefined, no item at all). */
const versionCondition = (expectedVersion: number | undefined) =>
  expectedVersion === undefined
    ? { ConditionExpression: 'attribute_not_exists(pk)' }
    : {
        ConditionExpression: '#version = :expected',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':expected': { N: String(expectedVersion) } },
      }

/** Every issuer item of the table (a Scan, so unordered). */
const scanIssuers = async (client: DynamoDBClient, tableName: string): Promise<Issuer[]> => {
  const issuers: Issuer[] = []
  let ExclusiveStartKey: Item | undefined
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'sk = :sk',
        ExpressionAttributeValues: { ':sk': { S: ISSUER_SK } },
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    )
    for (const item of page.Items ?? []) {
      const issuer = docOf<Issuer>(item)
      if (issuer) issuers.push(issuer)
    }
    ExclusiveStartKey = page.LastEvaluatedKey
  } while (ExclusiveStartKey)
  return issuers
}

export const createDynamoDbRegistry = (client: DynamoDBClient, tableName: string): Registry => {
  const { reader, bindingsOf, getItem } = createDynamoDbReads(client, tableName)

  /** Puts the index entries of `binding`, then deletes those only `previous` had. */
  const writeIndex = async (binding: Binding | undefined, previous: Binding | undefined) => {
    const next = binding ? indexEntriesOf(binding) : []
    const stale = previous ? indexEntriesOf(previous).filter((key) => !next.includes(key)) : []
    const id = binding?.bindingId ?? previous?.bindingId ?? ''
    await Promise.all([
      ...next.map((pk) =>
        client.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: pk }, sk: { S: id } } })),
      ),
      ...stale.map((pk) =>
        client.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: pk }, sk: { S: id } } })),
      ),
    ])
  }

  /** Stores `object` whole under `key`, if the stored version is still `expectedVersion`. */
  const putWhole = (
    key: Item,
    object: { version: number },
    expectedVersion: number | undefined,
    what: string,
  ) =>
    guarded(
      async () => {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { ...key, version: { N: String(object.version) }, doc: { S: JSON.stringify(object) } },
            ...versionCondition(expectedVersion),
          }),
        )
      },
      `${what} changed meanwhile (expected version ${expectedVersion ?? 'none'}).`,
    )
  return {
    ...reader,
    // by profile can replace it without changing the port.)
    findBindingByProfile: (issuerId, profile) =>
      guarded(async () => (await bindingsOf(issuerId, true)).find((binding) => binding.profile === profile)),

    getIssuer: (issuerId) =>
      guarded(async () => {
        const { Item } = await client.send(
          new GetItemCommand({
            TableName: tableName,
            Key: { pk: { S: issuerPk(issuerId) }, sk: { S: ISSUER_SK } },
            ConsistentRead: true,
          }),
        )
        return docOf<Issuer>(Item)
      }),

    listIssuers: () =>
      guarded(async () =>
        (await scanIssuers(client, tableName)).sort((a, b) => a.issuerId.localeCompare(b.issuerId)),
      ),

    // A create starts a new generation; an update rewrites the item's attributes but its `gen`.
    putIssuer: (issuer, expectedVersion) => {
      const index = { gsi1pk: { S: `ISS#${issuer.issuer}` }, gsi1sk: { S: issuerPk(issuer.issuerId) } }
      const what = `Issuer "${issuer.issuerId}"`
      if (expectedVersion === undefined)
        return putWhole(
          { ...issuerKey(issuer.issuerId), ...index, gen: { S: randomUUID() } },
          issuer,
          undefined,
          what,
        )
      return guarded(async () => {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: issuerKey(issuer.issuerId),
            UpdateExpression: 'SET #version = :version, #doc = :doc, gsi1pk = :gsi1pk, gsi1sk = :gsi1sk',
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version', '#doc': 'doc' },
            ExpressionAttributeValues: {
              ':version': { N: String(issuer.version) },
              ':doc': { S: JSON.stringify(issuer) },
              ':gsi1pk': index.gsi1pk,
              ':gsi1sk': index.gsi1sk,
              ':expected': { N: String(expectedVersion) },
            },
          }),
        )
      }, `${what} changed meanwhile (expected version ${expectedVersion}).`)
    },

    deleteIssuer: (issuerId, expectedVersion) =>
      guarded(async () => {
        await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: { pk: { S: issuerPk(issuerId) }, sk: { S: ISSUER_SK } },
            ...(expectedVersion === undefined ? {} : versionCondition(expectedVersion)),
          }),
        )
      }, `Issuer "${issuerId}" changed meanwhile.`),

    getBinding: (issuerId, bindingId) =>
      guarded(async () => {
        const [issuerItem, item] = await Promise.all([
          getItem(issuerKey(issuerId)),
          getItem(bindingKey(issuerId, bindingId)),
        ])
        return issuerItem && item && genOf(item) === genOf(issuerItem) ? docOf<Binding>(item) : undefined
      }),

    // Written under the issuer's current generation. A create finds "no binding" also where an
    // item of an older generation lies (it does not exist for any reader); an update expects
    // the version read under this generation.
    putBinding: (binding, expectedVersion) => {
      const what = `Binding "${binding.issuerId}/${binding.bindingId}"`
      return guarded(
        async () => {
          const [issuerItem, previousItem] = await Promise.all([
            getItem(issuerKey(binding.issuerId)),
            getItem(bindingKey(binding.issuerId, binding.bindingId)),
          ])
          if (!issuerItem) throw new NotFoundError(`Issuer "${binding.issuerId}" does not exist.`)
          const gen = genOf(issuerItem)
          await client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: {
                ...bindingKey(binding.issuerId, binding.bindingId),
                ...genAttribute(gen),
                version: { N: String(binding.version) },
                doc: { S: JSON.stringify(binding) },
              },
              ...(expectedVersion === undefined
                ? {
                    ConditionExpression: `attribute_not_exists(pk) OR ${genCondition(gen, false)}`,
                    ExpressionAttributeNames: { '#gen': 'gen' },
                    ...(gen ? { ExpressionAttributeValues: genValues(gen) } : {}),
                  }
                : {
                    ConditionExpression: `#version = :expected AND ${genCondition(gen, true)}`,
                    ExpressionAttributeNames: { '#version': 'version', '#gen': 'gen' },
                    ExpressionAttributeValues: {
                      ':expected': { N: String(expectedVersion) },
                      ...genValues(gen),
                    },
                  }),
            }),
          )
          // After the binding: an entry ahead of its binding would point at nothing yet.
          await writeIndex(binding, previousItem && docOf<Binding>(previousItem))
        },
        `${what} changed meanwhile (expected version ${expectedVersion ?? 'none'}).`,
      )
    },

    // Pages of 100 of the partition's items; each page's dead bindings and their index entries go
    // in BatchWriteItem deletes of 25, unprocessed ones resent, until the deadline.
    sweepBindings: (issuerId, budgetMs) =>
      guarded(async () => {
        const deadline = Date.now() + budgetMs
        const issuerItem = await getItem(issuerKey(issuerId))
        const gen = issuerItem && genOf(issuerItem)
        let deleted = 0
        let ExclusiveStartKey: Item | undefined
        do {
          if (Date.now() >= deadline) return { deleted, done: false }
          const page = await client.send(
            new QueryCommand({
              TableName: tableName,
              KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
              ExpressionAttributeValues: {
                ':pk': { S: issuerPk(issuerId) },
                ':prefix': { S: BINDING_PREFIX },
              },
              Limit: 100,
              ExclusiveStartKey,
            }),
          )
          const keys: Item[] = []
          for (const item of page.Items ?? []) {
            if (gen !== undefined && genOf(item) === gen) continue
            const binding = docOf<Binding>(item)
            keys.push({ pk: item.pk as AttributeValue, sk: item.sk as AttributeValue })
            for (const pk of binding ? indexEntriesOf(binding) : [])
              keys.push({ pk: { S: pk }, sk: { S: binding?.bindingId ?? '' } })
            deleted++
          }
          for (let start = 0; start < keys.length; start += 25) {
            let requests = keys.slice(start, start + 25).map((Key) => ({ DeleteRequest: { Key } }))
            while (requests.length > 0) {
              const answer = await client.send(
                new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
              )
              requests = (answer.UnprocessedItems?.[tableName] ?? []) as typeof requests
            }
          }
          ExclusiveStartKey = page.LastEvaluatedKey
        } while (ExclusiveStartKey)
        return { deleted, done: true }
      }),

    deleteBinding: (issuerId, bindingId, expectedVersion) =>
      guarded(async () => {
        const { Attributes } = await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: bindingKey(issuerId, bindingId),
            ReturnValues: 'ALL_OLD',
            ...(expectedVersion === undefined ? {} : versionCondition(expectedVersion)),
          }),
        )
        await writeIndex(undefined, docOf<Binding>(Attributes))
      }, `Binding "${issuerId}/${bindingId}" changed meanwhile.`),
  }
}

/**
 * The paged reads of the admin lists (ports.ts, RegistryPages), composed only into the admin
 * plane's registry (shared/aws.ts, awsAdminRegistry).
 */
export const createDynamoDbRegistryPages = (client: DynamoDBClient, tableName: string): RegistryPages => {
  const { getItem } = createDynamoDbReads(client, tableName)
  /**
   * One Query page: at most `limit` items from `ExclusiveStartKey` on (a key the caller rebuilt
   * from the position and its own partition, never taken from a token), and the position of
   * the last item DynamoDB evaluated when it says more remain.
   */
  const queryPage = async <T>(
    input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName' | 'Limit' | 'ExclusiveStartKey'>,
    request: PageRequest,
    startKey: (after: string) => Item,
    positionOf: (key: Item) => string | undefined,
    field: string,
  ): Promise<Page<T>> => {
    const after = request.after?.[field]
    const page = await client.send(
      new QueryCommand({
        TableName: tableName,
        ...input,
        Limit: request.limit,
        ...(after === undefined ? {} : { ExclusiveStartKey: startKey(after) }),
      }),
    )
    const items = (page.Items ?? []).map((item) => docOf<T>(item)).filter((item) => item !== undefined)
    const last = page.LastEvaluatedKey && positionOf(page.LastEvaluatedKey)
    return { items, ...(last ? { next: { [field]: last } } : {}) }
  }

  return {
    // The issuer's partition, by sort key: `BINDING#<bindingId>` orders as `bindingId` does.
    // Only the bindings of the issuer's current generation (a filter: a page may come out short).
    listBindingsPage: (issuerId, request) =>
      guarded(async () => {
        const issuerItem = await getItem(issuerKey(issuerId))
        if (!issuerItem) return { items: [] }
        const gen = genOf(issuerItem)
        return queryPage<Binding>(
          {
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            FilterExpression: genCondition(gen, true),
            ExpressionAttributeNames: { '#gen': 'gen' },
            ExpressionAttributeValues: {
              ':pk': { S: issuerPk(issuerId) },
              ':prefix': { S: BINDING_PREFIX },
              ...genValues(gen),
            },
            ConsistentRead: true,
          },
          request,
          (bindingId) => ({ pk: { S: issuerPk(issuerId) }, sk: { S: `${BINDING_PREFIX}${bindingId}` } }),
          (key) => key.sk?.S?.slice(BINDING_PREFIX.length) || undefined,
          'bindingId',
        )
      }),

    // Issuers are few (one per data plane) and have no partition of their own: the page comes
    // from the whole list, read as listIssuers reads it and ordered by id (docs/decisions.md,
    // "Pagination").
    listIssuersPage: (request) =>
      guarded(async () => {
        const all = (await scanIssuers(client, tableName)).sort((a, b) => byCodeUnits(a.issuerId, b.issuerId))
        return pageOf(all, request, (issuer) => issuer.issuerId, 'issuerId')
      }),
  }
}
