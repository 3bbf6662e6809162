import { describe, expect, it } from 'vitest'
import {
  AccessDeniedError,
  type BrokerError,
  ConflictError,
  DeadlineExceededError,
  ExpiredTokenError,
  IdentityProviderUnavailableError,
  InternalError,
  InvalidParameterError,
  InvalidTokenError,
  isBrokerError,
  NotFoundError,
  NotHomeRegionError,
  PayloadTooLargeError,
  statusOf,
  ThrottlingError,
  UnauthorizedError,
  UpstreamUnavailableError,
  WIRE_STATUS,
} from '../../../shared/core/errors.js'

describe('wire codes', () => {
  it("maps each wire code to the status of docs/api.md's error table", () => {
    // Act: the codes of each status, in the table's order
    const byStatus: Record<number, string[]> = {}
    for (const code of Object.keys(WIRE_STATUS)) {
      const status = statusOf(code as never)
      byStatus[status] = [...(byStatus[status] ?? []), code]
    }
    // Assess
    expect(byStatus).toEqual({
      400: ['InvalidParameterValue'],
      401: ['InvalidIdentityToken', 'ExpiredToken', 'Unauthorized'],
      403: ['AccessDenied'],
      404: ['NotFound'],
      405: ['MethodNotAllowed'],
      409: ['Conflict'],
      413: ['PayloadTooLarge'],
      421: ['NotHomeRegion'],
      429: ['Throttling'],
      500: ['InternalError'],
      503: ['IDPCommunicationError', 'ServiceUnavailable'],
    })
  })

  it.each<[BrokerError, string, string, number]>([
    [new InvalidParameterError('role', 'bad'), 'InvalidParameterError', 'InvalidParameterValue', 400],
    [new InvalidTokenError('x'), 'InvalidTokenError', 'InvalidIdentityToken', 401],
    [new ExpiredTokenError('x'), 'ExpiredTokenError', 'ExpiredToken', 401],
    [new AccessDeniedError('x'), 'AccessDeniedError', 'AccessDenied', 403],
    [new UnauthorizedError(), 'UnauthorizedError', 'Unauthorized', 401],
    [new NotFoundError('gone'), 'NotFoundError', 'NotFound', 404],
    [new ConflictError('stale'), 'ConflictError', 'Conflict', 409],
    [new NotHomeRegionError('eu-west-1', 'us-east-1'), 'NotHomeRegionError', 'NotHomeRegion', 421],
    [new PayloadTooLargeError('token', 16384), 'PayloadTooLargeError', 'PayloadTooLarge', 413],
    [new ThrottlingError('x'), 'ThrottlingError', 'Throttling', 429],
    [new UpstreamUnavailableError('sts'), 'UpstreamUnavailableError', 'ServiceUnavailable', 503],
    [
      new IdentityProviderUnavailableError('jwks'),
      'IdentityProviderUnavailableError',
      'IDPCommunicationError',
      503,
    ],
    [new DeadlineExceededError(800), 'DeadlineExceededError', 'ServiceUnavailable', 503],
    [new InternalError(), 'InternalError', 'InternalError', 500],
  ])('gives %s the literal name %s, code %s and status %i', (error, name, code, status) => {
    // Assess
    expect(error.name).toBe(name)
    expect(error.code).toBe(code)
    expect(error.statusCode).toBe(status)
    expect(isBrokerError(error)).toBe(true)
    expect(error).toBeInstanceOf(Error)
  })

  it('shows the caller one message for every token failure, whatever the reason', () => {
    // Act
    const messages = new Set(
      ['signature_not_verified', 'issuer_unknown', 'claim_invalid_aud'].map(
        (r) => new InvalidTokenError(r).message,
      ),
    )
    // Assess
    expect([...messages]).toEqual(['The web identity token is not valid.'])
  })

  it('names the field in an InvalidParameterError message', () => {
    // Act
    const error = new InvalidParameterError('audiences[0]', 'is required')
    // Assess
    expect(error.message).toBe('audiences[0]: is required')
    expect(error.field).toBe('audiences[0]')
  })

  it('derives a PayloadTooLarge reason from what was too large', () => {
    // Act
    const error = new PayloadTooLargeError('request body', 65536)
    // Assess
    expect(error.reason).toBe('request_body_too_large')
    expect(error.message).toBe('request body is larger than 65536 bytes.')
  })

  it('marks retryable errors with Retry-After seconds', () => {
    // Act
    const upstream = new UpstreamUnavailableError('dynamodb')
    const throttled = new ThrottlingError('sts_throttled', 3)
    // Assess
    expect(upstream).toMatchObject({ retryAfterSeconds: 1, reason: 'dynamodb_unavailable' })
    expect(throttled.retryAfterSeconds).toBe(3)
    expect(new AccessDeniedError('x').retryAfterSeconds).toBeUndefined()
  })

  it('keeps the cause of an internal error for the log but a generic message', () => {
    // Prepare
    const cause = new Error('secret detail')
    // Act
    const error = new InternalError('unexpected_error', { cause })
    // Assess
    expect(error.cause).toBe(cause)
    expect(error.message).toBe('Internal error.')
  })

  it('does not take a plain Error for a broker error', () => {
    // Act
    const plain = isBrokerError(Object.assign(new Error('x'), { code: 'AccessDenied', statusCode: 403 }))
    // Assess
    expect(plain).toBe(false)
  })
})
