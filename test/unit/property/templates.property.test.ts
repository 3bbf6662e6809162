// Properties of what bindings render from claims, beyond the unit properties of the sanitizers
// (templates.test.ts) and of the pointer resolver (json-pointer.test.ts): whole templates never
// read outside the claims even with polluted prototypes, and whole sessions (name and tags, as
// a binding renders them) always meet STS's limits whatever the claims hold.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { evaluateCondition } from '../../../shared/core/condition-run.js'
import type { WorkloadClaims } from '../../../shared/core/model.js'
import { sessionNameFor, sessionTagsFor } from '../../../shared/core/session.js'
import {
  MAX_SESSION_TAGS,
  parseTemplate,
  renderTemplate,
  TAG_KEY_PATTERN,
} from '../../../shared/core/templates.js'
import { makeBinding, makeClaims } from '../fixtures.js'

const SENTINEL = 'INHERITED-SENTINEL-7c1e'
const POLLUTED = ['polluted', 'pollutedArray'] as const

/** Members every object or array inherits while these tests run (non-enumerable, so nothing iterates them). */
beforeAll(() => {
  Object.defineProperty(Object.prototype, 'polluted', { value: SENTINEL, configurable: true })
  Object.defineProperty(Array.prototype, 'pollutedArray', { value: SENTINEL, configurable: true })
})

afterAll(() => {
  delete (Object.prototype as Record<string, unknown>).polluted
  delete (Array.prototype as unknown as Record<string, unknown>).pollutedArray
})

/** A deep copy without any prototype: nothing inherited exists to be read. */
const withoutPrototypes = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutPrototypes)
  if (typeof value !== 'object' || value === null) return value
  const copy = Object.create(null) as Record<string, unknown>
  for (const [key, member] of Object.entries(value)) copy[key] = withoutPrototypes(member)
  return copy
}

const escapeToken = (token: string) => token.replaceAll('~', '~0').replaceAll('/', '~1')

const hostileToken = fc.constantFrom(
  ...POLLUTED,
  'constructor',
  '__proto__',
  'prototype',
  'toString',
  'hasOwnProperty',
  'length',
  '0',
  '-1',
  '00',
  '',
)

/** Pointer tokens: names the claims really have, and names that only a prototype has. */
const pointerFor = (claims: unknown) => {
  const own: string[] = []
  const collect = (value: unknown, depth: number) => {
    if (depth > 3 || typeof value !== 'object' || value === null) return
    for (const [key, member] of Object.entries(value)) {
      own.push(key)
      collect(member, depth + 1)
    }
  }
  collect(claims, 0)
  const token = own.length > 0 ? fc.oneof(fc.constantFrom(...own), hostileToken) : hostileToken
  return fc
    .array(token, { minLength: 1, maxLength: 4 })
    .map((tokens) => `/${tokens.map(escapeToken).join('/')}`)
}

const literal = fc.string({ maxLength: 8 }).map((text) => text.replace(/[{}]/g, ''))

const templateFor = (claims: unknown) =>
  fc
    .array(
      fc.oneof(
        literal,
        pointerFor(claims).map((pointer) => `{${pointer}}`),
      ),
      { minLength: 1, maxLength: 5 },
    )
    .map((parts) => parts.join(''))

const claimsObject = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), {
  maxKeys: 6,
})

