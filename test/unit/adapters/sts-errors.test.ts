import {
  AssumeRoleWithWebIdentityCommand,
  ExpiredTokenException,
  IDPCommunicationErrorException,
  IDPRejectedClaimException,
  InvalidIdentityTokenException,
  MalformedPolicyDocumentException,
  PackedPolicyTooLargeException,
  RegionDisabledException,
  STSClient,
  STSServiceException,
} from '@aws-sdk/client-sts'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, describe, expect, it } from 'vitest'
import { createStsRoleAssumer, mapStsError } from '../../../shared/adapters/sts.js'
import { BrokerError } from '../../../shared/core/errors.js'

const STS_MESSAGE = 'Detailed STS message that must not reach the caller'
const metadata = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } })

/** A service error as the SDK builds it for a code it has no class for. */
const serviceError = (name: string, httpStatusCode: number, fault: 'client' | 'server' = 'client') =>
  new STSServiceException({ name, $fault: fault, message: STS_MESSAGE, ...metadata(httpStatusCode) })

const request = {
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
  sessionName: 'system-serviceaccount-ml-trainer',
  webIdentityToken: 'header.payload.signature',
  durationSeconds: 3600,
}

describe('mapStsError', () => {
  it.each<[string, unknown, string, number, string]>([
    ['AccessDenied', serviceError('AccessDenied', 403), 'AccessDenied', 403, 'sts_access_denied'],
    [
      'InvalidIdentityTokenException',
      new InvalidIdentityTokenException({ message: STS_MESSAGE, ...metadata(400) }),
      'AccessDenied',
      403,
      'sts_invalididentitytoken',
    ],
    [
      'IDPRejectedClaimException',
      new IDPRejectedClaimException({ message: STS_MESSAGE, ...metadata(403) }),
      'AccessDenied',
      403,
      'sts_idprejectedclaim',
    ],
    [
      'ExpiredTokenException',
      new ExpiredTokenException({ message: STS_MESSAGE, ...metadata(400) }),
      'AccessDenied',
      403,
      'sts_expiredtoken',
    ],
    [
      'ValidationError',
      serviceError('ValidationError', 400),
      'InvalidParameterValue',
      400,
      'sts_validationerror',
    ],
    [
      'MalformedPolicyDocumentException',
      new MalformedPolicyDocumentException({ message: STS_MESSAGE, ...metadata(400) }),
      'InvalidParameterValue',
      400,
      'sts_malformedpolicydocumentexception',
    ],
    [
      'PackedPolicyTooLargeException',
      new PackedPolicyTooLargeException({ message: STS_MESSAGE, ...metadata(400) }),
      'InvalidParameterValue',
      400,
      'sts_packedpolicytoolargeexception',
    ],
    [
      'RegionDisabledException',
      new RegionDisabledException({ message: STS_MESSAGE, ...metadata(403) }),
      'AccessDenied',
      403,
      'sts_region_disabled',
    ],
    ['Throttling', serviceError('Throttling', 400), 'Throttling', 429, 'sts_throttled'],
    ['ThrottlingException', serviceError('ThrottlingException', 400), 'Throttling', 429, 'sts_throttled'],
    ['RequestLimitExceeded', serviceError('RequestLimitExceeded', 400), 'Throttling', 429, 'sts_throttled'],
    [
      'IDPCommunicationErrorException',
      new IDPCommunicationErrorException({ message: STS_MESSAGE, ...metadata(400) }),
      'IDPCommunicationError',
      503,
      'sts_idp_unavailable',
    ],
    ['an unknown 4xx', serviceError('SomethingNew', 400), 'AccessDenied', 403, 'sts_400'],
    ['an unknown 429', serviceError('SlowDown', 429), 'Throttling', 429, 'sts_throttled'],
    ['a 500', serviceError('InternalFailure', 500, 'server'), 'ServiceUnavailable', 503, 'sts_unavailable'],
    [
      'a 503',
      serviceError('ServiceUnavailable', 503, 'server'),
      'ServiceUnavailable',
      503,
      'sts_unavailable',
    ],
    [
      'a network timeout',
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }),
      'ServiceUnavailable',
      503,
      'sts_unavailable',
    ],
    ['undefined', undefined, 'ServiceUnavailable', 503, 'sts_unavailable'],
    ['a string', 'boom', 'ServiceUnavailable', 503, 'sts_unavailable'],
  ])('maps %s to %s (%i)', (_label, error, code, status, reason) => {
    // Act
    const mapped = mapStsError(error)
    // Assess
    expect(mapped).toBeInstanceOf(BrokerError)
    expect(mapped).toMatchObject({ code, statusCode: status, reason })
    expect(mapped.message).not.toContain(STS_MESSAGE)
  })

  it('asks the caller to retry after throttling or unavailability', () => {
    // Act
    const throttled = mapStsError(serviceError('Throttling', 400))
    const unavailable = mapStsError(serviceError('InternalFailure', 500, 'server'))
    // Assess
    expect(throttled.retryAfterSeconds).toBe(1)
    expect(unavailable.retryAfterSeconds).toBe(1)
  })
})

