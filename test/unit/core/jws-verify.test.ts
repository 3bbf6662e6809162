// The two adapters of the JwtVerifier port (shared/core/jwt-verifier.ts) side by side: the fast
// path verifyCompactJwt (shared/core/jws-verify.ts) against joseJwtVerifier, jose's own jwtVerify,
// as the oracle. On every Wycheproof JWS and JWK vector, every attack-corpus token, the real
// Kubernetes tokens, and generated tokens and mutations, both give the same verdict: verified with
// the same claims and header, or the same error (class, code, and for a claim failure the claim,
// reason and claims). This suite is the gate of a jose upgrade (docs/decisions.md).
import { constants, generateKeyPairSync, KeyObject, verify as nodeVerify, sign, webcrypto } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { verifyCompactJwt } from '../../../shared/core/jws-verify.js'
import {
  type JwtVerifier,
  type JwtVerifyOptions,
  joseJwtVerifier,
} from '../../../shared/core/jwt-verifier.js'
import { SIGNING_ALGORITHMS } from '../../../shared/core/model.js'
import { attackCorpus, CORPUS_DIR, k8sJwks, k8sPairs, k8sToken, targetJwks } from '../../support/corpus.js'
import { AUDIENCE, K8S_ISSUER } from '../../support/workload-issuer.js'
import { NOW, NOW_SECONDS } from '../fixtures.js'

// The arithmetic is node:crypto's `verify`: watched (and still run) to see what reaches it.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>()
  return { ...actual, verify: vi.fn(actual.verify) }
})

const subtle = webcrypto.subtle

/**
 * A JSON value as text, built without recursion: the attack corpus holds claims nested 50,000
 * deep, too deep for JSON.stringify or a recursive equality.
 */
const canonical = (value: unknown): string => {
  const out: string[] = []
  const stack: unknown[] = [value]
  const CLOSE = Symbol('close')
  while (stack.length > 0) {
    const next = stack.pop()
    if (typeof next === 'object' && next !== null && CLOSE in next) {
      out.push(String((next as { [CLOSE]: string })[CLOSE]))
    } else if (Array.isArray(next)) {
      out.push('[')
      stack.push({ [CLOSE]: ']' })
      for (let i = next.length - 1; i >= 0; i--) stack.push(next[i], { [CLOSE]: ',' })
    } else if (typeof next === 'object' && next !== null) {
      out.push('{')
      stack.push({ [CLOSE]: '}' })
      for (const [key, member] of Object.entries(next).reverse())
        stack.push(member, { [CLOSE]: `${JSON.stringify(key)}:` }, { [CLOSE]: ',' })
    } else out.push(next === undefined ? 'undefined' : JSON.stringify(next))
  }
  return out.join('')
}

type Verdict = { verified: true; claims: string; header: string } | { verified: false; error: string }

const describeError = (error: unknown): string => {
  if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired)
    return `${error.constructor.name}/${error.code}/${error.claim}/${error.reason}/${canonical(error.payload)}`
  if (error instanceof errors.JOSEError) return `${error.constructor.name}/${error.code}`
  return error instanceof Error ? error.constructor.name : `thrown ${typeof error}`
}

const verdictOf = async (
  run: () => Promise<{ payload: unknown; protectedHeader: unknown }>,
): Promise<Verdict> => {
  try {
    const { payload, protectedHeader } = await run()
    return { verified: true, claims: canonical(payload), header: canonical(protectedHeader) }
  } catch (error) {
    return { verified: false, error: describeError(error) }
  }
}

const tally = { cases: 0, verified: 0, outcomes: {} as Record<string, number> }

/** The port's two adapters: the one under test, and the oracle. */
const fastPath: JwtVerifier = verifyCompactJwt
const oracle: JwtVerifier = joseJwtVerifier

/** Both verdicts on one input; each verifier gets its own getter from `getKeyFor`. */
const bothVerdicts = async (
  token: string,
  getKeyFor: () => JWTVerifyGetKey,
  options: JwtVerifyOptions,
): Promise<{ ours: Verdict; jose: Verdict }> => {
  const ours = await verdictOf(() => fastPath(token, getKeyFor(), options))
  const jose = await verdictOf(() => oracle(token, getKeyFor(), options))
  tally.cases++
  if (jose.verified) tally.verified++
  const outcome = jose.verified ? 'verified' : (jose.error.split('/').slice(0, 2).join('/') ?? '')
  tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1
  return { ours, jose }
}

