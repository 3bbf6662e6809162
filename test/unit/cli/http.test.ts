// How broker outcomes become CLI errors and exit codes, with a scripted fetch
// (test/support/cli-run.ts): 4xx → 1, 5xx/429/network/timeout → 3,
// bounded retries only where repeating is safe, Retry-After honoured and capped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseEndpoint } from '../../../cli/endpoint.js'
import { BrokerRefusedError, BrokerUnavailableError, EXIT } from '../../../cli/errors.js'
import { type BrokerCall, bearer, createBrokerClient } from '../../../cli/http.js'
import { run } from '../../../cli/main.js'
import { brokerError, jsonResponse, networkError, type Step, scriptedFetch } from '../../support/cli-run.js'

const client = (steps: Step[]) => {
  const sleeps: number[] = []
  const fetch = scriptedFetch(steps)
  const broker = createBrokerClient(
    { fetch: fetch.fetch, sleep: async (ms) => void sleeps.push(ms) },
    {
      endpoint: parseEndpoint('https://broker.example.com/prod/', 'test'),
      timeoutSeconds: 10,
      authorize: bearer('t0ken-value'),
    },
  )
  return { broker, sleeps, calls: fetch.calls }
}

const GET: BrokerCall = { method: 'GET', path: '/v1/roles', retry: true }

const rejection = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('createBrokerClient', () => {
  it('sends the bearer token, JSON body and query below the endpoint base path, and returns the parsed answer', async () => {
    const { broker, calls } = client([jsonResponse(200, { roles: [] })])
    const answer = await broker.call({
      method: 'POST',
      path: '/v1/credentials',
      query: { a: 'b', c: undefined },
      body: { role: 'x' },
    })
    expect(answer.body).toEqual({ roles: [] })
    expect(calls[0]?.url).toBe('https://broker.example.com/prod/v1/credentials?a=b')
    expect(calls[0]?.init).toMatchObject({
      method: 'POST',
      body: '{"role":"x"}',
      redirect: 'manual',
      headers: {
        authorization: 'Bearer t0ken-value',
        'content-type': 'application/json',
        accept: 'application/json',
      },
    })
  })

  it('a 4xx error body becomes BrokerRefusedError (exit 1) with the wire code, message, status and request id', async () => {
    const { broker, calls } = client([brokerError(403, 'AccessDenied', 'No binding allows this role.')])
    const error = await rejection(broker.call(GET))
    expect(error).toBeInstanceOf(BrokerRefusedError)
    expect(error).toMatchObject({
      code: 'AccessDenied',
      status: 403,
      requestId: 'req-1',
      exitCode: EXIT.denied,
    })
    expect((error as Error).message).toBe(
      'the broker refused: AccessDenied: No binding allows this role. (HTTP 403, request id req-1)',
    )
    expect(calls).toHaveLength(1)
  })

  it('a 4xx without the error shape keeps the status as the code, and a body of text on one line', async () => {
    const { broker } = client([new Response('Not\nFound', { status: 404 })])
    const error = await rejection(broker.call(GET))
    expect(error).toMatchObject({
      code: 'HTTP404',
      exitCode: EXIT.denied,
      message: 'the broker refused: HTTP 404: Not Found',
    })
  })

  it.each<[string, () => Step, { code: string; status?: number; message: string; sleeps: number[] }]>([
    [
      '503 (Retry-After honoured)',
      () => brokerError(503, 'ServiceUnavailable', 'STS is unavailable.', { 'retry-after': '1' }),
      {
        code: 'Unavailable',
        status: 503,
        message:
          'the broker at https://broker.example.com is unavailable: ServiceUnavailable: STS is unavailable. (HTTP 503, request id req-1)',
        sleeps: [1000, 1000],
      },
    ],
    [
      'connection refused (with backoff)',
      () => networkError('ECONNREFUSED'),
      {
        code: 'Network',
        message: 'cannot reach the broker at https://broker.example.com: ECONNREFUSED',
        sleeps: [200, 400],
      },
    ],
  ])(
    '%s is retried, 3 attempts in all, then BrokerUnavailableError (exit 3)',
    async (_what, failure, expected) => {
      const { broker, calls, sleeps } = client([failure(), failure(), failure()])
      const error = await rejection(broker.call(GET))
      expect(error).toBeInstanceOf(BrokerUnavailableError)
      expect(error).toMatchObject({
        code: expected.code,
        exitCode: EXIT.unavailable,
        ...(expected.status ? { status: expected.status } : {}),
      })
      expect((error as Error).message).toBe(expected.message)
      expect(calls).toHaveLength(3)
      expect(sleeps).toEqual(expected.sleeps)
    },
  )

  it('a 429 then a success: the retry succeeds; a huge Retry-After is capped at 5 s', async () => {
    const { broker, sleeps } = client([
      brokerError(429, 'Throttling', 'Slow down.', { 'retry-after': '3600' }),
      jsonResponse(200, {}),
    ])
    await expect(broker.call(GET)).resolves.toMatchObject({ status: 200 })
    expect(sleeps).toEqual([5000])
  })

  it('a timeout is not retried: "did not answer within N s" (exit 3)', async () => {
    const { broker, calls } = client([
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    ])
    const error = await rejection(broker.call(GET))
    expect(error).toMatchObject({ code: 'Timeout', exitCode: EXIT.unavailable })
    expect((error as Error).message).toBe(
      'the broker at https://broker.example.com did not answer within 10 s',
    )
    expect(calls).toHaveLength(1)
  })

  it('a write (retry not set) is sent once even when the broker answers 503', async () => {
    const { broker, calls } = client([brokerError(503, 'ServiceUnavailable', 'x'), jsonResponse(200, {})])
    await expect(
      broker.call({ method: 'PUT', path: '/v1/admin/issuers/a', body: {} }),
    ).rejects.toBeInstanceOf(BrokerUnavailableError)
    expect(calls).toHaveLength(1)
  })

  it('a 2xx that is not JSON, or a redirect, means the endpoint is not the broker (exit 3)', async () => {
    const html = client([new Response('<html>login</html>', { status: 200 })])
    expect(await rejection(html.broker.call(GET))).toMatchObject({
      code: 'UnexpectedAnswer',
      exitCode: EXIT.unavailable,
    })
    const redirect = client([new Response('', { status: 302, headers: { location: 'https://elsewhere' } })])
    expect(((await rejection(redirect.broker.call(GET))) as Error).message).toMatch(
      /answered with a redirect \(HTTP 302\)/,
    )
  })
})

