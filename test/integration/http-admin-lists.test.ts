// The admin lists over real HTTP against the local stack (dynalite): pages by `limit` and
// `nextToken` that visit every object once in id order, tokens that are checked rather than
// trusted, and the revocation routes of an issuer (docs/api.md, "Admin routes").
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalStack } from '../../infra/local/stack.js'
import { encodeNextToken } from '../../shared/core/pagination.js'
import { capturingSink } from '../support/log-capture.js'
import { startTestStack } from '../support/test-stack.js'
import { AUDIENCE, createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

type Json = Record<string, unknown>

const adminToken = randomBytes(24).toString('base64url')
const ROLE_ARN = 'arn:aws:iam::111122223333:role/paged'
const BINDING_COUNT = 260
const ISSUER_COUNT = 12
let stack: LocalStack
let plane: TestIssuer
/** Every status this file saw, to prove none was a 5xx. */
const statuses: number[] = []

const asAdmin = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  statuses.push(response.status)
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Json }
}

const bindingIdOf = (index: number) => `b-${String(index).padStart(4, '0')}`
const issuerIdOf = (index: number) => `paged-${String(index).padStart(2, '0')}`

/**
 * Creates `count` objects one after another: a PUT that undici retried on a keep-alive socket the
 * server had just closed would meet its own first write (409).
 */
const createAll = async (count: number, put: (index: number) => Promise<{ status: number }>) => {
  for (let index = 0; index < count; index++) expect((await put(index)).status).toBe(201)
}

/** Walks a list page by page; returns every page's ids and whether each carried a nextToken. */
const walk = async (path: string, field: string, idField: string, limit?: number) => {
  const pages: { ids: string[]; nextToken?: string }[] = []
  let nextToken: string | undefined
  do {
    const query = new URLSearchParams({
      ...(limit === undefined ? {} : { limit: String(limit) }),
      ...(nextToken === undefined ? {} : { nextToken }),
    })
    const answer = await asAdmin('GET', `${path}${query.size > 0 ? `?${query}` : ''}`)
    expect(answer.status).toBe(200)
    const items = answer.body[field] as Json[]
    nextToken = answer.body.nextToken as string | undefined
    pages.push({ ids: items.map((item) => String(item[idField])), nextToken })
    expect(pages.length).toBeLessThan(100)
  } while (nextToken !== undefined)
  return pages
}

const expectRefused = (answer: { status: number; body: Json }, field: string) => {
  const error = answer.body.error as { code: string; message: string }
  expect({ status: answer.status, code: error?.code }).toEqual({ status: 400, code: 'InvalidParameterValue' })
  expect(error.message.startsWith(`${field}:`)).toBe(true)
}

beforeAll(async () => {
  stack = await startTestStack(
    'admin-lists',
    { IRSA_BROKER_ADMIN_TOKEN: adminToken },
    { logSink: capturingSink('admin-lists', () => undefined) },
  )
  plane = await createTestIssuer()
  const issuerDocument = (index: number) => ({
    issuer: `https://${issuerIdOf(index)}.clusters.example.test`,
    audiences: [AUDIENCE],
    jwks: plane.jwks,
  })
  await createAll(ISSUER_COUNT, (index) =>
    asAdmin('PUT', `/v1/admin/issuers/${issuerIdOf(index)}`, issuerDocument(index)),
  )
  await createAll(BINDING_COUNT, (index) =>
    asAdmin('PUT', `/v1/admin/issuers/${issuerIdOf(0)}/bindings/${bindingIdOf(index)}`, {
      roleArn: ROLE_ARN,
      subjects: [`system:serviceaccount:ns-${index}:*`],
    }),
  )
  await createAll(3, (index) =>
    asAdmin('PUT', `/v1/admin/issuers/${issuerIdOf(1)}/bindings/${bindingIdOf(index)}`, {
      roleArn: ROLE_ARN,
      subjects: ['system:serviceaccount:other:*'],
    }),
  )
}, 120_000)