const localSet = (jwks: JSONWebKeySet) => () => createLocalJWKSet(jwks)

const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'exp', 'iat']

/** The options verifyWorkloadToken passes for an issuer. */
const brokerOptions = (
  issuer: string,
  audience: string,
  algorithms: readonly string[],
  currentDate: Date,
): JwtVerifyOptions => ({
  issuer,
  audience: [audience],
  algorithms,
  clockTolerance: 60,
  currentDate,
  requiredClaims: REQUIRED_CLAIMS,
})

afterEach(() => {
  vi.mocked(nodeVerify).mockClear()
})

// ── the corpora ──────────────────────────────────────────────────────────────────────────

const wycheproof = join(CORPUS_DIR, 'vectors', 'wycheproof', 'testvectors_v1')
interface Vector {
  tcId: number
  jws: string
}
const loadVectors = <G>(file: string) =>
  (JSON.parse(readFileSync(join(wycheproof, file), 'utf8')) as { testGroups: G[] }).testGroups

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth']
const publicPart = (key: JWK): JWK =>
  Object.fromEntries(Object.entries(key).filter(([member]) => !PRIVATE_MEMBERS.includes(member))) as JWK

const jwsVectors = loadVectors<{ private: JWK; public?: JWK; tests: Vector[] }>(
  'json_web_signature_test.json',
).flatMap((group) =>
  group.tests.map((vector) => ({ vector, jwks: { keys: [group.public ?? publicPart(group.private)] } })),
)
const jwkVectors = loadVectors<{ private?: JSONWebKeySet; public?: JSONWebKeySet; tests: Vector[] }>(
  'json_web_key_test.json',
).flatMap((group) =>
  group.tests.map((vector) => ({
    vector,
    jwks: group.public ?? { keys: (group.private?.keys ?? []).map(publicPart) },
  })),
)

const ALL_ALGORITHMS = [...SIGNING_ALGORITHMS]
const WYCHEPROOF_OPTIONS = brokerOptions('https://wycheproof.invalid', AUDIENCE, ALL_ALGORITHMS, NOW)

describe('verifyCompactJwt gives jwtVerify’s verdict on the corpora', () => {
  it.each(jwsVectors)('Wycheproof JWS tcId $vector.tcId', async ({ vector, jwks }) => {
    const { ours, jose } = await bothVerdicts(vector.jws, localSet(jwks), WYCHEPROOF_OPTIONS)
    expect(ours).toEqual(jose)
  })

  it.each(jwkVectors)('Wycheproof JWK tcId $vector.tcId', async ({ vector, jwks }) => {
    const { ours, jose } = await bothVerdicts(vector.jws, localSet(jwks), WYCHEPROOF_OPTIONS)
    expect(ours).toEqual(jose)
  })

  const attacks = attackCorpus.cases.flatMap((attack) => {
    const target = attackCorpus.targets[attack.target]
    if (!target) throw new Error(`no target ${attack.target}`)
    const currentDate = new Date(target.frozen_clock_unix * 1000)
    return [
      { attack, target, algorithms: target.allowed_algs, currentDate, allowed: 'target' },
      { attack, target, algorithms: ALL_ALGORITHMS, currentDate, allowed: 'all' },
    ]
  })

  it.each(attacks)(
    'attack $attack.id ($attack.expect), $allowed algorithms',
    async ({ attack, target, algorithms, currentDate }) => {
      const options = brokerOptions(target.issuer, target.audience, algorithms, currentDate)
      const { ours, jose } = await bothVerdicts(attack.token, localSet(targetJwks(target)), options)
      expect(ours).toEqual(jose)
    },
  )

  const k8s = k8sPairs.flatMap((pair) => [
    { pair, at: pair.freeze_clock_unix, when: 'at the frozen clock' },
    { pair, at: pair.times.exp + 61, when: 'past exp and the skew' },
  ])

  it.each(k8s)('real Kubernetes token $pair.dir $when', async ({ pair, at }) => {
    const options = brokerOptions(
      pair.verify_with.issuer,
      pair.verify_with.audience,
      pair.verify_with.algorithms,
      new Date(at * 1000),
    )
    const { ours, jose } = await bothVerdicts(k8sToken(pair), localSet(k8sJwks(pair)), options)
    expect(ours).toEqual(jose)
  })

  it('runs every vector and token', () => {
    expect(jwsVectors.length).toBe(401)
    expect(jwkVectors.length).toBe(26)
    expect(attacks.length).toBe(200)
    expect(k8s.length).toBe(4)
  })
})

