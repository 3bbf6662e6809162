// Admin documents round-trip (issue 12, item 3): for every issuer or binding document the admin
// handler accepts — generated as JSON text, with record keys that JavaScript reserves
// (`__proto__`, `constructor`, `prototype`), members named twice, unknown fields, numbers JSON
// cannot hold — what is stored, taken through JSON as the DynamoDB adapter takes it, equals what
// was sent, member by member; only the fields the server owns or fills by default may differ.
import { generateKeyPairSync } from 'node:crypto'
import type { Context } from 'aws-lambda'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createAdminHandler } from '../../../functions/admin/app.js'
import { createJsonLogger } from '../../../shared/adapters/json-logger.js'
import { createLocalSigner } from '../../../shared/adapters/local-signer.js'
import { loadLocalConfig } from '../../../shared/config.js'
import { duplicateMember } from '../../../shared/core/json-text.js'
import { tokenAdminAuthenticator } from '../../../shared/http/admin-auth.js'
import { createCore } from '../../../shared/wiring.js'
import { capturingSink } from '../../support/log-capture.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import { createTestClock, makeIssuer } from '../fixtures.js'
import { httpEvent } from '../http/http-event.js'

const ADMIN_TOKEN = 'roundtrip-admin-token-0123456789'
const RUNS = 300

const dataPlane = await createTestIssuer({ kid: 'roundtrip-rsa' })
const registry = createMemoryRegistry()
registry.seed({ issuers: [makeIssuer({ issuerId: 'plane', jwks: dataPlane.jwks })] })
const logger = createJsonLogger(capturingSink('property-admin-roundtrip', () => undefined))
const core = createCore(
  {
    registry,
    sts: {
      assumeRoleWithWebIdentity: async () => {
        throw new Error('no STS in this test')
      },
    },
    signer: createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
    clock: createTestClock(),
    logger,
    audit: logger.audit,
    fetchJson: async () => {
      throw new Error('no remote key sets in this test')
    },
  },
  loadLocalConfig({}),
)
const admin = createAdminHandler({ ...core, authenticate: tokenAdminAuthenticator(ADMIN_TOKEN) })

/** Set by the server, or filled by it when the document leaves them out. */
const SERVER_FIELDS = new Set(['version', 'createdAt', 'updatedAt', 'updatedBy'])
const BINDING_DEFAULTS = new Set(['issuerId', 'bindingId', 'profile', 'durationSeconds', 'enabled'])
const ISSUER_DEFAULTS = new Set([
  'issuerId',
  'algorithms',
  'maxTokenLifetimeSeconds',
  'clockSkewSeconds',
  'mode',
  'enabled',
])

// ---- JSON text, member by member (so a name can be __proto__ or appear twice) ---------------

type Member = readonly [string, string]

const objectText = (members: readonly Member[]) =>
  `{${members.map(([name, value]) => `${JSON.stringify(name)}: ${value}`).join(', ')}}`

/** Members, now and then one of them twice. */
const membersOf = (members: fc.Arbitrary<Member[]>) =>
  fc.tuple(members, fc.nat(40)).map(([list, repeat]) => {
    const again = list[repeat % 8]
    return repeat < 6 && again ? [...list, again] : list
  })

const json = (value: unknown) => JSON.stringify(value)
/** `__proto__` most of all: the name a JSON object can hold and a JavaScript object built from it cannot. */
const HOSTILE = [
  '__proto__',
  '__proto__',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
]
const text = fc.string({ unit: 'grapheme', maxLength: 12 })

/** Mostly what an admin writes, sometimes a name JavaScript reserves, now and then anything. */
const mostly = <T>(usual: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>, other: fc.Arbitrary<T>) =>
  fc.oneof(
    { arbitrary: usual, weight: 12 },
    { arbitrary: hostile, weight: 2 },
    { arbitrary: other, weight: 1 },
  )

