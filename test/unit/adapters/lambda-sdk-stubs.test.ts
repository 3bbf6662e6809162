// The SDK parts the Lambda bundles leave out (shared/adapters/lambda-sdk-stubs.ts, substituted
// by scripts/build.mjs) are never needed by the calls the broker makes. Proven on a bundle built
// with the Lambda options: the broker's own DynamoDB client (shared/aws.ts, endpoint discovery
// off) sends a GetItem to DynamoDB's regional endpoint, as in AWS (no custom endpoint), through a
// request handler that answers in-process: nothing leaves the machine.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { afterAll, describe, expect, it } from 'vitest'
import { lambdaOptions } from '../../../scripts/build.mjs'

const root = join(import.meta.dirname, '..', '..', '..')
const work = mkdtempSync(join(tmpdir(), 'irsa-broker-sdk-stubs-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Uses awsRegistry's DynamoDB client settings through the registry adapter, as the functions do. */
const PROGRAM = `
import { awsRegistry } from ${JSON.stringify(join(root, 'shared/aws.ts'))}
import { loadLambdaConfig } from ${JSON.stringify(join(root, 'shared/config.ts'))}

const sent = []
const config = loadLambdaConfig({
  AWS_REGION: 'eu-west-1',
  IRSA_BROKER_TABLE: 'irsa-broker-stub-check',
  IRSA_BROKER_ISSUER_URL: 'https://abcdefghij.execute-api.eu-west-1.amazonaws.com',
  IRSA_BROKER_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c',
})
globalThis.__captureDynamoDb = (request) => {
  sent.push({ host: request.hostname, target: request.headers['x-amz-target'] })
  return { statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: '{}' }
}
const registry = awsRegistry(config)
const issuer = await registry.getIssuer('onprem-a')
console.log(JSON.stringify({ sent, issuer: issuer ?? null }))
`

describe('the SDK parts left out of the Lambda bundles', () => {
  it('a DynamoDB GetItem from a bundle without the endpoint cache nor adaptive retry reaches the regional endpoint and is answered', async () => {
    // Prepare: the same options as the function bundles, plus a request handler answering
    // in-process (the only change: the SDK's node-http-handler is swapped for it)
    const entry = join(work, 'program.mjs')
    const handler = join(work, 'capture-handler.mjs')
    writeFileSync(entry, PROGRAM)
    writeFileSync(
      handler,
      `import { Readable } from 'node:stream'
export class NodeHttpHandler {
  static create() { return new NodeHttpHandler() }
  async handle(request) {
    const { statusCode, headers, body } = globalThis.__captureDynamoDb(request)
    return { response: { statusCode, headers, body: Readable.from([Buffer.from(body)]) } }
  }
  updateHttpClientConfig() {}
  httpHandlerConfigs() { return {} }
  destroy() {}
}
export const streamCollector = async (stream) => { const chunks = []; for await (const c of stream) chunks.push(c); return new Uint8Array(Buffer.concat(chunks)) }
`,
    )
    const options = lambdaOptions(root)
    const result = await build({
      ...options,
      entryPoints: [entry],
      outfile: join(work, 'out.mjs'),
      sourcemap: false,
      metafile: true,
      alias: { ...options.alias, '@smithy/node-http-handler': handler },
    })

    // Act
    const run = spawnSync(process.execPath, [join(work, 'out.mjs')], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        AWS_ACCESS_KEY_ID: 'ASIASTUBCHECK0000000',
        AWS_SECRET_ACCESS_KEY: 'stub-check-secret-access-key-not-real',
        AWS_ENABLE_ENDPOINT_DISCOVERY: 'true',
        // shared/aws.ts pins the standard retries: adaptive's rate limiter is stubbed out
        AWS_RETRY_MODE: 'adaptive',
        NODE_NO_WARNINGS: '1',
      },
      timeout: 20_000,
    })

    // Assess: built without the cache, the call went out and its answer came back
    const inputs = Object.keys(result.metafile?.inputs ?? {})
    // What the bundle holds: @smithy/core's retry index still names the adaptive strategy, unused
    const bundled = Object.values(result.metafile?.outputs ?? {}).flatMap((output) =>
      Object.entries(output.inputs)
        .filter(([, input]) => input.bytesInOutput > 0)
        .map(([path]) => path),
    )
    expect(inputs.filter((path) => /\/(endpoint-cache|mnemonist)\//.test(path))).toEqual([])
    expect(bundled.filter((path) => /\/(AdaptiveRetryStrategy|DefaultRateLimiter)\.js$/.test(path))).toEqual(
      [],
    )
    expect(inputs).toContain('shared/adapters/lambda-sdk-stubs.ts')
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout)).toEqual({
      sent: [{ host: 'dynamodb.eu-west-1.amazonaws.com', target: 'DynamoDB_20120810.GetItem' }],
      issuer: null,
    })
  })
})
