// A workload JWT's verification with jose's semantics and node:crypto's arithmetic (docs/security.md,
// "Signature arithmetic"). jose decides everything it decides in jwtVerify: the protected header's
// rules (`alg`, `crit`, `b64`), the algorithm allowlist, which key (its own JWKS getter), the key's
// suitability, and the claims (its own claim-set validation, run only once the signature verified).
// node:crypto only does the signature arithmetic, synchronously: WebCrypto's verify costs a
// threadpool hop and its algorithm normalization on every request (~95 µs against ~25 µs).
//
// Each step mirrors jose 6's lib/jws_verify.js (verifySignature) and jwt/verify.js, in jose's order
// and with jose's error classes, so the verdict (and verify.ts's audit reason) is jose's verdict.
// It is one of two adapters of the JwtVerifier port (jwt-verifier.ts), beside jose's jwtVerify;
// test/unit/core/jws-verify.test.ts holds the two side by side on the corpora and generated tokens.
import { constants, KeyObject, verify, type webcrypto } from 'node:crypto'
import { base64url, type CompactJWSHeaderParameters, errors, UnsecuredJWT } from 'jose'
import type { JwtVerifier } from './jwt-verifier.js'

type Arithmetic =
  | { kind: 'rsa'; hash: string; pss?: number }
  | { kind: 'ec'; hash: string; namedCurve: string; signatureBytes: number }
  | { kind: 'eddsa' }

/**
 * The algorithms verified here, with what jose's table (lib/jws_algorithms.js) requires of the
 * key: `subtle` is the CryptoKey's algorithm as jose's checkCryptoKey compares it.
 */
const ALGORITHMS: Record<
  string,
  { subtle: { name: string; hash?: string; namedCurve?: string } } & Arithmetic
> = {
  RS256: { kind: 'rsa', hash: 'sha256', subtle: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } },
  RS384: { kind: 'rsa', hash: 'sha384', subtle: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' } },
  RS512: { kind: 'rsa', hash: 'sha512', subtle: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' } },
  // WebCrypto's (and so jose's) PSS salt: exactly the digest length.
  PS256: { kind: 'rsa', hash: 'sha256', pss: 32, subtle: { name: 'RSA-PSS', hash: 'SHA-256' } },
  PS384: { kind: 'rsa', hash: 'sha384', pss: 48, subtle: { name: 'RSA-PSS', hash: 'SHA-384' } },
  PS512: { kind: 'rsa', hash: 'sha512', pss: 64, subtle: { name: 'RSA-PSS', hash: 'SHA-512' } },
  ES256: {
    kind: 'ec',
    hash: 'sha256',
    namedCurve: 'P-256',
    signatureBytes: 64,
    subtle: { name: 'ECDSA', namedCurve: 'P-256' },
  },
  ES384: {
    kind: 'ec',
    hash: 'sha384',
    namedCurve: 'P-384',
    signatureBytes: 96,
    subtle: { name: 'ECDSA', namedCurve: 'P-384' },
  },
  ES512: {
    kind: 'ec',
    hash: 'sha512',
    namedCurve: 'P-521',
    signatureBytes: 132,
    subtle: { name: 'ECDSA', namedCurve: 'P-521' },
  },
  EdDSA: { kind: 'eddsa', subtle: { name: 'Ed25519' } },
  Ed25519: { kind: 'eddsa', subtle: { name: 'Ed25519' } },
}

/** jose's minimum RSA modulus for RS* and PS* (lib/key.js, checkModulusLength). */
const MIN_RSA_BITS = 2048

/** `{"alg":"none"}`: the header under which jose's own claim validation reads the verified payload. */
const UNSECURED_HEADER = base64url.encode('{"alg":"none"}')

const BASE64URL = /^[A-Za-z0-9_-]*$/
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * jose's base64url decoding (WHATWG forgiving-base64 after refusing `+` and `/`; a TypeError when
 * it fails). A segment of the base64url alphabet alone whose length is not 1 modulo 4 decodes to
 * the same bytes through Buffer, faster; anything else goes to jose's own decoder.
 */
export const decodeSegment = (segment: string): Uint8Array =>
  segment.length % 4 !== 1 && BASE64URL.test(segment)
    ? Buffer.from(segment, 'base64url')
    : base64url.decode(segment)

