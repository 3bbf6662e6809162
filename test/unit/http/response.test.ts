import { describe, expect, it } from 'vitest'
import {
  AccessDeniedError,
  type BrokerError,
  InternalError,
  InvalidTokenError,
  ThrottlingError,
  UnauthorizedError,
  UpstreamUnavailableError,
} from '../../../shared/core/errors.js'
import { errorResponse, json, noContent } from '../../../shared/http/response.js'

const bodyOf = (response: { body?: string }) => JSON.parse(response.body ?? '') as unknown

describe('errorResponse', () => {
  it('answers {"error":{code,message,requestId}} with the status of the code', () => {
    // Act
    const response = errorResponse(new AccessDeniedError('role_not_allowed'), 'req-1')
    // Assess
    expect(response.statusCode).toBe(403)
    expect(bodyOf(response)).toEqual({
      error: {
        code: 'AccessDenied',
        message: 'No enabled binding allows this workload to use the requested role.',
        requestId: 'req-1',
      },
    })
    expect(response.headers).toMatchObject({
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'x-request-id': 'req-1',
    })
  })

  it('never shows the internal reason of a token failure', () => {
    // Act
    const response = errorResponse(new InvalidTokenError('claim_invalid_aud'), 'req-1')
    // Assess
    expect(response.statusCode).toBe(401)
    expect(response.body).not.toContain('claim_invalid_aud')
  })

  it('shows only a generic message and the request id for an internal error', () => {
    // Prepare
    const error = new InternalError('database_password_rejected', { cause: new Error('password=hunter2') })
    // Act
    const response = errorResponse(error, 'req-9')
    // Assess
    expect(response.statusCode).toBe(500)
    expect(bodyOf(response)).toEqual({
      error: { code: 'InternalError', message: 'Internal error.', requestId: 'req-9' },
    })
  })

  it.each<[BrokerError, string]>([
    [new ThrottlingError('sts_throttled', 2), '2'],
    [new UpstreamUnavailableError('dynamodb'), '1'],
  ])('adds Retry-After when retrying helps (%s)', (error, seconds) => {
    // Act
    const response = errorResponse(error, 'req-1')
    // Assess
    expect(response.headers['retry-after']).toBe(seconds)
  })

  it('adds no Retry-After to a final answer', () => {
    // Act
    const response = errorResponse(new AccessDeniedError('x'), 'req-1')
    // Assess
    expect(response.headers).not.toHaveProperty('retry-after')
  })

  it('challenges for admin credentials on 401 Unauthorized', () => {
    // Act
    const response = errorResponse(new UnauthorizedError(), 'req-1')
    // Assess
    expect(response.statusCode).toBe(401)
    expect(response.headers['www-authenticate']).toBe('Bearer realm="irsa-broker-admin"')
  })
})

describe('json and noContent', () => {
  it('serializes the body and merges headers over the defaults', () => {
    // Act
    const response = json(201, { ok: true }, { etag: '"1"' })
    // Assess
    expect(response).toEqual({
      statusCode: 201,
      headers: {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        etag: '"1"',
      },
      body: '{"ok":true}',
    })
  })

  it('answers 204 with an empty body', () => {
    // Act
    const response = noContent()
    // Assess
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
  })
})