// ── generated tokens and mutations ──────────────────────────────────────────────────────

type KeyName = 'rsa' | 'rsa2' | 'rsa1024' | 'p256' | 'p384' | 'p521' | 'ed25519'
const KEY_NAMES: KeyName[] = ['rsa', 'rsa2', 'rsa1024', 'p256', 'p384', 'p521', 'ed25519']

interface PoolKey {
  privateKey: KeyObject
  publicKey: KeyObject
  jwk: JWK
}

/** WebCrypto import parameters for each JWS algorithm (jose's own table). */
const SUBTLE: Record<string, { name: string; hash?: string; namedCurve?: string }> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  RS384: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  RS512: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  PS384: { name: 'RSA-PSS', hash: 'SHA-384' },
  PS512: { name: 'RSA-PSS', hash: 'SHA-512' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  ES512: { name: 'ECDSA', namedCurve: 'P-521' },
  EdDSA: { name: 'Ed25519' },
}

const ALGS_FOR: Record<KeyName, string[]> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  rsa2: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  rsa1024: ['RS256', 'PS256'],
  p256: ['ES256'],
  p384: ['ES384'],
  p521: ['ES512'],
  ed25519: ['EdDSA'],
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' }

/** A JWS signature over `input` with `key`, as the algorithm `signAs` makes it (any curve's hash). */
const signWith = (
  signAs: string,
  hash: string,
  key: KeyObject,
  input: string,
  pssSalt: number = constants.RSA_PSS_SALTLEN_DIGEST,
): Buffer => {
  const data = Buffer.from(input, 'latin1')
  if (signAs === 'EdDSA') return sign(null, data, key)
  if (signAs.startsWith('PS'))
    return sign(hash, data, {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: pssSalt,
    })
  if (signAs.startsWith('ES')) return sign(hash, data, { key, dsaEncoding: 'ieee-p1363' })
  return sign(hash, data, key)
}

const pool = {} as Record<KeyName, PoolKey>
/** CryptoKeys a getter may hand over, fitting or not the token's algorithm. */
const cryptoKeys: { label: string; key: webcrypto.CryptoKey; from: KeyName }[] = []

beforeAll(async () => {
  const pairs: Record<KeyName, { privateKey: KeyObject; publicKey: KeyObject }> = {
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    rsa2: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    rsa1024: generateKeyPairSync('rsa', { modulusLength: 1024 }),
    p256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    p384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    p521: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    ed25519: generateKeyPairSync('ed25519'),
  }
  for (const name of KEY_NAMES) {
    const pair = pairs[name]
    pool[name] = { ...pair, jwk: pair.publicKey.export({ format: 'jwk' }) as JWK }
    for (const alg of ALGS_FOR[name]) {
      const params = SUBTLE[alg] ?? { name: '' }
      const key = await subtle.importKey('jwk', pool[name].jwk as webcrypto.JsonWebKey, params, true, [
        'verify',
      ])
      cryptoKeys.push({ label: `${name} as ${alg}`, key, from: name })
    }
  }
  // Keys no verifier may use: a private key, and a public key without the verify usage.
  const privateJwk = pairs.rsa.privateKey.export({ format: 'jwk' }) as webcrypto.JsonWebKey
  cryptoKeys.push({
    label: 'rsa private key',
    from: 'rsa',
    key: await subtle.importKey('jwk', privateJwk, SUBTLE.RS256 ?? { name: '' }, true, ['sign']),
  })
  const p256Private = pairs.p256.privateKey.export({ format: 'jwk' }) as webcrypto.JsonWebKey
  cryptoKeys.push({
    label: 'p256 private key',
    from: 'p256',
    key: await subtle.importKey('jwk', p256Private, SUBTLE.ES256 ?? { name: '' }, true, ['sign']),
  })
  cryptoKeys.push({
    label: 'rsa without usages',
    from: 'rsa',
    key: await subtle.importKey(
      'jwk',
      pool.rsa.jwk as webcrypto.JsonWebKey,
      SUBTLE.RS256 ?? { name: '' },
      true,
      [],
    ),
  })
})