/** jose's decodeBase64url: a segment that does not decode is an invalid JWS. */
const decodeMember = (segment: string, label: string): Uint8Array => {
  try {
    return decodeSegment(segment)
  } catch (cause) {
    throw new errors.JWSInvalid(`Failed to base64url decode the ${label}`, { cause })
  }
}

/** jose's isObject: a plain object (JSON.parse gives nothing else that passes). */
const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (
    typeof value !== 'object' ||
    value === null ||
    Object.prototype.toString.call(value) !== '[object Object]'
  )
    return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === null || Object.getPrototypeOf(prototype) === null
}

/** jose's parseJoseHeader: base64url, strict UTF-8, JSON, an object; else JWSInvalid. */
const parseProtectedHeader = (segment: string): Record<string, unknown> => {
  const message = 'JWS Protected Header is invalid'
  let parsed: unknown
  try {
    parsed = JSON.parse(strictUtf8.decode(decodeSegment(segment)))
  } catch (cause) {
    throw new errors.JWSInvalid(message, { cause })
  }
  if (!isPlainObject(parsed)) throw new errors.JWSInvalid(message)
  return parsed
}

/**
 * jose's validateCrit and validateB64 for a compact JWS (every header member is protected) with
 * no extension recognized beyond jose's own `b64`. Returns whether the payload is base64url.
 */
const checkCritAndB64 = (header: Record<string, unknown>): boolean => {
  const { crit } = header
  if (crit === undefined) return true
  if (
    !Array.isArray(crit) ||
    crit.length === 0 ||
    crit.some((member) => typeof member !== 'string' || member.length === 0)
  )
    throw new errors.JWSInvalid(
      '"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present',
    )
  for (const parameter of crit as string[]) {
    if (parameter !== 'b64')
      throw new errors.JOSENotSupported(`Extension Header Parameter "${parameter}" is not recognized`)
    if (!Object.hasOwn(header, parameter) || header[parameter] === undefined)
      throw new errors.JWSInvalid(`Extension Header Parameter "${parameter}" is missing`)
  }
  const { b64 } = header
  if (typeof b64 !== 'boolean')
    throw new errors.JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean')
  return b64
}

/** Any UTF-16 code unit past U+007F (jose's encode refuses them). */
const NON_ASCII = /[\u0080-\uffff]/

/** Converted once per CryptoKey: jose's key sets hand out the same CryptoKey for a JWK and alg. */
const keyObjects = new WeakMap<webcrypto.CryptoKey, KeyObject>()

const unusable = (expected: string, prop = 'algorithm.name') =>
  new TypeError(`CryptoKey does not support this operation, its ${prop} must be ${expected}`)

/**
 * The key the getter resolved, as jose's prepareKey, checkCryptoKey and checkModulusLength accept
 * it for `alg` (their TypeErrors, so the refusal is classified as jose's), then as a KeyObject.
 * Only a public CryptoKey is taken: the broker's getters (createLocalJWKSet) yield nothing else.
 */
const publicKeyFor = (alg: string, key: unknown, expected: (typeof ALGORITHMS)[string]): KeyObject => {
  if (typeof key !== 'object' || key === null || Object.prototype.toString.call(key) !== '[object CryptoKey]')
    throw new TypeError(`Key for the ${alg} algorithm must be a public CryptoKey`)
  const cryptoKey = key as webcrypto.CryptoKey
  // KeyObject.from takes a genuine CryptoKey only (a TypeError otherwise).
  let keyObject = keyObjects.get(cryptoKey)
  if (!keyObject) {
    keyObject = KeyObject.from(cryptoKey)
    keyObjects.set(cryptoKey, keyObject)
  }
  if (cryptoKey.type !== 'public')
    throw new TypeError(`CryptoKey instances must be of type "public" for the ${alg} algorithm`)
  const algorithm = cryptoKey.algorithm as {
    name: string
    hash?: { name: string }
    namedCurve?: string
    modulusLength?: unknown
  }
  if (algorithm.name !== expected.subtle.name) throw unusable(expected.subtle.name)
  if (expected.subtle.hash && algorithm.hash?.name !== expected.subtle.hash)
    throw unusable(expected.subtle.hash, 'algorithm.hash')
  if (expected.subtle.namedCurve && algorithm.namedCurve !== expected.subtle.namedCurve)
    throw unusable(expected.subtle.namedCurve, 'algorithm.namedCurve')
  if (!cryptoKey.usages.includes('verify'))
    throw new TypeError('CryptoKey does not support this operation, its usages must include verify.')
  if (expected.kind === 'rsa') {
    const { modulusLength } = algorithm
    if (typeof modulusLength !== 'number' || modulusLength < MIN_RSA_BITS)
      throw new TypeError(`${alg} requires key modulusLength to be ${MIN_RSA_BITS} bits or larger`)
  }
  return keyObject
}

