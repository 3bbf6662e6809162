// CredentialIssuer port on STS AssumeRoleWithWebIdentity, with STS's errors mapped to the
// broker's wire codes: what the caller can fix is a 4xx, what is STS's trouble a 503/429.
import {
  AssumeRoleWithWebIdentityCommand,
  type AssumeRoleWithWebIdentityCommandOutput,
  type STSClient,
} from '@aws-sdk/client-sts'
import {
  AccessDeniedError,
  type BrokerError,
  InvalidParameterError,
  ThrottlingError,
  UpstreamUnavailableError,
} from '../core/errors.js'
import type { CredentialIssuer } from '../core/ports.js'

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
      return new UpstreamUnavailableError('sts_idp', { cause: error })
    default:
      if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
        return new AccessDeniedError(`sts_${status}`, 'STS refused the request.')
      }
      if (status === 429) return new ThrottlingError('sts_throttled', 1)
      return new UpstreamUnavailableError('sts', { cause: error })
  }
}

const accountOf = (arn: string): string => arn.split(':')[4] ?? ''

export const createStsCredentialIssuer = (client: STSClient): CredentialIssuer => ({
  async assumeRoleWithWebIdentity(request) {
    let output: AssumeRoleWithWebIdentityCommandOutput
    try {
      output = await client.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: request.roleArn,
          RoleSessionName: request.sessionName,
          WebIdentityToken: request.webIdentityToken,
          DurationSeconds: request.durationSeconds,
        }),
      )
    } catch (error) {
      throw mapStsError(error)
    }
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
})
