// The admin history end to end (issue 14) through the local stack over real HTTP: a binding's
// whole life and a key push, read back with `irsa-broker history`; a stale write (409) leaves no
// record; no record holds key material beyond kids, nor a token.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../cli/main.js'
import { type LocalStack, startLocalStack } from '../../infra/local/stack.js'
import { loadLocalConfig } from '../../shared/config.js'
import { capturingSink } from '../support/log-capture.js'
import { createMovableClock } from '../support/movable-clock.js'
import { findSecrets } from '../support/secret-scan.js'
import { AUDIENCE, createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

type Json = Record<string, unknown>

const KEY_SYNC_SUBJECT = 'system:serviceaccount:irsa-broker:key-sync'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const ISS = 'https://history.clusters.example.test'
const adminToken = randomBytes(24).toString('base64url')
const clock = createMovableClock()
const sentTokens: string[] = []

let stack: LocalStack
let dir: string
let keyA: TestIssuer
let keyB: TestIssuer

const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Json) }
}
const asAdmin = (method: string, path: string, body?: unknown) =>
  call(method, path, { authorization: `Bearer ${adminToken}` }, body)

const history = async (args: string[]) => {
  let stdout = ''
  let stderr = ''
  const code = await run(['history', '--endpoint', stack.url, ...args], {
    env: { IRSA_BROKER_ADMIN_TOKEN: adminToken },
    stdout: (text) => {
      stdout += text
    },
    stderr: (text) => {
      stderr += text
    },
  })
  return { code, stdout, stderr }
}

const binding = (extra: Json = {}) => ({
  roleArn: ROLE_ARN,
  subjects: ['system:serviceaccount:ml:*'],
  ...extra,
})

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-history-'))
  keyA = await createTestIssuer({ iss: ISS, kid: 'cluster-key-a' })
  keyB = await createTestIssuer({ iss: ISS, kid: 'cluster-key-b' })
  stack = await startLocalStack(
    loadLocalConfig({
      PORT: '0',
      IRSA_BROKER_DATA_DIR: join(dir, 'data'),
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
    }),
    { logSink: capturingSink('history', () => undefined), clock },
  )
})

afterAll(async () => {
  await stack?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('irsa-broker history', () => {
  it("shows a binding's whole life and a key push in order, and nothing of a write refused as stale", async () => {
    // Prepare: create, bind, update twice, a stale update, a key push, disable, delete.
    const statuses: number[] = []
    const step = async (answer: Promise<{ status: number }>) => statuses.push((await answer).status)
    await step(
      asAdmin('PUT', '/v1/admin/issuers/hist', {
        issuer: ISS,
        audiences: [AUDIENCE],
        jwks: keyA.jwks,
        keySync: { subject: KEY_SYNC_SUBJECT },
      }),
    )
    await step(asAdmin('PUT', '/v1/admin/issuers/hist/bindings/reader', binding()))
    await step(
      asAdmin('PUT', '/v1/admin/issuers/hist/bindings/reader', binding({ version: 1, durationSeconds: 900 })),
    )
    await step(
      asAdmin(
        'PUT',
        '/v1/admin/issuers/hist/bindings/reader',
        binding({ version: 2, durationSeconds: 900, sessionTags: { team: 'ml' } }),
      ),
    )
    await step(asAdmin('PUT', '/v1/admin/issuers/hist/bindings/reader', binding({ version: 1 })))
    const syncToken = await keyA.mint({
      iss: ISS,
      aud: ['irsa-broker-key-sync'],
      namespace: 'irsa-broker',
      serviceAccount: 'key-sync',
      iat: clock.seconds(),
    })
    sentTokens.push(syncToken)
    await step(
      call(
        'PUT',
        '/v1/issuers/hist/jwks',
        { authorization: `Bearer ${syncToken}` },
        { keys: [...keyA.jwks.keys, ...keyB.jwks.keys] },
      ),
    )
    const issuer = (await asAdmin('GET', '/v1/admin/issuers/hist')).body
    await step(
      asAdmin('PUT', '/v1/admin/issuers/hist', {
        ...issuer,
        enabled: false,
      }),
    )
    await step(asAdmin('DELETE', '/v1/admin/issuers/hist?cascade=true'))
    expect(statuses).toEqual([201, 201, 200, 200, 409, 200, 200, 204])

    // Act
    const asJson = await history(['--issuer', 'hist'])
    const asTable = await history(['--issuer', 'hist', '--output', 'table'])

    // Assess
    expect(asJson.code, asJson.stderr).toBe(0)
    const records = (JSON.parse(asJson.stdout) as { records: Json[] }).records
    expect(
      records.map((r) => [
        r.object,
        r.action,
        r.versionBefore ?? null,
        r.versionAfter ?? null,
        r.changed,
        r.actor,
      ]),
    ).toEqual([
      ['issuer', 'create', null, 1, expect.arrayContaining(['issuer', 'jwks', 'keySync']), 'local-admin'],
      ['binding', 'create', null, 1, expect.arrayContaining(['roleArn', 'subjects']), 'local-admin'],
      ['binding', 'update', 1, 2, ['durationSeconds'], 'local-admin'],
      ['binding', 'update', 2, 3, ['sessionTags'], 'local-admin'],
      ['issuer', 'update', 1, 2, ['jwks'], `key-push:${KEY_SYNC_SUBJECT}`],
      ['issuer', 'update', 2, 3, ['enabled'], 'local-admin'],
      ['issuer', 'delete', 3, null, [], 'local-admin'],
    ])
    expect(records[4]).toMatchObject({ kidsAdded: ['cluster-key-b'], kidsRemoved: [] })
    expect(asTable.code, asTable.stderr).toBe(0)
    expect(asTable.stdout).toMatch(/^AT\s+OBJECT\s+ACTION\s+VERSION\s+CHANGED\s+KIDS\s+ACTOR/)
    expect(asTable.stdout).toContain('binding reader')
    expect(asTable.stdout).toContain('+cluster-key-b')
    // No key material beyond kids, no token, in any record.
    const text = JSON.stringify(records)
    expect(findSecrets(text)).toEqual([])
    for (const key of [...keyA.jwks.keys, ...keyB.jwks.keys]) expect(text).not.toContain(String(key.n))
    for (const token of sentTokens) expect(text).not.toContain(token.split('.')[1])
    expect(text).not.toContain(adminToken)
  })

  it('pages with --since, and refuses a history without an issuer or with an unknown parameter', async () => {
    // Prepare
    const all = JSON.parse((await history(['--issuer', 'hist'])).stdout) as { records: Json[] }
    const since = String(all.records[3]?.at)
    // Act
    const later = await history(['--issuer', 'hist', '--since', since])
    const page = await asAdmin('GET', '/v1/admin/history?issuerId=hist&limit=3')
    const noIssuer = await asAdmin('GET', '/v1/admin/history')
    const unknown = await asAdmin('GET', '/v1/admin/history?issuerId=hist&sort=desc')
    // Assess
    expect((JSON.parse(later.stdout) as { records: Json[] }).records).toEqual(all.records.slice(3))
    expect((page.body.records as Json[]).length).toBe(3)
    expect(typeof page.body.nextToken).toBe('string')
    expect(noIssuer.status).toBe(400)
    expect(unknown.status).toBe(400)
  })
})
