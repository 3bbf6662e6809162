// Admin documents over real HTTP (issue 12, items 1 and 3), on the local stack (embedded
// dynalite, a local signing key, the moto_server it starts for STS): a field whose value would
// not be stored as sent is a 400 naming it, never a 201 that silently drops it; a CEL condition
// the cost model cannot bound is a 400 naming where; and a `__proto__` member in a workload
// token's claims is a claim like any other, which matches no rule it should not.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LocalStack, startLocalStack } from '../../infra/local/stack.js'
import { loadLocalConfig } from '../../shared/config.js'
import { QUADRUPLING_BINDS } from '../support/condition-child.js'
import { capturingSink } from '../support/log-capture.js'
import { AUDIENCE, createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

type Json = Record<string, unknown>

interface Answer {
  status: number
  body: Json
}

const ROLE_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const ISS = 'https://documents.clusters.example.test'
const ISSUER_ID = 'documents'

let stack: LocalStack
let dataDir: string
let dataPlane: TestIssuer
const adminToken = randomBytes(24).toString('base64url')
const logLines: string[] = []
const statuses: number[] = []

/**
 * Sends `body` as the exact JSON text given (duplicate members and `__proto__` keys survive), on
 * a connection of its own: fetch may send a PUT again on a fresh connection when a kept-alive
 * one closes under it, and a create-only PUT sent twice answers 409.
 */
const send = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
  new Promise<Answer>((answered, failed) => {
    const request = httpRequest(
      `${stack.url}${path}`,
      {
        method,
        agent: false,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () => {
          const status = response.statusCode ?? 0
          statuses.push(status)
          answered({ status, body: text ? (JSON.parse(text) as Json) : {} })
        })
        response.on('error', failed)
      },
    )
    request.on('error', failed)
    request.end(body)
  })

const asAdmin = (method: string, path: string, body?: string) =>
  send(method, path, body, { authorization: `Bearer ${adminToken}` })

const errorOf = (answer: Answer) => answer.body.error as { code: string; message: string }

const bindingPath = (bindingId: string) => `/v1/admin/issuers/${ISSUER_ID}/bindings/${bindingId}`

/** A binding document's JSON text with `members` (raw JSON text of members) added. */
const bindingText = (members: string) =>
  `{"roleArn": "${ROLE_ARN}", "subjects": ["system:serviceaccount:ml:*"]${members ? `, ${members}` : ''}}`

const expectRefused = async (answer: Answer, field: string, message: RegExp, path: string) => {
  expect({ status: answer.status, code: errorOf(answer)?.code }).toEqual({
    status: 400,
    code: 'InvalidParameterValue',
  })
  expect(errorOf(answer).message.startsWith(`${field}: `), errorOf(answer).message).toBe(true)
  expect(errorOf(answer).message).toMatch(message)
  expect((await asAdmin('GET', path)).status).toBe(404)
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'irsa-broker-http-documents-'))
  stack = await startLocalStack(
    loadLocalConfig({ PORT: '0', IRSA_BROKER_DATA_DIR: dataDir, IRSA_BROKER_ADMIN_TOKEN: adminToken }),
    { logSink: capturingSink('http-admin-documents', (line) => logLines.push(line)) },
  )
  dataPlane = await createTestIssuer({ iss: ISS })
  const registered = await asAdmin(
    'PUT',
    `/v1/admin/issuers/${ISSUER_ID}`,
    JSON.stringify({ issuer: ISS, audiences: [AUDIENCE], jwks: dataPlane.jwks }),
  )
  expect(registered.status).toBe(201)
})