const HEADER_ALGS = [...ALL_ALGORITHMS, 'Ed25519', 'HS256', 'none', 'ES256K', 'RS1', '']

/** Header members beside `alg`: `crit` and `b64` in every shape jose tells apart, and others. */
const HEADER_VARIANTS: Record<string, unknown>[] = [
  {},
  { typ: 'JWT' },
  { crit: ['b64'], b64: true },
  { crit: ['b64'], b64: false },
  { crit: ['b64'] },
  { crit: ['b64'], b64: 'false' },
  { b64: false },
  { crit: ['exp'], exp: 1 },
  // The order of jose's checks shows: `b64` missing is found before `exp` is found unknown.
  { crit: ['b64', 'exp'], exp: 1 },
  { crit: ['b64', 'exp'], b64: true, exp: 1 },
  { crit: ['exp', 'b64'], b64: true },
  { crit: ['b64', 'b64'], b64: true },
  { crit: [] },
  { crit: 'b64', b64: true },
  { crit: [''] },
  { crit: [1] },
  { crit: null },
  { jku: 'https://attacker.invalid/jwks.json' },
  { jwk: { kty: 'oct', k: 'AAAA' } },
]

const headerExtras = fc.constantFrom(...HEADER_VARIANTS)

const claimVariants = fc.constantFrom<Record<string, unknown>>(
  {},
  {},
  {},
  { exp: NOW_SECONDS - 3600 },
  { exp: NOW_SECONDS - 30 },
  { nbf: NOW_SECONDS + 3600 },
  { aud: 'someone-else' },
  { aud: [] },
  { iss: 'https://other.invalid' },
  { sub: undefined },
  { iat: 'yesterday' },
  { exp: '1' },
  { iat: undefined, exp: undefined },
)

/** A change to a signed token: [name, applies it]. */
const MUTATIONS: [string, (segments: [string, string, string]) => string][] = [
  ['none', ([h, p, s]) => `${h}.${p}.${s}`],
  ['none', ([h, p, s]) => `${h}.${p}.${s}`],
  ['none', ([h, p, s]) => `${h}.${p}.${s}`],
  ['signature bit flipped', ([h, p, s]) => `${h}.${p}.${flipBit(s)}`],
  ['signature one byte short', ([h, p, s]) => `${h}.${p}.${reencode(s, (b) => b.subarray(0, -1))}`],
  [
    'signature one byte long',
    ([h, p, s]) => `${h}.${p}.${reencode(s, (b) => Buffer.concat([b, Buffer.of(0)]))}`,
  ],
  [
    'signature zero-prefixed',
    ([h, p, s]) => `${h}.${p}.${reencode(s, (b) => Buffer.concat([Buffer.of(0), b]))}`,
  ],
  ['signature halved', ([h, p, s]) => `${h}.${p}.${reencode(s, (b) => b.subarray(0, b.length / 2))}`],
  ['signature doubled', ([h, p, s]) => `${h}.${p}.${reencode(s, (b) => Buffer.concat([b, b]))}`],
  ['signature as DER', ([h, p, s]) => `${h}.${p}.${reencode(s, toDer)}`],
  ['signature empty', ([h, p]) => `${h}.${p}.`],
  ['signature 1 mod 4', ([h, p, s]) => `${h}.${p}.${s}A`],
  ['signature padded', ([h, p, s]) => `${h}.${p}.${s}${'='.repeat((4 - (s.length % 4)) % 4)}`],
  ['signature with +/', ([h, p, s]) => `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+`],
  [
    'payload byte changed',
    ([h, p, s]) => `${h}.${p.slice(0, 4)}${p[4] === 'A' ? 'B' : 'A'}${p.slice(5)}.${s}`,
  ],
  ['payload non-ASCII', ([h, p, s]) => `${h}.${p}é.${s}`],
  [
    'payload 1 mod 4',
    ([h, p, s]) => `${h}.${p}${p.length % 4 === 0 ? 'A' : p.length % 4 === 2 ? 'AAA' : 'AA'}.${s}`,
  ],
  ['payload with whitespace', ([h, p, s]) => `${h}.${p.slice(0, 8)} ${p.slice(8)}.${s}`],
  [
    'header 1 mod 4',
    ([h, p, s]) => `${h}${h.length % 4 === 0 ? 'A' : h.length % 4 === 2 ? 'AAA' : 'AA'}.${p}.${s}`,
  ],
  ['header with whitespace', ([h, p, s]) => `${h.slice(0, 4)}\n${h.slice(4)}.${p}.${s}`],
  ['header not JSON', ([, p, s]) => `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`],
  [
    'header invalid UTF-8',
    ([, p, s]) => `${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.${p}.${s}`,
  ],
  ['header an array', ([, p, s]) => `${Buffer.from('["RS256"]').toString('base64url')}.${p}.${s}`],
  ['four segments', ([h, p, s]) => `${h}.${p}.${s}.${s}`],
  ['two segments', ([h, p]) => `${h}.${p}`],
]

