// The whole broker on one machine (README.md, "Local configuration"): embedded dynalite persisted in the data
// folder, a local signing key, STS from configuration or a moto_server it starts, and the
// Lambda handlers behind the local HTTP front. Each function is built as its Lambda root builds
// it (functions/*/app.ts), with its own core and caches: an admin write reaches the other
// functions within the registry TTL, as in AWS. `npm start`, the e2e tests and the bench use it.
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { join, resolve } from 'node:path'
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb'
import dynalite from 'dynalite'
import { buildAdminFunction } from '../../functions/admin/app.js'
import { buildCredentialsFunction } from '../../functions/credentials/app.js'
import { buildDiscoveryFunction } from '../../functions/discovery/app.js'
import { buildKeysFunction } from '../../functions/keys/app.js'
import { buildRolesFunction } from '../../functions/roles/app.js'
import { tableDefinition } from '../../shared/adapters/dynamodb-table.js'
import { createJsonLogger, type LineSink, stdoutSink } from '../../shared/adapters/json-logger.js'
import { createSafeJsonFetcher } from '../../shared/adapters/jwks-fetch.js'
import { createLocalSigner, loadOrCreateSigningKey } from '../../shared/adapters/local-signer.js'
import {
  awsAdminRegistry,
  awsHistoryLog,
  awsRoleAssumer,
  dynamoDbClient,
  stsClient,
} from '../../shared/aws.js'
import type { LocalConfig } from '../../shared/config.js'
import { type Clock, type JsonFetcher, type RoleAssumer, systemClock } from '../../shared/core/ports.js'
import { tokenAdminAuthenticator } from '../../shared/http/admin-auth.js'
import { createLocalHttpServer, type FunctionTable } from './http-server.js'
import { type MotoServer, startMotoServer } from './processes.js'

/** Local services need no real credentials; these keep the SDK from looking for any. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' }

export interface LocalStackOptions {
  /** Where JSON log and audit lines go (stdout by default). */
  logSink?: LineSink
  clock?: Clock
  /** Wraps the STS adapter (the bench uses it to time STS calls). */
  wrapSts?: (sts: RoleAssumer) => RoleAssumer
  /** Replaces the remote-JWKS fetcher (tests give one with their own resolver and connector). */
  fetchJson?: JsonFetcher
  /**
   * The signing key file, instead of `<data dir>/signing-key.pem`: two local brokers given the
   * same file sign with one key, as the Regions of a multi-Region stage do with one multi-Region
   * KMS key (test/integration/multi-region.test.ts).
   */
  signingKeyPath?: string
}

export interface LocalStack {
  url: string
  port: number
  issuerUrl: string
  dataDir: string
  adminToken: string
  adminTokenSource: 'environment' | 'generated' | 'data folder'
  signingKey: { path: string; created: boolean; kid: string }
  dynamodb: { endpoint: string; embedded: boolean }
  sts: { endpoint: string; source: 'AWS_ENDPOINT_URL_STS' | 'moto_server' }
  /** Whether issuers' discovery/JWKS URLs may be http:// on loopback (IRSA_BROKER_ALLOW_LOOPBACK_JWKS). */
  remoteJwks: { allowLoopback: boolean }
  /** Resolves once no remote key set is being fetched in the background. */
  remoteKeysSettled(): Promise<void>
  stop(): Promise<void>
}

const writeSecretFile = (path: string, content: string) => {
  writeFileSync(path, content, { mode: 0o600 })
  chmodSync(path, 0o600)
}

const resolveAdminToken = (config: LocalConfig, dataDir: string) => {
  if (config.adminToken) return { adminToken: config.adminToken, adminTokenSource: 'environment' as const }
  const path = join(dataDir, 'admin-token')
  if (existsSync(path))
    return { adminToken: readFileSync(path, 'utf8').trim(), adminTokenSource: 'data folder' as const }
  const adminToken = randomBytes(32).toString('hex')
  writeSecretFile(path, `${adminToken}\n`)
  return { adminToken, adminTokenSource: 'generated' as const }
}

/** Creates the registry table unless it exists, and waits until it is ACTIVE (also the tests' dynalite). */
export const ensureTable = async (client: DynamoDBClient, tableName: string): Promise<void> => {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }))
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error
    await client.send(new CreateTableCommand(tableDefinition(tableName)))
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }))
    if (Table?.TableStatus === 'ACTIVE') return
    await new Promise((done) => setTimeout(done, 100))
  }
  throw new Error(`table ${tableName} did not become ACTIVE`)
}

const listen = (server: Server, port: number): Promise<number> =>
  new Promise((done, fail) => {
    server.once('error', fail)
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      done(typeof address === 'object' && address ? address.port : port)
    })
  })

const close = (server: Server): Promise<void> =>
  new Promise((done) => {
    server.close(() => done())
    server.closeAllConnections?.()
  })

