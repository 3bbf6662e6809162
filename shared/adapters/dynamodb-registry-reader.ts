// The read side of the registry on DynamoDB (docs/decisions.md, "Registry and caches",
// "Issuer generations", "Binding index"): what the credentials and roles functions need, and
// nothing of the writes, so their bundles carry no write command. dynamodb-registry.ts adds the
// writes on top of it.
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb'
import { patternIndexPk, subjectIndexPk } from '../core/binding-index.js'
import { byBindingId } from '../core/bindings.js'
import { type BrokerError, ConflictError, isBrokerError, UpstreamUnavailableError } from '../core/errors.js'
import type { Binding, Issuer } from '../core/model.js'
import type { RegistryReader } from '../core/ports.js'
import { ISS_INDEX } from './dynamodb-table.js'

export const ISSUER_SK = '#ISSUER'
export const BINDING_PREFIX = 'BINDING#'
export const issuerPk = (issuerId: string) => `ISSUER#${issuerId}`

export type Item = Record<string, AttributeValue>

export const docOf = <T>(item: Item | undefined): T | undefined =>
  item?.doc?.S ? (JSON.parse(item.doc.S) as T) : undefined

/** An item's generation; "" for items written before generations existed. */
export const genOf = (item: Item): string => item.gen?.S ?? ''

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

export const guarded = async <T>(
  operation: () => Promise<T>,
  conflict = 'The object changed meanwhile; read it again.',
): Promise<T> => {
  try {
    return await operation()
  } catch (error) {
    throw translate(error, conflict)
  }
}

/**
 * The bindings among an issuer's items that belong to its current generation (the issuer item's
 * own); none when the issuer item is not among them.
 */
const currentBindings = (items: readonly Item[]): Binding[] => {
  const issuerItem = items.find((item) => item.sk?.S === ISSUER_SK)
  if (!issuerItem) return []
  const gen = genOf(issuerItem)
  return items
    .filter((item) => item.sk?.S?.startsWith(BINDING_PREFIX) && genOf(item) === gen)
    .map((item) => docOf<Binding>(item))
    .filter((binding): binding is Binding => binding !== undefined)
}

export const issuerKey = (issuerId: string): Item => ({ pk: { S: issuerPk(issuerId) }, sk: { S: ISSUER_SK } })
export const bindingKey = (issuerId: string, bindingId: string): Item => ({
  pk: { S: issuerPk(issuerId) },
  sk: { S: `${BINDING_PREFIX}${bindingId}` },
})

/** The reader, and the helpers the writes share with it. */
export const createDynamoDbReads = (client: DynamoDBClient, tableName: string) => {
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

  /**
   * The issuer's partition in one Query: its item (sk `#ISSUER` sorts first) and its bindings, of
   * which only those of the issuer's current generation count. No issuer item: no bindings.
   */
  const bindingsOf = async (issuerId: string, consistent: boolean): Promise<Binding[]> => {
    const items = await queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: issuerPk(issuerId) } },
      ...(consistent ? { ConsistentRead: true } : {}),
    })
    return currentBindings(items)
  }

  const getItem = async (key: Item): Promise<Item | undefined> =>
    (await client.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item

  /** Items by key, in one BatchGetItem per 100 keys (eventually consistent, like the request path). */
  const getItems = async (keys: Item[]): Promise<Item[]> => {
    const found: Item[] = []
    for (let start = 0; start < keys.length; start += 100) {
      let pending: Item[] | undefined = keys.slice(start, start + 100)
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** Math.min(attempt, 5)))
        const answer = await client.send(
          new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: pending } } }),
        )
        found.push(...(answer.Responses?.[tableName] ?? []))
        pending = answer.UnprocessedKeys?.[tableName]?.Keys as Item[] | undefined
      }
    }
    return found
  }

  /**
   * The bindings listed under one index partition (docs/decisions.md, "Binding index"), read
   * with their issuer's item: only those of its current generation count. An entry whose binding
   * is gone is skipped; one whose binding changed is harmless, since the caller evaluates each
   * binding whole.
   */
  const bindingsIndexedAt = async (issuerId: string, indexPk: string): Promise<Binding[]> => {
    const entries = await queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: indexPk } },
    })
    if (entries.length === 0) return []
    const ids = [...new Set(entries.map((entry) => entry.sk?.S ?? ''))]
    const items = await getItems([issuerKey(issuerId), ...ids.map((id) => bindingKey(issuerId, id))])
    return currentBindings(items).sort(byBindingId)
  }

  const reader: RegistryReader = {
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

    bindingsForSubject: (issuerId, subject) =>
      guarded(() => bindingsIndexedAt(issuerId, subjectIndexPk(issuerId, subject))),

    // An issuer without a generation was created before the index (and so were its bindings): all
    // its bindings are its pattern bindings, the whole partition as before (docs/decisions.md).
    patternBindings: (issuerId) =>
      guarded(async () => {
        const [issuerItem, indexed] = await Promise.all([
          client.send(new GetItemCommand({ TableName: tableName, Key: issuerKey(issuerId) })),
          bindingsIndexedAt(issuerId, patternIndexPk(issuerId)),
        ])
        if (issuerItem.Item && !issuerItem.Item.gen) return bindingsOf(issuerId, false)
        return indexed
      }),
  }
  return { reader, queryAll, bindingsOf, getItem }
}

export const createDynamoDbRegistryReader = (client: DynamoDBClient, tableName: string): RegistryReader =>
  createDynamoDbReads(client, tableName).reader
