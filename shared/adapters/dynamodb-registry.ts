// Registry port on DynamoDB. Each object is stored whole as JSON in `doc`, with its `version`
// beside it for conditional writes; a failed condition becomes a ConflictError, any other
// failure an UpstreamUnavailableError (503, retry is safe).
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb'
import { type BrokerError, ConflictError, isBrokerError, UpstreamUnavailableError } from '../core/errors.js'
import type { Binding, Issuer } from '../core/model.js'
import { type Page, type PageRequest, pageOf } from '../core/pagination.js'
import type { Registry, RegistryPages } from '../core/ports.js'
import { ISS_INDEX } from './dynamodb-table.js'

const ISSUER_SK = '#ISSUER'
const BINDING_PREFIX = 'BINDING#'
const issuerPk = (issuerId: string) => `ISSUER#${issuerId}`

type Item = Record<string, AttributeValue>

const docOf = <T>(item: Item | undefined): T | undefined =>
  item?.doc?.S ? (JSON.parse(item.doc.S) as T) : undefined

const translate = (error: unknown, conflict: string): BrokerError => {
  if (isBrokerError(error)) return error
  if (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string })?.name === 'ConditionalCheckFailedException'
  ) {
    return new ConflictError(conflict)
  }
  return new UpstreamUnavailableError('dynamodb', { cause: error })
}

const guarded = async <T>(
  operation: () => Promise<T>,
  conflict = 'The object changed meanwhile; read it again.',
): Promise<T> => {
  try {
    return await operation()
  } catch (error) {
    throw translate(error, conflict)
  }
}

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
  const queryAll = async (
    input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName'>,
  ): Promise<Item[]> => {
    const items: Item[] = []
    let ExclusiveStartKey: Item | undefined
    do {
      const page = await client.send(new QueryCommand({ TableName: tableName, ...input, ExclusiveStartKey }))
      items.push(...(page.Items ?? []))
      ExclusiveStartKey = page.LastEvaluatedKey
    } while (ExclusiveStartKey)
    return items
  }

  const bindingsOf = async (issuerId: string, consistent: boolean): Promise<Binding[]> => {
    const items = await queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': { S: issuerPk(issuerId) }, ':prefix': { S: BINDING_PREFIX } },
      ...(consistent ? { ConsistentRead: true } : {}),
    })
    return items
      .map((item) => docOf<Binding>(item))
      .filter((binding): binding is Binding => binding !== undefined)
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
    findIssuersByIss: (iss) =>
      guarded(async () => {
        const items = await queryAll({
          IndexName: ISS_INDEX,
          KeyConditionExpression: 'gsi1pk = :iss',
          ExpressionAttributeValues: { ':iss': { S: `ISS#${iss}` } },
        })
        return items
          .map((item) => docOf<Issuer>(item))
          .filter((issuer): issuer is Issuer => issuer !== undefined)
      }),

    listBindings: (issuerId) => guarded(() => bindingsOf(issuerId, false)),

    // The issuer's partition holds its bindings: one consistent Query, searched here. (An index
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

    putIssuer: (issuer, expectedVersion) =>
      putWhole(
        {
          pk: { S: issuerPk(issuer.issuerId) },
          sk: { S: ISSUER_SK },
          gsi1pk: { S: `ISS#${issuer.issuer}` },
          gsi1sk: { S: issuerPk(issuer.issuerId) },
        },
        issuer,
        expectedVersion,
        `Issuer "${issuer.issuerId}"`,
      ),

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
        const { Item } = await client.send(
          new GetItemCommand({
            TableName: tableName,
            Key: { pk: { S: issuerPk(issuerId) }, sk: { S: `${BINDING_PREFIX}${bindingId}` } },
            ConsistentRead: true,
          }),
        )
        return docOf<Binding>(Item)
      }),

    putBinding: (binding, expectedVersion) =>
      putWhole(
        { pk: { S: issuerPk(binding.issuerId) }, sk: { S: `${BINDING_PREFIX}${binding.bindingId}` } },
        binding,
        expectedVersion,
        `Binding "${binding.issuerId}/${binding.bindingId}"`,
      ),

    deleteBinding: (issuerId, bindingId, expectedVersion) =>
      guarded(async () => {
        await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: { pk: { S: issuerPk(issuerId) }, sk: { S: `${BINDING_PREFIX}${bindingId}` } },
            ...(expectedVersion === undefined ? {} : versionCondition(expectedVersion)),
          }),
        )
      }, `Binding "${issuerId}/${bindingId}" changed meanwhile.`),
  }
}

/**
 * The paged reads of the admin lists (ports.ts, RegistryPages), composed only into the admin
 * plane's registry (shared/aws.ts, awsAdminRegistry).
 */
export const createDynamoDbRegistryPages = (client: DynamoDBClient, tableName: string): RegistryPages => {
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
    listBindingsPage: (issuerId, request) =>
      guarded(() =>
        queryPage<Binding>(
          {
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: {
              ':pk': { S: issuerPk(issuerId) },
              ':prefix': { S: BINDING_PREFIX },
            },
            ConsistentRead: true,
          },
          request,
          (bindingId) => ({ pk: { S: issuerPk(issuerId) }, sk: { S: `${BINDING_PREFIX}${bindingId}` } }),
          (key) => key.sk?.S?.slice(BINDING_PREFIX.length) || undefined,
          'bindingId',
        ),
      ),

    // Issuers are few (one per data plane) and have no partition of their own: the page comes
    // from the whole list, read as listIssuers reads it and ordered by id (docs/decisions.md,
    // "Pagination").
    listIssuersPage: (request) =>
      guarded(async () => {
        const all = (await scanIssuers(client, tableName)).sort((a, b) =>
          a.issuerId < b.issuerId ? -1 : a.issuerId > b.issuerId ? 1 : 0,
        )
        return pageOf(all, request, (issuer) => issuer.issuerId, 'issuerId')
      }),
  }
}
