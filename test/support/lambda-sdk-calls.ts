// What each deployed Lambda can ask of AWS: its composition root (functions/<name>/handler.ts,
// the module Lambda loads) runs against recording fakes of the DynamoDB, KMS and STS clients
// and is driven through every route functions/routes.ts gives it, each on the path that does
// the most (broker mode mints a token, a cascade delete lists and deletes, `explain` evaluates).
// Every SDK call is reported with the resource it was made on, so test/unit/infra.test.ts can
// hold each function's IAM role to exactly these calls.

import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  BatchWriteItemCommand,
  type BatchWriteItemCommandInput,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms'
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import type { Context } from 'aws-lambda'
import { mockClient } from 'aws-sdk-client-mock'
import { type FunctionName, ROUTES, type Route, routeKey } from '../../functions/routes.js'
import { KEY_SYNC_AUDIENCE } from '../../shared/core/model.js'
import { revocationIdOf } from '../../shared/core/revocations.js'
import type { HttpEvent } from '../../shared/http/event.js'
import type { HttpResponse } from '../../shared/http/response.js'
import { AUDIENCE, createTestIssuer, K8S_ISSUER } from './workload-issuer.js'

/** `dynamodb:Query on index/byIss`, `kms:Sign on current key`, … */
export type SdkCall = string

export interface FunctionRun {
  calls: SdkCall[]
  /** `routeKey → status` of every request sent, in order. */
  answers: string[]
}

const TABLE = 'irsa-broker-registry'
const CURRENT_KEY = 'arn:aws:kms:us-east-1:111122223333:key/11111111-1111-4111-8111-111111111111'
const PREVIOUS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/22222222-2222-4222-8222-222222222222'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'

const HANDLERS: Record<FunctionName, () => Promise<{ handler: unknown }>> = {
  credentials: () => import('../../functions/credentials/handler.js'),
  roles: () => import('../../functions/roles/handler.js'),
  discovery: () => import('../../functions/discovery/handler.js'),
  admin: () => import('../../functions/admin/handler.js'),
  keys: () => import('../../functions/keys/handler.js'),
}

type Item = Record<string, AttributeValue>
type Values = Record<string, AttributeValue> | undefined
type Names = Record<string, string> | undefined

/**
 * The conditions of the expressions the registry and history adapters write (`a = :v`, `#a = :v`,
 * `begins_with(a, :v)`, `a BETWEEN :v AND :w`, joined by AND) as a predicate over an item. Anything else throws, so
 * a new kind of expression fails here instead of matching by accident.
 */