describe('the exit codes of run() for broker outcomes, and no token on stderr', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  const runWith = async (steps: Step[], tokenFile: string) => {
    const out: string[] = []
    const err: string[] = []
    const { fetch } = scriptedFetch(steps)
    const code = await run(
      ['credential-process', '--endpoint', 'https://broker.example.com', '--token-file', tokenFile],
      {
        env: {},
        fetch,
        sleep: async () => undefined,
        stdout: (text) => out.push(text),
        stderr: (text) => err.push(text),
      },
    )
    return { code, stdout: out.join(''), stderr: err.join('') }
  }

  it('maps 200 → 0, 403 → 1, 500 → 3, and an answer without credential_process fields → 3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'irsa-broker-unit-'))
    dirs.push(dir)
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVlLXRoYXQtaXMtbG9uZw'
    const tokenFile = join(dir, 'token')
    writeFileSync(tokenFile, `${token}\n`)
    const credentials = {
      Version: 1,
      AccessKeyId: 'ASIAEXAMPLE',
      SecretAccessKey: 'secret',
      SessionToken: 'session',
      Expiration: '2031-05-04T13:00:00.000Z',
    }
    expect(await runWith([jsonResponse(200, credentials)], tokenFile)).toEqual({
      code: 0,
      stdout: `${JSON.stringify(credentials)}\n`,
      stderr: '',
    })
    // A broker that (wrongly) echoed the token: stderr still never shows it.
    const denied = await runWith([brokerError(403, 'AccessDenied', `no binding for ${token}`)], tokenFile)
    expect(denied.code).toBe(1)
    expect(denied.stderr).toBe(
      'irsa-broker: the broker refused: AccessDenied: no binding for <redacted> (HTTP 403, request id req-1)\n',
    )
    const failing = await runWith([brokerError(500, 'InternalError', 'Internal error.')], tokenFile)
    expect(failing).toMatchObject({ code: 3, stdout: '' })
    expect(failing.stderr).toMatch(
      /^irsa-broker: the broker at https:\/\/broker\.example\.com is unavailable: InternalError/,
    )
    const { Version: _v, ...noVersion } = credentials
    const odd = await runWith([jsonResponse(200, noVersion)], tokenFile)
    expect(odd).toMatchObject({ code: 3, stdout: '' })
    expect(odd.stderr).toMatch(
      /answered without credential_process credentials; is --endpoint the broker\?\n$/,
    )
  })
})
