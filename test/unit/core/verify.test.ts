import { createPublicKey } from 'node:crypto'
import { exportJWK } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  type BrokerError,
  ExpiredTokenError,
  InvalidTokenError,
  PayloadTooLargeError,
} from '../../../shared/core/errors.js'
import { verifyCompactJwt } from '../../../shared/core/jws-verify.js'
import { type JwtVerifier, joseJwtVerifier } from '../../../shared/core/jwt-verifier.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Issuer } from '../../../shared/core/model.js'
import {
  MAX_SUB_LENGTH,
  MAX_TOKEN_BYTES,
  readUnverifiedToken,
  type VerificationResult,
  verifyWorkloadToken,
} from '../../../shared/core/verify.js'
import { AUDIENCE, K8S_ISSUER } from '../../support/workload-issuer.js'
import {
  base64url,
  generateEcKey,
  generateRsaKey,
  makeIssuer,
  NOW,
  NOW_SECONDS,
  signCompact,
  thrownBy,
  tokenClaims,
} from '../fixtures.js'

const signingKey = await generateRsaKey('data-plane-1')
const otherKey = await generateRsaKey('data-plane-2')
const attackerKey = await generateRsaKey('attacker')
const ecKey = await generateEcKey('data-plane-ec')

const issuer = makeIssuer({ issuerId: 'onprem-a', jwks: { keys: [signingKey.jwk, ecKey.jwk] } })

const rs256 = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  signCompact(
    { alg: 'RS256', kid: signingKey.jwk.kid, typ: 'JWT', ...header },
    tokenClaims(claims),
    signingKey.privateKey,
  )

/** explain's claim checks in order: all passed except those named with their reason. */
const claimChecks = (failing: Record<string, string> = {}) =>
  ['shape', 'iss', 'aud', 'exp', 'nbf', 'iat', 'lifetime', 'sub', 'kubernetes_identity'].map((check) =>
    failing[check] ? { check, passed: false, reason: failing[check] } : { check, passed: true },
  )
const rsKey = { alg: 'RS256', kid: 'data-plane-1' }

/** The failure of a result, asserting that it is one. */
const failureOf = (result: VerificationResult): BrokerError => {
  if (result.ok) throw new Error(`expected a failure, got a verified token for ${result.issuer.issuerId}`)
  return result.error
}

