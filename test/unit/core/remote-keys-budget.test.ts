// The request path's budget for remote key sets: a fetch started by a token (discovery and JWKS
// together) may only shorten the fetcher's deadline to what is left of the budget; registration
// and refresh keep the fetcher's own deadline. The fetcher's side: a caller's timeout shortens,
// never lengthens, its deadline. No test waits on real time beyond a few milliseconds.
import { describe, expect, it } from 'vitest'
import { createSafeJsonFetcher } from '../../../shared/adapters/jwks-fetch.js'
import type { JsonFetcher, Logger } from '../../../shared/core/ports.js'
import { createRemoteKeyResolver, KeyFetchError } from '../../../shared/core/remote-keys.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import { createTestClock, makeIssuer, NOW_SECONDS, rejectionOf } from '../fixtures.js'

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {}, metric: () => {} }
const ISS = 'https://oidc.cluster.example.test'
const provider = await createTestIssuer({ iss: ISS, kid: 'budget-key' })

/** A provider that answers at once and records the options of every call. */
const recordingFetcher = () => {
  const calls: { url: string; timeoutMs: number | undefined }[] = []
  const fetchJson: JsonFetcher = async (url, options) => {
    calls.push({ url, timeoutMs: options?.timeoutMs })
    if (url.endsWith('/.well-known/openid-configuration')) return { issuer: ISS, jwks_uri: `${ISS}/keys` }
    return provider.jwks
  }
  return { fetchJson, calls }
}

const discoveryIssuer = makeIssuer({ issuerId: 'remote', issuer: ISS, jwks: undefined, discovery: true })

describe('remote key sets on the request path', () => {
  it('fetches discovery and JWKS within one budget: each call gets at most what is left of it', async () => {
    // Prepare
    const { fetchJson, calls } = recordingFetcher()
    const resolver = createRemoteKeyResolver({
      fetchJson,
      clock: createTestClock(),
      logger: quiet,
      requestFetchBudgetMs: 400,
    })
    const token = await provider.mint({ iat: NOW_SECONDS })
    const [encodedHeader = ''] = token.split('.')
    const header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'))
    // Act
    await resolver.keysFor(discoveryIssuer)(header, { payload: '', signature: '' } as never)
    // Assess
    expect(calls.map((call) => call.url)).toEqual([`${ISS}/.well-known/openid-configuration`, `${ISS}/keys`])
    const [first, second] = calls.map((call) => call.timeoutMs ?? Number.NaN)
    expect(first).toBeGreaterThan(0)
    expect(first).toBeLessThanOrEqual(400)
    expect(second).toBeGreaterThan(0)
    expect(second).toBeLessThanOrEqual(first ?? 0)
  })

  it('leaves registration and refresh to the fetcher own deadline (no timeout passed)', async () => {
    // Prepare
    const { fetchJson, calls } = recordingFetcher()
    const resolver = createRemoteKeyResolver({
      fetchJson,
      clock: createTestClock(),
      logger: quiet,
      requestFetchBudgetMs: 400,
    })
    // Act
    await resolver.refresh(discoveryIssuer)
    // Assess
    expect(calls.map((call) => call.timeoutMs)).toEqual([undefined, undefined])
  })
})

describe('the safe fetcher with a caller timeout', () => {
  const neverAnswering = (timeoutMs: number) =>
    createSafeJsonFetcher({
      allowLoopback: true,
      timeoutMs,
      resolve: () => new Promise(() => undefined),
      connect: () => {
        throw new Error('no connection expected')
      },
    })

  const failureOf = (promise: Promise<unknown>) => rejectionOf(promise, KeyFetchError)

  it('gives up at the caller timeout when it is shorter than its own deadline', async () => {
    // Act
    const error = await failureOf(neverAnswering(60_000)('https://oidc.example.com/keys', { timeoutMs: 5 }))
    // Assess
    expect(error.code).toBe('timeout')
    expect(error.message).toContain('no complete answer within 5 ms')
  })

  it('keeps its own deadline when the caller timeout is longer', async () => {
    // Act
    const error = await failureOf(neverAnswering(5)('https://oidc.example.com/keys', { timeoutMs: 60_000 }))
    // Assess
    expect(error.message).toContain('no complete answer within 5 ms')
  })
})