const flipBit = (segment: string): string => {
  const bytes = Buffer.from(segment, 'base64url')
  if (bytes.length === 0) return segment
  const index = bytes.length >> 1
  bytes[index] = (bytes[index] ?? 0) ^ 0x10
  return bytes.toString('base64url')
}

const reencode = (segment: string, change: (bytes: Buffer) => Buffer): string =>
  change(Buffer.from(segment, 'base64url')).toString('base64url')

/** An ieee-p1363 signature (r‖s) as DER, as a careless signer would send it. */
const toDer = (signature: Buffer): Buffer => {
  const half = signature.length / 2
  const integer = (bytes: Buffer) => {
    let start = 0
    while (start < bytes.length - 1 && bytes[start] === 0) start++
    const trimmed = bytes.subarray(start)
    const value = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed
    return Buffer.concat([Buffer.of(0x02, value.length), value])
  }
  const body = Buffer.concat([integer(signature.subarray(0, half)), integer(signature.subarray(half))])
  return Buffer.concat([Buffer.of(0x30, body.length), body])
}

const encodeJson = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Mostly the plain case, so that enough tokens reach the signature and the claims. */
const mostly = <T>(plain: fc.Arbitrary<T>, other: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: plain }, { weight: 2, arbitrary: other })

const generated = fc.record({
  signer: fc.constantFrom(...KEY_NAMES),
  signAsIndex: fc.nat(),
  headerAlg: mostly(fc.constant(undefined), fc.constantFrom(...HEADER_ALGS)),
  kid: fc.constantFrom<'signer' | 'other' | 'none'>('signer', 'signer', 'other', 'none'),
  extras: mostly(fc.constant({}), headerExtras),
  claims: mostly(fc.constant({}), claimVariants),
  mutation: mostly(fc.constant(0), fc.nat({ max: MUTATIONS.length - 1 })),
  // PSS salts other than the digest length (WebCrypto's, so jose's): 0, and the most that fits.
  pssSalt: mostly(
    fc.constant(constants.RSA_PSS_SALTLEN_DIGEST),
    fc.constantFrom(0, 20, constants.RSA_PSS_SALTLEN_MAX_SIGN),
  ),
  getter: fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('own key' as const), withAlg: fc.boolean() }) },
    fc.record({
      kind: fc.constant('key set' as const),
      withAlg: fc.boolean(),
      subset: fc.subarray(KEY_NAMES),
    }),
    fc.record({ kind: fc.constant('crypto key' as const), index: fc.nat() }),
  ),
  algorithms: mostly(fc.constant(ALL_ALGORITHMS), fc.subarray(ALL_ALGORITHMS, { minLength: 1 })),
})

type Generated = typeof generated extends fc.Arbitrary<infer T> ? T : never

const KIDS: Record<KeyName, string> = {
  rsa: 'k-rsa',
  rsa2: 'k-rsa2',
  rsa1024: 'k-rsa1024',
  p256: 'k-p256',
  p384: 'k-p384',
  p521: 'k-p521',
  ed25519: 'k-ed25519',
}