afterAll(async () => {
  await stack?.stop()
})

const allBindingIds = Array.from({ length: BINDING_COUNT }, (_, index) => bindingIdOf(index))
const bindingsPath = `/v1/admin/issuers/${issuerIdOf(0)}/bindings`

describe('paged lists', () => {
  it(`walks ${BINDING_COUNT} bindings in pages of 100: each once, in id order, the last page without nextToken`, async () => {
    // Act
    const pages = await walk(bindingsPath, 'bindings', 'bindingId', 100)

    // Assess
    expect(pages.map((page) => page.ids.length)).toEqual([100, 100, 60])
    expect(pages.flatMap((page) => page.ids)).toEqual(allBindingIds)
    expect(pages.map((page) => page.nextToken !== undefined)).toEqual([true, true, false])
  })

  it(`walks ${BINDING_COUNT} bindings in pages of 7 the same way, and 100 is the default page`, async () => {
    // Act
    const bySeven = await walk(bindingsPath, 'bindings', 'bindingId', 7)
    const byDefault = await walk(bindingsPath, 'bindings', 'bindingId')

    // Assess
    expect(bySeven).toHaveLength(Math.ceil(BINDING_COUNT / 7))
    expect(bySeven.slice(0, -1).every((page) => page.ids.length === 7 && page.nextToken)).toBe(true)
    expect(bySeven.at(-1)).toEqual({ ids: allBindingIds.slice(-(BINDING_COUNT % 7)), nextToken: undefined })
    expect(bySeven.flatMap((page) => page.ids)).toEqual(allBindingIds)
    expect(byDefault.map((page) => page.ids.length)).toEqual([100, 100, 60])
  })

  it('walks the issuers in pages of 5, each once in id order; one page holds them all by default', async () => {
    // Act
    const pages = await walk('/v1/admin/issuers', 'issuers', 'issuerId', 5)
    const whole = await asAdmin('GET', '/v1/admin/issuers')

    // Assess
    const all = Array.from({ length: ISSUER_COUNT }, (_, index) => issuerIdOf(index))
    expect(pages.map((page) => page.ids.length)).toEqual([5, 5, 2])
    expect(pages.flatMap((page) => page.ids)).toEqual(all)
    expect(pages.at(-1)?.nextToken).toBeUndefined()
    expect(whole.body.nextToken).toBeUndefined()
    expect((whole.body.issuers as Json[]).map((issuer) => issuer.issuerId)).toEqual(all)
  })

  it('refuses a forged, garbled or other list’s nextToken with 400 InvalidParameterValue naming nextToken', async () => {
    // Prepare
    const first = await asAdmin('GET', '/v1/admin/issuers?limit=2')
    const issuersToken = first.body.nextToken as string
    const otherBindings = await asAdmin('GET', `/v1/admin/issuers/${issuerIdOf(1)}/bindings?limit=1`)
    const otherIssuersToken = otherBindings.body.nextToken as string
    const tokens = {
      garbled: 'not a token!',
      'random base64url': randomBytes(40).toString('base64url'),
      'not JSON': Buffer.from('{"v":1,', 'utf8').toString('base64url'),
      empty: '',
      'the issuers list’s': issuersToken,
      "another issuer's bindings'": otherIssuersToken,
      'with a partition key': encodeNextToken(`bindings:${issuerIdOf(0)}`, {
        bindingId: 'b-0001',
        pk: 'ISSUER#paged-01',
      }),
      'with a wrong field': encodeNextToken(`bindings:${issuerIdOf(0)}`, { issuerId: 'paged-01' }),
      'too long': 'A'.repeat(5000),
    }

    // Act
    const answers = await Promise.all(
      Object.values(tokens).map((token) =>
        asAdmin('GET', `${bindingsPath}?nextToken=${encodeURIComponent(token)}`),
      ),
    )

    // Assess
    expect(typeof issuersToken).toBe('string')
    expect(typeof otherIssuersToken).toBe('string')
    for (const answer of answers) expectRefused(answer, 'nextToken')
  })

  it('refuses limit 0, 1001, abc, -1 and 2.5 with 400 naming limit, and an unknown query parameter', async () => {
    // Act
    const answers = await Promise.all(
      ['0', '1001', 'abc', '-1', '2.5'].map((limit) => asAdmin('GET', `${bindingsPath}?limit=${limit}`)),
    )
    const unknown = await asAdmin('GET', '/v1/admin/issuers?page=2')

    // Assess
    for (const answer of answers) expectRefused(answer, 'limit')
    expectRefused(unknown, 'page')
  })

  it('answers 404 for the bindings of an issuer that does not exist, paged or not', async () => {
    // Act
    const plain = await asAdmin('GET', '/v1/admin/issuers/nobody/bindings')
    const paged = await asAdmin('GET', '/v1/admin/issuers/nobody/bindings?limit=5')

    // Assess
    expect([plain.status, paged.status]).toEqual([404, 404])
  })
})

