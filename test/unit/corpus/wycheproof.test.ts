// Wycheproof's JWS and JWK vectors (test/corpus/vectors/wycheproof, unmodified) through the
// broker's own path: registration key hygiene (checkJwks), the strict compact-form gate, and
// verifyWorkloadToken with the registered keys and the issuer's algorithm allowlist.
//
// What exactly runs: the vectors are signature vectors whose payloads are not JWT claim sets
// ("foo", "123400", …), so every one would fail the claim checks anyway. The verdict compared
// with Wycheproof's `result` is therefore the one of the SIGNATURE stage of the real validator:
// jose's jwtVerify (inside verifyWorkloadToken) verifies the signature first and looks at the
// claims only after it passed, so a failure whose cause is a JWT claim-set error
// (ERR_JWT_INVALID, ERR_JWT_CLAIM_VALIDATION_FAILED, ERR_JWT_EXPIRED) means "signature verified";
// anything earlier (no registrable key, gate, header, algorithm, key, signature) means "refused".
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { compactVerify, createLocalJWKSet, errors, type JSONWebKeySet, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { checkJwks } from '../../../shared/core/jwks.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import { type Issuer, SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../../shared/core/model.js'
import { isStrictCompactJws, verifyWorkloadToken } from '../../../shared/core/verify.js'
import { CORPUS_DIR } from '../../support/corpus.js'
import { makeIssuer, NOW } from '../fixtures.js'

const vectors = join(CORPUS_DIR, 'vectors', 'wycheproof', 'testvectors_v1')

interface Vector {
  tcId: number
  comment: string
  jws: string
  result: 'valid' | 'invalid' | 'acceptable'
  flags: string[]
}
interface JwsGroup {
  comment: string
  private: JWK
  public?: JWK
  tests: Vector[]
}
interface JwkGroup {
  private?: JSONWebKeySet
  public?: JSONWebKeySet
  tests: Vector[]
}

const load = <G>(file: string) =>
  JSON.parse(readFileSync(join(vectors, file), 'utf8')) as { numberOfTests: number; testGroups: G[] }

const jwsFile = load<JwsGroup>('json_web_signature_test.json')
const jwkFile = load<JwkGroup>('json_web_key_test.json')

type Verdict =
  | { verified: true }
  | { verified: false; stage: 'registration' | 'gate' | 'verification'; reason: string }

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const

/** The vectors README's runner recipe: `public`, or `private` without its private members (oct keys kept, so the broker refuses them). */
const publicPart = (key: JWK): JWK => {
  const copy: Record<string, unknown> = { ...key }
  for (const member of PRIVATE_MEMBERS) delete copy[member]
  return copy as JWK
}

const isSigningAlgorithm = (alg: unknown): alg is SigningAlgorithm =>
  (SIGNING_ALGORITHMS as readonly unknown[]).includes(alg)

/** What an admin would register: the keys' own algorithms when they are broker algorithms, else the default. */
const algorithmsFor = (keys: readonly JWK[]): SigningAlgorithm[] => {
  const algs = [...new Set(keys.map((key) => key.alg).filter(isSigningAlgorithm))]
  return algs.length > 0 ? algs : ['RS256', 'ES256']
}

const JWT_STAGE_CODES = new Set(['ERR_JWT_INVALID', 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'ERR_JWT_EXPIRED'])

const register = async (jwks: JSONWebKeySet): Promise<Issuer | string> => {
  const algorithms = algorithmsFor(jwks.keys)
  const checked = await checkJwks(jwks, algorithms)
  if ('field' in checked) return `${checked.field}: ${checked.message}`
  return makeIssuer({
    issuerId: 'wycheproof',
    issuer: 'https://wycheproof.invalid',
    jwks: checked.jwks,
    algorithms,
  })
}

const brokerVerdict = async (jws: string, registered: Issuer | string): Promise<Verdict> => {
  if (typeof registered === 'string') return { verified: false, stage: 'registration', reason: registered }
  if (!isStrictCompactJws(jws)) return { verified: false, stage: 'gate', reason: 'token_malformed' }
  const result = await verifyWorkloadToken(jws, [registered], createInlineKeyResolver(), NOW)
  if (result.ok) return { verified: true }
  const cause = result.error.cause
  if (cause instanceof errors.JOSEError && JWT_STAGE_CODES.has(cause.code)) return { verified: true }
  return { verified: false, stage: 'verification', reason: result.error.reason }
}

const HMAC = /^HS\d+$/
const algOf = (jws: string): string => {
  try {
    return String(JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')).alg)
  } catch {
    return ''
  }
}

/** Vectors the README quarantines or whose deviation it explains; each pinned to what the broker does. */
const JWS_PINNED: Record<number, { verified: boolean; why: string }> = {
  346: { verified: false, why: 'key alg PS256, token PS384: the registered key is pinned to its alg' },
  350: { verified: false, why: 'key alg PS256, token PS384: the registered key is pinned to its alg' },
  347: { verified: false, why: 'key alg "ES521" is no algorithm: the key cannot be registered' },
  351: { verified: false, why: 'key alg "ES521" is no algorithm: the key cannot be registered' },
  372: { verified: false, why: 'labelled valid, but a "?" changed the signing input (quarantined)' },
  373: { verified: false, why: 'labelled valid, but a "?" changed the signing input (quarantined)' },
  367: { verified: false, why: 'byte-identical to tcId 357 (C2SP/wycheproof#236), an HS256 vector' },
  370: { verified: false, why: 'byte-identical to tcId 357 (C2SP/wycheproof#236), an HS256 vector' },
}

/** An empty payload segment is no JWT: the strict compact gate refuses it whatever the signature. */
const emptyPayload = (jws: string): boolean => jws.split('.').length === 3 && jws.split('.')[1] === ''

/**
 * Under the broker profile: HS* never verifies, an empty payload never passes the gate, pinned
 * vectors as above; otherwise Wycheproof's label.
 */
const expectedJws = (vector: Vector): boolean => {
  const pinned = JWS_PINNED[vector.tcId]
  if (pinned) return pinned.verified
  if (HMAC.test(algOf(vector.jws)) || emptyPayload(vector.jws)) return false
  return vector.result === 'valid'
}

const jwsCases = jwsFile.testGroups.flatMap((group) =>
  group.tests.map((vector) => ({
    group,
    vector,
    label: `${vector.tcId} ${group.comment} ${vector.comment}`,
  })),
)

describe('Wycheproof JWS vectors through key hygiene and verifyWorkloadToken', () => {
  const tally = { run: 0, verified: 0, refused: 0, byStage: {} as Record<string, number> }

  it('runs every vector of the file', () => {
    expect(jwsCases.length).toBe(jwsFile.numberOfTests)
    expect(jwsCases.length).toBe(401)
  })

  it.each(jwsCases)('tcId $label', async ({ group, vector }) => {
    // Prepare
    const registered = await register({ keys: [group.public ?? publicPart(group.private)] })
    // Act
    const verdict = await brokerVerdict(vector.jws, registered)
    // Assess
    tally.run++
    if (verdict.verified) tally.verified++
    else {
      tally.refused++
      tally.byStage[verdict.stage] = (tally.byStage[verdict.stage] ?? 0) + 1
    }
    expect(verdict.verified).toBe(expectedJws(vector))
  })

  it('pins each quarantined or deviating vector to the README note it belongs to', () => {
    // Prepare
    const jwsOf = (tcId: number) => jwsCases.find((c) => c.vector.tcId === tcId)?.vector.jws
    // Assess
    expect(jwsOf(367)).toBe(jwsOf(357))
    expect(jwsOf(370)).toBe(jwsOf(357))
    expect(algOf(jwsOf(357) ?? '')).toBe('HS256')
    expect(
      Object.keys(JWS_PINNED)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual([346, 347, 350, 351, 367, 370, 372, 373])
  })

  it('refuses every HS* vector (10 of them labelled valid) and every alg:none vector', async () => {
    // Prepare
    const hmac = jwsCases.filter((c) => HMAC.test(algOf(c.vector.jws)))
    const none = jwsCases.filter((c) => algOf(c.vector.jws).toLowerCase() === 'none')
    // Act
    const verdicts = await Promise.all(
      [...hmac, ...none].map(async ({ group, vector }) =>
        brokerVerdict(vector.jws, await register({ keys: [group.public ?? publicPart(group.private)] })),
      ),
    )
    // Assess
    expect(hmac.filter((c) => c.vector.result === 'valid').length).toBe(10)
    expect(none.length).toBe(5)
    expect(verdicts.filter((v) => v.verified)).toEqual([])
  })

  it('refuses the six valid vectors with an empty payload at the strict compact gate', async () => {
    // Prepare
    const empty = jwsCases.filter(
      (c) => c.vector.result === 'valid' && emptyPayload(c.vector.jws) && !HMAC.test(algOf(c.vector.jws)),
    )
    // Act
    const verdicts = await Promise.all(
      empty.map(async ({ group, vector }) =>
        brokerVerdict(vector.jws, await register({ keys: [group.public ?? publicPart(group.private)] })),
      ),
    )
    // Assess
    expect(empty.map((c) => c.vector.tcId)).toEqual([259, 264, 268, 272, 320, 325])
    expect(verdicts.map((v) => !v.verified && v.stage)).toEqual(new Array(6).fill('gate'))
  })

  it('tallies the run (reported in docs/security.md)', () => {
    // Assess: every vector ran once, and the split matches the expectations above
    expect(tally.run).toBe(401)
    expect(tally.verified).toBe(jwsCases.filter((c) => expectedJws(c.vector)).length)
    expect(tally.verified + tally.refused).toBe(401)
    console.info(`wycheproof JWS: ${JSON.stringify(tally)}`)
  })
})

const jwkCases = jwkFile.testGroups.flatMap((group) =>
  group.tests.map((vector) => ({ group, vector, label: `${vector.tcId} ${vector.comment}` })),
)

/** HMAC-only key sets are never registrable, so their `valid` vectors are refused under the broker profile. */
const expectedJwk = (vector: Vector, jwks: JSONWebKeySet): boolean =>
  vector.result === 'valid' && !jwks.keys.some((key) => key.kty === 'oct')

const jwkCase = (tcId: number) => {
  const found = jwkCases.find((c) => c.vector.tcId === tcId)
  if (!found) throw new Error(`no JWK vector ${tcId}`)
  return found
}

const keySetOf = (group: JwkGroup): JSONWebKeySet =>
  group.public ?? { keys: (group.private?.keys ?? []).map(publicPart) }

describe('Wycheproof JWK vectors: which key sets the broker registers', () => {
  it('runs every vector of the file', () => {
    expect(jwkCases.length).toBe(jwkFile.numberOfTests)
  })

  it.each(jwkCases)('tcId $label', async ({ group, vector }) => {
    // Prepare
    const jwks = keySetOf(group)
    // Act
    const verdict = await brokerVerdict(vector.jws, await register(jwks))
    // Assess
    expect(verdict.verified).toBe(expectedJwk(vector, jwks))
  })

  it.each([
    [7, 'keys[0].n', /ROCA fingerprint/],
    [8, 'keys[0].n', /at least 2048 bits/],
    [9, 'keys[0].e', /65537/],
  ])(
    'refuses at registration the key of tcId %i, which plain jose would verify with',
    async (tcId, field, message) => {
      // Prepare
      const { group, vector } = jwkCase(tcId)
      const jwks = keySetOf(group)
      // Act
      const plainJose = await compactVerify(vector.jws, createLocalJWKSet(jwks)).then(
        () => 'verified',
        (error: unknown) => (error as Error).name,
      )
      const checked = await checkJwks(jwks, algorithmsFor(jwks.keys))
      // Assess: 7 and 9 verify under plain jose (the attack is real); jose refuses 1024-bit RSA itself
      expect(plainJose).toBe(tcId === 8 ? 'TypeError' : 'verified')
      expect(checked).toMatchObject({ field })
      expect('message' in checked && checked.message).toMatch(message)
    },
  )

  it.each([6, 10, 16, 19, 20, 21, 22, 23, 24, 25])(
    'refuses the key set of tcId %i at registration',
    async (tcId) => {
      // Prepare
      const { group } = jwkCase(tcId)
      // Act
      const registered = await register(keySetOf(group))
      // Assess
      expect(typeof registered).toBe('string')
    },
  )
})
