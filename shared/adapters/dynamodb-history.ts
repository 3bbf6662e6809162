// The admin history on the registry's table (docs/decisions.md, "The admin history"): an
// issuer's records and its objects' heads share the partition `HISTORY#<issuerId>`, apart from
// the issuer's own, so a deleted issuer's history stays. A record is `AT#<time>#<writeId>` (its JSON in `doc`), sorted by time;
// a head is `HEAD#issuer` or `HEAD#binding#<bindingId>`: the version the object's last recorded
// write left (`head`, 0 for absent) and, while a write is under way, its claim (`writeId`,
// `claim`, `since`). Every write is a conditional PutItem: no UpdateItem, no transaction.
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb'
import { isBrokerError, UpstreamUnavailableError } from '../core/errors.js'
import {
  type ClaimOutcome,
  type HistoryRecord,
  objectKeyOf,
  versionAfterOf,
  versionBeforeOf,
} from '../core/history.js'
import type { HistoryLog } from '../core/ports.js'

type Item = Record<string, AttributeValue>

const historyPk = (issuerId: string) => `HISTORY#${issuerId}`
const RECORD_PREFIX = 'AT#'
/** Above every character of an ISO time and a write id: the end of the record range. */
const RECORD_END = 'AT#~'
const headKey = (record: HistoryRecord): Item => ({
  pk: { S: historyPk(record.issuerId) },
  sk: { S: `HEAD#${objectKeyOf(record)}` },
})

const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error as { name?: string })?.name === 'ConditionalCheckFailedException'

const guarded = async <T>(operation: () => Promise<T>): Promise<T> => {
  try {
    return await operation()
  } catch (error) {
    if (isBrokerError(error)) throw error
    throw new UpstreamUnavailableError('dynamodb', { cause: error })
  }
}

const parse = (text: string | undefined): HistoryRecord | undefined =>
  text === undefined ? undefined : (JSON.parse(text) as HistoryRecord)

export const createDynamoDbHistoryLog = (client: DynamoDBClient, tableName: string): HistoryLog => {
  /** Puts the head free at `version`, if `record` still claims it (a settled claim is left as it is). */
  const release = async (record: HistoryRecord, version: number): Promise<void> => {
    try {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { ...headKey(record), head: { N: String(version) } },
          ConditionExpression: 'writeId = :writeId',
          ExpressionAttributeValues: { ':writeId': { S: record.writeId } },
        }),
      )
    } catch (error) {
      if (!isConditionFailure(error)) throw error
    }
  }

  return {
    claim: (record, now) =>
      guarded(async (): Promise<ClaimOutcome> => {
        try {
          await client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: {
                ...headKey(record),
                head: { N: String(versionBeforeOf(record)) },
                writeId: { S: record.writeId },
                claim: { S: JSON.stringify(record) },
                since: { S: now },
              },
              // Free, and at the version the writer read; a head never written is an object from
              // before the history, untouched since (every write since claims its head).
              ConditionExpression:
                'attribute_not_exists(writeId) AND (attribute_not_exists(head) OR head = :before)',
              ExpressionAttributeValues: { ':before': { N: String(versionBeforeOf(record)) } },
            }),
          )
          return { claimed: true }
        } catch (error) {
          if (!isConditionFailure(error)) throw error
        }
        const { Item } = await client.send(
          new GetItemCommand({ TableName: tableName, Key: headKey(record), ConsistentRead: true }),
        )
        const held = parse(Item?.claim?.S)
        if (held && Item?.since?.S) return { claimed: false, held, heldSince: Item.since.S }
        return Item?.head?.N === undefined
          ? { claimed: false }
          : { claimed: false, head: Number(Item.head.N) }
      }),

    commit: (record) =>
      guarded(async () => {
        // Filed first, under a key of its own: filing twice (a settle after a crash) writes the same item.
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              pk: { S: historyPk(record.issuerId) },
              sk: { S: `${RECORD_PREFIX}${record.at}#${record.writeId}` },
              doc: { S: JSON.stringify(record) },
            },
          }),
        )
        await release(record, versionAfterOf(record))
      }),

    abandon: (record) => guarded(() => release(record, versionBeforeOf(record))),

    realign: (record, from) =>
      guarded(async () => {
        try {
          await client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: { ...headKey(record), head: { N: String(versionBeforeOf(record)) } },
              ConditionExpression: 'attribute_not_exists(writeId) AND head = :from',
              ExpressionAttributeValues: { ':from': { N: String(from) } },
            }),
          )
        } catch (error) {
          if (!isConditionFailure(error)) throw error
        }
      }),

    claims: (issuerId) =>
      guarded(async () => {
        const claims: { record: HistoryRecord; since: string }[] = []
        let ExclusiveStartKey: Item | undefined
        do {
          const page = await client.send(
            new QueryCommand({
              TableName: tableName,
              KeyConditionExpression: 'pk = :pk AND begins_with(sk, :head)',
              FilterExpression: 'attribute_exists(writeId)',
              ExpressionAttributeValues: { ':pk': { S: historyPk(issuerId) }, ':head': { S: 'HEAD#' } },
              ConsistentRead: true,
              ExclusiveStartKey,
            }),
          )
          for (const item of page.Items ?? []) {
            const record = parse(item.claim?.S)
            if (record && item.since?.S) claims.push({ record, since: item.since.S })
          }
          ExclusiveStartKey = page.LastEvaluatedKey
        } while (ExclusiveStartKey)
        return claims
      }),

    list: (issuerId, since, request) =>
      guarded(async () => {
        const from = `${RECORD_PREFIX}${since ?? ''}`
        // A position before `since` (a token from a query without it) starts at `since`.
        const start = request.after === undefined ? undefined : `${RECORD_PREFIX}${request.after.at}`
        if (start !== undefined && start >= RECORD_END) return { items: [] }
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
            ExpressionAttributeValues: {
              ':pk': { S: historyPk(issuerId) },
              ':from': { S: from },
              ':to': { S: RECORD_END },
            },
            ConsistentRead: true,
            // One more than asked: whether another page follows, without an empty last page.
            Limit: request.limit + 1,
            ...(start === undefined || start < from
              ? {}
              : { ExclusiveStartKey: { pk: { S: historyPk(issuerId) }, sk: { S: start } } }),
          }),
        )
        const records = (page.Items ?? [])
          .map((item) => parse(item.doc?.S))
          .filter((record): record is HistoryRecord => record !== undefined)
        const items = records.slice(0, request.limit)
        const last = items.at(-1)
        return {
          items,
          ...(records.length > request.limit && last ? { next: { at: `${last.at}#${last.writeId}` } } : {}),
        }
      }),
  }
}
