// Real Kubernetes-issued tokens (EKS and kind, from ../shared/corpus/k8s-tokens) through the
// core validator: accepted as issued at a frozen clock, refused after any change that matters.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Issuer, SigningAlgorithm } from '../../../shared/core/model.js'
import { verifyWorkloadToken } from '../../../shared/core/verify.js'
import { makeIssuer } from '../fixtures.js'

const corpus = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'corpus', 'k8s-tokens')

interface Pair {
  dir: string
  freeze_clock_unix: number
  verify_with: { issuer: string; audience: string; algorithms: SigningAlgorithm[]; jwks_file: string }
  times: { iat: number; exp: number; lifetime_s: number }
}

const pairs = (JSON.parse(readFileSync(join(corpus, 'cases.json'), 'utf8')) as { pairs: Pair[] }).pairs

const issuerFor = (pair: Pair, overrides: Partial<Issuer> = {}): Issuer =>
  makeIssuer({
    issuerId: pair.dir,
    issuer: pair.verify_with.issuer,
    audiences: [pair.verify_with.audience],
    jwks: JSON.parse(readFileSync(join(corpus, pair.verify_with.jwks_file), 'utf8')),
    algorithms: pair.verify_with.algorithms,
    // The kind token is a 365-day default-mounted token: admitted only by an issuer that says so.
    maxTokenLifetimeSeconds: pair.times.lifetime_s,
    ...overrides,
  })

// The files end in a newline, as saved by hand; kubelet's projected token files do not.
const tokenOf = (pair: Pair) => readFileSync(join(corpus, pair.dir, 'token.jwt'), 'utf8').trimEnd()

const verify = (token: string, issuer: Issuer, unixSeconds: number) =>
  verifyWorkloadToken(token, [issuer], createInlineKeyResolver(), new Date(unixSeconds * 1000))

describe.each(pairs)('real Kubernetes token $dir', (pair) => {
  const frozen = pair.freeze_clock_unix

  it('verifies at the frozen clock with the published JWKS', async () => {
    const result = await verify(tokenOf(pair), issuerFor(pair), frozen)
    expect(result.ok && result.claims.sub).toMatch(/^system:serviceaccount:[^:]+:[^:]+$/)
  })

  it('is refused as expired one second past exp plus the skew', async () => {
    const result = await verify(tokenOf(pair), issuerFor(pair), pair.times.exp + 61)
    expect(result.ok ? 'accepted' : result.error.code).toBe('ExpiredToken')
  })

  it('is refused for an issuer registered with a trailing slash', async () => {
    const issuer = issuerFor(pair, { issuer: `${pair.verify_with.issuer}/` })
    const result = await verify(tokenOf(pair), issuer, frozen)
    expect(result.ok ? 'accepted' : result.error.code).toBe('InvalidIdentityToken')
  })

  it('is refused for an issuer expecting another audience', async () => {
    const result = await verify(tokenOf(pair), issuerFor(pair, { audiences: ['irsa-broker'] }), frozen)
    expect(result.ok ? 'accepted' : result.error.reason).toBe('claim_invalid_aud')
  })

  it('is refused when the issuer allows only ES256', async () => {
    const result = await verify(tokenOf(pair), issuerFor(pair, { algorithms: ['ES256'] }), frozen)
    expect(result.ok ? 'accepted' : result.error.reason).toBe('signature_not_verified')
  })

  it('is refused after one payload character changes', async () => {
    const [header, payload, signature] = tokenOf(pair).split('.') as [string, string, string]
    const flipped = `${payload.slice(0, 10)}${payload[10] === 'A' ? 'B' : 'A'}${payload.slice(11)}`
    const result = await verify(`${header}.${flipped}.${signature}`, issuerFor(pair), frozen)
    expect(result.ok).toBe(false)
  })

  it('is refused when its lifetime exceeds the issuer maximum by one second', async () => {
    const issuer = issuerFor(pair, { maxTokenLifetimeSeconds: pair.times.lifetime_s - 1 })
    const result = await verify(tokenOf(pair), issuer, frozen)
    expect(result.ok ? 'accepted' : result.error.reason).toBe('token_lifetime_too_long')
  })
})
