// `irsa-broker issuers delete --cascade` against scripted broker answers: while the broker says
// 202 (the issuer is gone, its bindings' items are still being cleared), the same DELETE is made
// again; a sweep that never finishes ends in a retryable failure that says what to run.
import { describe, expect, it } from 'vitest'
import { jsonResponse, runScripted } from '../../support/cli-run.js'

const ENDPOINT = ['--endpoint', 'https://broker.example.com']
const ADMIN = { IRSA_BROKER_ADMIN_TOKEN: 'admin-token-for-tests' }
const unfinished = () => jsonResponse(202, { issuerId: 'onprem-a', bindingsDeleted: 4000, done: false })

describe('irsa-broker issuers delete --cascade', () => {
  it('repeats the DELETE while the broker answers 202, and exits 0 at its 204', async () => {
    // Act
    const result = await runScripted(['issuers', 'delete', 'onprem-a', '--cascade', ...ENDPOINT], {
      steps: [unfinished(), unfinished(), new Response(null, { status: 204 })],
      env: ADMIN,
    })

    // Assess
    expect(result.code).toBe(0)
    expect(result.requests.map((request) => `${request.method} ${request.url}`)).toEqual(
      Array(3).fill('DELETE https://broker.example.com/v1/admin/issuers/onprem-a?cascade=true'),
    )
    expect(result.stderr).toContain('irsa-broker: deleted issuer onprem-a')
  })

  it('stops after 50 rounds of 202 with exit 3, saying the issuer is deleted and what to run', async () => {
    // Act
    const result = await runScripted(['issuers', 'delete', 'onprem-a', '--cascade', ...ENDPOINT], {
      steps: Array.from({ length: 50 }, unfinished),
      env: ADMIN,
    })

    // Assess
    expect(result.code).toBe(3)
    expect(result.requests).toHaveLength(50)
    expect(result.stderr).toMatch(
      /is deleted, but its bindings are not all cleared yet .*run the same delete --cascade again/,
    )
  })
})
