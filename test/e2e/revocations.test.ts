// Issue 14's proof against the broker `npm start` runs (with the moto_server it starts for STS
// and IAM): two workloads of one binding hold credentials; `irsa-broker revoke --apply` records a
// revocation of one's subject and puts the deny policy on the role in moto's IAM; within the
// registry TTL that workload is refused (403 AccessDenied, audit reason `revoked`) while the
// other still gets credentials; a token issued after the revocation gets through, and lifting
// it lets the old token through again. And the CLI lists 250 bindings, page by page, as one.
import { CreateRoleCommand, GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam'
import { beforeAll, describe, expect, test } from 'vitest'
import { workloadName } from '../../shared/core/workload-identity.js'
import { SESSION_NAME_TEMPLATE } from '../support/e2e-workload.js'
import {
  adminPut,
  describeRun,
  type LocalBroker,
  localBrokerForSuite,
  type ProcessResult,
  runCli,
  TEST_TIMEOUT_MS,
} from '../support/local-broker.js'
import { DUMMY_CREDENTIALS, MOTO_REGION } from '../support/moto.js'
import { createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

/** moto's account for credentials it does not know: `--apply` touches roles of the caller's account only. */
const ACCOUNT = '123456789012'
const ROLE_NAME = 'e2e-revoke-reader'
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${ROLE_NAME}`
const REGISTRY_TTL_SECONDS = 2
const TRAINER = 'system:serviceaccount:ml:trainer'
const EVALUATOR = 'system:serviceaccount:ml:evaluator'
const PAGED_BINDINGS = 250

const suite = localBrokerForSuite({
  tools: ['moto_server'],
  env: {
    IRSA_BROKER_CACHE_TTL_SECONDS: String(REGISTRY_TTL_SECONDS),
    IRSA_BROKER_CACHE_STALE_SECONDS: '0',
  },
})
const { redactor } = suite
let broker: LocalBroker
let issuer: TestIssuer

/** The CLI as an operator runs it: the local admin token, and AWS credentials for moto's IAM. */
const cli = (args: string[]) =>
  runCli([...args, '--endpoint', broker.url], {
    redactor,
    env: {
      IRSA_BROKER_ADMIN_TOKEN: broker.adminToken,
      AWS_ENDPOINT_URL_IAM: broker.stsEndpoint,
      AWS_ENDPOINT_URL_STS: broker.stsEndpoint,
      AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey,
      AWS_REGION: MOTO_REGION,
    },
  })

const ok = (what: string, result: ProcessResult) => {
  expect(result.code, describeRun(what, result, redactor)).toBe(0)
  return result
}

/** GET /v1/credentials as the container provider asks it: the token, verbatim, as Authorization. */
const credentials = async (token: string) => {
  const response = await fetch(`${broker.url}/v1/credentials?role=ml-reader`, {
    headers: { authorization: token },
  })
  const body = (await response.json()) as { AccessKeyId?: string; error?: { code: string } }
  return { status: response.status, code: body.error?.code, hasKeys: typeof body.AccessKeyId === 'string' }
}

/** Asks until `done` holds or `seconds` pass; returns the last answer and when it came. */
const askUntil = async (
  token: string,
  done: (answer: Awaited<ReturnType<typeof credentials>>) => boolean,
  seconds: number,
) => {
  const start = Date.now()
  let answer = await credentials(token)
  while (!done(answer) && Date.now() - start < seconds * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    answer = await credentials(token)
  }
  return { answer, afterMs: Date.now() - start }
}

const mint = async (sub: string, iat?: number) => {
  const [namespace = '', serviceAccount = ''] = sub.split(':').slice(2)
  const token = await issuer.mint({ namespace, serviceAccount, ...(iat === undefined ? {} : { iat }) })
  redactor.add(token)
  return token
}

beforeAll(async () => {
  broker = suite.broker()
  issuer = await createTestIssuer()
  await adminPut(
    broker,
    '/v1/admin/issuers/onprem-a',
    { issuer: 'https://kubernetes.default.svc.cluster.local', audiences: ['irsa-broker'], jwks: issuer.jwks },
    redactor,
  )
  await adminPut(
    broker,
    '/v1/admin/issuers/onprem-a/bindings/ml-reader',
    { roleArn: ROLE_ARN, subjects: ['system:serviceaccount:ml:*'], sessionName: SESSION_NAME_TEMPLATE },
    redactor,
  )
  const iam = new IAMClient({
    region: MOTO_REGION,
    endpoint: broker.stsEndpoint,
    credentials: DUMMY_CREDENTIALS,
  })
  await iam.send(
    new CreateRoleCommand({
      RoleName: ROLE_NAME,
      AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}',
    }),
  )
  iam.destroy()
}, TEST_TIMEOUT_MS)

describe('revoking one workload of a binding', () => {
  test(
    'refuses the revoked workload within the registry TTL (403, reason revoked) while the other keeps getting credentials; a newer token and the lift let it through',
    async () => {
      // Prepare: both workloads of ml-reader hold credentials
      const trainer = await mint(TRAINER)
      const evaluator = await mint(EVALUATOR)
      expect(await credentials(trainer)).toEqual({ status: 200, code: undefined, hasKeys: true })
      expect(await credentials(evaluator)).toEqual({ status: 200, code: undefined, hasKeys: true })

      // Act: the admin revokes the trainer's subject, recorded in the broker and denied in IAM
      const revoked = ok(
        'revoke --apply',
        await cli(['revoke', 'onprem-a', '--binding', 'ml-reader', '--subject', TRAINER, '--apply']),
      )
      const printed = JSON.parse(revoked.stdout) as {
        notBefore: string
        revocation: { revocationId: string; subject: string; bindingId: string; notBefore: string }
        policies: { roleName: string; policyName: string; policy: unknown; applied: boolean }[]
      }
      const refused = await askUntil(trainer, (answer) => answer.status !== 200, REGISTRY_TTL_SECONDS + 2)
      const other = await credentials(evaluator)
      const notBefore = Date.parse(printed.revocation.notBefore)
      const newer = await credentials(await mint(TRAINER, Math.ceil(notBefore / 1000) + 1))

      // Assess: refused within the TTL, with the revocation named in the audit record
      expect(printed.revocation).toMatchObject({ bindingId: 'ml-reader', subject: TRAINER })
      expect(printed.revocation.notBefore).toBe(printed.notBefore)
      expect(refused.answer).toEqual({ status: 403, code: 'AccessDenied', hasKeys: false })
      expect(refused.afterMs).toBeLessThanOrEqual((REGISTRY_TTL_SECONDS + 1) * 1000)
      expect(
        broker
          .auditRecords()
          .some(
            (record) => record.reason === 'revoked' && record.sub === TRAINER && record.decision === 'deny',
          ),
      ).toBe(true)
      expect(other).toEqual({ status: 200, code: undefined, hasKeys: true })
      expect(newer).toEqual({ status: 200, code: undefined, hasKeys: true })
      // The deny policy for the scope is on the role in moto's IAM.
      expect(printed.policies.map((policy) => [policy.roleName, policy.applied])).toEqual([[ROLE_NAME, true]])
      const iam = new IAMClient({
        region: MOTO_REGION,
        endpoint: broker.stsEndpoint,
        credentials: DUMMY_CREDENTIALS,
      })
      const stored = await iam.send(
        new GetRolePolicyCommand({ RoleName: ROLE_NAME, PolicyName: printed.policies[0]?.policyName }),
      )
      iam.destroy()
      const document = JSON.parse(decodeURIComponent(stored.PolicyDocument ?? '')) as {
        Statement: { Effect: string; Condition: { StringEquals: Record<string, string[]> } }[]
      }
      expect(document).toEqual(printed.policies[0]?.policy)
      expect(document.Statement[0]?.Effect).toBe('Deny')
      expect(document.Statement[0]?.Condition.StringEquals['aws:SourceIdentity']).toEqual([
        workloadName('onprem-a', TRAINER),
      ])
      expect(printed.policies[0]?.policyName.endsWith(printed.revocation.revocationId)).toBe(true)

      // Act: the admin lists the revocations and lifts this one
      const listed = JSON.parse(ok('revocations list', await cli(['revocations', 'list', 'onprem-a'])).stdout)
      ok(
        'revocations lift',
        await cli(['revocations', 'lift', `onprem-a/${printed.revocation.revocationId}`]),
      )
      const lifted = await askUntil(trainer, (answer) => answer.status === 200, REGISTRY_TTL_SECONDS + 2)

      // Assess: the old token gets credentials again
      expect(listed).toEqual({ revocations: [printed.revocation] })
      expect(lifted.answer).toEqual({ status: 200, code: undefined, hasKeys: true })
    },
    TEST_TIMEOUT_MS,
  )
})

describe('the CLI follows pages', () => {
  test(
    `lists ${PAGED_BINDINGS} bindings as one JSON document and one table, in id order, through pages of at most 100`,
    async () => {
      // Prepare
      const ids = Array.from({ length: PAGED_BINDINGS }, (_, index) => `p-${String(index).padStart(3, '0')}`)
      await adminPut(
        broker,
        '/v1/admin/issuers/paged',
        { issuer: 'https://paged.example.test', audiences: ['irsa-broker'], jwks: issuer.jwks },
        redactor,
      )
      // One after another: a PUT undici retried on a keep-alive socket the server had just closed
      // would meet its own first write (409).
      for (const id of ids)
        await adminPut(
          broker,
          `/v1/admin/issuers/paged/bindings/${id}`,
          { roleArn: ROLE_ARN, subjects: [id] },
          redactor,
        )

      // Act: the default page (100) and pages of 7; the broker never answers more than a page
      const asJson = ok('bindings list', await cli(['bindings', 'list', 'paged']))
      const bySeven = ok(
        'bindings list --page-size 7',
        await cli(['bindings', 'list', 'paged', '--page-size', '7']),
      )
      const asTable = ok(
        'bindings list -o table',
        await cli(['bindings', 'list', 'paged', '--output', 'table']),
      )
      const onePage = await fetch(`${broker.url}/v1/admin/issuers/paged/bindings`, {
        headers: { authorization: `Bearer ${broker.adminToken}` },
      })

      // Assess
      const listed = JSON.parse(asJson.stdout) as { bindings: { bindingId: string }[]; nextToken?: string }
      expect(Object.keys(listed)).toEqual(['bindings'])
      expect(listed.bindings.map((binding) => binding.bindingId)).toEqual(ids)
      expect(JSON.parse(bySeven.stdout)).toEqual(listed)
      const lines = asTable.stdout.trimEnd().split('\n')
      expect(lines[0]).toMatch(/^BINDING_ID\s+PROFILE\s+ROLE_ARN/)
      expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(ids)
      const first = (await onePage.json()) as { bindings: unknown[]; nextToken?: string }
      expect(first.bindings).toHaveLength(100)
      expect(typeof first.nextToken).toBe('string')
    },
    TEST_TIMEOUT_MS,
  )
})
