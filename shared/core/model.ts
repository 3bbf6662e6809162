// The broker's domain objects as stored and served: a data plane's issuer and a role binding.
import type { JSONWebKeySet } from 'jose'
import type { Revocation } from './revocations.js'

export const SIGNING_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number]

export type IssuerMode = 'broker' | 'passthrough'

/**
 * The audience of the token a cluster pushes its keys with (docs/api.md, "Key push";
 * shared/core/key-push.ts). Reserved: no issuer may accept it for workloads, so a key-sync token
 * never buys credentials and a workload token never pushes keys.
 */
export const KEY_SYNC_AUDIENCE = 'irsa-broker-key-sync'

/** Key push (docs/api.md, "Key push"): the one `sub` whose token may replace the issuer's inline keys. */
export interface KeySync {
  subject: string
}

/** Fields the server owns; a client may send them back as read, they are never taken from it. */
export interface ServerFields {
  version: number
  createdAt: string
  updatedAt: string
  updatedBy: string
}

export interface IssuerSpec {
  issuerId: string
  issuer: string
  audiences: string[]
  jwks?: JSONWebKeySet
  jwksUri?: string
  discovery?: boolean
  algorithms: SigningAlgorithm[]
  maxTokenLifetimeSeconds: number
  clockSkewSeconds: number
  mode: IssuerMode
  enabled: boolean
  description?: string
  /** Absent: key push is off for this issuer. */
  keySync?: KeySync
}

/**
 * Revocations live on the issuer (shared/core/revocations.ts): the request path reads them with
 * the issuer, within the registry TTL, at no extra read.
 */
export type Issuer = IssuerSpec &
  ServerFields & {
    revocations?: readonly Revocation[]
    /**
     * Server-managed: when a key push last changed the keys (ISO 8601). Kept in the issuer's own
     * item so that the push rate limit holds across every instance of the function.
     */
    keysPushedAt?: string
  }

export interface BindingSpec {
  bindingId: string
  issuerId: string
  roleArn: string
  profile: string
  subjects?: string[]
  /** JSON Pointer (RFC 6901) → any-of glob patterns. */
  claims?: Record<string, string[]>
  condition?: string
  allowAnyWorkload?: boolean
  sessionName?: string
  /** Template of the sessions' source identity; default: the workload's name (workload-identity.ts). */
  sourceIdentity?: string
  sessionTags?: Record<string, string>
  transitiveTagKeys?: string[]
  durationSeconds: number
  enabled: boolean
  description?: string
}

export type Binding = BindingSpec & ServerFields

/** Claims of a workload token after its signature and registered claims were verified. */
export interface WorkloadClaims {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  [claim: string]: unknown
}

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
  expiration: Date
  assumedRoleArn: string
  accountId: string
}
