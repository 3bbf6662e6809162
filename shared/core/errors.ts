// Typed errors of the broker. Each class carries a stable wire `code`; the HTTP status of
// a code is decided here and nowhere else (`statusOf`).

export const WIRE_STATUS = {
  InvalidParameterValue: 400,
  InvalidIdentityToken: 401,
  ExpiredToken: 401,
  Unauthorized: 401,
  AccessDenied: 403,
  NotFound: 404,
  /** A known path asked with a method it does not serve; only the local front answers it (API Gateway says 404). */
  MethodNotAllowed: 405,
  Conflict: 409,
  /** An admin write sent to a Region other than the home Region of a multi-Region stage. */
  NotHomeRegion: 421,
  PayloadTooLarge: 413,
  Throttling: 429,
  IDPCommunicationError: 503,
  ServiceUnavailable: 503,
  InternalError: 500,
} as const

export type WireCode = keyof typeof WIRE_STATUS

export const statusOf = (code: WireCode): number => WIRE_STATUS[code]

/**
 * `message` is safe to show to the caller; `reason` is a short machine-readable detail for
 * the audit log and `explain` only (which check failed, which binding), never the caller.
 */
export abstract class BrokerError extends Error {
  abstract readonly code: WireCode
  readonly reason: string
  readonly retryAfterSeconds?: number

  constructor(message: string, reason: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.reason = reason
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds
  }

  get statusCode(): number {
    return statusOf(this.code)
  }
}

export class InvalidParameterError extends BrokerError {
  override readonly name = 'InvalidParameterError'
  readonly code = 'InvalidParameterValue'
  constructor(
    readonly field: string,
    detail: string,
    reason = 'invalid_parameter',
  ) {
    super(field ? `${field}: ${detail}` : detail, reason)
  }
}

/** Every token failure shows the caller the same message; `reason` tells which check failed. */
export class InvalidTokenError extends BrokerError {
  override readonly name = 'InvalidTokenError'
  readonly code = 'InvalidIdentityToken'
  constructor(reason: string, options?: { cause?: unknown }) {
    super('The web identity token is not valid.', reason, options)
  }
}

export class ExpiredTokenError extends BrokerError {
  override readonly name = 'ExpiredTokenError'
  readonly code = 'ExpiredToken'
  constructor(reason: string, options?: { cause?: unknown }) {
    super('The web identity token is expired or not yet valid.', reason, options)
  }
}

export class AccessDeniedError extends BrokerError {
  override readonly name = 'AccessDeniedError'
  readonly code = 'AccessDenied'
  constructor(
    reason: string,
    message = 'No enabled binding allows this workload to use the requested role.',
  ) {
    super(message, reason)
  }
}

export class UnauthorizedError extends BrokerError {
  override readonly name = 'UnauthorizedError'
  readonly code = 'Unauthorized'
  constructor(reason = 'admin_credentials_invalid') {
    super('Valid admin credentials are required.', reason)
  }
}

export class NotFoundError extends BrokerError {
  override readonly name = 'NotFoundError'
  readonly code = 'NotFound'
  constructor(message: string, reason = 'not_found') {
    super(message, reason)
  }
}

export class ConflictError extends BrokerError {
  override readonly name = 'ConflictError'
  readonly code = 'Conflict'
  constructor(message: string, reason = 'version_conflict') {
    super(message, reason)
  }
}

/**
 * A multi-Region stage takes admin writes in its home Region only (docs/multi-region.md): the
 * optimistic versions hold only where every write is checked against the same replica. 421
 * Misdirected Request: the request is fine, this server is the wrong one to make it.
 */
export class NotHomeRegionError extends BrokerError {
  override readonly name = 'NotHomeRegionError'
  readonly code = 'NotHomeRegion'
  constructor(region: string, homeRegion: string) {
    super(
      `This Region (${region}) serves admin reads only; send admin writes to the home Region, ${homeRegion}.`,
      'not_home_region',
    )
  }
}

export class PayloadTooLargeError extends BrokerError {
  override readonly name = 'PayloadTooLargeError'
  readonly code = 'PayloadTooLarge'
  constructor(what: string, limitBytes: number) {
    super(
      `${what} is larger than ${limitBytes} bytes.`,
      `${what.replace(/\s+/g, '_').toLowerCase()}_too_large`,
    )
  }
}

export class ThrottlingError extends BrokerError {
  override readonly name = 'ThrottlingError'
  readonly code = 'Throttling'
  constructor(reason: string, retryAfterSeconds = 1) {
    super('Rate exceeded; retry later.', reason, { retryAfterSeconds })
  }
}

/**
 * A dependency is unavailable; retrying is safe (503 with `Retry-After`). This class names the
 * broker's own dependencies (DynamoDB, KMS, STS): `ServiceUnavailable`.
 */
export class UpstreamUnavailableError extends BrokerError {
  override readonly name: string = 'UpstreamUnavailableError'
  readonly code: 'ServiceUnavailable' | 'IDPCommunicationError' = 'ServiceUnavailable'
  /** `detail` joins the message: only for admin callers, who may see why (e.g. a JWKS fetch failure). */
  constructor(
    dependency: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; detail?: string | undefined },
  ) {
    const { detail, ...rest } = options ?? {}
    super(
      `A dependency of the broker is unavailable (${dependency}${detail ? `: ${detail}` : ''}); retry later.`,
      `${dependency}_unavailable`,
      {
        retryAfterSeconds: 1,
        ...rest,
      },
    )
  }
}

/**
 * An identity provider could not be reached: a data plane's discovery document or JWKS, or
 * (STS's own `IDPCommunicationError`) the issuer STS itself fetches. STS's code for the same case.
 */
export class IdentityProviderUnavailableError extends UpstreamUnavailableError {
  override readonly name = 'IdentityProviderUnavailableError'
  override readonly code = 'IDPCommunicationError'
}

/**
 * The request's deadline (shared/core/deadline.ts) passed before its dependencies answered: the
 * caller gets the same 503 as for a dependency that is down, early enough to retry in time.
 */
export class DeadlineExceededError extends BrokerError {
  override readonly name = 'DeadlineExceededError'
  readonly code = 'ServiceUnavailable'
  constructor(budgetMs: number) {
    super('A dependency of the broker did not answer in time; retry later.', 'deadline_exceeded', {
      retryAfterSeconds: 1,
      cause: new Error(`no answer within the request deadline of ${budgetMs} ms`),
    })
  }
}

export const isBrokerError = (value: unknown): value is BrokerError => value instanceof BrokerError

/** A bug or an unexpected state: the caller sees only the request id, the log gets the cause. */
export class InternalError extends BrokerError {
  override readonly name = 'InternalError'
  readonly code = 'InternalError'
  constructor(reason = 'internal_error', options?: { cause?: unknown }) {
    super('Internal error.', reason, options)
  }
}