describe('JSON Pointer templates over claims', () => {
  it('property: never render an inherited member, even with members added to Object and Array prototypes', () => {
    fc.assert(
      fc.property(
        claimsObject.chain((claims) => fc.tuple(fc.constant(claims), templateFor(claims))),
        ([claims, text]) => {
          // Prepare
          const template = parseTemplate(text)
          if (typeof template === 'string') return // a placeholder the parser refuses at registration
          // Act
          const rendered = renderTemplate(template, claims)
          // Assess: the same as over claims that have no prototypes at all
          expect(rendered.includes(SENTINEL)).toBe(false)
          expect(rendered).toBe(renderTemplate(template, withoutPrototypes(claims)))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: a pointer at a prototype-only member renders nothing', () => {
    fc.assert(
      fc.property(claimsObject, hostileToken, (claims, name) => {
        // Prepare
        const template = parseTemplate(`x{/${escapeToken(name)}}y`)
        if (typeof template === 'string' || Object.hasOwn(claims, name)) return
        // Act / Assess
        expect(renderTemplate(template, claims)).toBe('xy')
      }),
    )
  })

  it('CEL conditions see no inherited member either', () => {
    // Act / Assess
    expect(evaluateCondition('has(claims.polluted)', makeClaims()).matched).toBe(false)
    expect(evaluateCondition(`claims.polluted == '${SENTINEL}'`, makeClaims()).matched).toBe(false)
  })
})

const anyText = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }))

const hostileClaims: fc.Arbitrary<WorkloadClaims> = fc
  .record({
    sub: anyText,
    namespace: anyText,
    name: anyText,
    pod: fc.oneof(
      anyText,
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(anyText, { maxLength: 3 }),
    ),
  })
  .map(({ sub, namespace, name, pod }) =>
    makeClaims({ sub, 'kubernetes.io': { namespace, serviceaccount: { name }, pod: { name: pod } } }),
  )

const CLAIM_POINTERS = [
  '/sub',
  '/kubernetes.io/namespace',
  '/kubernetes.io/serviceaccount/name',
  '/kubernetes.io/pod/name',
  '/nope',
]
const sessionTemplate = fc
  .array(
    fc.oneof(
      literal,
      fc.constantFrom(...CLAIM_POINTERS).map((pointer) => `{${pointer}}`),
    ),
    {
      minLength: 1,
      maxLength: 6,
    },
  )
  .map((parts) => parts.join(''))

const tagKey = fc.stringMatching(/^[A-Za-z0-9_.:/=+\-@ ]{1,128}$/)
const tagTemplates = fc.uniqueArray(fc.tuple(tagKey, sessionTemplate), {
  maxLength: MAX_SESSION_TAGS,
  selector: ([key]) => key.toLowerCase(),
})

const STS_SESSION_NAME = /^[\w+=,.@-]{2,64}$/
const STS_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,256}$/u

describe('sessions rendered from bindings', () => {
  it('property: the session name meets STS RoleSessionName for any claims and template', () => {
    fc.assert(
      fc.property(hostileClaims, fc.option(sessionTemplate, { nil: undefined }), (claims, sessionName) => {
        // Prepare
        const binding = makeBinding(sessionName === undefined ? {} : { sessionName })
        // Act / Assess
        expect(sessionNameFor(binding, claims)).toMatch(STS_SESSION_NAME)
      }),
      { numRuns: 500 },
    )
  })

  it('property: session tags meet STS limits — at most 50, keys from the binding, values 1-256 allowed characters, transitive keys among them', () => {
    fc.assert(
      fc.property(
        hostileClaims,
        tagTemplates,
        fc.array(fc.nat(), { maxLength: 10 }),
        (claims, tags, picks) => {
          // Prepare
          const sessionTags = Object.fromEntries(tags)
          const keys = Object.keys(sessionTags)
          const transitiveTagKeys =
            keys.length > 0 ? picks.map((pick) => keys[pick % keys.length] as string) : []
          const binding = makeBinding({ sessionTags, transitiveTagKeys })
          // Act
          const { principalTags, transitiveTagKeys: transitive } = sessionTagsFor(binding, claims)
          // Assess
          const rendered = Object.entries(principalTags)
          expect(rendered.length).toBeLessThanOrEqual(MAX_SESSION_TAGS)
          for (const [key, value] of rendered) {
            expect(keys).toContain(key)
            expect(key).toMatch(TAG_KEY_PATTERN)
            expect(value).toMatch(STS_TAG_VALUE)
            expect(Array.from(value).length).toBeLessThanOrEqual(256)
          }
          for (const key of transitive) expect(Object.hasOwn(principalTags, key)).toBe(true)
        },
      ),
      { numRuns: 300 },
    )
  })
})
