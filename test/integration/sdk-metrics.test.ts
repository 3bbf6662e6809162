// DependencyErrors on the wire: real AWS SDK clients (DynamoDB JSON, STS query/XML, KMS JSON)
// against a loopback server that answers as the service would, or a closed port. A server
// fault, throttling and no answer count; a lost conditional write or a role STS refuses do not.
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb'
import { KMSClient, SignCommand } from '@aws-sdk/client-kms'
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../infra/local/processes.js'
import { createJsonLogger } from '../../shared/adapters/json-logger.js'
import { countDependencyErrors } from '../../shared/adapters/sdk-metrics.js'
import { capturingSink } from '../support/log-capture.js'
import { type Handler, json, type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js'

const credentials = { accessKeyId: 'sdk-metrics-test', secretAccessKey: 'sdk-metrics-test' }

let server: LoopbackServer

const counting = () => {
  const lines: string[] = []
  const logger = createJsonLogger(
    capturingSink('sdk-metrics', (line) => lines.push(line)),
    {},
    { metricDimensions: { FunctionName: 'irsa-broker-test-credentials' } },
  )
  const counted = () =>
    lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.DependencyErrors === 1)
      .map((record) => record.Dependency)
  return { logger, counted }
}

const dynamodbError = (type: string, status: number): Handler =>
  json(
    { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: type },
    'application/x-amz-json-1.0',
    status,
  )

const stsError =
  (code: string, status: number): Handler =>
  (_request, response) => {
    const body = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${code}</Message></Error><RequestId>0</RequestId></ErrorResponse>`
    response.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) })
    response.end(body)
  }

const dynamodb = (endpoint: string) =>
  new DynamoDBClient({ region: 'eu-west-1', endpoint, credentials, maxAttempts: 1 })

const query = new QueryCommand({
  TableName: 'registry',
  KeyConditionExpression: 'pk = :pk',
  ExpressionAttributeValues: { ':pk': { S: 'ISSUER#a' } },
})

beforeAll(async () => {
  server = await startLoopbackServer()
})

afterAll(async () => {
  await server?.stop()
})

describe('countDependencyErrors', () => {
  it('counts a DynamoDB server fault and throttling, once per failed call after the SDK retries', async () => {
    // Prepare
    const { logger, counted } = counting()
    const client = countDependencyErrors(
      new DynamoDBClient({ region: 'eu-west-1', endpoint: server.url, credentials, maxAttempts: 2 }),
      'dynamodb',
      logger,
    )

    // Act
    server.handle(dynamodbError('InternalServerError', 500))
    const fault = await client.send(query).catch((error: Error) => error.name)
    const attemptsForFault = server.requests.length
    server.handle(dynamodbError('ThrottlingException', 400))
    const throttled = await client.send(query).catch((error: Error) => error.name)

    // Assess
    expect([fault, throttled]).toEqual(['InternalServerError', 'ThrottlingException'])
    expect(attemptsForFault).toBe(2)
    expect(counted()).toEqual(['dynamodb', 'dynamodb'])
    client.destroy()
  })

  it('does not count a conditional write that lost, nor a success', async () => {
    // Prepare
    const { logger, counted } = counting()
    const client = countDependencyErrors(dynamodb(server.url), 'dynamodb', logger)

    // Act
    server.handle(dynamodbError('ConditionalCheckFailedException', 400))
    const lost = await client
      .send(new PutItemCommand({ TableName: 'registry', Item: { pk: { S: 'a' } } }))
      .catch((error: unknown) => error)
    server.handle(json({ Items: [], Count: 0 }, 'application/x-amz-json-1.0'))
    const answered = await client.send(query)

    // Assess
    expect(lost).toBeInstanceOf(ConditionalCheckFailedException)
    expect(answered.Count).toBe(0)
    expect(counted()).toEqual([])
    client.destroy()
  })

  it("counts STS's IDPCommunicationError (it could not fetch the broker's JWKS) but not an AccessDenied for a role", async () => {
    // Prepare
    const { logger, counted } = counting()
    const client = countDependencyErrors(
      new STSClient({ region: 'eu-west-1', endpoint: server.url, credentials, maxAttempts: 1 }),
      'sts',
      logger,
    )
    const assume = new AssumeRoleWithWebIdentityCommand({
      RoleArn: 'arn:aws:iam::111122223333:role/reader',
      RoleSessionName: 'session',
      WebIdentityToken: 'header.payload.signature',
    })

    // Act
    server.handle(stsError('AccessDenied', 403))
    const refused = await client.send(assume).catch((error: Error) => error.name)
    server.handle(stsError('IDPCommunicationError', 400))
    const unreachable = await client.send(assume).catch((error: Error) => error.name)

    // Assess
    expect([refused, unreachable]).toEqual(['AccessDenied', 'IDPCommunicationErrorException'])
    expect(counted()).toEqual(['sts'])
    client.destroy()
  })

  it('counts a KMS call that got no answer (nothing listens on the port)', async () => {
    // Prepare
    const { logger, counted } = counting()
    const closed = `http://127.0.0.1:${await freePort()}`
    const client = countDependencyErrors(
      new KMSClient({ region: 'eu-west-1', endpoint: closed, credentials, maxAttempts: 1 }),
      'kms',
      logger,
    )

    // Act
    const failed = await client
      .send(
        new SignCommand({
          KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123',
          Message: Buffer.from('input'),
          MessageType: 'RAW',
          SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
        }),
      )
      .catch((error: NodeJS.ErrnoException) => error.code ?? error.name)

    // Assess
    expect(failed).toBe('ECONNREFUSED')
    expect(counted()).toEqual(['kms'])
    client.destroy()
  })
})
