// An in-memory dynalite on a free loopback port, for the integration tests of the DynamoDB
// registry: the real DynamoDB wire protocol, conditional writes included, without AWS.
import type { Server } from 'node:http'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import dynalite from 'dynalite'
import { ensureTable } from '../../infra/local/stack.js'

export interface EmbeddedDynamoDb {
  endpoint: string
  stop(): Promise<void>
}

/** Starts dynalite without `path`, so the data lives in memory and vanishes with it. */
export const startDynalite = async (): Promise<EmbeddedDynamoDb> => {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : 0)
    })
  })
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections?.()
      }),
  }
}

export const LOCAL_AWS_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' }

export const dynamoDbClient = (endpoint: string, options: { maxAttempts?: number } = {}): DynamoDBClient =>
  new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    credentials: LOCAL_AWS_CREDENTIALS,
    maxAttempts: options.maxAttempts ?? 1,
  })

/** Creates the registry table with the local stack's own code, and waits for ACTIVE. */
export const createRegistryTable: (client: DynamoDBClient, tableName: string) => Promise<void> = ensureTable