afterAll(async () => {
  await stack?.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe('a binding member that would not be stored as sent', () => {
  it.each([
    ['sessionTags.__proto__', '"sessionTags": {"__proto__": "x", "team": "ml"}'],
    ['sessionTags.constructor', '"sessionTags": {"constructor": "x"}'],
    ['sessionTags.prototype', '"sessionTags": {"prototype": "{/sub}"}'],
    ['claims.__proto__', '"claims": {"__proto__": ["ml"]}'],
    ['claims.constructor', '"claims": {"constructor": ["ml"]}'],
    ['__proto__', '"__proto__": {"allowAnyWorkload": true}'],
  ])('is refused: %s, with 400 naming it, and nothing is stored', async (field, members) => {
    // Prepare
    const bindingId = `reserved-${field.replace(/[^a-z]/gi, '')}`

    // Act
    const answer = await asAdmin('PUT', bindingPath(bindingId), bindingText(members))

    // Assess
    await expectRefused(answer, field, /reserve/, bindingPath(bindingId))
  })

  it.each([
    ['subjects', '"subjects": ["*"]'],
    ['sessionTags.team', '"sessionTags": {"team": "ml", "team": "{/sub}"}'],
    [
      'claims./kubernetes.io/namespace',
      '"claims": {"/kubernetes.io/namespace": ["ml"], "/kubernetes.io/namespace": ["*"]}',
    ],
  ])('is refused when the JSON names %s twice: 400 naming it, nothing stored', async (field, members) => {
    // Prepare
    const bindingId = `twice-${field.replace(/[^a-z]/gi, '').slice(0, 40)}`

    // Act
    const answer = await asAdmin('PUT', bindingPath(bindingId), bindingText(members))

    // Assess
    await expectRefused(answer, field, /given twice/, bindingPath(bindingId))
  })

  it('names a transitive tag key listed twice', async () => {
    // Act
    const answer = await asAdmin(
      'PUT',
      bindingPath('transitive-twice'),
      bindingText('"sessionTags": {"team": "ml"}, "transitiveTagKeys": ["team", "team"]'),
    )

    // Assess
    await expectRefused(answer, 'transitiveTagKeys', /lists "team" twice/, bindingPath('transitive-twice'))
  })

  it('stores a claim pointer to a member named __proto__ as sent (a name in a pointer is data)', async () => {
    // Prepare
    const text = bindingText('"claims": {"/__proto__": ["ml"]}, "sessionTags": {"proto": "{/__proto__}"}')

    // Act
    const created = await asAdmin('PUT', bindingPath('pointer-to-proto'), text)
    const read = await asAdmin('GET', bindingPath('pointer-to-proto'))

    // Assess
    expect(created.status).toBe(201)
    expect(read.body).toMatchObject({
      claims: { '/__proto__': ['ml'] },
      sessionTags: { proto: '{/__proto__}' },
    })
  })
})

describe('an issuer member that would not be stored as sent', () => {
  it.each([
    [
      'jwks.keys[0].__proto__',
      (key: Json) => JSON.stringify({ keys: [key] }).replace('{"kty"', '{"__proto__": {"d": "AQAB"}, "kty"'),
    ],
    ['jwks.__proto__', (key: Json) => `{"__proto__": {"keys": []}, "keys": [${JSON.stringify(key)}]}`],
    ['jwks.extra', (key: Json) => JSON.stringify({ keys: [key], extra: true })],
    [
      'jwks.keys[0].kid',
      (key: Json) => JSON.stringify({ keys: [key] }).replace('{"kty"', '{"kid": "a", "kty"'),
    ],
  ])('is refused: %s, with 400 naming it, and nothing is stored', async (field, jwksText) => {
    // Prepare
    const issuerId = `issuer-${field.replace(/[^a-z0-9]/gi, '')}`
    const key = dataPlane.jwks.keys[0] as Json
    const text = `{"issuer": "${ISS}", "audiences": ["${AUDIENCE}"], "jwks": ${jwksText(key)}}`

    // Act
    const answer = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}`, text)

    // Assess
    await expectRefused(
      answer,
      field,
      /reserve|not a known field|given twice/,
      `/v1/admin/issuers/${issuerId}`,
    )
  })

  it('refuses a number JSON cannot hold inside a key (1e400 would be stored as null)', async () => {
    // Prepare
    const key = { ...(dataPlane.jwks.keys[0] as Json), kid: 'big' }
    const text = `{"issuer": "${ISS}", "audiences": ["${AUDIENCE}"], "jwks": ${JSON.stringify({ keys: [key] }).replace('"kid":"big"', '"kid":"big","x-size":1e400')}}`

    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/issuer-infinity', text)

    // Assess
    await expectRefused(answer, 'jwks.keys[0].x-size', /cannot hold/, '/v1/admin/issuers/issuer-infinity')
  })
})

describe('a condition the cost model cannot bound', () => {
  it('is refused with 400 naming the condition and where its value outgrows the limit; nothing is stored', async () => {
    // Act
    const answer = await asAdmin(
      'PUT',
      bindingPath('runaway'),
      JSON.stringify({
        roleArn: ROLE_ARN,
        subjects: ['system:serviceaccount:ml:*'],
        condition: QUADRUPLING_BINDS,
      }),
    )

    // Assess
    await expectRefused(
      answer,
      'condition',
      /^condition: invalid CEL at position \d+ \(line 1, column \d+\): may build a value of 102400 characters or elements, more than 100000$/,
      bindingPath('runaway'),
    )
  })
})

describe('a workload token whose claims hold a __proto__ member', () => {
  it('matches no claim rule through it, renders tags from its own claims, and pollutes nothing', async () => {
    // Prepare: the real namespace is payments; __proto__ claims to be ml
    const bind = await asAdmin(
      'PUT',
      bindingPath('namespace-ml'),
      JSON.stringify({
        roleArn: ROLE_ARN,
        claims: { '/kubernetes.io/namespace': ['ml'] },
        condition: "claims['kubernetes.io'].namespace == 'ml'",
      }),
    )
    const tagged = await asAdmin(
      'PUT',
      bindingPath('tagged-payments'),
      JSON.stringify({
        roleArn: ROLE_ARN,
        profile: 'tagged',
        claims: { '/kubernetes.io/namespace': ['payments'] },
        sessionTags: {
          namespace: '{/kubernetes.io/namespace}',
          proto: '{/__proto__/kubernetes.io/namespace}',
        },
      }),
    )
    expect([bind.status, tagged.status]).toEqual([201, 201])
    const token = await dataPlane.mint({
      namespace: 'payments',
      extraClaims: JSON.parse('{"__proto__": {"kubernetes.io": {"namespace": "ml"}, "admin": true}}'),
    })
    expect(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())).toHaveProperty(
      '__proto__',
    )

    // Act
    const explained = await asAdmin('POST', '/v1/admin/explain', JSON.stringify({ token, role: 'tagged' }))

    // Assess
    expect(explained.status).toBe(200)
    expect(explained.body).toMatchObject({
      decision: 'allow',
      selected: {
        bindingId: 'tagged-payments',
        sessionTags: { principalTags: { namespace: 'payments', proto: 'ml' } },
      },
    })
    expect(explained.body.bindings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          bindingId: 'namespace-ml',
          matched: false,
          failedRule: 'claims:/kubernetes.io/namespace',
        }),
      ]),
    )
    const polluted = {} as Record<string, unknown>
    expect([polluted.admin, polluted['kubernetes.io']]).toEqual([undefined, undefined])
  })
})

describe('across every request of this file', () => {
  it('never answered with a 5xx', () => {
    // Assess
    expect(statuses.length).toBeGreaterThan(15)
    expect(statuses.filter((status) => status >= 500)).toEqual([])
  })
})