const tagKey = mostly(
  fc.constantFrom('team', 'namespace', 'env', 'a b', 'x:y', 'Proto'),
  fc.constantFrom(...HOSTILE),
  text,
)
const pointer = mostly(
  fc.constantFrom('/kubernetes.io/namespace', '/groups', '/__proto__', '/constructor', '/a~1b'),
  fc.constantFrom(...HOSTILE),
  text,
)
const pattern = mostly(fc.constantFrom('ml', 'ml-*', 'system:serviceaccount:ml:*'), fc.constant('*'), text)

const sessionTags = membersOf(
  fc.array(
    fc.tuple(
      tagKey,
      mostly(
        fc.constantFrom('{/sub}', 'ml', '{/kubernetes.io/namespace}'),
        fc.constant('{/__proto__}'),
        text,
      ).map(json),
    ),
    { maxLength: 5 },
  ),
)
const claimRules = membersOf(
  fc.array(fc.tuple(pointer, fc.array(pattern, { minLength: 1, maxLength: 3 }).map(json)), { maxLength: 4 }),
)

/** Sometimes a field no schema knows. */
const unknownField = fc.oneof(
  { arbitrary: fc.constant<Member[]>([]), weight: 12 },
  { arbitrary: fc.constant<Member[]>([['colour', json('blue')]]), weight: 1 },
)

const bindingText = fc
  .record(
    {
      roleArn: fc.constant(json('arn:aws:iam::111122223333:role/ml-reader')),
      subjects: fc.array(pattern, { minLength: 1, maxLength: 3 }).map(json),
      claims: claimRules.map(objectText),
      sessionTags: sessionTags,
      condition: mostly(
        fc.constantFrom("claims.sub != ''", "claims['kubernetes.io'].namespace == 'ml'"),
        fc.constant("claims['__proto__'] == 1"),
        fc.constant('claims.x =='),
      ).map(json),
      allowAnyWorkload: fc.boolean().map(json),
      profile: mostly(fc.constantFrom('ml-reader', 'prof'), fc.constant('constructor'), text).map(json),
      description: fc.string({ unit: 'binary', maxLength: 20 }).map(json),
      durationSeconds: mostly(
        fc.integer({ min: 900, max: 43200 }).map(json),
        fc.constant('1e400'),
        fc.constant('60'),
      ),
      enabled: fc.boolean().map(json),
    },
    { requiredKeys: ['roleArn', 'subjects'] },
  )
  .chain(({ sessionTags: tags, ...rest }) =>
    fc
      .tuple(fc.subarray([...(tags ?? []).map(([name]) => name), 'missing']), unknownField)
      .map(([transitive, unknown]) => {
        const members: Member[] = Object.entries(rest).map(([name, value]) => [name, value as string])
        if (tags) members.push(['sessionTags', objectText(tags)])
        if (transitive.length > 0) members.push(['transitiveTagKeys', json(transitive)])
        return [...members, ...unknown]
      }),
  )
  .chain((members) => membersOf(fc.constant(members)))
  .map(objectText)

const keyText = (extra: readonly Member[]) => {
  const key = dataPlane.jwks.keys[0] as Record<string, unknown>
  return objectText([...Object.entries(key).map(([name, value]): Member => [name, json(value)]), ...extra])
}

const issuerText = fc
  .record(
    {
      issuer: fc.constant(json('https://oidc.clusters.example.test')),
      audiences: fc
        .array(mostly(fc.constant('sts.amazonaws.com'), fc.constant('__proto__'), text), {
          minLength: 1,
          maxLength: 3,
        })
        .map(json),
      jwks: fc
        .tuple(
          membersOf(
            fc.array(
              fc.tuple(
                mostly(fc.constantFrom('x-note', 'x5t'), fc.constantFrom(...HOSTILE), text),
                mostly(text.map(json), fc.constant('1e400'), fc.constantFrom('12', 'null', '{}')),
              ),
              { maxLength: 2 },
            ),
          ),
          fc.oneof(
            { arbitrary: fc.constant<Member[]>([]), weight: 8 },
            { arbitrary: fc.constantFrom<Member[]>([['extra', 'true']], [['__proto__', '{}']]), weight: 1 },
          ),
        )
        .map(([keyMembers, setMembers]) => objectText([['keys', `[${keyText(keyMembers)}]`], ...setMembers])),
      algorithms: fc.subarray(['RS256', 'ES256', 'PS256'], { minLength: 1 }).map(json),
      clockSkewSeconds: fc.integer({ min: 0, max: 300 }).map(json),
      description: fc.string({ unit: 'binary', maxLength: 20 }).map(json),
      enabled: fc.boolean().map(json),
    },
    { requiredKeys: ['issuer', 'audiences', 'jwks'] },
  )
  .chain((fields) =>
    unknownField.map((unknown) => [
      ...Object.entries(fields).map(([name, value]): Member => [name, value as string]),
      ...unknown,
    ]),
  )
  .chain((members) => membersOf(fc.constant(members)))
  .map(objectText)

