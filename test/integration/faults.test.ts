// Faults at the broker's dependencies, injected at loopback proxies of this file's own in front
// of moto_server (STS, KMS) and dynalite (DynamoDB): a dependency that hangs, refuses, drops the
// connection, throttles or loses its answer. The broker runs as the credentials and admin Lambda
// functions wired by shared/aws.ts (the deployed SDK clients with their timeouts and retries),
// invoked with API Gateway events. No test measures time: each proves its deadline by
// construction — the dependency never answered (the proxy says so), yet the broker did, with the
// coded answer. The remote-JWKS case runs on the local stack (loopback key endpoints allowed).
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb'
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts'
import type { Context } from 'aws-lambda'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createAdminHandler } from '../../functions/admin/app.js'
import { createCredentialsHandler } from '../../functions/credentials/app.js'
import { createRolesHandler } from '../../functions/roles/app.js'
import { freePort, type MotoServer, startMotoServer } from '../../infra/local/processes.js'
import { type LocalStack, startLocalStack } from '../../infra/local/stack.js'
import { createDynamoDbRegistry } from '../../shared/adapters/dynamodb-registry.js'
import { createAwsAdapters } from '../../shared/aws.js'
import { type Env, loadLambdaConfig, loadLocalConfig } from '../../shared/config.js'
import type { Registry } from '../../shared/core/ports.js'
import { iamAdminAuthenticator } from '../../shared/http/admin-auth.js'
import type { HttpResponse } from '../../shared/http/response.js'
import { createCore } from '../../shared/wiring.js'
import {
  createRegistryTable,
  dynamoDbClient,
  type EmbeddedDynamoDb,
  startDynalite,
} from '../support/dynalite.js'
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js'
import { capturingSink } from '../support/log-capture.js'
import { type Handler, json, type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js'
import { motoKmsClient, motoStsClient } from '../support/moto.js'
import { AUDIENCE, createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'
import { httpEvent } from '../unit/http/http-event.js'

const TABLE = 'irsa-broker-faults'
const ISSUER_ID = 'onprem-faults'
const ISS = 'https://faults.clusters.example.test'
const READER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const ADMIN_ARN = 'arn:aws:iam::111122223333:user/faults-admin'
const context = {} as Context

let moto: MotoServer
let dynalite: EmbeddedDynamoDb
let kms: KMSClient
let kmsKeyId: string
let stsProxy: FaultProxy
let kmsProxy: FaultProxy
let dynamoProxy: FaultProxy
/** The registry straight on dynalite, past every proxy: what is really stored. */
let stored: Registry
/** The DynamoDB client straight on dynalite. */
let direct: DynamoDBClient

/** How many binding items the issuer's partition holds, readable or not (past every proxy). */
const bindingItems = async (issuerId: string): Promise<number> =>
  (
    await direct.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': { S: `ISSUER#${issuerId}` }, ':prefix': { S: 'BINDING#' } },
        ConsistentRead: true,
      }),
    )
  ).Items?.length ?? 0
let dataPlane: TestIssuer
let serviceAccounts = 0

/** One Lambda container: config from its environment, SDK clients and caches of its own. */
const lambdaContainer = (overrides: Env = {}) => {
  const config = loadLambdaConfig({
    IRSA_BROKER_ISSUER_URL: 'https://broker.faults.example.test',
    IRSA_BROKER_TABLE: TABLE,
    IRSA_BROKER_KMS_KEY_ID: kmsKeyId,
    AWS_ENDPOINT_URL_STS: stsProxy.url,
    AWS_ENDPOINT_URL_KMS: kmsProxy.url,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoProxy.url,
    ...overrides,
  })
  const core = createCore(createAwsAdapters(config, 'faults'), config)
  return {
    config,
    history: core.history,
    credentials: createCredentialsHandler(core),
    roles: createRolesHandler(core),
    admin: createAdminHandler({ ...core, authenticate: iamAdminAuthenticator }),
  }
}

type Container = ReturnType<typeof lambdaContainer>

