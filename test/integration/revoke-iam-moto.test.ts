// `irsa-broker revoke --apply` against moto_server's IAM (which checks policy documents with its
// own validator on PutRolePolicy): the deny policy lands on exactly the roles bound in scope,
// is an identity policy of the IAM grammar, reads back the same with the AWS CLI, re-running
// changes nothing, and a role of another account is never touched by name in the caller's.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import {
  CreateRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../cli/main.js'
import { type MotoServer, startMotoServer } from '../../infra/local/processes.js'
import { workloadName } from '../../shared/core/workload-identity.js'
import { identityPolicyProblems } from '../support/iam-policy-grammar.js'
import { DUMMY_CREDENTIALS, MOTO_REGION } from '../support/moto.js'
import { tempFolder } from '../support/temp-folder.js'

/** moto's account for any credentials it does not know. */
const ACCOUNT = '123456789012'
const OTHER_ACCOUNT = '111122223333'
const arn = (name: string, path = '/') => `arn:aws:iam::${ACCOUNT}:role${path}${name}`
const sa = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`
const ROLES = [
  { name: 'ml-s3-reader', path: '/' },
  { name: 'ml-s3-writer', path: '/' },
  { name: 'ops-admin', path: '/team/' },
  { name: 'unbound', path: '/' },
] as const

const BINDINGS = {
  bindings: [
    { bindingId: 'ml-readers', roleArn: arn('ml-s3-reader'), subjects: [sa('ml', '*')] },
    { bindingId: 'ml-writers', roleArn: arn('ml-s3-writer'), subjects: [sa('ml', 'trainer')] },
    { bindingId: 'ops', roleArn: arn('ops-admin', '/team/'), subjects: [sa('ops', '*')] },
  ],
}

let moto: MotoServer
let iam: IAMClient
const folder = tempFolder('revoke-')
const bindingsFile = folder.file('bindings.json', JSON.stringify(BINDINGS))

const revoke = async (argv: string[], env: Record<string, string> = {}) => {
  const out: string[] = []
  const err: string[] = []
  const code = await run(['revoke', ...argv], {
    env: { AWS_ENDPOINT_URL_IAM: moto.endpoint, AWS_ENDPOINT_URL_STS: moto.endpoint, ...env },
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    awsCredentials: () => async () => DUMMY_CREDENTIALS,
  })
  return { code, stdout: out.join(''), stderr: err.join('') }
}

const policiesOn = async (roleName: string) =>
  (await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames ?? []

const documentOn = async (roleName: string, policyName: string): Promise<string> =>
  decodeURIComponent(
    (await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName })))
      .PolicyDocument ?? '',
  )

beforeAll(async () => {
  moto = await startMotoServer()
  iam = new IAMClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: DUMMY_CREDENTIALS })
  for (const role of ROLES)
    await iam.send(
      new CreateRoleCommand({
        RoleName: role.name,
        Path: role.path,
        AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}',
      }),
    )
})

afterAll(async () => {
  iam?.destroy()
  await moto?.stop()
})

describe('irsa-broker revoke against moto IAM', () => {
  it('only prints without --apply: no role gets a policy', async () => {
    // Act
    const result = await revoke([
      'onprem-a',
      '--bindings-file',
      bindingsFile,
      '--subject',
      sa('ml', 'trainer'),
    ])
    // Assess
    expect(result.code).toBe(0)
    const printed = JSON.parse(result.stdout) as { policies: { roleArn: string }[] }
    expect(printed.policies.map((p) => p.roleArn)).toEqual([arn('ml-s3-reader'), arn('ml-s3-writer')])
    for (const role of ROLES) expect(await policiesOn(role.name)).toEqual([])
  })

  it('puts the policy on exactly the roles bound in scope, as a valid identity policy that reads back the same (SDK and AWS CLI)', async () => {
    // Act
    const result = await revoke([
      'onprem-a',
      '--bindings-file',
      bindingsFile,
      '--subject',
      sa('ml', 'trainer'),
      '--not-before',
      '2026-12-04T18:40:00Z',
      '--apply',
    ])
    // Assess
    expect(result.code).toBe(0)
    const printed = JSON.parse(result.stdout) as {
      policies: { roleName: string; policyName: string; policy: unknown; applied: boolean }[]
    }
    expect(printed.policies.map((p) => [p.roleName, p.applied])).toEqual([
      ['ml-s3-reader', true],
      ['ml-s3-writer', true],
    ])
    const policyName = printed.policies[0]?.policyName ?? ''
    for (const name of ['ml-s3-reader', 'ml-s3-writer']) {
      expect(await policiesOn(name)).toEqual([policyName])
      const document = await documentOn(name, policyName)
      expect(identityPolicyProblems(document)).toEqual([])
      expect(JSON.parse(document)).toEqual(printed.policies[0]?.policy)
      expect(JSON.parse(document).Statement[0].Condition).toEqual({
        DateLessThan: { 'aws:TokenIssueTime': '2026-12-04T18:41:00Z' },
        StringEquals: { 'aws:SourceIdentity': [workloadName('onprem-a', sa('ml', 'trainer'))] },
      })
    }
    expect(await policiesOn('ops-admin')).toEqual([])
    expect(await policiesOn('unbound')).toEqual([])
    // The AWS CLI reads the same document back.
    const { stdout } = await promisify(execFile)(
      'aws',
      [
        'iam',
        'get-role-policy',
        '--role-name',
        'ml-s3-writer',
        '--policy-name',
        policyName,
        '--endpoint-url',
        moto.endpoint,
        '--output',
        'json',
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_DEFAULT_REGION: MOTO_REGION,
        },
      },
    )
    expect((JSON.parse(stdout) as { PolicyDocument: unknown }).PolicyDocument).toEqual(
      printed.policies[0]?.policy,
    )
  })

  it('changes nothing when run again with the same scope and time', async () => {
    // Prepare
    const argv = [
      'onprem-a',
      '--bindings-file',
      bindingsFile,
      '--binding',
      'ops',
      '--not-before',
      '2026-12-04T18:40:00Z',
      '--apply',
    ]
    const first = await revoke(argv)
    const [policyName = ''] = await policiesOn('ops-admin')
    const before = await documentOn('ops-admin', policyName)
    // Act
    const second = await revoke(argv)
    // Assess
    expect([first.code, second.code]).toEqual([0, 0])
    expect(second.stdout).toBe(first.stdout)
    expect(await policiesOn('ops-admin')).toEqual([policyName])
    expect(await documentOn('ops-admin', policyName)).toBe(before)
  })

  it("leaves a role of another account alone, even where the caller's account has a role of that name, and exits 1", async () => {
    // Prepare
    const otherFile = folder.file(
      'other-account.json',
      JSON.stringify({
        bindings: [
          { bindingId: 'x', roleArn: `arn:aws:iam::${OTHER_ACCOUNT}:role/unbound`, subjects: ['*'] },
        ],
      }),
    )
    // Act
    const result = await revoke(['onprem-b', '--bindings-file', otherFile, '--apply'])
    // Assess
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `not applied: arn:aws:iam::${OTHER_ACCOUNT}:role/unbound: the role is in account ${OTHER_ACCOUNT}`,
    )
    expect(await policiesOn('unbound')).toEqual([])
  })

  it('reports a bound role that does not exist and still applies the others', async () => {
    // Prepare
    const file = folder.file(
      'missing-role.json',
      JSON.stringify({
        bindings: [
          { bindingId: 'gone', roleArn: arn('deleted-role'), subjects: ['*'] },
          { bindingId: 'here', roleArn: arn('unbound'), subjects: ['*'] },
        ],
      }),
    )
    // Act
    const result = await revoke(['onprem-c', '--bindings-file', file, '--apply'])
    // Assess
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/not applied: arn:aws:iam::123456789012:role\/deleted-role: NoSuchEntity/)
    expect(await policiesOn('unbound')).toHaveLength(1)
  })
})