describe('revocation routes', () => {
  const revocationsOf = (issuerId: string) => `/v1/admin/issuers/${issuerId}/revocations`

  it('records a revocation: 201 with its id and notBefore, listed, kept by a PUT of the issuer, lifted with DELETE (then 404)', async () => {
    // Prepare
    const issuerId = issuerIdOf(2)
    const binding = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}/bindings/ml`, {
      roleArn: ROLE_ARN,
      subjects: ['system:serviceaccount:ml:*'],
    })
    expect(binding.status).toBe(201)

    // Act
    const before = Date.now()
    const added = await asAdmin('POST', revocationsOf(issuerId), {
      bindingId: 'ml',
      subject: 'system:serviceaccount:ml:*',
    })
    const listed = await asAdmin('GET', revocationsOf(issuerId))
    const issuer = await asAdmin('GET', `/v1/admin/issuers/${issuerId}`)
    const putBack = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}`, {
      ...issuer.body,
      description: 'x',
    })
    const stillListed = await asAdmin('GET', revocationsOf(issuerId))
    const revocationId = String(added.body.revocationId)
    const lifted = await asAdmin('DELETE', `${revocationsOf(issuerId)}/${revocationId}`)
    const liftedAgain = await asAdmin('DELETE', `${revocationsOf(issuerId)}/${revocationId}`)
    const afterLift = await asAdmin('GET', revocationsOf(issuerId))

    // Assess
    expect(added.status).toBe(201)
    expect(added.body).toMatchObject({
      bindingId: 'ml',
      subject: 'system:serviceaccount:ml:*',
      createdBy: 'local-admin',
    })
    expect(revocationId).toMatch(/^r[A-Za-z0-9_-]{16}$/)
    expect(Date.parse(String(added.body.notBefore))).toBeGreaterThanOrEqual(before - 1000)
    expect(listed.body).toEqual({ revocations: [added.body] })
    expect(putBack.status).toBe(200)
    expect(stillListed.body).toEqual({ revocations: [added.body] })
    expect([lifted.status, liftedAgain.status]).toEqual([204, 404])
    expect(afterLift.body).toEqual({ revocations: [] })
  })

  it('revoking the same scope again moves its notBefore (200, same id); the issuer version moves with each write', async () => {
    // Prepare
    const issuerId = issuerIdOf(3)
    const first = await asAdmin('POST', revocationsOf(issuerId), {
      subject: 'system:serviceaccount:a:b',
      notBefore: '2026-01-01T00:00:00Z',
    })
    const versionAfterFirst = (await asAdmin('GET', `/v1/admin/issuers/${issuerId}`)).body.version

    // Act
    const again = await asAdmin('POST', revocationsOf(issuerId), {
      subject: 'system:serviceaccount:a:b',
      notBefore: '2026-02-01T00:00:00Z',
    })
    const issuer = await asAdmin('GET', `/v1/admin/issuers/${issuerId}`)

    // Assess
    expect([first.status, again.status]).toEqual([201, 200])
    expect(again.body.revocationId).toBe(first.body.revocationId)
    expect(again.body.notBefore).toBe('2026-02-01T00:00:00.000Z')
    expect(issuer.body.version).toBe(Number(versionAfterFirst) + 1)
    expect(issuer.body.revocations).toEqual([again.body])
  })

  it('refuses bad revocations with 400 naming the field, an unknown issuer with 404, and changes nothing', async () => {
    // Prepare
    const issuerId = issuerIdOf(4)
    const versionBefore = (await asAdmin('GET', `/v1/admin/issuers/${issuerId}`)).body.version

    // Act
    const refused = {
      bindingId: await asAdmin('POST', revocationsOf(issuerId), { bindingId: 'no-such-binding' }),
      notBefore: await asAdmin('POST', revocationsOf(issuerId), { notBefore: 'yesterday' }),
      subject: await asAdmin('POST', revocationsOf(issuerId), { subject: '' }),
      roleArn: await asAdmin('POST', revocationsOf(issuerId), { roleArn: ROLE_ARN }),
    }
    const farAhead = await asAdmin('POST', revocationsOf(issuerId), { notBefore: '2999-01-01T00:00:00Z' })
    const notObject = await asAdmin('POST', revocationsOf(issuerId), [])
    const unknownIssuer = await asAdmin('POST', revocationsOf('nobody'), {})
    const unknownList = await asAdmin('GET', revocationsOf('nobody'))
    const versionAfter = (await asAdmin('GET', `/v1/admin/issuers/${issuerId}`)).body.version

    // Assess
    for (const [field, answer] of Object.entries(refused)) expectRefused(answer, field)
    expectRefused(farAhead, 'notBefore')
    expect(notObject.status).toBe(400)
    expect([unknownIssuer.status, unknownList.status]).toEqual([404, 404])
    expect(versionAfter).toBe(versionBefore)
  })

  it('holds at most 100 revocations per issuer (409 too_many_revocations), pages them, and takes more once one is lifted', async () => {
    // Prepare
    const issuerId = issuerIdOf(5)
    // One after another: they all write the same issuer item (concurrent ones race on its version).
    for (let index = 0; index < 100; index++) {
      const answer = await asAdmin('POST', revocationsOf(issuerId), {
        subject: `system:serviceaccount:n:${index}`,
      })
      expect(answer.status).toBe(201)
    }

    // Act
    const full = await asAdmin('POST', revocationsOf(issuerId), { subject: 'system:serviceaccount:n:extra' })
    const pages = await walk(revocationsOf(issuerId), 'revocations', 'revocationId', 30)
    const ids = pages.flatMap((page) => page.ids)
    await asAdmin('DELETE', `${revocationsOf(issuerId)}/${ids[0]}`)
    const afterLift = await asAdmin('POST', revocationsOf(issuerId), {
      subject: 'system:serviceaccount:n:extra',
    })
    const forged = await asAdmin(
      'GET',
      `${revocationsOf(issuerId)}?nextToken=${encodeNextToken(`bindings:${issuerId}`, { bindingId: 'x' })}`,
    )

    // Assess
    expect(full.status).toBe(409)
    expect(full.body.error).toMatchObject({ code: 'Conflict' })
    expect(pages.map((page) => page.ids.length)).toEqual([30, 30, 30, 10])
    expect(new Set(ids).size).toBe(100)
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    expect(afterLift.status).toBe(201)
    expectRefused(forged, 'nextToken')
  })

  it('answered no request of this file with a 5xx', () => {
    expect(statuses.filter((status) => status >= 500)).toEqual([])
  })
})