// ---- comparing ------------------------------------------------------------------------------

/** Equal as JSON values: same members (own, enumerable), same elements, same primitives. */
const sameJson = (a: unknown, b: unknown): boolean => {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]))
    )
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keysA = Object.keys(a).sort()
    const keysB = Object.keys(b).sort()
    return (
      sameJson(keysA, keysB) &&
      keysA.every((key) => sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
    )
  }
  return a === b
}

/** The members of `sent` the store changed or lost, and members it added that were not sent. */
const differences = (sent: Record<string, unknown>, stored: unknown, defaults: ReadonlySet<string>) => {
  const roundTripped = JSON.parse(JSON.stringify(stored)) as Record<string, unknown>
  const changed = Object.keys(sent).filter(
    (name) => !SERVER_FIELDS.has(name) && !sameJson(sent[name], roundTripped[name]),
  )
  const added = Object.keys(roundTripped).filter(
    (name) => !Object.hasOwn(sent, name) && !SERVER_FIELDS.has(name) && !defaults.has(name),
  )
  return { changed, added }
}

const put = (path: string, pathParameters: Record<string, string>, body: string) =>
  admin(
    httpEvent({
      method: 'PUT',
      path,
      pathParameters,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body,
    }),
    {} as Context,
  )

describe('admin documents round-trip', () => {
  const tally = { accepted: 0, refused: 0 }

  /**
   * For each generated body: PUT it under a fresh id; a refusal stores nothing, and an answer
   * in 2xx stores every member as sent (through JSON, as the DynamoDB adapter keeps it).
   */
  const storedAsSent = (
    texts: fc.Arbitrary<string>,
    write: (id: string, body: string) => ReturnType<typeof put>,
    read: (id: string) => Promise<unknown>,
    defaults: ReadonlySet<string>,
  ) => {
    let next = 0
    return fc.assert(
      fc.asyncProperty(texts, async (body) => {
        // Prepare
        const id = `rt-${++next}`
        // Act
        const response = await write(id, body)
        // Assess
        expect(response.statusCode).toBeLessThan(500)
        const stored = await read(id)
        if (response.statusCode >= 300) {
          tally.refused++
          expect(stored).toBeUndefined()
          return
        }
        tally.accepted++
        expect(duplicateMember(body)).toBeUndefined()
        expect(differences(JSON.parse(body) as Record<string, unknown>, stored, defaults)).toEqual({
          changed: [],
          added: [],
        })
      }),
      { numRuns: RUNS },
    )
  }

  it('stores a binding exactly as sent whenever it answers 2xx', async () => {
    await storedAsSent(
      bindingText,
      (bindingId, body) =>
        put('/v1/admin/issuers/{issuerId}/bindings/{bindingId}', { issuerId: 'plane', bindingId }, body),
      (bindingId) => registry.getBinding('plane', bindingId),
      BINDING_DEFAULTS,
    )
  })

  it('stores an issuer exactly as sent whenever it answers 2xx', async () => {
    await storedAsSent(
      issuerText,
      (issuerId, body) => put('/v1/admin/issuers/{issuerId}', { issuerId }, body),
      (issuerId) => registry.getIssuer(issuerId),
      ISSUER_DEFAULTS,
    )
  })

  it('saw both accepted and refused documents (a property over one kind would prove little)', () => {
    // Assess
    expect(tally.accepted).toBeGreaterThan(RUNS / 4)
    expect(tally.refused).toBeGreaterThan(RUNS / 4)
  })
})