describe('readUnverifiedToken', () => {
  it('returns the unverified iss of a well-formed compact JWS', () => {
    // Prepare
    const token = rs256()
    // Act
    const read = readUnverifiedToken(token)
    // Assess
    expect(read).toEqual({ token, iss: K8S_ISSUER })
  })

  it.each([
    ['undefined', undefined],
    ['a number', 42],
    ['an empty string', ''],
  ])('rejects %s as a missing token (InvalidIdentityToken)', (_label, token) => {
    // Act
    const error = thrownBy(() => readUnverifiedToken(token))
    // Assess
    expect(error).toBeInstanceOf(InvalidTokenError)
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'token_missing', statusCode: 401 })
  })

  it('rejects a token over 16 KiB with PayloadTooLarge before looking at its shape', () => {
    // Prepare
    const token = `${rs256()}${'A'.repeat(MAX_TOKEN_BYTES)}`
    // Act
    const error = thrownBy(() => readUnverifiedToken(token))
    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeError)
    expect(error).toMatchObject({ code: 'PayloadTooLarge', statusCode: 413 })
  })

  it('counts the limit in UTF-8 bytes, so multi-byte characters cannot slip past it', () => {
    // Prepare: fewer than 16 KiB UTF-16 units, more than 16 KiB UTF-8 bytes
    const token = 'é'.repeat(MAX_TOKEN_BYTES / 2 + 1)
    // Act
    const error = thrownBy(() => readUnverifiedToken(token))
    // Assess
    expect(token.length).toBeLessThan(MAX_TOKEN_BYTES)
    expect(error).toMatchObject({ code: 'PayloadTooLarge' })
  })

  it('accepts a well-formed token of exactly 16 KiB', () => {
    // Prepare
    const prefix = `${base64url({ alg: 'RS256' })}.${base64url({ iss: K8S_ISSUER })}.`
    const token = prefix + 'A'.repeat(MAX_TOKEN_BYTES - prefix.length)
    // Act
    const read = readUnverifiedToken(token)
    // Assess
    expect(Buffer.byteLength(token)).toBe(MAX_TOKEN_BYTES)
    expect(read.iss).toBe(K8S_ISSUER)
  })

  const valid = rs256()
  const [h = '', p = '', s = ''] = valid.split('.')
  it.each([
    ['a trailing newline', `${valid}\n`],
    ['a trailing CRLF', `${valid}\r\n`],
    ['a leading space', ` ${valid}`],
    ['base64 padding', `${h}.${p}.${s}==`],
    ['standard base64 characters', `${h}.${p}.${s.slice(0, -2)}+/`],
    ['an empty signature', `${h}.${p}.`],
    ['two segments', `${h}.${p}`],
    ['four segments', `${h}.${p}.${s}.${s}`],
    ['five segments (JWE compact)', `${h}.${p}.${s}.${s}.${s}`],
    ['the JSON serialization', JSON.stringify({ protected: h, payload: p, signature: s })],
    ['the Bearer prefix still attached', `Bearer ${valid}`],
  ])('rejects a token with %s as malformed', (_label, token) => {
    // Act
    const error = thrownBy(() => readUnverifiedToken(token))
    // Assess
    expect(error).toBeInstanceOf(InvalidTokenError)
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'token_malformed' })
  })

  it.each([
    ['a header that is not JSON', `${base64url('not json')}.${base64url({ iss: K8S_ISSUER })}.c2ln`],
    ['a header that is an array', `${base64url([{ alg: 'RS256' }])}.${base64url({ iss: K8S_ISSUER })}.c2ln`],
    ['a header without alg', `${base64url({ typ: 'JWT' })}.${base64url({ iss: K8S_ISSUER })}.c2ln`],
    ['a payload that is not an object', `${base64url({ alg: 'RS256' })}.${base64url('"text"')}.c2ln`],
  ])('rejects %s as malformed', (_label, token) => {
    // Act
    const error = thrownBy(() => readUnverifiedToken(token))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'token_malformed' })
  })

  it.each([
    ['no iss', {}],
    ['a numeric iss', { iss: 7 }],
    ['an empty iss', { iss: '' }],
    ['an iss over 1024 characters', { iss: `https://${'a'.repeat(1020)}` }],
  ])('rejects a payload with %s', (_label, payload) => {
    // Prepare
    const token = `${base64url({ alg: 'RS256' })}.${base64url(payload)}.c2ln`
    // Act
    const error = thrownBy(() => readUnverifiedToken(token))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'issuer_missing' })
  })
})