/** A service account no request used before, so no cached credential can answer. */
const freshServiceAccount = () => `sa-${++serviceAccounts}`

/** A new token (of a fresh service account unless one is named) asking for credentials. */
const askCredentials = async (
  container: Container,
  serviceAccount = freshServiceAccount(),
): Promise<HttpResponse> =>
  container.credentials(
    httpEvent({
      method: 'GET',
      path: '/v1/credentials',
      headers: { authorization: await dataPlane.mint({ serviceAccount }) },
    }),
    context,
  )

const adminPut = (
  container: Container,
  path: string,
  pathParameters: Record<string, string>,
  body: unknown,
) =>
  container.admin(
    httpEvent({ method: 'PUT', path, pathParameters, body: JSON.stringify(body), userArn: ADMIN_ARN }),
    context,
  )

const adminDelete = (
  container: Container,
  path: string,
  pathParameters: Record<string, string>,
  query = {},
) =>
  container.admin(httpEvent({ method: 'DELETE', path, pathParameters, query, userArn: ADMIN_ARN }), context)

const errorCodeOf = (response: HttpResponse): string | undefined =>
  (JSON.parse(response.body ?? '{}') as { error?: { code?: string } }).error?.code

/** The coded 503 of a broker dependency (docs/decisions.md, Errors), with Retry-After for the SDK. */
const expectUnavailable = (response: HttpResponse) => {
  expect({ status: response.statusCode, code: errorCodeOf(response) }).toEqual({
    status: 503,
    code: 'ServiceUnavailable',
  })
  expect(response.headers['retry-after']).toBe('1')
}

/** What the proxy did with the requests for `operation` since the mark `since`. */
const heldUnanswered = (proxy: FaultProxy, operation: string, since: number) => {
  const requests = proxy.requests(since).filter((entry) => entry.operation.includes(operation))
  return {
    held: requests.filter((entry) => entry.fault === 'hang').length,
    answered: requests.filter((entry) => entry.responded).length,
  }
}

beforeAll(async () => {
  // The Lambda runtime hands the function its role's credentials in the environment; these are
  // what the SDK's default chain finds first (moto and dynalite accept any).
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'faults-test')
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'faults-test')
  vi.stubEnv('AWS_SESSION_TOKEN', '')
  moto = await startMotoServer()
  dynalite = await startDynalite()
  direct = dynamoDbClient(dynalite.endpoint)
  await createRegistryTable(direct, TABLE)
  stored = createDynamoDbRegistry(direct, TABLE)
  kms = motoKmsClient(moto.endpoint)
  const { KeyMetadata } = await kms.send(
    new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', Description: 'irsa-broker faults' }),
  )
  kmsKeyId = KeyMetadata?.KeyId ?? ''
  // moto answers its first STS call slowly: pay that here, not inside a deadline.
  const warmSts = motoStsClient(moto.endpoint)
  await warmSts
    .send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: READER_ARN,
        RoleSessionName: 'warm-up',
        WebIdentityToken: 'a.b.c',
      }),
    )
    .catch(() => undefined)
  warmSts.destroy()
  stsProxy = await startFaultProxy(moto.endpoint)
  kmsProxy = await startFaultProxy(moto.endpoint)
  dynamoProxy = await startFaultProxy(dynalite.endpoint)
  dataPlane = await createTestIssuer({ iss: ISS, kid: 'faults-key' })

  const setup = lambdaContainer()
  const issuer = await adminPut(
    setup,
    '/v1/admin/issuers/{issuerId}',
    { issuerId: ISSUER_ID },
    { issuer: ISS, audiences: [AUDIENCE], jwks: dataPlane.jwks },
  )
  expect(issuer.statusCode).toBe(201)
  const binding = await adminPut(
    setup,
    '/v1/admin/issuers/{issuerId}/bindings/{bindingId}',
    { issuerId: ISSUER_ID, bindingId: 'readers' },
    { roleArn: READER_ARN, subjects: ['system:serviceaccount:ml:*'] },
  )
  expect(binding.statusCode).toBe(201)
  // The whole path works before any fault: KMS signs, STS (moto) answers.
  expect((await askCredentials(setup)).statusCode).toBe(200)
})

