import { describe, expect, it } from 'vitest'
import * as z from 'zod/mini'
import { InternalError, InvalidParameterError } from '../../../shared/core/errors.js'
import {
  bindingDocumentSchema,
  credentialsBodySchema,
  credentialsQuerySchema,
  explainBodySchema,
  issuerDocumentSchema,
  parseInput,
} from '../../../shared/core/schemas.js'

const ROLE_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'

const issuerDoc = (overrides: Record<string, unknown> = {}) => ({
  issuer: 'https://kubernetes.default.svc.cluster.local',
  audiences: ['irsa-broker'],
  jwks: { keys: [] },
  ...overrides,
})

const bindingDoc = (overrides: Record<string, unknown> = {}) => ({
  roleArn: ROLE_ARN,
  subjects: ['system:serviceaccount:ml:trainer'],
  ...overrides,
})

/** The InvalidParameterError that parsing `value` raises. */
const refusal = (
  schema: Parameters<typeof parseInput>[0],
  value: unknown,
  prefix?: string,
): InvalidParameterError => {
  try {
    parseInput(schema, value, prefix)
  } catch (error) {
    if (error instanceof InvalidParameterError) return error
    throw error
  }
  throw new Error('expected the document to be refused')
}

describe('issuerDocumentSchema', () => {
  it('fills the documented defaults', () => {
    // Act
    const doc = parseInput(issuerDocumentSchema, issuerDoc())
    // Assess
    expect(doc).toMatchObject({
      algorithms: ['RS256', 'ES256'],
      maxTokenLifetimeSeconds: 86400,
      clockSkewSeconds: 60,
      mode: 'broker',
      enabled: true,
    })
  })

  it('refuses an unknown field with a message naming it', () => {
    // Act
    const error = refusal(issuerDocumentSchema, issuerDoc({ colour: 'blue' }))
    // Assess
    expect(error).toMatchObject({
      code: 'InvalidParameterValue',
      field: 'colour',
      message: 'colour: is not a known field',
    })
  })

  it('accepts the server fields as read from a GET', () => {
    // Act
    const doc = parseInput(
      issuerDocumentSchema,
      issuerDoc({
        version: 3,
        createdAt: '2031-01-01T00:00:00.000Z',
        updatedAt: 'x',
        updatedBy: 'arn:aws:iam::1:user/a',
      }),
    )
    // Assess
    expect(doc.version).toBe(3)
  })

  it.each([
    ['issuer', issuerDoc({ issuer: 'kubernetes.default.svc' }), 'issuer'],
    ['issuer', issuerDoc({ issuer: 'ftp://example.com' }), 'issuer'],
    ['audiences', issuerDoc({ audiences: [] }), 'audiences'],
    ['audiences[0]', issuerDoc({ audiences: [''] }), 'audiences[0]'],
    ['algorithms[0] (HS256)', issuerDoc({ algorithms: ['HS256'] }), 'algorithms[0]'],
    ['algorithms[0] (none)', issuerDoc({ algorithms: ['none'] }), 'algorithms[0]'],
    ['algorithms (repeated)', issuerDoc({ algorithms: ['RS256', 'RS256'] }), 'algorithms'],
    ['maxTokenLifetimeSeconds', issuerDoc({ maxTokenLifetimeSeconds: 30 }), 'maxTokenLifetimeSeconds'],
    ['clockSkewSeconds', issuerDoc({ clockSkewSeconds: 301 }), 'clockSkewSeconds'],
    ['mode', issuerDoc({ mode: 'proxy' }), 'mode'],
    ['enabled', issuerDoc({ enabled: 'yes' }), 'enabled'],
    ['issuerId', issuerDoc({ issuerId: '-leading-dash' }), 'issuerId'],
    ['version', issuerDoc({ version: 0 }), 'version'],
    ['jwks (missing)', issuerDoc({ jwks: undefined }), 'jwks'],
    ['jwksUri (beside jwks)', issuerDoc({ jwksUri: 'https://example.com/jwks' }), 'jwksUri'],
    ['discovery (beside jwks)', issuerDoc({ discovery: true }), 'discovery'],
    [
      'discovery (beside jwksUri)',
      issuerDoc({ jwks: undefined, jwksUri: 'https://example.com/jwks', discovery: true }),
      'discovery',
    ],
    ['discovery (false)', issuerDoc({ jwks: undefined, discovery: false }), 'discovery'],
    ['jwksUri (not a URL)', issuerDoc({ jwks: undefined, jwksUri: 'example.com/jwks' }), 'jwksUri'],
    ['jwksUri (ftp)', issuerDoc({ jwks: undefined, jwksUri: 'ftp://example.com/jwks' }), 'jwksUri'],
  ])('refuses a bad %s and names the field', (_label, doc, field) => {
    // Act
    const error = refusal(issuerDocumentSchema, doc)
    // Assess
    expect(error.field).toBe(field)
    expect(error.message.startsWith(`${field}: `)).toBe(true)
  })
})