describe('createStsRoleAssumer', () => {
  const stsMock = mockClient(STSClient)
  const client = new STSClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
  })
  const sts = createStsRoleAssumer(client)

  afterEach(() => {
    stsMock.reset()
  })

  it('sends AssumeRoleWithWebIdentity with the request and maps the answer', async () => {
    // Prepare
    const expiration = new Date('2031-05-04T13:00:00.000Z')
    stsMock.on(AssumeRoleWithWebIdentityCommand).resolves({
      Credentials: {
        AccessKeyId: 'ASIATEST',
        SecretAccessKey: 'secret',
        SessionToken: 'session-token',
        Expiration: expiration,
      },
      AssumedRoleUser: {
        Arn: 'arn:aws:sts::111122223333:assumed-role/ml-s3-reader/system-serviceaccount-ml-trainer',
        AssumedRoleId: 'AROATEST:system-serviceaccount-ml-trainer',
      },
    })
    // Act
    const credentials = await sts.assumeRoleWithWebIdentity(request)
    // Assess
    expect(stsMock.commandCalls(AssumeRoleWithWebIdentityCommand).map((call) => call.args[0].input)).toEqual([
      {
        RoleArn: request.roleArn,
        RoleSessionName: request.sessionName,
        WebIdentityToken: request.webIdentityToken,
        DurationSeconds: 3600,
      },
    ])
    expect(credentials).toEqual({
      accessKeyId: 'ASIATEST',
      secretAccessKey: 'secret',
      sessionToken: 'session-token',
      expiration,
      assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/ml-s3-reader/system-serviceaccount-ml-trainer',
      accountId: '111122223333',
    })
  })

  it.each<[string, Error, string, number]>([
    [
      'an untrusted web identity',
      new InvalidIdentityTokenException({ message: STS_MESSAGE, ...metadata(400) }),
      'AccessDenied',
      403,
    ],
    ['AccessDenied', serviceError('AccessDenied', 403), 'AccessDenied', 403],
    ['a duration over the role maximum', serviceError('ValidationError', 400), 'InvalidParameterValue', 400],
    ['throttling', serviceError('Throttling', 400), 'Throttling', 429],
    ['an STS outage', serviceError('ServiceUnavailable', 503, 'server'), 'ServiceUnavailable', 503],
    [
      'a network failure',
      Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' }),
      'ServiceUnavailable',
      503,
    ],
  ])('turns %s from the SDK into %s (%i)', async (_label, sdkError, code, status) => {
    // Prepare
    stsMock.on(AssumeRoleWithWebIdentityCommand).rejects(sdkError)
    // Act
    const outcome = sts.assumeRoleWithWebIdentity(request)
    // Assess
    await expect(outcome).rejects.toBeInstanceOf(BrokerError)
    await expect(outcome).rejects.toMatchObject({ code, statusCode: status })
  })

  it.each([
    [
      'no credentials',
      { AssumedRoleUser: { Arn: 'arn:aws:sts::111122223333:assumed-role/r/s', AssumedRoleId: 'x' } },
    ],
    [
      'no assumed role',
      { Credentials: { AccessKeyId: 'a', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date(0) } },
    ],
    [
      'no session token',
      {
        Credentials: { AccessKeyId: 'a', SecretAccessKey: 's', SessionToken: '', Expiration: new Date(0) },
        AssumedRoleUser: { Arn: 'arn:aws:sts::111122223333:assumed-role/r/s', AssumedRoleId: 'x' },
      },
    ],
  ])('answers 503 to an STS answer with %s', async (_label, output) => {
    // Prepare
    stsMock.on(AssumeRoleWithWebIdentityCommand).resolves(output)
    // Act
    const outcome = sts.assumeRoleWithWebIdentity(request)
    // Assess
    await expect(outcome).rejects.toMatchObject({
      code: 'ServiceUnavailable',
      reason: 'sts_incomplete_answer_unavailable',
    })
  })
})
