// Hygiene of the keys an admin registers for an issuer. jose verifies with whatever a JWKS
// holds (it accepts RSA e = 1, which lets anyone forge), so the broker decides which keys
// are acceptable before they are ever used.
import { importJWK, type JSONWebKeySet, type JWK } from 'jose'
import type { SigningAlgorithm } from './model.js'
import { hasRocaFingerprint } from './roca.js'

export const MAX_KEYS = 100
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
const CURVE_ALGORITHM: Record<string, SigningAlgorithm> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
}
const RSA_ALGORITHMS = new Set<string>(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
const BASE64URL = /^[A-Za-z0-9_-]+$/

export interface KeyProblem {
  /** Path inside the JWKS, e.g. `keys[2].e`. */
  field: string
  message: string
}

const rsaModulusBits = (n: string): number => {
  const bytes = Buffer.from(n, 'base64url')
  let first = 0
  while (first < bytes.length && bytes[first] === 0) first++
  if (first === bytes.length) return 0
  return (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first] ?? 0))
}

const checkKey = (
  key: Record<string, unknown>,
  at: string,
  algorithms: readonly SigningAlgorithm[],
): KeyProblem | undefined => {
  for (const member of PRIVATE_MEMBERS) {
    if (member in key)
      return { field: `${at}.${member}`, message: 'private or symmetric key material is not accepted' }
  }
  if (key.use !== undefined && key.use !== 'sig')
    return { field: `${at}.use`, message: 'must be "sig" when present' }
  if (key.key_ops !== undefined && !(Array.isArray(key.key_ops) && key.key_ops.includes('verify'))) {
    return { field: `${at}.key_ops`, message: 'must include "verify" when present' }
  }
  if (
    key.kid !== undefined &&
    (typeof key.kid !== 'string' || key.kid.length === 0 || key.kid.length > 256)
  ) {
    return { field: `${at}.kid`, message: 'must be a string of 1 to 256 characters' }
  }
  const alg = key.alg
  if (alg !== undefined && !(typeof alg === 'string' && (algorithms as readonly string[]).includes(alg))) {
    return {
      field: `${at}.alg`,
      message: `must be one of the issuer's algorithms (${algorithms.join(', ')})`,
    }
  }
  switch (key.kty) {
    case 'RSA': {
      if (typeof key.n !== 'string' || !BASE64URL.test(key.n))
        return { field: `${at}.n`, message: 'must be base64url' }
      if (rsaModulusBits(key.n) < 2048)
        return { field: `${at}.n`, message: 'RSA keys must have at least 2048 bits' }
      if (key.e !== 'AQAB') return { field: `${at}.e`, message: 'RSA public exponent must be 65537 ("AQAB")' }
      if (hasRocaFingerprint(Buffer.from(key.n, 'base64url'))) {
        return {
          field: `${at}.n`,
          message: 'RSA key has the ROCA fingerprint (CVE-2017-15361): its private key can be recovered',
        }
      }
      if (alg !== undefined && !RSA_ALGORITHMS.has(alg as string)) {
        return { field: `${at}.alg`, message: `${String(alg)} does not fit an RSA key` }
      }
      return undefined
    }
    case 'EC': {
      const expected = typeof key.crv === 'string' ? CURVE_ALGORITHM[key.crv] : undefined
      if (!expected) return { field: `${at}.crv`, message: 'must be P-256, P-384 or P-521' }
      if (typeof key.x !== 'string' || typeof key.y !== 'string')
        return { field: `${at}`, message: 'EC keys need x and y' }
      if (alg !== undefined && alg !== expected)
        return { field: `${at}.alg`, message: `${key.crv} keys sign with ${expected}` }
      return undefined
    }
    case 'OKP': {
      if (key.crv !== 'Ed25519')
        return { field: `${at}.crv`, message: 'only Ed25519 is accepted for OKP keys' }
      if (!algorithms.includes('EdDSA'))
        return { field: `${at}.crv`, message: 'Ed25519 keys need "EdDSA" in algorithms' }
      if (typeof key.x !== 'string') return { field: `${at}.x`, message: 'is required' }
      if (alg !== undefined && alg !== 'EdDSA' && alg !== 'Ed25519')
        return { field: `${at}.alg`, message: 'must be EdDSA' }
      return undefined
    }
    default:
      return { field: `${at}.kty`, message: 'must be RSA, EC or OKP (symmetric keys are never accepted)' }
  }
}

const importAlgorithm = (key: Record<string, unknown>): string =>
  typeof key.alg === 'string'
    ? key.alg
    : key.kty === 'RSA'
      ? 'RS256'
      : key.kty === 'OKP'
        ? 'EdDSA'
        : (CURVE_ALGORITHM[String(key.crv)] ?? 'ES256')

/**
 * Checks a JWKS for an issuer: structure, key types and sizes, no private members, unique
 * `kid`s, `alg`/`use` consistent with the issuer's algorithms, and that every key imports.
 */
export const checkJwks = async (
  jwks: unknown,
  algorithms: readonly SigningAlgorithm[],
): Promise<{ jwks: JSONWebKeySet } | KeyProblem> => {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    return { field: 'keys', message: 'must be an object with a "keys" array' }
  }
  const keys = (jwks as { keys: unknown[] }).keys
  if (keys.length === 0 || keys.length > MAX_KEYS)
    return { field: 'keys', message: `must hold 1 to ${MAX_KEYS} keys` }
  const kids = new Set<string>()
  for (const [index, key] of keys.entries()) {
    const at = `keys[${index}]`
    if (typeof key !== 'object' || key === null || Array.isArray(key))
      return { field: at, message: 'must be a JWK object' }
    const record = key as Record<string, unknown>
    const problem = checkKey(record, at, algorithms)
    if (problem) return problem
    if (typeof record.kid === 'string') {
      if (kids.has(record.kid)) return { field: `${at}.kid`, message: `duplicate kid "${record.kid}"` }
      kids.add(record.kid)
    }
    try {
      await importJWK(record as JWK, importAlgorithm(record))
    } catch {
      return { field: at, message: 'is not a usable public key' }
    }
  }
  return { jwks: { keys: keys as JWK[] } }
}
