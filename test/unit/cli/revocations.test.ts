// `irsa-broker revocations list|lift` against scripted broker answers: every page followed with
// the page size asked, one table; a lift names the revocation by issuer and id.
import { describe, expect, it } from 'vitest'
import { jsonResponse, runScripted } from '../../support/cli-run.js'

const ENDPOINT = ['--endpoint', 'https://broker.example.com']
const ADMIN = { IRSA_BROKER_ADMIN_TOKEN: 'admin-token-for-tests' }
const revocation = (revocationId: string, subject: string) => ({
  revocationId,
  subject,
  notBefore: '2026-12-04T18:40:00.000Z',
  createdBy: 'local-admin',
})

describe('irsa-broker revocations', () => {
  it('lists every page with --page-size as limit, and prints one table', async () => {
    // Act
    const result = await runScripted(
      ['revocations', 'list', 'onprem-a', '--page-size', '2', '--output', 'table', ...ENDPOINT],
      {
        steps: [
          jsonResponse(200, {
            revocations: [revocation('rAAAAAAAAAAAAAAAA', 'a'), revocation('rBBBBBBBBBBBBBBBB', 'b')],
            nextToken: 'next-1',
          }),
          jsonResponse(200, { revocations: [revocation('rCCCCCCCCCCCCCCCC', 'c')] }),
        ],
        env: ADMIN,
      },
    )

    // Assess
    expect(result.code).toBe(0)
    expect(result.requests.map((request) => request.url)).toEqual([
      'https://broker.example.com/v1/admin/issuers/onprem-a/revocations?limit=2',
      'https://broker.example.com/v1/admin/issuers/onprem-a/revocations?limit=2&nextToken=next-1',
    ])
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^REVOCATION_ID\s+BINDING_ID\s+SUBJECT\s+NOT_BEFORE\s+CREATED_BY$/)
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual([
      'rAAAAAAAAAAAAAAAA',
      'rBBBBBBBBBBBBBBBB',
      'rCCCCCCCCCCCCCCCC',
    ])
  })

  it('lifts a revocation named ISSUER/ID with DELETE, and refuses a malformed id before asking', async () => {
    // Act
    const lifted = await runScripted(['revocations', 'lift', 'onprem-a/rAAAAAAAAAAAAAAAA', ...ENDPOINT], {
      steps: [new Response(null, { status: 204 })],
      env: ADMIN,
    })
    const malformed = await runScripted(['revocations', 'lift', 'onprem-a/../x', ...ENDPOINT], { env: ADMIN })

    // Assess
    expect(lifted.code).toBe(0)
    expect(lifted.requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      'DELETE https://broker.example.com/v1/admin/issuers/onprem-a/revocations/rAAAAAAAAAAAAAAAA',
    ])
    expect(lifted.stderr).toContain('lifted revocation onprem-a/rAAAAAAAAAAAAAAAA')
    expect(malformed.code).toBe(2)
    expect(malformed.requests).toEqual([])
  })
})