describe('issuerDocumentSchema: key sources', () => {
  it.each([
    ['jwks', { jwks: { keys: [] } }],
    ['jwksUri', { jwks: undefined, jwksUri: 'https://oidc.example.com/keys' }],
    ['discovery', { jwks: undefined, discovery: true }],
  ])('accepts %s as the only key source and keeps it', (field, overrides) => {
    // Act
    const doc = parseInput(issuerDocumentSchema, issuerDoc(overrides))
    // Assess
    expect(doc[field as 'jwks' | 'jwksUri' | 'discovery']).toEqual(overrides[field as keyof typeof overrides])
  })

  it('says that exactly one key source is wanted when two are given', () => {
    // Act
    const error = refusal(issuerDocumentSchema, issuerDoc({ discovery: true }))
    // Assess
    expect(error.message).toBe(
      'discovery: give exactly one of "jwks", "jwksUri" and "discovery", not "jwks" and "discovery"',
    )
  })

  it('names all three key sources when none is given', () => {
    // Act
    const error = refusal(issuerDocumentSchema, issuerDoc({ jwks: undefined }))
    // Assess
    expect(error.field).toBe('jwks')
    expect(error.message).toContain('"jwksUri" or "discovery": true')
  })
})

describe('bindingDocumentSchema', () => {
  it('fills the documented defaults', () => {
    // Act
    const doc = parseInput(bindingDocumentSchema, bindingDoc())
    // Assess
    expect(doc).toMatchObject({ durationSeconds: 3600, enabled: true })
  })

  it('accepts the example binding of the design', () => {
    // Act
    const doc = parseInput(
      bindingDocumentSchema,
      bindingDoc({
        profile: 'ml-reader',
        subjects: ['system:serviceaccount:ml-*:trainer'],
        claims: { '/kubernetes.io/namespace': ['ml-*'] },
        sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
        sessionTags: { namespace: '{/kubernetes.io/namespace}', 'data-plane': 'onprem-a' },
        transitiveTagKeys: ['data-plane'],
        durationSeconds: 3600,
      }),
    )
    // Assess
    expect(doc.sessionTags).toEqual({ namespace: '{/kubernetes.io/namespace}', 'data-plane': 'onprem-a' })
  })

  it('refuses an unknown field with a message naming it', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ role: 'x' }))
    // Assess
    expect(error).toMatchObject({ field: 'role', message: 'role: is not a known field' })
  })

  it('refuses a binding without subjects, claims or condition', () => {
    // Act
    const error = refusal(bindingDocumentSchema, { roleArn: ROLE_ARN })
    // Assess
    expect(error).toMatchObject({
      field: 'subjects',
      message: 'subjects: a binding needs "subjects", "claims" or a "condition"',
    })
  })

  it('refuses a binding whose only constraint is an empty claims object', () => {
    // Act
    const error = refusal(bindingDocumentSchema, { roleArn: ROLE_ARN, claims: {} })
    // Assess
    expect(error.field).toBe('subjects')
  })

  it.each([[['*']], [['**']], [['*', '***']]])(
    'refuses subjects %j that match every workload unless allowAnyWorkload is set',
    (subjects) => {
      // Act
      const error = refusal(bindingDocumentSchema, bindingDoc({ subjects }))
      const allowed = parseInput(bindingDocumentSchema, bindingDoc({ subjects, allowAnyWorkload: true }))
      // Assess
      expect(error.field).toBe('subjects')
      expect(error.message).toContain('allowAnyWorkload')
      expect(allowed.subjects).toEqual(subjects)
    },
  )

  it('refuses allowAnyWorkload: false with a lone *', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ subjects: ['*'], allowAnyWorkload: false }))
    // Assess
    expect(error.field).toBe('subjects')
  })

  it('accepts a lone * subject narrowed by a claim rule', () => {
    // Act
    const doc = parseInput(
      bindingDocumentSchema,
      bindingDoc({ subjects: ['*'], claims: { '/kubernetes.io/namespace': ['ml'] } }),
    )
    // Assess
    expect(doc.subjects).toEqual(['*'])
  })

  it('refuses a * among narrower subjects, since any-of makes the list match every workload', () => {
    // Act
    const error = refusal(
      bindingDocumentSchema,
      bindingDoc({ subjects: ['system:serviceaccount:ml:a', '*'] }),
    )
    // Assess
    expect(error.field).toBe('subjects')
    expect(error.message).toContain('allowAnyWorkload')
  })

  it('refuses claim rules that are all * with no subjects unless allowAnyWorkload is set', () => {
    // Act
    const claims = { '/kubernetes.io/namespace': ['*'], '/kubernetes.io/serviceaccount/name': ['x', '**'] }
    const error = refusal(bindingDocumentSchema, bindingDoc({ subjects: undefined, claims }))
    const allowed = parseInput(
      bindingDocumentSchema,
      bindingDoc({ subjects: undefined, claims, allowAnyWorkload: true }),
    )
    // Assess
    expect(error.field).toBe('claims')
    expect(error.message).toContain('allowAnyWorkload')
    expect(allowed.claims).toEqual(claims)
  })

  it('accepts claim rules with * when one rule narrows the workloads', () => {
    // Act
    const claims = { '/kubernetes.io/namespace': ['ml-*'], '/kubernetes.io/serviceaccount/name': ['*'] }
    const doc = parseInput(bindingDocumentSchema, bindingDoc({ subjects: undefined, claims }))
    // Assess
    expect(doc.claims).toEqual(claims)
  })

  it('accepts a CEL condition that compiles and type-checks beside subjects that narrow the workloads', () => {
    // Act
    const condition = "claims['kubernetes.io'].namespace.startsWith('ml-')"
    const doc = parseInput(bindingDocumentSchema, bindingDoc({ condition }))
    // Assess
    expect(doc.condition).toBe(condition)
  })

  it('accepts a CEL condition as the only constraint once allowAnyWorkload says so', () => {
    // Act
    const condition = "claims['kubernetes.io'].namespace.startsWith('ml-')"
    const doc = parseInput(
      bindingDocumentSchema,
      bindingDoc({ subjects: undefined, condition, allowAnyWorkload: true }),
    )
    // Assess
    expect(doc).toMatchObject({ condition, allowAnyWorkload: true })
  })

  it.each([
    ['a condition that is literally true', { subjects: undefined, condition: 'true' }, 'subjects'],
    [
      'a narrowing condition and no subjects or claims',
      { subjects: undefined, condition: 'claims.x == 1' },
      'subjects',
    ],
    ['a lone * subject and a condition', { subjects: ['*'], condition: 'claims.x == 1' }, 'subjects'],
    [
      'a * among narrower subjects and a condition',
      { subjects: ['system:serviceaccount:ml:a', '*'], condition: 'true' },
      'subjects',
    ],
    [
      'claim rules that are all * and a condition',
      { subjects: undefined, claims: { '/kubernetes.io/namespace': ['*'] }, condition: 'true' },
      'claims',
    ],
  ])(
    'refuses %s unless allowAnyWorkload is set: a condition does not count as narrowing',
    (_label, fields, field) => {
      // Act
      const error = refusal(bindingDocumentSchema, bindingDoc(fields))
      const allowed = parseInput(bindingDocumentSchema, bindingDoc({ ...fields, allowAnyWorkload: true }))
      // Assess
      expect(error.field).toBe(field)
      expect(error.message).toContain('whatever the condition says')
      expect(error.message).toContain('"allowAnyWorkload": true')
      expect(allowed).toMatchObject({ condition: fields.condition, allowAnyWorkload: true })
    },
  )

  it('refuses a lone * subject with a condition and allowAnyWorkload: false', () => {
    // Act
    const error = refusal(
      bindingDocumentSchema,
      bindingDoc({ subjects: ['*'], condition: 'true', allowAnyWorkload: false }),
    )
    // Assess
    expect(error.field).toBe('subjects')
  })

  it.each([
    ["claims.sub.startsWith('x') &&", 29, 'Unexpected token: EOF'],
    ['claims.sub == 1 + "a"', 14, 'no such overload'],
    ['request.sub == "x"', 0, 'Unknown variable: request'],
    ["'not a bool'", 0, 'must evaluate to a bool, not string'],
    ["claims.sub.matches('(a+)+$')", 11, '"matches" is not allowed'],
  ])('refuses the condition %j with a 400 naming position %i', (condition, position, message) => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ condition }))
    // Assess
    expect(error.field).toBe('condition')
    expect(error.message).toContain(`invalid CEL at position ${position} `)
    expect(error.message).toContain(message)
  })

  it.each(['kubernetes.io/namespace', '/bad~2'])(
    'refuses the claim key %j that is not a JSON Pointer',
    (key) => {
      // Act
      const error = refusal(bindingDocumentSchema, bindingDoc({ claims: { [key]: ['x'] } }))
      // Assess
      expect(error.field).toBe(`claims.${key}`)
      expect(error.message).toContain('JSON Pointers')
    },
  )

  it('refuses the empty claim key (the whole token) as a claim rule', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ claims: { '': ['*'] } }))
    // Assess
    expect(error.field).toBe('claims')
    expect(error.message).toContain('JSON Pointers')
  })

  it('refuses more than 20 claim rules', () => {
    // Prepare
    const claims = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`/c${i}`, ['x']]))
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ claims }))
    // Assess
    expect(error).toMatchObject({ field: 'claims', message: 'claims: at most 20 claim rules' })
  })

  it('refuses a claim rule with an empty pattern list', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ claims: { '/team': [] } }))
    // Assess
    expect(error.field).toBe('claims./team')
  })

  it('refuses a transitive tag key that is not a session tag', () => {
    // Act
    const error = refusal(
      bindingDocumentSchema,
      bindingDoc({ sessionTags: { namespace: 'ml' }, transitiveTagKeys: ['team'] }),
    )
    // Assess
    expect(error).toMatchObject({
      field: 'transitiveTagKeys',
      message: 'transitiveTagKeys: "team" is not a key of sessionTags',
    })
  })

  it.each(['constructor', 'toString', '__proto__'])(
    'refuses the transitive tag key %j, which only Object.prototype has',
    (key) => {
      // Act
      const error = refusal(
        bindingDocumentSchema,
        bindingDoc({ sessionTags: { namespace: 'ml' }, transitiveTagKeys: [key] }),
      )
      // Assess
      expect(error.field).toBe('transitiveTagKeys')
    },
  )

  it('refuses a session tag key outside the STS character set', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ sessionTags: { 'a,b': 'x' } }))
    // Assess
    expect(error.field).toBe('sessionTags.a,b')
  })

  it('refuses two session tag keys that differ only in case', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ sessionTags: { Team: 'a', team: 'b' } }))
    // Assess
    expect(error).toMatchObject({
      field: 'sessionTags.team',
      message: expect.stringContaining('case-insensitive'),
    })
  })

  it('refuses more than 50 session tags', () => {
    // Prepare
    const sessionTags = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ sessionTags }))
    // Assess
    expect(error).toMatchObject({ field: 'sessionTags', message: 'sessionTags: at most 50 tags' })
  })

  it('refuses a session name template that does not parse', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ sessionName: '{sub}' }))
    // Assess
    expect(error.field).toBe('sessionName')
    expect(error.message).toContain('invalid template')
  })

  it('refuses a session tag template that does not parse', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ sessionTags: { ns: '{/a' } }))
    // Assess
    expect(error.field).toBe('sessionTags.ns')
  })

  it.each([
    'arn:aws:iam::111122223333:user/alice',
    'arn:aws:iam::12345:role/short-account',
    'arn:aws:sts::111122223333:assumed-role/r/s',
    'ml-s3-reader',
  ])('refuses %j as a role ARN', (roleArn) => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ roleArn }))
    // Assess
    expect(error.field).toBe('roleArn')
  })

  it.each([
    'arn:aws:iam::111122223333:role/ml-s3-reader',
    'arn:aws:iam::111122223333:role/path/to/ml-reader',
    'arn:aws-us-gov:iam::111122223333:role/r',
    'arn:aws-cn:iam::111122223333:role/r',
  ])('accepts %j as a role ARN', (roleArn) => {
    // Act
    const result = bindingDocumentSchema.safeParse(bindingDoc({ roleArn }))
    // Assess
    expect(result.success).toBe(true)
  })

  it.each([899, 43201, 3600.5])('refuses durationSeconds %d outside STS limits', (durationSeconds) => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ durationSeconds }))
    // Assess
    expect(error.field).toBe('durationSeconds')
  })

  it.each([900, 43200])('accepts durationSeconds %d at the STS limits', (durationSeconds) => {
    // Act
    const doc = parseInput(bindingDocumentSchema, bindingDoc({ durationSeconds }))
    // Assess
    expect(doc.durationSeconds).toBe(durationSeconds)
  })

  it('refuses a profile that cannot be an AWS config profile name', () => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ profile: 'ml reader' }))
    // Assess
    expect(error.field).toBe('profile')
  })
})