// Every verifyWorkloadToken test runs through both adapters of the JwtVerifier port: the node:crypto
// fast path the broker wires, and jose's own jwtVerify (the replacement it keeps at hand).
describe.each<[string, JwtVerifier]>([
  ['the node:crypto fast path', verifyCompactJwt],
  ["jose's jwtVerify", joseJwtVerifier],
])('through %s', (_adapter, jwt) => {
  /** Verifies as `explain` does, so each attempt that verified a signature lists its claim checks. */
  const verify = (token: string, candidates: readonly Issuer[] = [issuer], now: Date = NOW) =>
    verifyWorkloadToken(token, candidates, createInlineKeyResolver(), now, { explain: true, jwt })

  describe('verifyWorkloadToken: signature and key choice', () => {
    it('verifies a token signed by a registered RSA key and returns its claims', async () => {
      // Prepare
      const token = rs256()
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
      if (!result.ok) return
      expect(result.issuer.issuerId).toBe('onprem-a')
      expect(result.claims.sub).toBe('system:serviceaccount:ml:trainer')
      expect(result.attempts).toEqual([
        { issuerId: 'onprem-a', outcome: 'verified', key: rsKey, claimChecks: claimChecks() },
      ])
    })

    it('verifies an ES256 token signed by a registered EC key', async () => {
      // Prepare
      const token = signCompact({ alg: 'ES256', kid: ecKey.jwk.kid }, tokenClaims(), ecKey.privateKey)
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })

    it('rejects a token whose payload was changed after signing', async () => {
      // Prepare
      const [header, , signature] = rs256().split('.')
      const forged = `${header}.${base64url(tokenClaims({ sub: 'system:serviceaccount:kube-system:admin' }))}.${signature}`
      // Act
      const error = failureOf(await verify(forged))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'signature_not_verified' })
    })

    it('rejects a token whose kid names no registered key', async () => {
      // Prepare
      const token = signCompact({ alg: 'RS256', kid: 'unknown' }, tokenClaims(), signingKey.privateKey)
      // Act
      const result = await verify(token)
      // Assess
      expect(failureOf(result)).toMatchObject({
        code: 'InvalidIdentityToken',
        reason: 'signature_not_verified',
      })
      expect(result.attempts).toEqual([
        { issuerId: 'onprem-a', outcome: 'key_mismatch', reason: 'no_matching_key' },
      ])
    })

    it('verifies a token without kid against an issuer holding a single key', async () => {
      // Prepare
      const single = makeIssuer({ jwks: { keys: [signingKey.jwk] } })
      const token = signCompact({ alg: 'RS256' }, tokenClaims(), signingKey.privateKey)
      // Act
      const result = await verify(token, [single])
      // Assess
      expect(result.ok).toBe(true)
    })

    it('refuses a token without kid when the issuer holds several keys of its type (the key is chosen by kid)', async () => {
      // Prepare
      const rotating = makeIssuer({ jwks: { keys: [otherKey.jwk, signingKey.jwk] } })
      const token = signCompact({ alg: 'RS256' }, tokenClaims(), signingKey.privateKey)
      // Act
      const error = failureOf(await verify(token, [rotating]))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'signature_not_verified' })
    })

    it('rejects a token signed by an unregistered key that claims a registered kid', async () => {
      // Prepare
      const token = signCompact(
        { alg: 'RS256', kid: signingKey.jwk.kid },
        tokenClaims(),
        attackerKey.privateKey,
      )
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'signature_not_verified' })
    })

    it('rejects an algorithm outside the issuer allowlist even though the registered key would verify it', async () => {
      // Prepare: PS256 over the registered RSA key (whose JWK names no alg), for an RS256-only issuer
      const rsOnly = makeIssuer({ algorithms: ['RS256'], jwks: { keys: [signingKey.jwk] } })
      const withPs = makeIssuer({ algorithms: ['RS256', 'PS256'], jwks: { keys: [signingKey.jwk] } })
      const token = signCompact(
        { alg: 'PS256', kid: signingKey.jwk.kid },
        tokenClaims(),
        signingKey.privateKey,
      )
      // Act
      const refused = await verify(token, [rsOnly])
      const control = await verify(token, [withPs])
      // Assess
      expect(failureOf(refused)).toMatchObject({ code: 'InvalidIdentityToken' })
      expect(control.ok).toBe(true)
    })

    it('rejects an ES256 token for an issuer that allows only RS256', async () => {
      // Prepare
      const rsOnly = makeIssuer({ algorithms: ['RS256'], jwks: { keys: [signingKey.jwk, ecKey.jwk] } })
      const token = signCompact({ alg: 'ES256', kid: ecKey.jwk.kid }, tokenClaims(), ecKey.privateKey)
      // Act
      const error = failureOf(await verify(token, [rsOnly]))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken' })
    })

    it('rejects alg "none" (no signature) before any key is consulted', async () => {
      // Prepare
      const unsigned = signCompact({ alg: 'none' }, tokenClaims(), undefined)
      const withJunkSignature = `${unsigned}c2lnbmF0dXJl`
      // Act
      const shapeError = thrownBy(() => readUnverifiedToken(unsigned))
      const error = failureOf(await verify(withJunkSignature))
      // Assess
      expect(shapeError).toMatchObject({ code: 'InvalidIdentityToken', reason: 'token_malformed' })
      expect(error).toMatchObject({ code: 'InvalidIdentityToken' })
    })

    it('rejects HS256 signed with the public RSA key as the HMAC secret (algorithm confusion)', async () => {
      // Prepare: the secrets an attacker can derive from the published key
      const pem = signingKey.publicKey.export({ type: 'spki', format: 'pem' })
      const der = signingKey.publicKey.export({ type: 'spki', format: 'der' })
      const jwkText = JSON.stringify(signingKey.jwk)
      const tokens = [pem, der, jwkText].map((secret) =>
        signCompact({ alg: 'HS256', kid: signingKey.jwk.kid }, tokenClaims(), secret),
      )
      // Even if an issuer record somehow listed HS256, the RSA key must never serve as an HMAC secret.
      const misconfigured = { ...issuer, algorithms: ['RS256', 'HS256'] } as unknown as Issuer
      // Act
      const results = await Promise.all(tokens.flatMap((t) => [verify(t), verify(t, [misconfigured])]))
      // Assess
      for (const result of results) expect(failureOf(result)).toMatchObject({ code: 'InvalidIdentityToken' })
    })

    it('ignores an attacker key embedded in the jwk header', async () => {
      // Prepare
      const embedded = await exportJWK(createPublicKey(attackerKey.privateKey))
      const token = signCompact(
        { alg: 'RS256', kid: signingKey.jwk.kid, jwk: embedded },
        tokenClaims(),
        attackerKey.privateKey,
      )
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'signature_not_verified' })
    })

    it.each(['jku', 'x5u'])('does not follow a %s header to an attacker key set', async (member) => {
      // Prepare
      const token = signCompact(
        { alg: 'RS256', kid: attackerKey.jwk.kid, [member]: 'https://attacker.example/keys.json' },
        tokenClaims(),
        attackerKey.privateKey,
      )
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'signature_not_verified' })
    })

    it('verifies with the registered key a legitimate token that also carries jku, x5u and jwk headers', async () => {
      // Prepare
      const token = rs256(
        {},
        {
          jku: 'https://attacker.example/keys.json',
          x5u: 'https://attacker.example/cert',
          jwk: attackerKey.jwk,
        },
      )
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })

    it('rejects an unknown critical header parameter', async () => {
      // Prepare
      const token = rs256({}, { crit: ['urn:example:policy'], 'urn:example:policy': true })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'header_unsupported' })
    })
  })

  describe('verifyWorkloadToken: registered claims', () => {
    it.each(['exp', 'iat', 'sub', 'aud'])('requires the %s claim', async (claim) => {
      // Prepare
      const claims = tokenClaims()
      delete claims[claim]
      const token = signCompact({ alg: 'RS256', kid: signingKey.jwk.kid }, claims, signingKey.privateKey)
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toBeInstanceOf(InvalidTokenError)
      expect(error.reason).toBe(`claim_missing_${claim}`)
    })

    it('answers ExpiredToken for a token expired beyond the clock skew', async () => {
      // Prepare: expired 60 s ago, and the skew is 60 s
      const token = rs256({ iat: NOW_SECONDS - 3660, nbf: NOW_SECONDS - 3660, exp: NOW_SECONDS - 60 })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toBeInstanceOf(ExpiredTokenError)
      expect(error).toMatchObject({ code: 'ExpiredToken', reason: 'token_expired', statusCode: 401 })
    })

    it('accepts a token expired by less than the clock skew', async () => {
      // Prepare
      const token = rs256({ iat: NOW_SECONDS - 3659, nbf: NOW_SECONDS - 3659, exp: NOW_SECONDS - 59 })
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })

    it('answers ExpiredToken for a token whose nbf is in the future beyond the skew', async () => {
      // Prepare
      const token = rs256({ nbf: NOW_SECONDS + 61 })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'ExpiredToken', reason: 'token_not_yet_valid' })
    })

    it('accepts an nbf in the future within the skew', async () => {
      // Prepare
      const token = rs256({ nbf: NOW_SECONDS + 60 })
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })

    it('rejects a token issued in the future beyond the skew', async () => {
      // Prepare: nbf now, so only iat is off
      const token = rs256({ iat: NOW_SECONDS + 61, nbf: NOW_SECONDS, exp: NOW_SECONDS + 3661 })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'claim_invalid_iat' })
    })

    it('accepts a token issued in the future within the skew', async () => {
      // Prepare
      const token = rs256({ iat: NOW_SECONDS + 60, nbf: NOW_SECONDS, exp: NOW_SECONDS + 3660 })
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })

    it('rejects a token whose exp - iat exceeds the issuer maxTokenLifetimeSeconds', async () => {
      // Prepare
      const strict = makeIssuer({ maxTokenLifetimeSeconds: 3600, jwks: { keys: [signingKey.jwk] } })
      const token = rs256({ iat: NOW_SECONDS, exp: NOW_SECONDS + 3601 })
      // Act
      const result = await verify(token, [strict])
      // Assess
      expect(failureOf(result)).toMatchObject({
        code: 'InvalidIdentityToken',
        reason: 'token_lifetime_too_long',
      })
      expect(result.attempts).toEqual([
        {
          issuerId: 'onprem-a',
          outcome: 'rejected',
          reason: 'token_lifetime_too_long',
          key: rsKey,
          claimChecks: claimChecks({ lifetime: 'token_lifetime_too_long' }),
        },
      ])
    })

    it('accepts a token whose lifetime equals maxTokenLifetimeSeconds', async () => {
      // Prepare
      const strict = makeIssuer({ maxTokenLifetimeSeconds: 3600, jwks: { keys: [signingKey.jwk] } })
      const token = rs256({ iat: NOW_SECONDS, exp: NOW_SECONDS + 3600 })
      // Act
      const result = await verify(token, [strict])
      // Assess
      expect(result.ok).toBe(true)
    })

    it('rejects a year-long token under the default one-day maximum', async () => {
      // Prepare
      const token = rs256({ iat: NOW_SECONDS - 10, exp: NOW_SECONDS + 365 * 86400 })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error.reason).toBe('token_lifetime_too_long')
    })

    it.each([
      ['a number', 42],
      ['an empty string', ''],
      ['an array', ['system:serviceaccount:ml:trainer']],
      ['an object', { name: 'trainer' }],
      ['a string over 1024 characters', 'x'.repeat(MAX_SUB_LENGTH + 1)],
    ])('rejects a sub that is %s', async (_label, sub) => {
      // Prepare
      const token = rs256({ sub })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'claim_invalid_sub' })
    })

    it('accepts a sub of exactly 1024 characters', async () => {
      // Prepare
      const token = rs256({ sub: 's'.repeat(MAX_SUB_LENGTH) })
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })

    it.each([
      ['a string exp', { exp: String(NOW_SECONDS + 3600) }],
      ['a string iat', { iat: String(NOW_SECONDS) }],
    ])('rejects %s', async (_label, claims) => {
      // Prepare
      const token = rs256(claims)
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error.code).toBe('InvalidIdentityToken')
    })

    it('rejects an audience that does not intersect the issuer audiences', async () => {
      // Prepare
      const token = rs256({ aud: ['sts.amazonaws.com', 'vault'] })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'claim_invalid_aud' })
    })

    it.each([
      ['a string audience', AUDIENCE],
      ['an audience list that contains it among others', ['vault', AUDIENCE]],
    ])('accepts %s', async (_label, aud) => {
      // Prepare
      const token = rs256({ aud })
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })

    it('compares iss exactly: a trailing slash is another issuer', async () => {
      // Prepare
      const token = rs256({ iss: `${K8S_ISSUER}/` })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'claim_invalid_iss' })
    })
  })

  describe('verifyWorkloadToken: Kubernetes identity consistency', () => {
    it('rejects a service-account sub that disagrees with the kubernetes.io claim', async () => {
      // Prepare: sub says kube-system/admin, the claim says ml/trainer
      const token = rs256({ sub: 'system:serviceaccount:kube-system:admin' })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error).toMatchObject({
        code: 'InvalidIdentityToken',
        reason: 'claim_inconsistent_kubernetes_identity',
      })
    })

    it('rejects a kubernetes.io service account name that disagrees with sub', async () => {
      // Prepare
      const token = rs256({ 'kubernetes.io': { namespace: 'ml', serviceaccount: { name: 'admin' } } })
      // Act
      const error = failureOf(await verify(token))
      // Assess
      expect(error.reason).toBe('claim_inconsistent_kubernetes_identity')
    })

    it.each([
      ['a sub that is not a service account', { sub: 'user:alice' }],
      ['no kubernetes.io claim', { 'kubernetes.io': undefined }],
    ])('does not apply the consistency check to a token with %s', async (_label, claims) => {
      // Prepare
      const token = rs256(claims)
      // Act
      const result = await verify(token)
      // Assess
      expect(result.ok).toBe(true)
    })
  })

  describe('verifyWorkloadToken: several issuers sharing one iss', () => {
    const issuerA = makeIssuer({ issuerId: 'cluster-a', jwks: { keys: [otherKey.jwk] } })
    const issuerB = makeIssuer({ issuerId: 'cluster-b', jwks: { keys: [signingKey.jwk] } })

    it('lets the issuer whose key verifies decide, whatever order the candidates come in', async () => {
      // Prepare
      const token = rs256()
      // Act
      const forward = await verify(token, [issuerA, issuerB])
      const backward = await verify(token, [issuerB, issuerA])
      // Assess
      for (const result of [forward, backward]) {
        expect(result.ok && result.issuer.issuerId).toBe('cluster-b')
        expect(result.attempts).toEqual([
          { issuerId: 'cluster-a', outcome: 'key_mismatch', reason: 'no_matching_key' },
          { issuerId: 'cluster-b', outcome: 'verified', key: rsKey, claimChecks: claimChecks() },
        ])
      }
    })

    it('stops at the first issuer whose key verifies: its claim failure is final', async () => {
      // Prepare: both hold the key; cluster-a expects another audience
      const strictA = makeIssuer({
        issuerId: 'cluster-a',
        audiences: ['other'],
        jwks: { keys: [signingKey.jwk] },
      })
      const token = rs256()
      // Act
      const result = await verify(token, [strictA, issuerB])
      // Assess
      expect(failureOf(result).reason).toBe('claim_invalid_aud')
      expect(result.attempts).toEqual([
        {
          issuerId: 'cluster-a',
          outcome: 'rejected',
          reason: 'claim_invalid_aud',
          key: rsKey,
          claimChecks: claimChecks({ aud: 'claim_invalid_aud' }),
        },
      ])
    })

    it('skips a disabled issuer even when its key would verify the token', async () => {
      // Prepare
      const disabledA = makeIssuer({
        issuerId: 'cluster-a',
        enabled: false,
        jwks: { keys: [signingKey.jwk] },
      })
      const token = rs256()
      // Act
      const result = await verify(token, [disabledA, issuerB])
      // Assess
      expect(result.ok && result.issuer.issuerId).toBe('cluster-b')
      expect(result.attempts[0]).toEqual({ issuerId: 'cluster-a', outcome: 'disabled' })
    })

    it('treats a token whose only issuers are disabled as from an unknown issuer', async () => {
      // Prepare
      const disabled = makeIssuer({ enabled: false, jwks: { keys: [signingKey.jwk] } })
      // Act
      const error = failureOf(await verify(rs256(), [disabled]))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'issuer_unknown' })
    })

    it('treats a token with no candidate issuer as from an unknown issuer', async () => {
      // Act
      const error = failureOf(await verify(rs256(), []))
      // Assess
      expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'issuer_unknown' })
    })

    it('answers signature_not_verified when no candidate key verifies', async () => {
      // Prepare
      const noKeys = makeIssuer({ issuerId: 'cluster-c', jwks: undefined })
      // Act
      const result = await verify(rs256(), [issuerA, noKeys])
      // Assess
      expect(failureOf(result).reason).toBe('signature_not_verified')
      expect(result.attempts.map((a) => a.outcome)).toEqual(['key_mismatch', 'key_mismatch'])
    })
  })

  describe('verifyWorkloadToken: one set of claim checks decides and explains', () => {
    /** An object nested `depth` levels deep counting the outermost one. */
    const nested = (depth: number): Record<string, unknown> => {
      let value: Record<string, unknown> = {}
      for (let level = 1; level < depth; level++) value = { n: value }
      return value
    }
    const withoutClaimChecks = (result: VerificationResult) =>
      result.attempts.map(({ claimChecks: _checks, ...attempt }) => attempt)

    it.each([
      ['a valid token', {}],
      ['a lifetime over the maximum', { exp: NOW_SECONDS + 90_000 }],
      ['a numeric sub', { sub: 42 }],
      ['an empty sub', { sub: '' }],
      ['an iat in the future', { iat: NOW_SECONDS + 600 }],
      ['a disagreeing Kubernetes identity', { sub: 'system:serviceaccount:ml:other' }],
      ['a sub and a lifetime both wrong (the first check decides)', { sub: 7, exp: NOW_SECONDS + 90_000 }],
      ['claims nested past the limit', { extra: nested(32) }],
      ['an expired token (decided by jose)', { exp: NOW_SECONDS - 600 }],
      ['a foreign audience (decided by jose)', { aud: ['someone-else'] }],
    ])('decides %s the same without explain, and then lists no claim checks', async (_label, claims) => {
      // Prepare
      const token = rs256(claims)
      // Act
      const plain = await verifyWorkloadToken(token, [issuer], createInlineKeyResolver(), NOW, { jwt })
      const explained = await verify(token)
      // Assess
      expect(plain.ok).toBe(explained.ok)
      if (!plain.ok && !explained.ok) {
        expect({ code: plain.error.code, reason: plain.error.reason }).toEqual({
          code: explained.error.code,
          reason: explained.error.reason,
        })
      }
      expect(plain.attempts).toEqual(withoutClaimChecks(explained))
      expect(plain.attempts.some((attempt) => 'claimChecks' in attempt)).toBe(false)
      expect(explained.attempts.some((attempt) => attempt.claimChecks !== undefined)).toBe(true)
    })

    it("takes readUnverifiedToken's shape check for the token it read: same decision, the shape check passed", async () => {
      // Prepare
      const token = rs256()
      const read = readUnverifiedToken(token)
      // Act
      const result = await verifyWorkloadToken(token, [issuer], createInlineKeyResolver(), NOW, {
        jwt,
        read,
        explain: true,
      })
      // Assess
      expect(result.ok).toBe(true)
      expect(result.attempts).toEqual([
        { issuerId: 'onprem-a', outcome: 'verified', key: rsKey, claimChecks: claimChecks() },
      ])
    })

    it('does not let the read of another token, or a look-alike object, excuse a token from the shape bounds', async () => {
      // Prepare
      const deep = rs256({ extra: nested(32) })
      const readOfAnother = readUnverifiedToken(rs256())
      // Act
      const [withOtherRead, withLookAlike] = await Promise.all(
        [readOfAnother, { token: deep, iss: K8S_ISSUER }].map((read) =>
          verifyWorkloadToken(deep, [issuer], createInlineKeyResolver(), NOW, { jwt, read }),
        ),
      )
      // Assess
      expect(failureOf(withOtherRead as VerificationResult).reason).toBe('claims_too_deep')
      expect(failureOf(withLookAlike as VerificationResult).reason).toBe('claims_too_deep')
    })
  })
})
