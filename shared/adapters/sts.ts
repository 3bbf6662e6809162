// The RoleAssumer port on STS AssumeRoleWithWebIdentity, with STS's errors mapped to the
// broker's wire codes: what the caller can fix is a 4xx, what is STS's trouble a 503/429.
// Throttling and transient failures are retried here (the SDK client makes one attempt), with
// jittered backoff and only while the request's deadline leaves room for another attempt.
import {
  AssumeRoleWithWebIdentityCommand,
  type AssumeRoleWithWebIdentityCommandOutput,
  type STSClient,
} from '@aws-sdk/client-sts'
import type { Timeouts } from '../config.js'
import { type Deadline, NO_DEADLINE } from '../core/deadline.js'
import {
  AccessDeniedError,
  type BrokerError,
  IdentityProviderUnavailableError,
  InvalidParameterError,
  ThrottlingError,
  UpstreamUnavailableError,
} from '../core/errors.js'
import type { RoleAssumer } from '../core/ports.js'

interface SdkErrorShape {
  name?: string
  $metadata?: { httpStatusCode?: number }
  $retryable?: unknown
}

/** Maps an error thrown by the STS client to a broker error (never echoes STS's message). */
export const mapStsError = (error: unknown): BrokerError => {
  const { name = '', $metadata } = (error ?? {}) as SdkErrorShape
  const status = $metadata?.httpStatusCode
  switch (name) {
    case 'AccessDenied':
    case 'AccessDeniedException':
      return new AccessDeniedError('sts_access_denied', 'STS refused to assume the role for this workload.')
    case 'InvalidIdentityTokenException':
    case 'IDPRejectedClaimException':
    case 'ExpiredTokenException':
      // The token STS saw was the broker's (or, in passthrough mode, the workload's, already verified):
      // the target account does not trust it, which the workload cannot fix by retrying.
      return new AccessDeniedError(
        `sts_${name.replace(/Exception$/, '').toLowerCase()}`,
        'STS refused the web identity for this role.',
      )
    case 'ValidationError':
    case 'MalformedPolicyDocumentException':
    case 'PackedPolicyTooLargeException':
      return new InvalidParameterError(
        'role',
        "STS rejected the request (for example a duration over the role's maximum, or too many session tags).",
        `sts_${name.toLowerCase()}`,
      )
    case 'RegionDisabledException':
      return new AccessDeniedError(
        'sts_region_disabled',
        'STS is not activated in this region for the target account.',
      )
    case 'Throttling':
    case 'ThrottlingException':
    case 'RequestLimitExceeded':
      return new ThrottlingError('sts_throttled', 1)
    case 'IDPCommunicationErrorException':
      return new IdentityProviderUnavailableError('sts_idp', { cause: error })
    default:
      if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
        return new AccessDeniedError(`sts_${status}`, 'STS refused the request.')
      }
      if (status === 429) return new ThrottlingError('sts_throttled', 1)
      return new UpstreamUnavailableError('sts', { cause: error })
  }
}

const accountOf = (arn: string): string => arn.split(':')[4] ?? ''

export interface StsRetryOptions {
  /** Attempts per request, the first included (IRSA_BROKER_STS_MAX_ATTEMPTS). */
  maxAttempts: number
  /** One attempt's limit, cut shorter by the deadline (IRSA_BROKER_STS_TIMEOUT_MS). */
  attemptTimeoutMs: number
  /** Full jitter: the n-th retry waits random() × min(backoffCapMs, backoffBaseMs × 2^(n-1)). */
  backoffBaseMs: number
  backoffCapMs: number
  /** No attempt starts with less than this left of the deadline. */
  minAttemptMs: number
  random: () => number
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
}

const abortableSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })

export const STS_RETRY_DEFAULTS: StsRetryOptions = Object.freeze({
  maxAttempts: 3,
  attemptTimeoutMs: 500,
  backoffBaseMs: 50,
  backoffCapMs: 250,
  minAttemptMs: 50,
  random: Math.random,
  sleep: abortableSleep,
})

/**
 * A timed-out or aborted attempt used up its share of the deadline: not worth another. The SDK
 * also names a reset connection (ECONNRESET, EPIPE) TimeoutError; that one failed fast.
 */
const timedOut = (error: unknown): boolean => {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown }
  if (name === 'AbortError') return true
  return name === 'TimeoutError' && code !== 'ECONNRESET' && code !== 'EPIPE'
}

/** Throttling, STS 5xx and failed connections are worth another attempt; the rest is final. */
const retryable = (error: unknown, mapped: BrokerError): boolean =>
  mapped instanceof ThrottlingError || (mapped instanceof UpstreamUnavailableError && !timedOut(error))

/** The retry settings of the configuration (IRSA_BROKER_STS_MAX_ATTEMPTS, IRSA_BROKER_STS_TIMEOUT_MS). */
export const stsRetryOptions = (timeouts: Timeouts): Partial<StsRetryOptions> => ({
  maxAttempts: timeouts.stsMaxAttempts,
  attemptTimeoutMs: timeouts.stsMs,
})

export const createStsRoleAssumer = (
  client: STSClient,
  retry: Partial<StsRetryOptions> = {},
): RoleAssumer => {
  const options: StsRetryOptions = { ...STS_RETRY_DEFAULTS, ...retry }

  const send = async (
    command: AssumeRoleWithWebIdentityCommand,
    deadline: Deadline,
  ): Promise<AssumeRoleWithWebIdentityCommandOutput> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await client.send(command, {
          abortSignal: deadline.signal,
          requestTimeout: Math.max(1, Math.floor(Math.min(options.attemptTimeoutMs, deadline.remainingMs()))),
        })
      } catch (error) {
        const mapped = mapStsError(error)
        if (attempt >= options.maxAttempts || !retryable(error, mapped)) throw mapped
        const delay =
          options.random() * Math.min(options.backoffCapMs, options.backoffBaseMs * 2 ** (attempt - 1))
        if (deadline.remainingMs() - delay < options.minAttemptMs) throw mapped
        try {
          await options.sleep(delay, deadline.signal)
        } catch {
          throw mapped
        }
      }
    }
  }

  return {
    async assumeRoleWithWebIdentity(request, { deadline = NO_DEADLINE } = {}) {
      const output = await send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: request.roleArn,
          RoleSessionName: request.sessionName,
          WebIdentityToken: request.webIdentityToken,
          DurationSeconds: request.durationSeconds,
        }),
        deadline,
      )
      const credentials = output.Credentials
      const assumedRoleArn = output.AssumedRoleUser?.Arn
      if (
        !credentials?.AccessKeyId ||
        !credentials.SecretAccessKey ||
        !credentials.SessionToken ||
        !credentials.Expiration ||
        !assumedRoleArn
      ) {
        throw new UpstreamUnavailableError('sts_incomplete_answer')
      }
      return {
        accessKeyId: credentials.AccessKeyId,
        secretAccessKey: credentials.SecretAccessKey,
        sessionToken: credentials.SessionToken,
        expiration: credentials.Expiration,
        assumedRoleArn,
        accountId: accountOf(assumedRoleArn),
      }
    },
  }
}
