// `irsa-broker revoke` without AWS (test/integration/revoke-iam-moto.test.ts applies it to moto's
// IAM): the issuer and its bindings read from the broker, all pages of them; the printed
// policies; the notes for scopes a policy cannot name exactly; command-line refusals.
import { describe, expect, it } from 'vitest'
import { workloadName } from '../../../shared/core/workload-identity.js'
import { jsonResponse, runScripted } from '../../support/cli-run.js'

const ENDPOINT = ['--endpoint', 'https://broker.example.com']
const ADMIN = { IRSA_BROKER_ADMIN_TOKEN: 'admin-token-for-tests' }
const role = (name: string) => `arn:aws:iam::111122223333:role/${name}`
const SUBJECT = 'system:serviceaccount:ml:trainer'

const recorded = () =>
  jsonResponse(201, {
    revocationId: 'rAAAAAAAAAAAAAAAA',
    subject: SUBJECT,
    notBefore: '2026-12-04T18:40:00.000Z',
  })
const issuer = (mode: 'broker' | 'passthrough') => jsonResponse(200, { issuerId: 'onprem-a', mode })
const PAGE_1 = jsonResponse(200, {
  bindings: [
    { bindingId: 'ml-readers', roleArn: role('ml-s3-reader'), subjects: ['system:serviceaccount:ml:*'] },
  ],
  nextToken: 'page-2',
})
const page2 = () =>
  jsonResponse(200, {
    bindings: [
      { bindingId: 'ops', roleArn: role('ops-admin'), subjects: ['system:serviceaccount:ops:*'] },
      {
        bindingId: 'ml-templated',
        roleArn: role('ml-templated'),
        subjects: [SUBJECT],
        sourceIdentity: 'ml.{/sub}',
      },
    ],
  })

describe('irsa-broker revoke', () => {
  it('reads the issuer and every page of its bindings from the broker, records the revocation there and prints one policy per role in scope', async () => {
    // Act
    const result = await runScripted(
      [
        'revoke',
        'onprem-a',
        '--subject',
        SUBJECT,
        '--not-before',
        '2026-12-04T18:40:00Z',
        '--margin-seconds',
        '0',
        ...ENDPOINT,
      ],
      { steps: [issuer('broker'), PAGE_1, page2(), recorded()], env: ADMIN },
    )
    // Assess
    expect(result.code).toBe(0)
    expect(result.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET https://broker.example.com/v1/admin/issuers/onprem-a',
      'GET https://broker.example.com/v1/admin/issuers/onprem-a/bindings',
      'GET https://broker.example.com/v1/admin/issuers/onprem-a/bindings?nextToken=page-2',
      'POST https://broker.example.com/v1/admin/issuers/onprem-a/revocations',
    ])
    expect(result.requests[3]?.body).toEqual({
      subject: SUBJECT,
      notBefore: '2026-12-04T18:40:00.000Z',
    })
    expect(JSON.parse(result.stdout).revocation.revocationId).toBe('rAAAAAAAAAAAAAAAA')
    const printed = JSON.parse(result.stdout) as {
      scope: unknown
      notBefore: string
      policies: { roleArn: string; covers: string; policy: { Statement: [{ Condition: unknown }] } }[]
    }
    expect(printed.scope).toEqual({ issuerId: 'onprem-a', subject: SUBJECT })
    expect(printed.notBefore).toBe('2026-12-04T18:40:00.000Z')
    expect(printed.policies.map((p) => [p.roleArn, p.covers])).toEqual([
      [role('ml-s3-reader'), 'scope'],
      [role('ml-templated'), 'any-source-identity'],
    ])
    expect(printed.policies[0]?.policy.Statement[0].Condition).toEqual({
      DateLessThan: { 'aws:TokenIssueTime': '2026-12-04T18:40:00Z' },
      StringEquals: { 'aws:SourceIdentity': [workloadName('onprem-a', SUBJECT)] },
    })
    expect(result.stderr).toContain('binding ml-templated sets its own sourceIdentity template')
  })

  it('puts the cut-off --margin-seconds (default 60) after the revocation time', async () => {
    // Act
    const result = await runScripted(
      ['revoke', 'onprem-a', '--binding', 'ops', '--not-before', '2026-12-04T18:40:00Z', ...ENDPOINT],
      {
        steps: [issuer('broker'), PAGE_1, page2(), recorded()],
        env: ADMIN,
      },
    )
    // Assess
    expect(JSON.parse(result.stdout).policies[0].policy.Statement[0].Condition.DateLessThan).toEqual({
      'aws:TokenIssueTime': '2026-12-04T18:41:00Z',
    })
  })

  it('says, for a passthrough issuer, that every older session of the role is denied', async () => {
    // Act
    const result = await runScripted(
      ['revoke', 'onprem-a', '--binding', 'ops', '--policy-only', ...ENDPOINT],
      {
        steps: [issuer('passthrough'), PAGE_1, page2()],
        env: ADMIN,
      },
    )
    // Assess
    expect(result.code).toBe(0)
    expect(result.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'GET'])
    expect(JSON.parse(result.stdout).policies[0].covers).toBe('all')
    expect(result.stderr).toContain('passthrough mode (no broker source identity)')
  })

  it('refuses an unknown binding with exit 1, naming it', async () => {
    // Act
    const result = await runScripted(['revoke', 'onprem-a', '--binding', 'nope', ...ENDPOINT], {
      steps: [issuer('broker'), PAGE_1, page2()],
      env: ADMIN,
    })
    // Assess
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('issuer "onprem-a" has no binding "nope"')
  })

  it.each([
    [['onprem-a'], '--endpoint is required'],
    [['onprem-a', '--issuer-mode', 'passthrough', ...ENDPOINT], '--issuer-mode goes with --bindings-file'],
    [['onprem-a', '--not-before', 'yesterday', ...ENDPOINT], '--not-before must be an ISO 8601 time'],
    [['bad id!', ...ENDPOINT], 'is not a valid issuer id'],
  ])('refuses %j as usage (exit 2) before asking anything', async (argv, message) => {
    // Act
    const result = await runScripted(['revoke', ...argv], { env: ADMIN })
    // Assess
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(message)
    expect(result.requests).toEqual([])
  })
})