describe('request schemas', () => {
  it('accepts a credentials body with role and duration', () => {
    // Act
    const body = parseInput(credentialsBodySchema, { role: 'ml-reader', durationSeconds: 900 })
    // Assess
    expect(body).toEqual({ role: 'ml-reader', durationSeconds: 900 })
  })

  it.each([
    [{ durationSeconds: 60 }, 'durationSeconds'],
    [{ role: '' }, 'role'],
    [{ token: 'x' }, 'token'],
  ])('refuses the credentials body %j naming %s', (body, field) => {
    // Act
    const error = refusal(credentialsBodySchema, body)
    // Assess
    expect(error.field).toBe(field)
  })

  it('refuses an unknown query parameter on the credentials route', () => {
    // Act
    const error = refusal(credentialsQuerySchema, { role: 'x', debug: '1' })
    // Assess
    expect(error).toMatchObject({ field: 'debug', message: 'debug: is not a known field' })
  })

  it('requires a token in the explain body', () => {
    // Act
    const error = refusal(explainBodySchema, {})
    // Assess
    expect(error.field).toBe('token')
  })

  it('prefixes the field with the given prefix', () => {
    // Act
    const error = refusal(credentialsBodySchema, { durationSeconds: 1 }, 'body')
    // Assess
    expect(error.field).toBe('body.durationSeconds')
  })
})