afterEach(() => {
  stsProxy?.inject('forward')
  kmsProxy?.inject('forward')
  dynamoProxy?.inject('forward')
})

afterAll(async () => {
  await stsProxy?.stop()
  await kmsProxy?.stop()
  await dynamoProxy?.stop()
  kms?.destroy()
  await dynalite?.stop()
  await moto?.stop()
  vi.unstubAllEnvs()
})

describe('STS faults', () => {
  it('answers 503 ServiceUnavailable with Retry-After while STS holds the request and never answers', async () => {
    // Prepare
    const container = lambdaContainer()
    stsProxy.inject('hang')
    const since = stsProxy.mark()
    // Act
    const response = await askCredentials(container)
    // Assess
    expectUnavailable(response)
    const { held, answered } = heldUnanswered(stsProxy, 'AssumeRoleWithWebIdentity', since)
    expect(held).toBeGreaterThanOrEqual(1)
    expect(answered).toBe(0)
  })

  it('answers 503 ServiceUnavailable with Retry-After when nothing listens at the STS endpoint', async () => {
    // Prepare
    const container = lambdaContainer({ AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${await freePort()}` })
    // Act
    const response = await askCredentials(container)
    // Assess
    expectUnavailable(response)
  })

  it('retries a dropped connection a bounded number of times (IRSA_BROKER_STS_MAX_ATTEMPTS), then answers 503', async () => {
    // Prepare
    const container = lambdaContainer({ IRSA_BROKER_REQUEST_DEADLINE_MS: '5000' })
    stsProxy.inject('drop')
    const since = stsProxy.mark()
    // Act
    const response = await askCredentials(container)
    // Assess
    expectUnavailable(response)
    expect(stsProxy.count('AssumeRoleWithWebIdentity', since)).toBe(container.config.timeouts.stsMaxAttempts)
  })

  it('retries Throttling exactly IRSA_BROKER_STS_MAX_ATTEMPTS times in all (counted at STS), then answers 429 Throttling with Retry-After', async () => {
    // Prepare: a deadline with room for every attempt, so the count is the attempt bound itself.
    const container = lambdaContainer({
      IRSA_BROKER_REQUEST_DEADLINE_MS: '5000',
      IRSA_BROKER_STS_MAX_ATTEMPTS: '4',
    })
    stsProxy.inject('throttle')
    const since = stsProxy.mark()
    // Act
    const response = await askCredentials(container)
    // Assess
    expect({ status: response.statusCode, code: errorCodeOf(response) }).toEqual({
      status: 429,
      code: 'Throttling',
    })
    expect(response.headers['retry-after']).toBe('1')
    expect(stsProxy.count('AssumeRoleWithWebIdentity', since)).toBe(4)
  })

  it('issues credentials when STS stops throttling within the attempts', async () => {
    // Prepare
    const container = lambdaContainer({ IRSA_BROKER_REQUEST_DEADLINE_MS: '5000' })
    let throttled = 0
    stsProxy.inject(() => (throttled++ < 2 ? 'throttle' : 'forward'))
    // Act
    const response = await askCredentials(container)
    // Assess
    expect(response.statusCode).toBe(200)
    expect(throttled).toBe(3)
  })
})

describe('KMS faults', () => {
  it('answers 503 ServiceUnavailable with Retry-After while kms:Sign hangs, after a request it signed', async () => {
    // Prepare
    const container = lambdaContainer()
    expect((await askCredentials(container)).statusCode).toBe(200)
    kmsProxy.inject('hang')
    const since = kmsProxy.mark()
    // Act
    const response = await askCredentials(container)
    // Assess
    expectUnavailable(response)
    const { held, answered } = heldUnanswered(kmsProxy, 'TrentService.Sign', since)
    expect(held).toBeGreaterThanOrEqual(1)
    expect(answered).toBe(0)
  })

  it('answers 503 when KMS refuses connections on a cold container (no public key fetched yet)', async () => {
    // Prepare
    const container = lambdaContainer({ AWS_ENDPOINT_URL_KMS: `http://127.0.0.1:${await freePort()}` })
    // Act
    const response = await askCredentials(container)
    // Assess
    expectUnavailable(response)
  })
})

describe('DynamoDB faults on the request path', () => {
  it('keeps serving issuers and bindings read before while DynamoDB hangs, within the stale window (200)', async () => {
    // Prepare: TTL 0, so every request after the first finds its entries past the TTL. The
    // registry is read per token subject, so the second request is of the same service account
    // (a new token): what the first one read is what the outage must not take away.
    const container = lambdaContainer({ IRSA_BROKER_CACHE_TTL_SECONDS: '0' })
    const serviceAccount = freshServiceAccount()
    expect((await askCredentials(container, serviceAccount)).statusCode).toBe(200)
    dynamoProxy.inject('hang')
    const since = dynamoProxy.mark()
    // Act
    const response = await askCredentials(container, serviceAccount)
    // Assess
    expect(response.statusCode).toBe(200)
    const { held, answered } = heldUnanswered(dynamoProxy, 'DynamoDB_20120810.Query', since)
    expect(held).toBeGreaterThanOrEqual(1)
    expect(answered).toBe(0)
  })

  it('answers 503 for the same outage without a stale window (IRSA_BROKER_CACHE_STALE_SECONDS=0)', async () => {
    // Prepare
    const container = lambdaContainer({
      IRSA_BROKER_CACHE_TTL_SECONDS: '0',
      IRSA_BROKER_CACHE_STALE_SECONDS: '0',
    })
    const serviceAccount = freshServiceAccount()
    expect((await askCredentials(container, serviceAccount)).statusCode).toBe(200)
    dynamoProxy.inject('hang')
    // Act
    const response = await askCredentials(container, serviceAccount)
    // Assess
    expectUnavailable(response)
  })

  it('answers 503 ServiceUnavailable with Retry-After while DynamoDB hangs and nothing is cached (cold container)', async () => {
    // Prepare
    const container = lambdaContainer()
    dynamoProxy.inject('hang')
    const since = dynamoProxy.mark()
    // Act
    const response = await askCredentials(container)
    // Assess
    expectUnavailable(response)
    const { held, answered } = heldUnanswered(dynamoProxy, 'DynamoDB_20120810.Query', since)
    expect(held).toBeGreaterThanOrEqual(1)
    expect(answered).toBe(0)
  })

  it('answers 503 on a cold container when nothing listens at the DynamoDB endpoint, for credentials and roles', async () => {
    // Prepare
    const container = lambdaContainer({ AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${await freePort()}` })
    // Act
    const credentials = await askCredentials(container)
    const roles = await container.roles(
      httpEvent({
        method: 'GET',
        path: '/v1/roles',
        headers: { authorization: await dataPlane.mint({ serviceAccount: freshServiceAccount() }) },
      }),
      context,
    )
    // Assess
    expectUnavailable(credentials)
    expectUnavailable(roles)
  })
})

describe('DynamoDB faults on admin writes: whole or not at all', () => {
  const issuerPath = '/v1/admin/issuers/{issuerId}'
  const bindingPath = '/v1/admin/issuers/{issuerId}/bindings/{bindingId}'
  const issuerBody = { issuer: 'https://never.clusters.example.test', audiences: [AUDIENCE], jwks: undefined }

  it.each(['hang', 'drop'] as const)(
    'answers 503 to a PUT whose write %ss at DynamoDB, and nothing is stored',
    async (fault) => {
      // Prepare
      const container = lambdaContainer()
      const issuerId = `never-${fault}`
      dynamoProxy.inject(({ operation }) => (operation.endsWith('.PutItem') ? fault : 'forward'))
      const since = dynamoProxy.mark()
      // Act
      const issuer = await adminPut(
        container,
        issuerPath,
        { issuerId },
        { ...issuerBody, jwks: dataPlane.jwks },
      )
      const binding = await adminPut(
        container,
        bindingPath,
        { issuerId: ISSUER_ID, bindingId: `never-${fault}` },
        { roleArn: READER_ARN, subjects: ['system:serviceaccount:ml:never'] },
      )
      // Assess
      expectUnavailable(issuer)
      expectUnavailable(binding)
      const puts = dynamoProxy.requests(since).filter((entry) => entry.operation.endsWith('.PutItem'))
      expect(puts.length).toBeGreaterThanOrEqual(2)
      expect(puts.filter((entry) => entry.responded)).toEqual([])
      expect(await stored.getIssuer(issuerId)).toBeUndefined()
      expect(await stored.getBinding(ISSUER_ID, `never-${fault}`)).toBeUndefined()
    },
  )

  it('answers 503 when the write reached DynamoDB but its answer was lost: the object is stored whole, and the retried create is a 409', async () => {
    // Prepare
    const container = lambdaContainer()
    const issuerId = 'answer-lost'
    // The issuer's own item (the history's claim before it and its record after it go through).
    dynamoProxy.inject(({ operation, body }) =>
      operation.endsWith('.PutItem') && body.includes('"#ISSUER"') ? 'lose-answer' : 'forward',
    )
    // Act
    const lost = await adminPut(container, issuerPath, { issuerId }, { ...issuerBody, jwks: dataPlane.jwks })
    dynamoProxy.inject('forward')
    const retried = await adminPut(
      container,
      issuerPath,
      { issuerId },
      { ...issuerBody, jwks: dataPlane.jwks },
    )
    // Assess
    expectUnavailable(lost)
    expect(await stored.getIssuer(issuerId)).toMatchObject({
      issuerId,
      issuer: issuerBody.issuer,
      version: 1,
      updatedBy: ADMIN_ARN,
    })
    expect(retried.statusCode).toBe(409)
  })

  it('answers 202 when the outage cuts a cascade after the issuer is gone; the same DELETE finishes it', async () => {
    // Prepare
    const container = lambdaContainer()
    const issuerId = 'cascade-cut'
    expect(
      (await adminPut(container, issuerPath, { issuerId }, { ...issuerBody, jwks: dataPlane.jwks }))
        .statusCode,
    ).toBe(201)
    for (const bindingId of ['b1', 'b2', 'b3']) {
      const put = await adminPut(
        container,
        bindingPath,
        { issuerId, bindingId },
        { roleArn: READER_ARN, subjects: ['system:serviceaccount:ml:trainer'] },
      )
      expect(put.statusCode).toBe(201)
    }
    // The sweep's batch deletes never answer; everything else goes through.
    dynamoProxy.inject(({ operation }) => (operation.endsWith('.BatchWriteItem') ? 'hang' : 'forward'))
    const since = dynamoProxy.mark()
    // Act
    const cut = await adminDelete(container, issuerPath, { issuerId }, { cascade: 'true' })
    const issuerDuringOutage = await stored.getIssuer(issuerId)
    const readableDuringOutage = await stored.listBindings(issuerId)
    const itemsDuringOutage = await bindingItems(issuerId)
    dynamoProxy.inject('forward')
    const finished = await adminDelete(container, issuerPath, { issuerId }, { cascade: 'true' })
    const again = await adminDelete(container, issuerPath, { issuerId }, { cascade: 'true' })
    // Assess
    expect(heldUnanswered(dynamoProxy, 'BatchWriteItem', since).held).toBeGreaterThanOrEqual(1)
    expect({ status: cut.statusCode, body: JSON.parse(cut.body ?? '{}') }).toEqual({
      status: 202,
      body: { issuerId, bindingsDeleted: 0, done: false },
    })
    expect(issuerDuringOutage).toBeUndefined()
    expect(readableDuringOutage).toEqual([])
    expect(itemsDuringOutage).toBe(3)
    expect(finished.statusCode).toBe(204)
    expect(again.statusCode).toBe(404)
    expect(await bindingItems(issuerId)).toBe(0)
    const history = await container.history?.read({ issuerId })
    expect(history?.records.map((record) => `${record.bindingId ?? issuerId}:${record.action}`)).toEqual([
      `${issuerId}:create`,
      'b1:create',
      'b2:create',
      'b3:create',
      `${issuerId}:delete`,
    ])
  })
})

describe('remote JWKS that hangs on the request path (local stack, cold key cache)', () => {
  const adminToken = randomBytes(24).toString('base64url')
  const logLines: string[] = []
  let dataDir: string
  let keysEndpoint: LoopbackServer
  let provider: TestIssuer
  let stack: LocalStack | undefined
  const held: ServerResponse[] = []

  const startStack = () =>
    startLocalStack(
      loadLocalConfig({
        PORT: '0',
        IRSA_BROKER_DATA_DIR: dataDir,
        IRSA_BROKER_ADMIN_TOKEN: adminToken,
        IRSA_BROKER_ALLOW_LOOPBACK_JWKS: 'true',
        AWS_ENDPOINT_URL_STS: moto.endpoint,
      }),
      { logSink: capturingSink('faults-jwks', (line) => logLines.push(line)) },
    )

  const asAdmin = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${stack?.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return response.status
  }

  const answering: Handler = (request, response) => {
    const base = keysEndpoint.url
    if (request.url === '/.well-known/openid-configuration') {
      return json({ issuer: base, jwks_uri: `${base}/keys` })(request, response)
    }
    return json(provider.jwks)(request, response)
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'irsa-broker-faults-'))
    keysEndpoint = await startLoopbackServer()
    provider = await createTestIssuer({ iss: keysEndpoint.url, kid: 'remote-key' })
    keysEndpoint.handle(answering)
    // One broker registers the issuer (its fetch succeeds) and stops.
    stack = await startStack()
    expect(
      await asAdmin('PUT', '/v1/admin/issuers/remote', {
        issuer: keysEndpoint.url,
        audiences: [AUDIENCE],
        discovery: true,
      }),
    ).toBe(201)
    expect(
      await asAdmin('PUT', '/v1/admin/issuers/remote/bindings/reader', {
        roleArn: READER_ARN,
        subjects: ['system:serviceaccount:ml:trainer'],
      }),
    ).toBe(201)
    await stack.stop()
    stack = undefined
  })

  afterAll(async () => {
    await stack?.stop()
    for (const response of held) response.destroy()
    await keysEndpoint?.stop()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('answers 503 IDPCommunicationError with Retry-After once the request-path fetch budget (not the 3 s fetch deadline) cuts the fetch, the endpoint never having answered', async () => {
    // Prepare: a new broker on the same registry, no keys fetched yet; the endpoint now hangs.
    keysEndpoint.handle((_request, response) => {
      held.push(response)
    })
    stack = await startStack()
    const requestsBefore = keysEndpoint.requests.length
    const linesBefore = logLines.length
    // Act
    const response = await fetch(`${stack.url}/v1/credentials`, {
      headers: { authorization: await provider.mint({ iss: keysEndpoint.url }) },
    })
    const body = (await response.json()) as { error?: { code?: string } }
    // Assess
    expect({ status: response.status, code: body.error?.code }).toEqual({
      status: 503,
      code: 'IDPCommunicationError',
    })
    // Retry after the fetch cooldown: one fetch per issuer per 30 s, whatever the traffic.
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(keysEndpoint.requests.length - requestsBefore).toBe(1)
    expect(held.every((entry) => !entry.writableEnded)).toBe(true)
    // What cut the fetch: the request path's budget (IRSA_BROKER_JWKS_REQUEST_TIMEOUT_MS), not 3 s.
    const cut = logLines
      .slice(linesBefore)
      .map((line) => JSON.parse(line) as { message?: string; detail?: string })
      .filter((line) => line.message?.startsWith('remote JWKS fetch failed'))
      .map((line) => Number(/no complete answer within (\d+) ms/.exec(line.detail ?? '')?.[1]))
    expect(cut).toHaveLength(1)
    expect(cut[0]).toBeLessThanOrEqual(loadLocalConfig({}).timeouts.jwksRequestMs)
  })
})
