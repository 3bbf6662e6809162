// The broker's own OIDC token: what STS receives in broker mode. Signed through the Signer
// port, so a local key and KMS produce the same token shape.
import { randomUUID } from 'node:crypto'
import type { Signer } from './ports.js'
import type { SessionTags } from './session.js'

export const BROKER_AUDIENCE = 'sts.amazonaws.com'
export const MAX_BROKER_TOKEN_TTL_SECONDS = 300
export const AWS_TAGS_CLAIM = 'https://aws.amazon.com/tags'
/** STS takes the session's source identity from this claim (sts:SetSourceIdentity in the trust policy). */
export const AWS_SOURCE_IDENTITY_CLAIM = 'https://aws.amazon.com/source_identity'

export interface BrokerTokenInput {
  issuerUrl: string
  issuerId: string
  subject: string
  tags: SessionTags
  /** A valid STS name (workload-identity.ts); absent: no claim. */
  sourceIdentity?: string | undefined
  ttlSeconds: number
  now: Date
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')

export const brokerSubject = (issuerId: string, subject: string): string => `${issuerId}:${subject}`

export const mintBrokerToken = async (signer: Signer, input: BrokerTokenInput): Promise<string> => {
  const iat = Math.floor(input.now.getTime() / 1000)
  const ttl = Math.min(Math.max(input.ttlSeconds, 1), MAX_BROKER_TOKEN_TTL_SECONDS)
  const header = { alg: signer.algorithm, kid: await signer.keyId(), typ: 'JWT' }
  const payload: Record<string, unknown> = {
    iss: input.issuerUrl,
    aud: BROKER_AUDIENCE,
    sub: brokerSubject(input.issuerId, input.subject),
    iat,
    nbf: iat,
    exp: iat + ttl,
    jti: randomUUID(),
  }
  if (input.sourceIdentity !== undefined) payload[AWS_SOURCE_IDENTITY_CLAIM] = input.sourceIdentity
  if (Object.keys(input.tags.principalTags).length > 0) {
    payload[AWS_TAGS_CLAIM] = {
      principal_tags: Object.fromEntries(Object.entries(input.tags.principalTags).map(([k, v]) => [k, [v]])),
      ...(input.tags.transitiveTagKeys.length > 0
        ? { transitive_tag_keys: input.tags.transitiveTagKeys }
        : {}),
    }
  }
  const signingInput = `${encode(header)}.${encode(payload)}`
  const signature = await signer.sign(new TextEncoder().encode(signingInput))
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`
}
