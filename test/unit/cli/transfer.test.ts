// import's decision for each object against what the target holds (the e2e suite runs
// export → import against the local broker): create what is missing, leave equal objects alone,
// update at the exported version only, report a changed object as a conflict unless forced,
// write nothing on a dry run, and refuse a document that is not an export.
import { describe, expect, it } from 'vitest'
import { BrokerRefusedError, InputError } from '../../../cli/errors.js'
import type { BrokerCall, BrokerClient } from '../../../cli/http.js'
import { importObjects } from '../../../cli/transfer.js'

const SERVER = {
  createdAt: '2031-05-04T12:00:00.000Z',
  updatedAt: '2031-05-04T12:00:00.000Z',
  updatedBy: 'x',
}
const ISSUER = {
  issuerId: 'a',
  issuer: 'https://oidc.a.example.com',
  audiences: ['irsa-broker'],
  version: 1,
  ...SERVER,
}
const binding = (bindingId: string, version: number, fields: Record<string, unknown> = {}) => ({
  issuerId: 'a',
  bindingId,
  roleArn: `arn:aws:iam::111122223333:role/${bindingId}`,
  subjects: ['system:serviceaccount:ml:*'],
  version,
  ...SERVER,
  ...fields,
})

/** A target broker holding `stored`, answering lists and recording writes (a 409 where told). */
const target = (stored: { issuers: object[]; bindings: object[] }, refuse: string[] = []) => {
  const writes: BrokerCall[] = []
  const client: BrokerClient = {
    async call(request) {
      if (request.method === 'GET' && request.path === '/v1/admin/issuers')
        return { status: 200, headers: new Headers(), body: { issuers: stored.issuers } }
      if (request.method === 'GET' && request.path === '/v1/admin/issuers/a/bindings')
        return { status: 200, headers: new Headers(), body: { bindings: stored.bindings } }
      if (request.method === 'PUT') {
        writes.push(request)
        if (refuse.includes(request.path))
          throw new BrokerRefusedError('Conflict', 409, 'the broker refused: Conflict: changed meanwhile.')
        const body = request.body as { version?: number }
        return {
          status: body.version ? 200 : 201,
          headers: new Headers(),
          body: { version: (body.version ?? 0) + 1 },
        }
      }
      throw new Error(`unexpected ${request.method} ${request.path}`)
    },
  }
  return { client, writes }
}

const exported = (bindings: object[]) => ({
  kind: 'irsa-broker/export',
  formatVersion: 1,
  exportedAt: '2031-05-04T12:00:00.000Z',
  source: 'https://broker.example.com',
  issuers: [ISSUER],
  bindings,
})

const OPTIONS = { source: 'export.json', dryRun: false, force: false }

describe('importObjects', () => {
  it('creates what is missing (without a version), leaves equal objects alone, updates one at the exported version', async () => {
    const { client, writes } = target({
      issuers: [{ ...ISSUER, version: 7, updatedBy: 'someone else' }],
      bindings: [binding('same', 3), binding('edited', 2)],
    })
    const results = await importObjects(
      client,
      exported([binding('same', 1), binding('edited', 2, { description: 'new' }), binding('missing', 4)]),
      OPTIONS,
    )
    expect(results).toEqual([
      { object: 'issuer a', outcome: 'unchanged', version: 7 },
      { object: 'binding a/same', outcome: 'unchanged', version: 3 },
      { object: 'binding a/edited', outcome: 'updated', version: 3 },
      { object: 'binding a/missing', outcome: 'created', version: 1 },
    ])
    expect(writes.map((write) => [write.path, (write.body as { version?: number }).version])).toEqual([
      ['/v1/admin/issuers/a/bindings/edited', 2],
      ['/v1/admin/issuers/a/bindings/missing', undefined],
    ])
  })

  it('an object changed since the export (other version, other fields) is a conflict and is not written; --force writes it at the target version', async () => {
    const stored = { issuers: [ISSUER], bindings: [binding('reader', 2, { durationSeconds: 900 })] }
    const document = exported([binding('reader', 1)])
    const plain = target(stored)
    expect(await importObjects(plain.client, document, OPTIONS)).toContainEqual({
      object: 'binding a/reader',
      outcome: 'conflict',
      version: 2,
      detail: 'the target is at version 2, the export at 1, and they differ; --force overwrites',
    })
    expect(plain.writes).toEqual([])

    const forced = target(stored)
    expect(await importObjects(forced.client, document, { ...OPTIONS, force: true })).toContainEqual({
      object: 'binding a/reader',
      outcome: 'updated',
      version: 3,
    })
    expect(forced.writes.map((write) => (write.body as { version?: number }).version)).toEqual([2])
  })

  it('--dry-run reports what it would do and writes nothing', async () => {
    const { client, writes } = target({ issuers: [], bindings: [] })
    const results = await importObjects(client, exported([binding('reader', 1)]), {
      ...OPTIONS,
      dryRun: true,
    })
    expect(results.map((result) => result.outcome)).toEqual(['would-create', 'would-create'])
    expect(writes).toEqual([])
  })

  it('a write the broker refuses (changed between the read and the write) is reported for that object; the others go on', async () => {
    const { client, writes } = target({ issuers: [ISSUER], bindings: [] }, [
      '/v1/admin/issuers/a/bindings/first',
    ])
    const results = await importObjects(
      client,
      exported([binding('first', 1), binding('second', 1)]),
      OPTIONS,
    )
    expect(results.slice(1)).toEqual([
      { object: 'binding a/first', outcome: 'conflict', detail: 'Conflict: changed meanwhile.' },
      { object: 'binding a/second', outcome: 'created', version: 1 },
    ])
    expect(writes).toHaveLength(2)
  })

  it.each([
    ['not an export', { issuers: [] }, /is not an irsa-broker export/],
    [
      'a binding without an id',
      exported([{ issuerId: 'a', roleArn: 'x' }]),
      /bindings\[0\]: the binding id is required/,
    ],
    [
      'an id that would reshape a path',
      exported([binding('../x', 1)]),
      /bindings\[0\]: "\.\.\/x" is not a valid binding id/,
    ],
    ['an object twice', exported([binding('b', 1), binding('b', 2)]), /holds binding a\/b twice/],
    [
      'a version that is no whole number',
      exported([binding('b', 1.5)]),
      /"version" must be a positive whole number/,
    ],
  ])('refuses %s before any request (DocumentFile, exit 1)', async (_what, document, message) => {
    const { client, writes } = target({ issuers: [], bindings: [] })
    const error = await importObjects(client, document as Record<string, unknown>, OPTIONS).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).code).toBe('DocumentFile')
    expect((error as Error).message).toMatch(message)
    expect(writes).toEqual([])
  })
})