const buildCase = (input: Generated) => {
  const signAlgs = ALGS_FOR[input.signer]
  const signAs = signAlgs[input.signAsIndex % signAlgs.length] ?? 'RS256'
  // A header naming another algorithm than the one signed with: an algorithm swap.
  const alg = input.headerAlg ?? signAs
  const header: Record<string, unknown> = { alg, ...input.extras }
  if (input.kid === 'signer') header.kid = KIDS[input.signer]
  if (input.kid === 'other') header.kid = 'k-unknown'
  const claims: Record<string, unknown> = {
    iss: K8S_ISSUER,
    aud: [AUDIENCE],
    sub: 'system:serviceaccount:ml:trainer',
    iat: NOW_SECONDS - 60,
    exp: NOW_SECONDS + 3600,
    ...input.claims,
  }
  const [h, p] = [encodeJson(header), encodeJson(claims)]
  const hash = signAs === 'EdDSA' ? '' : (HASH[signAs.slice(2)] ?? 'sha256')
  const signature = signWith(
    signAs,
    hash,
    pool[input.signer].privateKey,
    `${h}.${p}`,
    input.pssSalt,
  ).toString('base64url')
  const [label, mutate] = MUTATIONS[input.mutation] ?? MUTATIONS[0] ?? ['none', () => '']
  const token = mutate([h, p, signature])
  let getKeyFor: () => JWTVerifyGetKey
  let keyLabel: string
  if (input.getter.kind !== 'crypto key') {
    const names = input.getter.kind === 'own key' ? [input.signer] : input.getter.subset
    const withAlg = input.getter.withAlg
    const jwks = {
      keys: names.map((name) => ({
        ...pool[name].jwk,
        kid: KIDS[name],
        ...(withAlg ? { alg: ALGS_FOR[name][0] } : {}),
      })),
    }
    getKeyFor = localSet(jwks)
    keyLabel = `key set [${names.join(',')}]${withAlg ? ' with alg' : ''}`
  } else {
    const chosen = cryptoKeys[input.getter.index % cryptoKeys.length]
    if (!chosen) throw new Error('no crypto keys')
    getKeyFor = () => async () => chosen.key
    keyLabel = chosen.label
  }
  return {
    token,
    getKeyFor,
    options: brokerOptions(K8S_ISSUER, AUDIENCE, input.algorithms, NOW),
    describe: `${input.signer} signing as ${signAs}, header ${JSON.stringify(header)}, claims ${JSON.stringify(input.claims)}, PSS salt ${input.pssSalt}, ${label}, ${keyLabel}, allowed ${input.algorithms.join(',')}`,
  }
}

/** How `signer` signs a token whose header says `alg`: as `alg` when its key type can, else as its own. */
const signAsFor = (signer: KeyName, alg: string): string => {
  const family = (name: string) => (name.startsWith('ES') ? 'ec' : name.startsWith('Ed') ? 'ed' : 'rsa')
  const own = ALGS_FOR[signer][0] ?? 'RS256'
  return family(alg) === family(own) ? (alg === 'Ed25519' ? 'EdDSA' : alg) : own
}

/** The payload segment of a token the broker accepts for one minute from NOW. */
const minuteClaims = () =>
  encodeJson({ iss: K8S_ISSUER, aud: AUDIENCE, sub: 's', iat: NOW_SECONDS, exp: NOW_SECONDS + 60 })

describe('verifyCompactJwt gives jwtVerify’s verdict for every key a getter may hand over', () => {
  it('agrees on each CryptoKey × header algorithm, signed as that algorithm whenever the key type can', async () => {
    const mismatches: unknown[] = []
    const algorithms = [...ALL_ALGORITHMS, 'Ed25519']
    for (const { label, key, from } of cryptoKeys) {
      for (const alg of algorithms) {
        // RSA-1024 is too small for PS512's salt: it signs as its own algorithm then.
        const signAs = from === 'rsa1024' && alg === 'PS512' ? 'RS256' : signAsFor(from, alg)
        const h = encodeJson({ alg })
        const p = minuteClaims()
        const hash = signAs === 'EdDSA' ? '' : (HASH[alg.slice(2)] ?? 'sha256')
        const signature = signWith(signAs, hash, pool[from].privateKey, `${h}.${p}`).toString('base64url')
        const { ours, jose } = await bothVerdicts(
          `${h}.${p}.${signature}`,
          () => async () => key,
          brokerOptions(K8S_ISSUER, AUDIENCE, algorithms, NOW),
        )
        if (JSON.stringify(ours) !== JSON.stringify(jose)) mismatches.push({ label, alg, signAs, ours, jose })
      }
    }
    expect(mismatches).toEqual([])
    expect(cryptoKeys.length * algorithms.length).toBe(21 * 11)
  })
})