describe('parseInput', () => {
  it('names the first unknown field of a zod strict object, under the prefix', () => {
    // Act
    const error = refusal(explainBodySchema, { token: 't', b: 1, a: 2 }, 'body')
    // Assess
    expect(error).toMatchObject({ field: 'body.b', message: 'body.b: is not a known field' })
  })

  it('names array members by index', () => {
    // Act
    const error = refusal(issuerDocumentSchema, issuerDoc({ audiences: ['ok', ''] }))
    // Assess
    expect(error).toMatchObject({
      field: 'audiences[1]',
      message: 'audiences[1]: Too small: expected string to have >=1 characters',
    })
  })

  it('answers a check that throws as an internal error, leaving no unhandled rejection behind', async () => {
    // Prepare
    const throwing = z.string().check(
      z.refine(() => {
        throw new Error('bug in a refinement')
      }),
    )
    const unhandled: unknown[] = []
    const record = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', record)

    // Act
    const act = () => parseInput(throwing, 'x')

    // Assess
    try {
      expect(act).toThrow(InternalError)
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', record)
    }
  })
})

describe('the binding sourceIdentity template (checked like sessionName)', () => {
  it('is accepted and kept as written when it parses', () => {
    // Act
    const binding = parseInput(
      bindingDocumentSchema,
      bindingDoc({ sourceIdentity: 'team-a.{/kubernetes.io/serviceaccount/name}' }),
    )
    // Assess
    expect(binding.sourceIdentity).toBe('team-a.{/kubernetes.io/serviceaccount/name}')
  })

  it.each([
    ['{sub}', 'invalid template'],
    ['{/a', 'invalid template'],
    ['x'.repeat(257), 'sourceIdentity'],
  ])('refuses %j, naming the field', (template, message) => {
    // Act
    const error = refusal(bindingDocumentSchema, bindingDoc({ sourceIdentity: template }))
    // Assess
    expect(error.field).toBe('sourceIdentity')
    expect(error.message).toContain(message)
  })
})
