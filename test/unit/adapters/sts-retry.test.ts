// Retries of the STS adapter: throttling and transient failures get bounded, jittered retries
// that fit inside the request deadline; everything else (and a timed-out attempt) is final.
// The backoff's random source and sleep are injected, so no test waits for real time.
import {
  AssumeRoleWithWebIdentityCommand,
  IDPCommunicationErrorException,
  STSClient,
  STSServiceException,
} from '@aws-sdk/client-sts'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, describe, expect, it } from 'vitest'
import { createStsRoleAssumer, STS_RETRY_DEFAULTS, stsRetryOptions } from '../../../shared/adapters/sts.js'
import { loadLocalConfig } from '../../../shared/config.js'
import type { Deadline } from '../../../shared/core/deadline.js'
import { rejectionOf } from '../fixtures.js'

const stsError = (name: string, httpStatusCode: number, fault: 'client' | 'server' = 'client') =>
  new STSServiceException({ name, $fault: fault, message: 'detail', $metadata: { httpStatusCode } })

const timeoutError = () =>
  Object.assign(new Error('request timed out'), { name: 'TimeoutError', code: 'ETIMEDOUT' })

const ANSWER = {
  Credentials: {
    AccessKeyId: 'ASIARETRY',
    SecretAccessKey: 'secret',
    SessionToken: 'session-token',
    Expiration: new Date('2031-05-04T13:00:00.000Z'),
  },
  AssumedRoleUser: { Arn: 'arn:aws:sts::111122223333:assumed-role/r/s', AssumedRoleId: 'AROA:s' },
}

const request = {
  roleArn: 'arn:aws:iam::111122223333:role/r',
  sessionName: 's',
  webIdentityToken: 'header.payload.signature',
  durationSeconds: 900,
}

/** A deadline whose remaining time the test sets; it never expires on its own. */
const fixedDeadline = (remaining: { ms: number }): Deadline => ({
  signal: new AbortController().signal,
  remainingMs: () => remaining.ms,
  expired: false,
})

const stsMock = mockClient(STSClient)
const client = new STSClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKID', secretAccessKey: 's' },
})

/** An STS adapter whose backoff sleeps are recorded (and take no time), with `random` fixed. */
const stsWith = (random = 0.5, maxAttempts = 3) => {
  const sleeps: number[] = []
  const sts = createStsRoleAssumer(client, {
    maxAttempts,
    attemptTimeoutMs: 500,
    random: () => random,
    sleep: async (ms) => {
      sleeps.push(ms)
    },
  })
  return { sts, sleeps }
}

const attempts = () => stsMock.commandCalls(AssumeRoleWithWebIdentityCommand).length

afterEach(() => {
  stsMock.reset()
})