const OPTIONS = brokerOptions(K8S_ISSUER, AUDIENCE, ALL_ALGORITHMS, NOW)

describe('verifyCompactJwt gives jwtVerify’s verdict for every header variant', () => {
  it.each(HEADER_VARIANTS.map((extras) => ({ extras, label: JSON.stringify(extras) })))(
    'header $label, signed by the registered key, the signature intact or not',
    async ({ extras }) => {
      const h = encodeJson({ alg: 'RS256', kid: KIDS.rsa, ...extras })
      const p = minuteClaims()
      const signature = signWith('RS256', 'sha256', pool.rsa.privateKey, `${h}.${p}`).toString('base64url')
      for (const token of [`${h}.${p}.${signature}`, `${h}.${p}.${flipBit(signature)}`]) {
        const { ours, jose } = await bothVerdicts(
          token,
          localSet({ keys: [{ ...pool.rsa.jwk, kid: KIDS.rsa }] }),
          OPTIONS,
        )
        expect(ours).toEqual(jose)
      }
    },
  )
})

const GENERATED_RUNS = 3000

describe('verifyCompactJwt gives jwtVerify’s verdict on generated tokens', () => {
  it(`agrees on ${GENERATED_RUNS} generated tokens, mutations, keys and allowlists`, async () => {
    const before = { ...tally }
    await fc.assert(
      fc.asyncProperty(generated, async (input) => {
        const { token, getKeyFor, options, describe: what } = buildCase(input)
        const { ours, jose } = await bothVerdicts(token, getKeyFor, options)
        expect({ what, verdict: ours }).toEqual({ what, verdict: jose })
      }),
      { numRuns: GENERATED_RUNS },
    )
    // The runs reach every stage: some verify, and each kind of refusal shows up.
    expect(tally.cases - before.cases).toBe(GENERATED_RUNS)
    expect(tally.verified - before.verified).toBeGreaterThan(50)
    for (const outcome of [
      'JOSEAlgNotAllowed/ERR_JOSE_ALG_NOT_ALLOWED',
      'JOSENotSupported/ERR_JOSE_NOT_SUPPORTED',
      'JWSInvalid/ERR_JWS_INVALID',
      'JWSSignatureVerificationFailed/ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      'JWKSNoMatchingKey/ERR_JWKS_NO_MATCHING_KEY',
      'JWTExpired/ERR_JWT_EXPIRED',
      'JWTClaimValidationFailed/ERR_JWT_CLAIM_VALIDATION_FAILED',
      'JWTInvalid/ERR_JWT_INVALID',
      'TypeError',
    ])
      expect(tally.outcomes[outcome], outcome).toBeGreaterThan(0)
    console.info(`jws-verify differential: ${JSON.stringify(tally)}`)
  })
})

// ── what jose cannot show: what reaches node:crypto ─────────────────────────────────────

/** A token signed by `signer` as `alg`, with a getter handing over that key as a CryptoKey. */
const signed = async (signer: KeyName, alg: string, claims: Record<string, unknown> = {}) => {
  const h = encodeJson({ alg, kid: KIDS[signer] })
  const p = encodeJson({
    iss: K8S_ISSUER,
    aud: [AUDIENCE],
    sub: 'system:serviceaccount:ml:trainer',
    iat: NOW_SECONDS - 60,
    exp: NOW_SECONDS + 3600,
    ...claims,
  })
  const hash = alg === 'EdDSA' ? '' : (HASH[alg.slice(2)] ?? 'sha256')
  const signature = signWith(alg, hash, pool[signer].privateKey, `${h}.${p}`)
  const key = await subtle.importKey(
    'jwk',
    pool[signer].jwk as webcrypto.JsonWebKey,
    SUBTLE[alg] ?? { name: '' },
    true,
    ['verify'],
  )
  return { h, p, signature, getKey: (async () => key) as JWTVerifyGetKey }
}

