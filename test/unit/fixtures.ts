// Shared builders for the unit tests: a controllable clock, issuer and binding documents, keys
// generated at test time, and a hand-rolled compact-JWS signer for tokens whose headers a test
// must control (alg confusion, embedded keys, `crit`), which a well-behaved library refuses to make.
import { constants, createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { exportJWK, type JWK } from 'jose'
import { BrokerError } from '../../shared/core/errors.js'
import type { Binding, Issuer, WorkloadClaims } from '../../shared/core/model.js'
import type { Clock } from '../../shared/core/ports.js'
import { AUDIENCE, K8S_ISSUER } from '../support/workload-issuer.js'

/** A fixed instant far from the real clock, so nothing passes by accident of wall time. */
export const NOW = new Date('2031-05-04T12:00:00.000Z')
export const NOW_SECONDS = Math.floor(NOW.getTime() / 1000)

export interface TestClock extends Clock {
  advance(seconds: number): void
}

export const createTestClock = (start: Date = NOW): TestClock => {
  let current = start.getTime()
  return {
    now: () => new Date(current),
    advance: (seconds) => {
      current += seconds * 1000
    },
  }
}

/** What an issuer document gets when it says nothing else (docs/api.md, "Issuer document"). */
export const ISSUER_DEFAULTS = {
  algorithms: ['RS256', 'ES256'],
  maxTokenLifetimeSeconds: 86400,
  clockSkewSeconds: 60,
  mode: 'broker',
  enabled: true,
} as const satisfies Partial<Issuer>

/** The server fields of a first version stored at NOW. */
const FIRST_VERSION = {
  version: 1,
  createdAt: NOW.toISOString(),
  updatedAt: NOW.toISOString(),
  updatedBy: 'test',
}

export const makeIssuer = (overrides: Partial<Issuer> = {}): Issuer => ({
  issuerId: 'onprem-a',
  issuer: K8S_ISSUER,
  audiences: [AUDIENCE],
  jwks: { keys: [] },
  ...ISSUER_DEFAULTS,
  algorithms: [...ISSUER_DEFAULTS.algorithms],
  ...FIRST_VERSION,
  ...overrides,
})

export const makeBinding = (overrides: Partial<Binding> = {}): Binding => ({
  bindingId: 'ml-readers',
  issuerId: 'onprem-a',
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
  profile: 'ml-reader',
  subjects: ['system:serviceaccount:ml:*'],
  durationSeconds: 3600,
  enabled: true,
  ...FIRST_VERSION,
  ...overrides,
})

/** Verified claims of a Kubernetes service account token (namespace `ml`, account `trainer`). */
export const makeClaims = (overrides: Partial<WorkloadClaims> = {}): WorkloadClaims => ({
  iss: K8S_ISSUER,
  sub: 'system:serviceaccount:ml:trainer',
  aud: [AUDIENCE],
  iat: NOW_SECONDS,
  exp: NOW_SECONDS + 3600,
  'kubernetes.io': { namespace: 'ml', serviceaccount: { name: 'trainer' } },
  ...overrides,
})

export interface RawKey {
  privateKey: KeyObject
  publicKey: KeyObject
  /** The public JWK, with `kid` and without `alg` (so only the issuer's allowlist limits it). */
  jwk: JWK
}

const rawKey = async (
  pair: { privateKey: KeyObject; publicKey: KeyObject },
  kid: string,
): Promise<RawKey> => ({
  ...pair,
  jwk: { ...(await exportJWK(pair.publicKey)), kid },
})

export const generateRsaKey = (kid: string, modulusLength = 2048): Promise<RawKey> =>
  rawKey(generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 }), kid)

export const generateEcKey = (kid: string, namedCurve = 'P-256'): Promise<RawKey> =>
  rawKey(generateKeyPairSync('ec', { namedCurve }), kid)

export const base64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url')

export type JwsHeader = Record<string, unknown> & { alg: string }

/** Signs a compact JWS exactly as asked: RS*, PS*, ES256/384, HS256 (with any bytes as secret), `none`. */
export const signCompact = (
  header: JwsHeader,
  payload: Record<string, unknown>,
  key: KeyObject | Buffer | string | undefined,
): string => {
  const signingInput = `${base64url(header)}.${base64url(payload)}`
  const data = Buffer.from(signingInput, 'utf8')
  const digest = `sha${header.alg.slice(2) || '256'}`
  let signature: Buffer
  if (header.alg === 'none') {
    signature = Buffer.alloc(0)
  } else if (header.alg.startsWith('HS')) {
    if (key === undefined || (typeof key === 'object' && !Buffer.isBuffer(key)))
      throw new TypeError('HS* needs bytes as the secret')
    signature = createHmac(digest, key).update(data).digest()
  } else {
    if (key === undefined || typeof key === 'string' || Buffer.isBuffer(key))
      throw new TypeError(`${header.alg} needs a private KeyObject`)
    if (header.alg.startsWith('RS')) signature = sign(digest, data, key)
    else if (header.alg.startsWith('PS'))
      signature = sign(digest, data, {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: Number(header.alg.slice(2)) / 8,
      })
    else if (header.alg.startsWith('ES')) signature = sign(digest, data, { key, dsaEncoding: 'ieee-p1363' })
    else throw new TypeError(`signCompact does not know ${header.alg}`)
  }
  return `${signingInput}.${signature.toString('base64url')}`
}

/** Claims of a valid Kubernetes-shaped token at NOW, for hand-signed tokens. */
export const tokenClaims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: K8S_ISSUER,
  aud: [AUDIENCE],
  sub: 'system:serviceaccount:ml:trainer',
  iat: NOW_SECONDS,
  nbf: NOW_SECONDS,
  exp: NOW_SECONDS + 3600,
  'kubernetes.io': { namespace: 'ml', serviceaccount: { name: 'trainer' } },
  ...overrides,
})

/** An AuditSink that keeps the records it receives, for assertions. */
export const createAuditLog = () => {
  const records: Record<string, unknown>[] = []
  return {
    records,
    sink: (record: Readonly<Record<string, unknown>>) => {
      records.push({ ...record })
    },
  }
}

/**
 * The error `promise` rejects with when it is a `kind` (a BrokerError unless told otherwise);
 * fails the test when it resolves, and passes any other error on.
 */
export const rejectionOf = async <E = BrokerError>(
  promise: Promise<unknown>,
  kind: abstract new (...args: never[]) => E = BrokerError as never,
): Promise<E> => {
  try {
    await promise
  } catch (error) {
    if (error instanceof kind) return error
    throw error
  }
  throw new Error('expected a rejection')
}

/** The error `action` throws; fails the test when it throws nothing. */
export const thrownBy = (action: () => unknown): unknown => {
  try {
    action()
  } catch (error) {
    return error
  }
  throw new Error('expected the action to throw')
}