describe('STS retries', () => {
  it('retries Throttling maxAttempts times in all, then answers 429 Throttling with Retry-After', async () => {
    // Prepare
    stsMock.on(AssumeRoleWithWebIdentityCommand).rejects(stsError('Throttling', 400))
    const { sts, sleeps } = stsWith(0.5, 3)
    // Act
    const error = await rejectionOf(sts.assumeRoleWithWebIdentity(request))
    // Assess
    expect(attempts()).toBe(3)
    expect(sleeps).toHaveLength(2)
    expect(error).toMatchObject({ code: 'Throttling', statusCode: 429, retryAfterSeconds: 1 })
  })

  it('returns the credentials of the first attempt that is not throttled', async () => {
    // Prepare
    stsMock
      .on(AssumeRoleWithWebIdentityCommand)
      .rejectsOnce(stsError('Throttling', 400))
      .rejectsOnce(stsError('ThrottlingException', 400))
      .resolves(ANSWER)
    const { sts } = stsWith()
    // Act
    const credentials = await sts.assumeRoleWithWebIdentity(request)
    // Assess
    expect(credentials.accessKeyId).toBe('ASIARETRY')
    expect(attempts()).toBe(3)
  })

  it('waits a full-jitter backoff: random × min(cap, base × 2^(n-1)) before the n-th retry', async () => {
    // Prepare
    stsMock.on(AssumeRoleWithWebIdentityCommand).rejects(stsError('Throttling', 400))
    const { sts, sleeps } = stsWith(0.999, 5)
    const { backoffBaseMs: base, backoffCapMs: cap } = STS_RETRY_DEFAULTS
    // Act
    await rejectionOf(sts.assumeRoleWithWebIdentity(request))
    // Assess
    expect(sleeps).toEqual([1, 2, 4, 8].map((factor) => 0.999 * Math.min(cap, base * factor)))
  })

  it.each<[string, () => unknown]>([
    ['an STS 5xx', () => stsError('InternalFailure', 500, 'server')],
    [
      'a reset connection (the SDK names it TimeoutError)',
      () => Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' }),
    ],
    [
      'a refused connection',
      () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    ],
    [
      "STS's IDPCommunicationError (it could not reach the broker's keys)",
      () => new IDPCommunicationErrorException({ message: 'detail', $metadata: { httpStatusCode: 400 } }),
    ],
  ])('retries %s within the attempts', async (_label, error) => {
    // Prepare
    stsMock
      .on(AssumeRoleWithWebIdentityCommand)
      .rejectsOnce(error() as Error)
      .resolves(ANSWER)
    const { sts } = stsWith()
    // Act
    const credentials = await sts.assumeRoleWithWebIdentity(request)
    // Assess
    expect(credentials.accessKeyId).toBe('ASIARETRY')
    expect(attempts()).toBe(2)
  })

  it.each<[string, () => unknown, string]>([
    ['a timed-out attempt (request timeout)', timeoutError, 'ServiceUnavailable'],
    [
      'a connection that timed out',
      () => Object.assign(new Error('did not establish a connection'), { name: 'TimeoutError' }),
      'ServiceUnavailable',
    ],
    [
      'an aborted attempt (the deadline)',
      () => Object.assign(new Error('aborted'), { name: 'AbortError' }),
      'ServiceUnavailable',
    ],
    ['AccessDenied', () => stsError('AccessDenied', 403), 'AccessDenied'],
    ['InvalidIdentityToken', () => stsError('InvalidIdentityTokenException', 400), 'AccessDenied'],
    ['ValidationError', () => stsError('ValidationError', 400), 'InvalidParameterValue'],
  ])('does not retry %s', async (_label, error, code) => {
    // Prepare
    stsMock.on(AssumeRoleWithWebIdentityCommand).rejects(error() as Error)
    const { sts, sleeps } = stsWith()
    // Act
    const failure = await rejectionOf(sts.assumeRoleWithWebIdentity(request))
    // Assess
    expect(attempts()).toBe(1)
    expect(sleeps).toEqual([])
    expect(failure.code).toBe(code)
  })

  it('starts no retry the deadline leaves no room for, and answers with the last error at once', async () => {
    // Prepare
    stsMock.on(AssumeRoleWithWebIdentityCommand).rejects(stsError('Throttling', 400))
    const { sts, sleeps } = stsWith(0.5, 10)
    const remaining = { ms: STS_RETRY_DEFAULTS.minAttemptMs + 10 }
    // Act
    const error = await rejectionOf(
      sts.assumeRoleWithWebIdentity(request, { deadline: fixedDeadline(remaining) }),
    )
    // Assess
    expect(attempts()).toBe(1)
    expect(sleeps).toEqual([])
    expect(error.code).toBe('Throttling')
  })

  it('gives each attempt the deadline signal and a request timeout of the attempt limit or what remains, whichever is less', async () => {
    // Prepare
    stsMock.on(AssumeRoleWithWebIdentityCommand).rejectsOnce(stsError('Throttling', 400)).resolves(ANSWER)
    const { sts } = stsWith(0)
    const remaining = { ms: 5000 }
    const deadline = fixedDeadline(remaining)
    // Act
    const pending = sts.assumeRoleWithWebIdentity(request, { deadline })
    remaining.ms = 300.7
    await pending
    // Assess
    const options = stsMock
      .commandCalls(AssumeRoleWithWebIdentityCommand)
      .map((call) => (call.args as unknown[])[1])
    expect(options).toEqual([
      { abortSignal: deadline.signal, requestTimeout: 500 },
      { abortSignal: deadline.signal, requestTimeout: 300 },
    ])
  })

  it('takes its attempts and attempt limit from the configuration', () => {
    // Act
    const options = stsRetryOptions(
      loadLocalConfig({ IRSA_BROKER_STS_MAX_ATTEMPTS: '5', IRSA_BROKER_STS_TIMEOUT_MS: '250' }).timeouts,
    )
    // Assess
    expect(options).toEqual({ maxAttempts: 5, attemptTimeoutMs: 250 })
  })
})