export const startLocalStack = async (
  config: LocalConfig,
  options: LocalStackOptions = {},
): Promise<LocalStack> => {
  const cleanups: (() => Promise<void>)[] = []
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
    cleanups.length = 0
  }
  try {
    const dataDir = resolve(config.dataDir)
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const { adminToken, adminTokenSource } = resolveAdminToken(config, dataDir)
    const keyPath = options.signingKeyPath ?? join(dataDir, 'signing-key.pem')
    const { key, created } = loadOrCreateSigningKey(keyPath)
    const signer = createLocalSigner(key)

    let dynamodbEndpoint = config.endpoints.dynamodb
    if (!dynamodbEndpoint) {
      const dynamoServer = dynalite({
        path: join(dataDir, 'dynamodb'),
        createTableMs: 0,
        deleteTableMs: 0,
        updateTableMs: 0,
      })
      const dynamoPort = await listen(dynamoServer, 0)
      cleanups.push(() => close(dynamoServer))
      dynamodbEndpoint = `http://127.0.0.1:${dynamoPort}`
    }
    // Creating the table is start-up work, not the request path: the SDK's own limits.
    const setupClient = new DynamoDBClient({
      region: config.region,
      endpoint: dynamodbEndpoint,
      ...(config.endpoints.dynamodb ? {} : { credentials: LOCAL_CREDENTIALS }),
    })
    try {
      await ensureTable(setupClient, config.tableName)
    } finally {
      setupClient.destroy()
    }

    let stsEndpoint = config.endpoints.sts
    let moto: MotoServer | undefined
    if (!stsEndpoint) {
      moto = await startMotoServer()
      const started = moto
      cleanups.push(() => started.stop())
      stsEndpoint = moto.endpoint
    }
    // The request path's clients, made as the Lambda roots make theirs (shared/aws.ts).
    const clientConfig = {
      ...config,
      endpoints: { ...config.endpoints, dynamodb: dynamodbEndpoint, sts: stsEndpoint },
    }
    const dynamodb = dynamoDbClient(
      clientConfig,
      config.endpoints.dynamodb ? {} : { credentials: LOCAL_CREDENTIALS },
    )
    cleanups.push(async () => dynamodb.destroy())
    const sts = stsClient(clientConfig)
    cleanups.push(async () => sts.destroy())

    let functions: FunctionTable | undefined
    const server = createLocalHttpServer(() => functions)
    const port = await listen(server, config.port)
    cleanups.push(() => close(server))
    const url = `http://127.0.0.1:${port}`
    const issuerUrl = config.explicitIssuerUrl ? config.issuerUrl : url

    const logger = createJsonLogger(options.logSink ?? stdoutSink, { service: 'irsa-broker-local' })
    if (config.allowLoopbackJwks) {
      logger.warn(
        'issuers may fetch their keys over http from loopback (IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true)',
      )
    }
    const roleAssumer = awsRoleAssumer(clientConfig, sts)
    // What every function is given; each builds its own core (caches included) from it.
    const common = {
      registry: awsAdminRegistry(clientConfig, dynamodb),
      history: awsHistoryLog(clientConfig, dynamodb),
      clock: options.clock ?? systemClock,
      logger,
      audit: logger.audit,
      fetchJson: options.fetchJson ?? createSafeJsonFetcher({ allowLoopback: config.allowLoopbackJwks }),
    }
    const settings = { ...config, issuerUrl }
    const credentials = buildCredentialsFunction(
      { ...common, sts: options.wrapSts ? options.wrapSts(roleAssumer) : roleAssumer, signer },
      settings,
    )
    const roles = buildRolesFunction(common, settings)
    const discovery = buildDiscoveryFunction({ signer, logger }, settings)
    const admin = buildAdminFunction(
      { ...common, authenticate: tokenAdminAuthenticator(adminToken) },
      settings,
    )
    functions = {
      credentials: credentials.handler,
      roles: roles.handler,
      discovery: discovery.handler,
      admin: admin.handler,
      // A core of its own, as in AWS: its writes reach the others within the registry TTL.
      keys: buildKeysFunction(common).handler,
    }
    const cores = [credentials.core, roles.core, admin.core]
    return {
      url,
      port,
      issuerUrl,
      dataDir,
      adminToken,
      adminTokenSource,
      signingKey: { path: keyPath, created, kid: await signer.keyId() },
      dynamodb: { endpoint: dynamodbEndpoint, embedded: !config.endpoints.dynamodb },
      sts: { endpoint: stsEndpoint, source: moto ? 'moto_server' : 'AWS_ENDPOINT_URL_STS' },
      remoteJwks: { allowLoopback: config.allowLoopbackJwks },
      remoteKeysSettled: async () => {
        await Promise.all(cores.map((core) => core.remoteKeys.settled()))
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}
