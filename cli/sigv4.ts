// SigV4 for the admin API in AWS: API Gateway's AWS_IAM authorizer checks a signature for the
// `execute-api` service made with the caller's own AWS credentials (the default provider
// chain). Loaded only when an admin command talks to AWS, so other commands start fast.
import { defaultProvider } from '@aws-sdk/credential-provider-node'
import { Hash } from '@smithy/hash-node'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4 } from '@smithy/signature-v4'
import { InputError } from './errors.js'
import type { Authorizer, OutgoingRequest } from './http.js'

export interface AwsCredentialIdentity {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration?: Date
}

export interface SigningOptions {
  region: string
  /** `execute-api` unless a test signs for another service (the AWS test-suite vectors use `service`). */
  service?: string
  credentials: AwsCredentialIdentity | (() => Promise<AwsCredentialIdentity>)
  /** Fixed in tests; the signer's clock otherwise. */
  signingDate?: Date
  /** Signs `x-amz-content-sha256` too (on by default, as the AWS SDKs do). */
  applyChecksum?: boolean
}

const queryOf = (url: URL): Record<string, string | string[]> => {
  const query: Record<string, string | string[]> = {}
  for (const name of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(name)
    query[name] = values.length === 1 ? (values[0] as string) : values
  }
  return query
}

/** The headers to send: the request's own plus `host`, `x-amz-date`, `authorization` (and the session token). */
export const signRequest = async (
  request: Pick<OutgoingRequest, 'method' | 'url' | 'headers' | 'body'>,
  options: SigningOptions,
): Promise<Record<string, string>> => {
  const signer = new SignatureV4({
    service: options.service ?? 'execute-api',
    region: options.region,
    credentials: options.credentials,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: options.applyChecksum ?? true,
  })
  const { url } = request
  const unsigned = new HttpRequest({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query: queryOf(url),
    headers: { ...request.headers, host: url.host },
    ...(request.body === undefined ? {} : { body: request.body }),
  })
  const signed = await signer.sign(unsigned, options.signingDate ? { signingDate: options.signingDate } : {})
  return { ...signed.headers }
}

export type CredentialProvider = () => Promise<AwsCredentialIdentity>

/** The AWS SDK's default chain: environment, profile (SSO, process, assume-role), container, IMDS. */
export const defaultCredentials = (profile: string | undefined): CredentialProvider =>
  defaultProvider(profile ? { profile } : {})

/** Signs every request with the caller's AWS credentials, resolved once. */
export const sigV4Authorizer = (options: {
  region: string
  credentials: CredentialProvider
  now: () => Date
}): Authorizer => {
  let credentials: Promise<AwsCredentialIdentity> | undefined
  const resolve = () => {
    credentials ??= options.credentials().catch((error: unknown) => {
      throw new InputError(
        'InvalidInput',
        `no AWS credentials to sign the admin request with (${String((error as Error)?.message ?? error).split('\n')[0]})`,
      )
    })
    return credentials
  }
  return async (request) => {
    const signed = await signRequest(request, {
      region: options.region,
      credentials: await resolve(),
      signingDate: options.now(),
    })
    // fetch sets host itself (from the URL, the same value); everything else goes as signed.
    const { host: _host, ...headers } = signed
    return headers
  }
}