const predicate = (expression: string, names: Names, values: Values): ((item: Item) => boolean) => {
  const attribute = (token: string) => (token.startsWith('#') ? (names?.[token] ?? token) : token)
  const value = (token: string) => values?.[token]?.S
  // The AND of a BETWEEN is followed by a value, the AND joining conditions by a condition.
  const checks = expression.split(/\s+AND\s+(?!:)/i).map((part) => {
    const between = /^\s*([#\w]+)\s+BETWEEN\s+(:\w+)\s+AND\s+(:\w+)\s*$/i.exec(part)
    if (between?.[1] && between[2] && between[3]) {
      const [name, from = '', to = ''] = [attribute(between[1]), value(between[2]), value(between[3])]
      return (item: Item) => {
        const text = item[name]?.S
        return text !== undefined && text >= from && text <= to
      }
    }
    const equals = /^\s*([#\w]+)\s*=\s*(:\w+)\s*$/.exec(part)
    if (equals?.[1] && equals[2]) {
      const [name, wanted] = [attribute(equals[1]), value(equals[2])]
      return (item: Item) => item[name]?.S === wanted
    }
    const prefix = /^\s*begins_with\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)\s*$/.exec(part)
    if (prefix?.[1] && prefix[2]) {
      const [name, wanted = ''] = [attribute(prefix[1]), value(prefix[2])]
      return (item: Item) => item[name]?.S?.startsWith(wanted) === true
    }
    throw new Error(`fake DynamoDB: unsupported expression part "${part}"`)
  })
  return (item) => checks.every((check) => check(item))
}

/** A one-table DynamoDB keyed by pk/sk; write conditions are left to the code that reads first. */
const fakeDynamoDb = () => {
  const items = new Map<string, Item>()
  const keyOf = (key: Item | undefined) => `${key?.pk?.S}\u0000${key?.sk?.S}`
  const stub = mockClient(DynamoDBClient)
  stub.on(GetItemCommand).callsFake((input) => ({ Item: items.get(keyOf(input.Key)) }))
  stub.on(PutItemCommand).callsFake((input) => {
    items.set(keyOf(input.Item), input.Item)
    return {}
  })
  stub.on(DeleteItemCommand).callsFake((input) => {
    items.delete(keyOf(input.Key))
    return {}
  })
  stub.on(UpdateItemCommand).callsFake((input) => {
    // `SET a = :a, #b = :b`: each named attribute takes its value.
    const item: Item = { ...(items.get(keyOf(input.Key)) ?? input.Key ?? {}) }
    for (const assignment of (input.UpdateExpression ?? '').replace(/^\s*SET\s+/i, '').split(',')) {
      const [name = '', value = ''] = assignment.split('=').map((part: string) => part.trim())
      const attribute = input.ExpressionAttributeNames?.[name] ?? name
      const given = input.ExpressionAttributeValues?.[value]
      if (given) item[attribute] = given
    }
    items.set(keyOf(input.Key), item)
    return {}
  })
  stub.on(BatchGetItemCommand).callsFake((input) => ({
    Responses: Object.fromEntries(
      Object.entries((input as BatchGetItemCommandInput).RequestItems ?? {}).map(([table, { Keys = [] }]) => [
        table,
        Keys.flatMap((key) => {
          const item = items.get(keyOf(key))
          return item ? [item] : []
        }),
      ]),
    ),
    UnprocessedKeys: {},
  }))
  stub.on(BatchWriteItemCommand).callsFake((input) => {
    for (const requests of Object.values((input as BatchWriteItemCommandInput).RequestItems ?? {}))
      for (const request of requests) {
        if (request.PutRequest?.Item) items.set(keyOf(request.PutRequest.Item), request.PutRequest.Item)
        if (request.DeleteRequest?.Key) items.delete(keyOf(request.DeleteRequest.Key))
      }
    return { UnprocessedItems: {} }
  })
  stub.on(QueryCommand).callsFake((input) => {
    const matches = predicate(
      input.KeyConditionExpression,
      input.ExpressionAttributeNames,
      input.ExpressionAttributeValues,
    )
    return { Items: [...items.values()].filter(matches) }
  })
  stub.on(ScanCommand).callsFake((input) => {
    const matches = input.FilterExpression
      ? predicate(input.FilterExpression, input.ExpressionAttributeNames, input.ExpressionAttributeValues)
      : () => true
    return { Items: [...items.values()].filter(matches) }
  })
  return stub
}

/** KMS with an RSA key for each configured key id (the current and the previous one). */
const fakeKms = () => {
  const keys = new Map<string, KeyObject>(
    [CURRENT_KEY, PREVIOUS_KEY].map((id) => [
      id,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    ]),
  )
  const keyFor = (id: string): KeyObject => {
    const key = keys.get(id)
    if (!key) throw Object.assign(new Error(`fake KMS: no key ${id}`), { name: 'NotFoundException' })
    return key
  }
  const stub = mockClient(KMSClient)
  stub.on(GetPublicKeyCommand).callsFake((input) => ({
    KeyId: input.KeyId,
    KeySpec: 'RSA_2048',
    PublicKey: new Uint8Array(createPublicKey(keyFor(input.KeyId)).export({ format: 'der', type: 'spki' })),
  }))
  stub.on(SignCommand).callsFake((input) => ({
    KeyId: input.KeyId,
    Signature: new Uint8Array(sign('sha256', Buffer.from(input.Message), keyFor(input.KeyId))),
  }))
  return stub
}

/** STS answering every AssumeRoleWithWebIdentity with a session (no IAM action authorizes it). */
const fakeSts = () => {
  const stub = mockClient(STSClient)
  stub.on(AssumeRoleWithWebIdentityCommand).callsFake((input) => ({
    Credentials: {
      AccessKeyId: 'ASIAFAKEFORIAMTEST01',
      SecretAccessKey: 'fake-secret-for-the-iam-test',
      SessionToken: 'fake-session-token-for-the-iam-test',
      Expiration: new Date(Date.now() + 3600_000),
    },
    AssumedRoleUser: {
      Arn: `arn:aws:sts::111122223333:assumed-role/ml-s3-reader/${input.RoleSessionName}`,
      AssumedRoleId: `AROAFAKE:${input.RoleSessionName}`,
    },
  }))
  return stub
}

/** The resource a recorded call was made on, named as infra.test.ts names IAM resources. */
const resourceOf = (service: string, input: Record<string, unknown>): string => {
  if (service === 'dynamodb') {
    // A batch names its tables in RequestItems.
    const name = input.TableName ?? Object.keys((input.RequestItems as object | undefined) ?? {}).join(',')
    const table = name === TABLE ? 'table' : `table ${String(name)}`
    return typeof input.IndexName === 'string' ? `${table}/index/${input.IndexName}` : table
  }
  if (service === 'kms')
    return input.KeyId === CURRENT_KEY
      ? 'current key'
      : input.KeyId === PREVIOUS_KEY
        ? 'previous key'
        : `key ${String(input.KeyId)}`
  return '-'
}

type Stub = ReturnType<typeof mockClient>

const recordedCalls = (service: string, stub: Stub, from: number): SdkCall[] =>
  stub
    .calls()
    .slice(from)
    .map((call) => {
      const command = call.args[0] as { constructor: { name: string }; input: Record<string, unknown> }
      return `${service}:${command.constructor.name.replace(/Command$/, '')} on ${resourceOf(service, command.input)}`
    })

interface Request {
  route: Route
  path?: Record<string, string>
  query?: Record<string, string>
  body?: unknown
  /** The workload token, sent as a bearer token. */
  token?: string
}

const eventFor = ({ route, path = {}, query, body, token }: Request, n: number): HttpEvent => {
  const rawPath = route.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(path[name] ?? ''))
  return {
    version: '2.0',
    routeKey: routeKey(route),
    rawPath,
    rawQueryString: new URLSearchParams(query ?? {}).toString(),
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(query ? { queryStringParameters: query } : {}),
    ...(Object.keys(path).length > 0 ? { pathParameters: path } : {}),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    isBase64Encoded: false,
    requestContext: {
      accountId: '111122223333',
      apiId: 'api',
      domainName: 'broker.example.com',
      domainPrefix: 'broker',
      http: {
        method: route.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.1',
        userAgent: 'iam-test',
      },
      requestId: `iam-test-${n}`,
      routeKey: routeKey(route),
      stage: '$default',
      time: '04/May/2031:12:00:00 +0000',
      timeEpoch: Date.now(),
      ...(route.admin ? { authorizer: { iam: { userArn: 'arn:aws:iam::111122223333:user/admin' } } } : {}),
    },
  } as HttpEvent
}

const route = (method: Route['method'], path: string): Route => {
  const found = ROUTES.find((candidate) => candidate.method === method && candidate.path === path)
  if (!found) throw new Error(`no route ${method} ${path} in functions/routes.ts`)
  return found
}

/** The requests each function is driven with, in order; admin first, since it fills the registry. */
const requestsFor = async (): Promise<Record<FunctionName, Request[]>> => {
  const dataPlane = await createTestIssuer({ kid: 'iam-test' })
  const nextKey = await createTestIssuer({ kid: 'iam-test-next' })
  const token = await dataPlane.mint()
  const keySyncToken = await dataPlane.mint({
    aud: KEY_SYNC_AUDIENCE,
    namespace: 'irsa-broker',
    serviceAccount: 'key-sync',
  })
  const issuer = {
    issuer: K8S_ISSUER,
    audiences: [AUDIENCE],
    jwks: dataPlane.jwks,
    mode: 'broker',
    keySync: { subject: 'system:serviceaccount:irsa-broker:key-sync' },
  }
  const binding = { roleArn: ROLE_ARN, profile: 'ml-reader', subjects: ['system:serviceaccount:ml:*'] }
  const I = '/v1/admin/issuers/{issuerId}'
  const B = `${I}/bindings/{bindingId}`
  const kept = { issuerId: 'onprem-a' }
  const REVOKED_SUBJECT = 'system:serviceaccount:ml:trainer'
  const removed = { issuerId: 'onprem-old' }
  return {
    admin: [
      { route: route('PUT', I), path: kept, body: issuer },
      { route: route('PUT', I), path: kept, body: { ...issuer, version: 1, description: 'updated' } },
      { route: route('PUT', I), path: removed, body: issuer },
      { route: route('GET', '/v1/admin/issuers') },
      { route: route('GET', I), path: kept },
      { route: route('POST', `${I}/refresh`), path: kept },
      { route: route('PUT', B), path: { ...kept, bindingId: 'ml-readers' }, body: binding },
      // Profiles are unique within an issuer.
      {
        route: route('PUT', B),
        path: { ...removed, bindingId: 'old' },
        body: { ...binding, profile: 'old' },
      },
      {
        route: route('PUT', B),
        path: { ...removed, bindingId: 'older' },
        body: { ...binding, profile: 'older' },
      },
      { route: route('GET', `${I}/bindings`), path: kept },
      { route: route('GET', B), path: { ...kept, bindingId: 'ml-readers' } },
      { route: route('POST', '/v1/admin/explain'), body: { token } },
      { route: route('POST', `${I}/revocations`), path: kept, body: { subject: REVOKED_SUBJECT } },
      { route: route('GET', `${I}/revocations`), path: kept },
      {
        route: route('DELETE', `${I}/revocations/{revocationId}`),
        path: { ...kept, revocationId: revocationIdOf('onprem-a', { subject: REVOKED_SUBJECT }) },
      },
      { route: route('DELETE', B), path: { ...removed, bindingId: 'older' } },
      { route: route('DELETE', I), path: removed, query: { cascade: 'true' } },
      // A deleted issuer's history stays readable.
      { route: route('GET', '/v1/admin/history'), query: { issuerId: 'onprem-old' } },
    ],
    credentials: [
      { route: route('GET', '/v1/credentials'), token },
      { route: route('POST', '/v1/credentials'), token, body: { role: 'ml-reader' } },
    ],
    roles: [{ route: route('GET', '/v1/roles'), token }],
    // A key push that changes the keys (the admin run left `onprem-a` registered).
    keys: [
      {
        route: route('PUT', '/v1/issuers/{issuerId}/jwks'),
        path: kept,
        token: keySyncToken,
        body: { keys: [...dataPlane.jwks.keys, ...nextKey.jwks.keys] },
      },
    ],
    discovery: [
      { route: route('GET', '/.well-known/openid-configuration') },
      { route: route('GET', '/.well-known/jwks.json') },
      { route: route('GET', '/healthz') },
    ],
  }
}

const ENV = {
  AWS_REGION: 'us-east-1',
  IRSA_BROKER_TABLE: TABLE,
  IRSA_BROKER_ISSUER_URL: 'https://broker.example.com',
  IRSA_BROKER_KMS_KEY_ID: CURRENT_KEY,
  IRSA_BROKER_KMS_PREVIOUS_KEY_ID: PREVIOUS_KEY,
}

/**
 * Loads and drives each function in turn (admin, credentials, roles, discovery, keys) and returns the
 * SDK calls each made, from module load (a composition root may call AWS at start) to its last
 * answer. Restores the clients and the environment afterwards.
 */
export const sdkCallsPerFunction = async (): Promise<Record<FunctionName, FunctionRun>> => {
  const saved = Object.fromEntries(Object.keys(ENV).map((name) => [name, process.env[name]]))
  Object.assign(process.env, ENV)
  const stubs: [string, Stub][] = [
    ['dynamodb', fakeDynamoDb() as unknown as Stub],
    ['kms', fakeKms() as unknown as Stub],
    ['sts', fakeSts() as unknown as Stub],
  ]
  try {
    const requests = await requestsFor()
    const runs = {} as Record<FunctionName, FunctionRun>
    let n = 0
    for (const name of ['admin', 'credentials', 'roles', 'discovery', 'keys'] as const) {
      const from = stubs.map(([, stub]) => stub.calls().length)
      const { handler } = (await HANDLERS[name]()) as {
        handler: (event: HttpEvent, context: Context) => Promise<HttpResponse>
      }
      const answers: string[] = []
      for (const request of requests[name]) {
        const response = await handler(eventFor(request, n++), {} as Context)
        answers.push(`${routeKey(request.route)} → ${response.statusCode}`)
      }
      runs[name] = {
        calls: stubs.flatMap(([service, stub], i) => recordedCalls(service, stub, from[i] ?? 0)),
        answers,
      }
    }
    return runs
  } finally {
    for (const [, stub] of stubs) stub.restore()
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
}