/** The signature arithmetic alone, synchronous; any throw is jose's "signature verification failed". */
const signatureVerifies = (
  arithmetic: Arithmetic,
  key: KeyObject,
  data: Buffer,
  signature: Uint8Array,
): boolean => {
  try {
    switch (arithmetic.kind) {
      case 'rsa':
        return verify(
          arithmetic.hash,
          data,
          arithmetic.pss === undefined
            ? { key, padding: constants.RSA_PKCS1_PADDING }
            : { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: arithmetic.pss },
          signature,
        )
      case 'ec':
        // r‖s, each exactly the curve's coordinate size: nothing else reaches OpenSSL.
        if (signature.length !== arithmetic.signatureBytes) return false
        return verify(arithmetic.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature)
      case 'eddsa':
        return verify(null, data, key, signature)
    }
  } catch (cause) {
    throw new errors.JWSSignatureVerificationFailed(undefined, { cause })
  }
}

/**
 * jwtVerify(token, getKey, { algorithms, ...claimOptions }) with the signature checked by
 * node:crypto: same checks, same order, same errors. The claims are validated by jose itself
 * (UnsecuredJWT.decode runs jwtVerify's validateClaimsSet with the same options) and only after
 * the signature verified.
 */
export const verifyCompactJwt: JwtVerifier = async (token, getKey, { algorithms, ...claimOptions }) => {
  if (typeof token !== 'string') throw new errors.JWSInvalid('Compact JWS must be a string or Uint8Array')
  const { 0: headerSegment = '', 1: payloadSegment = '', 2: signatureSegment = '', length } = token.split('.')
  if (length !== 3) throw new errors.JWSInvalid('Invalid Compact JWS')
  const protectedHeader = parseProtectedHeader(headerSegment)
  const b64 = checkCritAndB64(protectedHeader)
  const { alg } = protectedHeader
  if (typeof alg !== 'string' || !alg)
    throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid')
  if (!algorithms.includes(alg))
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed')
  if (!b64 && NON_ASCII.test(payloadSegment))
    throw new errors.JWSInvalid('JWS Compact Serialization payload must use only ASCII characters')
  // jose's own getter (createLocalJWKSet) picks the key, with what jose hands it: the header, and
  // the token as a flattened JWS.
  const header = protectedHeader as CompactJWSHeaderParameters
  const key = await getKey(header, {
    payload: payloadSegment,
    protected: headerSegment,
    signature: signatureSegment,
  })
  const expected = Object.hasOwn(ALGORITHMS, alg) ? ALGORITHMS[alg] : undefined
  if (!expected)
    throw new errors.JOSENotSupported(`alg ${alg} is not supported either by JOSE or your javascript runtime`)
  if (b64 && NON_ASCII.test(payloadSegment))
    throw new errors.JWSInvalid('The payload is not a valid base64url string')
  const signature = decodeMember(signatureSegment, 'signature')
  const publicKey = publicKeyFor(alg, key, expected)
  // The signing input is the ASCII of the first two segments (both checked ASCII above).
  const data = Buffer.from(`${headerSegment}.${payloadSegment}`, 'latin1')
  if (!signatureVerifies(expected, publicKey, data, signature))
    throw new errors.JWSSignatureVerificationFailed()
  // Only now, with the signature verified, is anything in the payload looked at.
  if (!b64) throw new errors.JWTInvalid('JWTs MUST NOT use unencoded payload')
  decodeMember(payloadSegment, 'payload')
  // jose decides the claims: the same validateClaimsSet jwtVerify runs, with the same options, on
  // the verified payload segment (under an `alg: none` header only UnsecuredJWT.decode reads).
  const { payload } = UnsecuredJWT.decode(`${UNSECURED_HEADER}.${payloadSegment}.`, claimOptions)
  return { payload, protectedHeader: header }
}
