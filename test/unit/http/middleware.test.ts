import type { Context } from 'aws-lambda'
import { describe, expect, it } from 'vitest'
import { createJsonLogger } from '../../../shared/adapters/json-logger.js'
import {
  AccessDeniedError,
  ExpiredTokenError,
  InternalError,
  ThrottlingError,
  UpstreamUnavailableError,
} from '../../../shared/core/errors.js'
import type { HttpEvent } from '../../../shared/http/event.js'
import { httpFunction } from '../../../shared/http/middleware.js'
import { json } from '../../../shared/http/response.js'
import { capturingSink } from '../../support/log-capture.js'
import { httpEvent } from './http-event.js'

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtd29ya2xvYWQifQ.c2lnbmF0dXJlLXNlY3JldA'
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'

/** Runs a handler behind the shared middleware, logging to lines the test can read. */
const run = async (handler: (event: HttpEvent) => Promise<ReturnType<typeof json>>, event = httpEvent()) => {
  const lines: string[] = []
  const logger = createJsonLogger(capturingSink('middleware-test', (line) => lines.push(line)))
  const response = await httpFunction(logger, handler)(event, {} as Context)
  return { response, lines, logged: lines.map((line) => JSON.parse(line) as Record<string, unknown>) }
}

/** The metric an EMF line counts, or undefined for any other line. */
const metricName = (record: Record<string, unknown>) =>
  (record._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] } | undefined)?.CloudWatchMetrics[0]
    ?.Metrics[0]?.Name

const eventWithToken = () =>
  httpEvent({
    requestId: 'req-42',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: `{"secret":"${SECRET}"}`,
  })

describe('httpFunction middleware', () => {
  it('adds the request id to a successful answer', async () => {
    // Act
    const { response } = await run(async () => json(200, { ok: true }), httpEvent({ requestId: 'req-7' }))
    // Assess
    expect(response.statusCode).toBe(200)
    expect(response.headers['x-request-id']).toBe('req-7')
  })

  it.each([
    [new AccessDeniedError('role_not_allowed'), 403, 'AccessDenied', ['Denials']],
    [new ExpiredTokenError('token_expired'), 401, 'ExpiredToken', ['Denials']],
    [new ThrottlingError('sts_throttled'), 429, 'Throttling', []],
  ])(
    'maps a thrown broker error to its status and wire body, counting a refusal (%s)',
    async (error, status, code, metrics) => {
      // Act
      const { response, logged } = await run(async () => {
        throw error
      }, eventWithToken())
      // Assess
      expect(response.statusCode).toBe(status)
      expect(JSON.parse(response.body ?? '')).toEqual({
        error: { code, message: error.message, requestId: 'req-42' },
      })
      expect(response.headers['x-request-id']).toBe('req-42')
      expect(logged.map(metricName)).toEqual(metrics)
    },
  )

  it('answers 503 with Retry-After for an unavailable dependency and logs a warning with the request id', async () => {
    // Act
    const { response, logged } = await run(async () => {
      throw new UpstreamUnavailableError('dynamodb', { cause: new Error('connect ETIMEDOUT') })
    }, eventWithToken())
    // Assess
    expect(response.statusCode).toBe(503)
    expect(response.headers['retry-after']).toBe('1')
    expect(logged).toEqual([
      expect.objectContaining({ level: 'WARN', requestId: 'req-42', reason: 'dynamodb_unavailable' }),
      expect.objectContaining({ message: 'metric', ServerErrors: 1 }),
    ])
  })

  it('answers a non-broker error with 500 and only the request id, logging the detail', async () => {
    // Prepare
    const bug = new TypeError('cannot read properties of undefined (key internal-detail-7f3a)')
    // Act
    const { response, logged } = await run(async () => {
      throw bug
    }, eventWithToken())
    // Assess
    expect(response.statusCode).toBe(500)
    expect(JSON.parse(response.body ?? '')).toEqual({
      error: { code: 'InternalError', message: 'Internal error.', requestId: 'req-42' },
    })
    expect(response.body).not.toContain('internal-detail-7f3a')
    expect(response.body).not.toContain('TypeError')
    expect(response.body).not.toContain('at ')
    expect(logged).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        requestId: 'req-42',
        error: expect.objectContaining({ name: 'TypeError', message: bug.message }),
      }),
      expect.objectContaining({ message: 'metric', ServerErrors: 1 }),
    ])
  })

  it('answers an InternalError with 500 and logs its cause', async () => {
    // Prepare
    const cause = new RangeError('index out of range')
    // Act
    const { response, logged } = await run(async () => {
      throw new InternalError('unexpected_error', { cause })
    })
    // Assess
    expect(response.statusCode).toBe(500)
    expect(logged[0]).toMatchObject({
      level: 'ERROR',
      error: { name: 'RangeError', message: 'index out of range' },
    })
  })

  it('answers 500 to a thrown value that is not an Error', async () => {
    // Act
    const { response } = await run(async () => {
      throw 'a string'
    })
    // Assess
    expect(response.statusCode).toBe(500)
    expect(JSON.parse(response.body ?? '')).toMatchObject({ error: { code: 'InternalError' } })
  })

  it('never logs the event, so the token and body never reach the log', async () => {
    // Act
    const { lines } = await run(async () => {
      throw new Error('boom')
    }, eventWithToken())
    // Assess
    const log = lines.join('\n')
    expect(log).not.toContain(TOKEN)
    expect(log).not.toContain(TOKEN.split('.')[2])
    expect(log).not.toContain(SECRET)
  })
})