describe('verifyCompactJwt: the signature arithmetic', () => {
  it('verifies each algorithm the broker accepts with node:crypto, synchronously, and returns jose’s claims', async () => {
    for (const [signer, alg] of [
      ['rsa', 'RS256'],
      ['rsa', 'RS384'],
      ['rsa', 'RS512'],
      ['rsa', 'PS256'],
      ['rsa', 'PS384'],
      ['rsa', 'PS512'],
      ['p256', 'ES256'],
      ['p384', 'ES384'],
      ['p521', 'ES512'],
      ['ed25519', 'EdDSA'],
    ] as const) {
      const { h, p, signature, getKey } = await signed(signer, alg)
      vi.mocked(nodeVerify).mockClear()
      const result = await verifyCompactJwt(`${h}.${p}.${signature.toString('base64url')}`, getKey, OPTIONS)
      expect(result.payload.sub).toBe('system:serviceaccount:ml:trainer')
      expect(result.protectedHeader).toEqual({ alg, kid: KIDS[signer] })
      expect(vi.mocked(nodeVerify), alg).toHaveBeenCalledTimes(1)
    }
  })

  it.each([
    ['p256', 'ES256', 64],
    ['p384', 'ES384', 96],
    ['p521', 'ES512', 132],
  ] as const)('hands node:crypto no %s signature but one of exactly %s bytes', async (signer, alg, bytes) => {
    const { h, p, signature, getKey } = await signed(signer, alg)
    expect(signature.length).toBe(bytes)
    for (const wrong of [
      signature.subarray(0, -1),
      Buffer.concat([signature, Buffer.of(0)]),
      Buffer.concat([Buffer.of(0), signature]),
      toDer(signature),
      Buffer.alloc(0),
    ]) {
      vi.mocked(nodeVerify).mockClear()
      const token = `${h}.${p}.${wrong.toString('base64url')}`
      await expect(verifyCompactJwt(token, getKey, OPTIONS)).rejects.toBeInstanceOf(
        errors.JWSSignatureVerificationFailed,
      )
      expect(vi.mocked(nodeVerify)).not.toHaveBeenCalled()
    }
  })

  it('converts a CryptoKey to a KeyObject once, whatever the number of tokens it verifies', async () => {
    const { h, p, signature, getKey } = await signed('p256', 'ES256')
    const from = vi.spyOn(KeyObject, 'from')
    try {
      for (let i = 0; i < 5; i++)
        await verifyCompactJwt(`${h}.${p}.${signature.toString('base64url')}`, getKey, OPTIONS)
      expect(from).toHaveBeenCalledTimes(1)
      expect(vi.mocked(nodeVerify)).toHaveBeenCalledTimes(5)
    } finally {
      from.mockRestore()
    }
  })

  it('looks at no claim before the signature verified: an expired token with a bad signature is a signature failure', async () => {
    const { h, p, signature, getKey } = await signed('rsa', 'RS256', { exp: NOW_SECONDS - 3600 })
    const forged = `${h}.${p}.${flipBit(signature.toString('base64url'))}`
    await expect(verifyCompactJwt(forged, getKey, OPTIONS)).rejects.toBeInstanceOf(
      errors.JWSSignatureVerificationFailed,
    )
    await expect(
      verifyCompactJwt(`${h}.${p}.${signature.toString('base64url')}`, getKey, OPTIONS),
    ).rejects.toBeInstanceOf(errors.JWTExpired)
  })

  it('refuses a key handed over as anything but a CryptoKey, where jose would import it (deliberate)', async () => {
    const { h, p, signature } = await signed('rsa', 'RS256')
    const token = `${h}.${p}.${signature.toString('base64url')}`
    for (const key of [pool.rsa.jwk, pool.rsa.publicKey]) {
      const getKey = (async () => key) as JWTVerifyGetKey
      await expect(oracle(token, getKey, OPTIONS)).resolves.toBeDefined()
      await expect(verifyCompactJwt(token, getKey, OPTIONS)).rejects.toThrow(/must be a public CryptoKey/)
    }
  })
})
