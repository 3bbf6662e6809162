// `irsa-broker` (bin/irsa-broker.js, run as a user runs it) against the local broker that
// `npm start` runs: the admin verbs with the local admin token, credential-process, the trust
// policy of a binding, every kind of bad input with its one stderr line and exit code
// (README.md, "The irsa-broker CLI"), and the self-contained bundle `npm run build` makes.
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, test } from 'vitest'
import { parse, stringify } from 'yaml'
import { freePort } from '../../infra/local/processes.js'
import { buildTrustPolicy } from '../../shared/core/trust-policy.js'
import {
  putBindings,
  READER_ROLE_ARN,
  READER_SESSION_ARN,
  registerMlWorkload,
  WRITER_ROLE_ARN,
} from '../support/e2e-workload.js'
import {
  adminPut,
  cleanEnv,
  describeRun,
  type LocalBroker,
  localBrokerForSuite,
  makeTempDir,
  type ProcessResult,
  ROOT,
  runCli,
  runProcess,
  TEST_TIMEOUT_MS,
  writeTokenFile,
} from '../support/local-broker.js'
import { findSecrets } from '../support/secret-scan.js'
import { createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

// No registry cache: an admin write shows in the next workload request, as the tests of
// configure after a binding is deleted need, without waiting for a TTL.
const suite = localBrokerForSuite({
  tools: ['moto_server'],
  env: { IRSA_BROKER_CACHE_TTL_SECONDS: '0', IRSA_BROKER_CACHE_STALE_SECONDS: '0' },
})
const { redactor, tempDirs } = suite
const tokens: string[] = []
let broker: LocalBroker
let issuer: TestIssuer
let dir = ''
let trainerTokenFile = ''
let deniedTokenFile = ''

/** The CLI with the local admin token in its environment, as an operator would export it. */
const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { redactor, env: { IRSA_BROKER_ADMIN_TOKEN: broker.adminToken, ...env } })

const withEndpoint = (...args: string[]) => [...args, '--endpoint', broker.url]

const ok = (what: string, result: ProcessResult) => {
  expect(result.code, describeRun(what, result, redactor)).toBe(0)
  return result
}

/** Exactly one line on stderr, nothing on stdout, the exit code, and no token or admin token anywhere. */
const failsWith = (what: string, result: ProcessResult, exitCode: number, line: RegExp) => {
  const described = describeRun(what, result, redactor)
  expect(result.code, described).toBe(exitCode)
  expect(result.stdout, described).toBe('')
  expect(result.stderr, described).toMatch(/^irsa-broker: [^\n]+\n$/)
  expect(result.stderr, described).toMatch(line)
  for (const secret of [...tokens, broker.adminToken]) {
    expect(result.stderr.includes(secret), `${what}: a token on stderr`).toBe(false)
    expect(result.stdout.includes(secret), `${what}: a token on stdout`).toBe(false)
  }
}

const auditCount = (event: string) => broker.auditRecords().filter((record) => record.event === event).length

beforeAll(async () => {
  broker = suite.broker()
  issuer = await registerMlWorkload(broker, redactor)
  dir = makeTempDir(tempDirs, 'irsa-broker-e2e-cli-')
  const trainer = await issuer.mint({ namespace: 'ml', serviceAccount: 'trainer' })
  const denied = await issuer.mint({ namespace: 'finance', serviceAccount: 'payroll' })
  tokens.push(trainer, denied)
  redactor.add(trainer, denied)
  trainerTokenFile = writeTokenFile(dir, 'token', trainer)
  deniedTokenFile = writeTokenFile(dir, 'denied-token', denied)
}, 30_000)

describe('admin verbs with the local admin token', () => {
  let registered: Record<string, unknown> = {}

  test(
    'issuers put from a YAML file registers the issuer; get prints the same object, list --output table a row',
    async () => {
      const other = await createTestIssuer({ alg: 'ES256' })
      const file = join(dir, 'onprem-b.yaml')
      writeFileSync(
        file,
        stringify({
          issuerId: 'onprem-b',
          issuer: 'https://oidc.onprem-b.example.com',
          audiences: ['irsa-broker'],
          jwks: other.jwks,
          description: 'second data plane',
        }),
      )
      const put = ok('issuers put', await cli(withEndpoint('issuers', 'put', '--file', file)))
      registered = JSON.parse(put.stdout) as Record<string, unknown>
      expect(registered).toMatchObject({
        issuerId: 'onprem-b',
        issuer: 'https://oidc.onprem-b.example.com',
        version: 1,
        updatedBy: 'local-admin',
      })
      expect(put.stderr).toBe('irsa-broker: created issuer onprem-b (version 1)\n')

      const get = ok('issuers get', await cli(withEndpoint('issuers', 'get', 'onprem-b', '--output', 'json')))
      expect(JSON.parse(get.stdout)).toEqual(registered)

      const list = ok('issuers list', await cli(withEndpoint('issuers', 'list', '-o', 'table')))
      expect(list.stdout.split('\n')).toEqual([
        expect.stringMatching(/^ISSUER_ID +ISSUER +MODE +ENABLED +VERSION$/),
        expect.stringMatching(
          /^onprem-a +https:\/\/kubernetes\.default\.svc\.cluster\.local +broker +true +1$/,
        ),
        expect.stringMatching(/^onprem-b +https:\/\/oidc\.onprem-b\.example\.com +broker +true +1$/),
        '',
      ])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'put is create-only without a version (409 naming --if-version, exit 1); a stale --if-version is refused; get → edit → put updates to version 2',
    async () => {
      const file = join(dir, 'onprem-b.json')
      const { version: _version, ...document } = registered
      writeFileSync(file, JSON.stringify(document))
      failsWith(
        'issuers put (exists)',
        await cli(withEndpoint('issuers', 'put', '--file', file)),
        1,
        /^irsa-broker: the broker refused: Conflict: Issuer "onprem-b" exists already; give --if-version N \(its version\) to update it\. \(HTTP 409, request id [\w-]+\)\n$/,
      )
      failsWith(
        'issuers put --if-version 7',
        await cli(withEndpoint('issuers', 'put', '--file', file, '--if-version', '7')),
        1,
        /Conflict: Issuer "onprem-b" is at version 1, not 7\./,
      )

      const read = ok('issuers get', await cli(withEndpoint('issuers', 'get', 'onprem-b')))
      const edited = { ...(JSON.parse(read.stdout) as Record<string, unknown>), description: 'renamed' }
      writeFileSync(file, JSON.stringify(edited))
      const put = ok('issuers put (edited)', await cli(withEndpoint('issuers', 'put', '--file', file)))
      expect(JSON.parse(put.stdout)).toMatchObject({ description: 'renamed', version: 2 })
      expect(put.stderr).toBe('irsa-broker: updated issuer onprem-b (version 2)\n')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'issuers refresh reports the key ids the broker holds for the issuer',
    async () => {
      const refresh = ok(
        'issuers refresh',
        await cli(withEndpoint('issuers', 'refresh', 'onprem-b', '-o', 'json')),
      )
      const jwks = registered.jwks as { keys: { kid: string }[] }
      expect(JSON.parse(refresh.stdout)).toMatchObject({
        issuerId: 'onprem-b',
        source: 'inline',
        kids: jwks.keys.map((key) => key.kid),
      })
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'bindings put from flags, get, list --output table, and delete with a stale then the current --if-version',
    async () => {
      const put = ok(
        'bindings put',
        await cli(
          withEndpoint(
            'bindings',
            'put',
            'onprem-b/analysts',
            '--role-arn',
            READER_ROLE_ARN,
            '--profile',
            'analyst',
            '--subject',
            'system:serviceaccount:analytics:*',
            '--claim',
            '/kubernetes.io/namespace=analytics',
            '--session-tag',
            'namespace={/kubernetes.io/namespace}',
            '--duration-seconds',
            '1800',
          ),
        ),
      )
      expect(JSON.parse(put.stdout)).toMatchObject({
        issuerId: 'onprem-b',
        bindingId: 'analysts',
        roleArn: READER_ROLE_ARN,
        profile: 'analyst',
        subjects: ['system:serviceaccount:analytics:*'],
        claims: { '/kubernetes.io/namespace': ['analytics'] },
        sessionTags: { namespace: '{/kubernetes.io/namespace}' },
        durationSeconds: 1800,
        version: 1,
      })
      expect(put.stderr).toBe('irsa-broker: created binding onprem-b/analysts (version 1)\n')

      const get = ok('bindings get', await cli(withEndpoint('bindings', 'get', 'onprem-b', 'analysts')))
      expect(JSON.parse(get.stdout)).toEqual(JSON.parse(put.stdout))

      const list = ok(
        'bindings list',
        await cli(withEndpoint('bindings', 'list', 'onprem-b', '--output', 'table')),
      )
      expect(list.stdout.split('\n')).toEqual([
        expect.stringMatching(/^BINDING_ID +PROFILE +ROLE_ARN +SUBJECTS +ENABLED +VERSION$/),
        expect.stringMatching(
          /^analysts +analyst +arn:aws:iam::111122223333:role\/ml-s3-reader +system:serviceaccount:analytics:\* +true +1$/,
        ),
        '',
      ])

      failsWith(
        'bindings delete --if-version 2',
        await cli(withEndpoint('bindings', 'delete', 'onprem-b/analysts', '--if-version', '2')),
        1,
        /Conflict: Binding "onprem-b\/analysts" is at version 1, not 2\./,
      )
      const deleted = ok(
        'bindings delete --if-version 1',
        await cli(withEndpoint('bindings', 'delete', 'onprem-b/analysts', '--if-version', '1')),
      )
      expect(deleted.stdout).toBe('')
      expect(deleted.stderr).toBe('irsa-broker: deleted binding onprem-b/analysts\n')
      failsWith(
        'bindings get (deleted)',
        await cli(withEndpoint('bindings', 'get', 'onprem-b/analysts')),
        1,
        /NotFound: .+ \(HTTP 404, /,
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'explain prints the decision trace and exits with the decision: 0 allow with the selected binding, 1 deny for a subject no binding admits',
    async () => {
      const allowed = ok(
        'explain (trainer)',
        await cli(withEndpoint('explain', '--token-file', trainerTokenFile, '--role', 'ml-writer')),
      )
      expect(JSON.parse(allowed.stdout)).toMatchObject({
        decision: 'allow',
        issuerId: 'onprem-a',
        sub: 'system:serviceaccount:ml:trainer',
        selected: { bindingId: 'ml-writer', roleArn: WRITER_ROLE_ARN, sessionName: 'ml.trainer' },
      })
      const denied = await cli(withEndpoint('explain', '--token-file', deniedTokenFile))
      expect(denied.code, describeRun('explain (payroll)', denied, redactor)).toBe(1)
      expect(denied.stderr).toMatch(
        /^irsa-broker: the broker would deny this token \(AccessDenied, [a-z_]+\)\n$/,
      )
      expect(JSON.parse(denied.stdout)).toMatchObject({
        decision: 'deny',
        sub: 'system:serviceaccount:finance:payroll',
        code: 'AccessDenied',
      })
      for (const result of [allowed, denied])
        for (const token of tokens) expect(result.stdout).not.toContain(token)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    "trust-policy prints the IAM trust policy admitting exactly the binding's subjects, from the broker or from a file",
    async () => {
      // The statement is the core's (test/unit/core/trust-policy.test.ts); the CLI prints it for
      // the binding as the broker stores it, or as a file gives it.
      const expected = buildTrustPolicy({
        issuerUrl: 'https://irsa-broker.example.com/prod',
        binding: {
          issuerId: 'onprem-a',
          bindingId: 'ml-reader',
          roleArn: READER_ROLE_ARN,
          subjects: ['system:serviceaccount:ml:*'],
        },
        allowAnyWorkloadOfIssuer: false,
      })
      const online = ok(
        'trust-policy',
        await cli(
          withEndpoint(
            'trust-policy',
            '--binding',
            'onprem-a/ml-reader',
            '--issuer-url',
            'https://irsa-broker.example.com/prod',
          ),
        ),
      )
      expect(JSON.parse(online.stdout)).toEqual(expected)

      const file = join(dir, 'ml-reader.yaml')
      writeFileSync(file, stringify({ roleArn: READER_ROLE_ARN, subjects: ['system:serviceaccount:ml:*'] }))
      const offline = ok(
        'trust-policy --binding-file',
        await runCli(
          [
            'trust-policy',
            '--binding',
            'onprem-a/ml-reader',
            '--binding-file',
            file,
            '--issuer-url',
            'https://irsa-broker.example.com/prod',
          ],
          { redactor },
        ),
      )
      expect(JSON.parse(offline.stdout)).toEqual(expected)

      // The local broker's own issuer URL is http: IAM cannot trust it, and the error says
      // which flag gives the deployed broker's.
      failsWith(
        'trust-policy (local issuer URL)',
        await cli(withEndpoint('trust-policy', '--binding', 'onprem-a/ml-reader')),
        1,
        new RegExp(
          `^irsa-broker: the broker's issuer URL ${broker.url.replace(/\./g, '\\.')} \\(from its discovery document\\) cannot be an IAM OIDC provider .+ --issuer-url https://\\.\\.\\.\\n$`,
        ),
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'the admin token from --admin-token-file works quietly; --admin-token works too but warns that the token shows in ps and shell history',
    async () => {
      const adminTokenFile = writeTokenFile(dir, 'admin-token', broker.adminToken)
      const fromFile = ok(
        'issuers list --admin-token-file',
        await runCli(withEndpoint('issuers', 'list', '--admin-token-file', adminTokenFile), { redactor }),
      )
      expect(fromFile.stderr).toBe('')
      const fromArgv = ok(
        'issuers list --admin-token',
        await runCli(withEndpoint('issuers', 'list', '--admin-token', broker.adminToken), { redactor }),
      )
      expect(fromArgv.stdout).toBe(fromFile.stdout)
      expect(fromArgv.stderr).toBe(
        'irsa-broker: warning: --admin-token shows the token to anyone who can list processes and keeps it in shell history; use --admin-token-file PATH or IRSA_BROKER_ADMIN_TOKEN\n',
      )
      for (const result of [fromFile, fromArgv]) expect(result.stderr).not.toContain(broker.adminToken)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a wrong admin token: Unauthorized (HTTP 401), exit 1, one stderr line that shows neither token',
    async () => {
      const wrong = randomBytes(24).toString('base64url')
      tokens.push(wrong)
      failsWith(
        'issuers list (wrong admin token)',
        await cli(withEndpoint('issuers', 'list'), { IRSA_BROKER_ADMIN_TOKEN: wrong }),
        1,
        /^irsa-broker: the broker refused: Unauthorized: .+ \(HTTP 401, /,
      )
    },
    TEST_TIMEOUT_MS,
  )
})

describe('history', () => {
  test(
    "history shows a binding's whole life in order with actor, versions and changed fields; a stale write leaves no record",
    async () => {
      // Prepare: create, bind, update twice, a stale update, disable, delete.
      const history = await createTestIssuer({ iss: 'https://oidc.history.example.com', kid: 'history-key' })
      await adminPut(
        broker,
        '/v1/admin/issuers/hist-e2e',
        { issuer: 'https://oidc.history.example.com', audiences: ['irsa-broker'], jwks: history.jwks },
        redactor,
      )
      const binding = 'hist-e2e/reader'
      ok(
        'bind',
        await cli(
          withEndpoint(
            'bindings',
            'put',
            binding,
            '--role-arn',
            READER_ROLE_ARN,
            '--subject',
            'system:serviceaccount:ml:*',
          ),
        ),
      )
      ok(
        'update 1',
        await cli(withEndpoint('bindings', 'put', binding, '--duration-seconds', '900', '--if-version', '1')),
      )
      ok(
        'update 2',
        await cli(withEndpoint('bindings', 'put', binding, '--description', 'readers', '--if-version', '2')),
      )
      const stale = await cli(
        withEndpoint('bindings', 'put', binding, '--duration-seconds', '1200', '--if-version', '1'),
      )
      ok('disable', await cli(withEndpoint('issuers', 'put', 'hist-e2e', '--disabled', '--if-version', '1')))
      ok('delete', await cli(withEndpoint('issuers', 'delete', 'hist-e2e', '--cascade')))

      // Act
      const asJson = ok('history', await cli(withEndpoint('history', '--issuer', 'hist-e2e')))
      const asTable = ok(
        'history table',
        await cli(withEndpoint('history', '--issuer', 'hist-e2e', '--output', 'table')),
      )

      // Assess
      expect(stale.code, describeRun('stale update', stale, redactor)).toBe(1)
      const records = (JSON.parse(asJson.stdout) as { records: Record<string, unknown>[] }).records
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
        ['issuer', 'create', null, 1, expect.arrayContaining(['issuer', 'jwks']), 'local-admin'],
        ['binding', 'create', null, 1, expect.arrayContaining(['roleArn', 'subjects']), 'local-admin'],
        ['binding', 'update', 1, 2, ['durationSeconds'], 'local-admin'],
        ['binding', 'update', 2, 3, ['description'], 'local-admin'],
        ['issuer', 'update', 1, 2, ['enabled'], 'local-admin'],
        // A cascade delete is the issuer's record: its bindings end with it.
        ['issuer', 'delete', 2, null, [], 'local-admin'],
      ])
      expect(asTable.stdout).toMatch(/^AT\s+OBJECT\s+ACTION\s+VERSION\s+CHANGED\s+KIDS\s+ACTOR/)
      expect(asTable.stdout).toContain('binding reader')
      expect(findSecrets(asJson.stdout)).toEqual([])
      for (const key of history.jwks.keys) expect(asJson.stdout).not.toContain(String(key.n))
    },
    TEST_TIMEOUT_MS,
  )
})

describe('updating with flags, and what the broker refuses, in the words of the command line', () => {
  test(
    'bindings put with flags on an existing binding merges them (every other field kept) at --if-version; --replace makes them the whole binding',
    async () => {
      const created = ok(
        'bindings put (create)',
        await cli(
          withEndpoint(
            'bindings',
            'put',
            'onprem-b/merge',
            '--role-arn',
            READER_ROLE_ARN,
            '--subject',
            'system:serviceaccount:merge:*',
            '--session-tag',
            'team={/kubernetes.io/namespace}',
            '--description',
            'kept by a merge',
          ),
        ),
      )
      const original = JSON.parse(created.stdout) as Record<string, unknown>
      failsWith(
        'bindings put (exists, no --if-version)',
        await cli(withEndpoint('bindings', 'put', 'onprem-b/merge', '--duration-seconds', '900')),
        1,
        /^irsa-broker: binding onprem-b\/merge exists \(version 1\); give --if-version 1 to set the fields you name and keep the others, or with --replace to replace it whole\n$/,
      )
      const merged = ok(
        'bindings put --if-version 1',
        await cli(
          withEndpoint('bindings', 'put', 'onprem-b/merge', '--duration-seconds', '900', '--if-version', '1'),
        ),
      )
      const { version: _v1, updatedAt: _u1, ...kept } = original
      expect(JSON.parse(merged.stdout)).toEqual({
        ...kept,
        durationSeconds: 900,
        version: 2,
        updatedAt: expect.any(String),
      })

      const replaced = ok(
        'bindings put --replace --if-version 2',
        await cli(
          withEndpoint(
            'bindings',
            'put',
            'onprem-b/merge',
            '--replace',
            '--role-arn',
            READER_ROLE_ARN,
            '--subject',
            'system:serviceaccount:merge:*',
            '--if-version',
            '2',
          ),
        ),
      )
      const after = JSON.parse(replaced.stdout) as Record<string, unknown>
      expect(after).toMatchObject({ version: 3, durationSeconds: 3600 })
      expect(after).not.toHaveProperty('sessionTags')
      expect(after).not.toHaveProperty('description')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a profile another binding of the issuer has is refused (409, exit 1) naming that binding, and nothing is stored',
    async () => {
      failsWith(
        'bindings put (duplicate profile)',
        await cli(
          withEndpoint(
            'bindings',
            'put',
            'onprem-a/second-reader',
            '--role-arn',
            WRITER_ROLE_ARN,
            '--profile',
            'ml-reader',
            '--subject',
            'system:serviceaccount:ml:*',
          ),
        ),
        1,
        /^irsa-broker: the broker refused: Conflict: Profile "ml-reader" is the profile of binding "onprem-a\/ml-reader" already; .+ \(HTTP 409, /,
      )
      failsWith(
        'bindings get (not stored)',
        await cli(withEndpoint('bindings', 'get', 'onprem-a/second-reader')),
        1,
        /NotFound/,
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'issuers delete of an issuer with bindings names --cascade (not ?cascade=true); --version is refused for --if-version',
    async () => {
      failsWith(
        'issuers delete (has bindings)',
        await cli(withEndpoint('issuers', 'delete', 'onprem-a')),
        1,
        /^irsa-broker: the broker refused: Conflict: Issuer "onprem-a" still has \d+ binding\(s\); delete them first or give --cascade\. \(HTTP 409, /,
      )
      failsWith(
        'issuers delete --version',
        await cli(withEndpoint('issuers', 'delete', 'onprem-a', '--version', '1')),
        2,
        /^irsa-broker: --version is now --if-version N .+ \(see: irsa-broker issuers delete --help\)\n$/,
      )
    },
    TEST_TIMEOUT_MS,
  )
})

describe('export and import', () => {
  const exportFile = () => join(dir, 'export.yaml')
  const snapshotFile = () => join(dir, 'export.json')
  /** Reads through the admin API directly: the state the CLI left, without another CLI run. */
  const adminGet = async (path: string) => {
    const response = await fetch(`${broker.url}${path}`, {
      headers: { authorization: `Bearer ${broker.adminToken}` },
    })
    expect(response.status, `GET ${path}`).toBe(200)
    return (await response.json()) as Record<string, unknown>
  }
  const objects = async () => ({
    issuer: await adminGet('/v1/admin/issuers/export-a'),
    bindings: (await adminGet('/v1/admin/issuers/export-a/bindings')).bindings as Record<string, unknown>[],
  })
  const reader = () => adminGet('/v1/admin/issuers/export-a/bindings/reader')
  const withoutServerFields = ({
    version,
    createdAt,
    updatedAt,
    updatedBy,
    ...fields
  }: Record<string, unknown>) => fields
  /** `import --file FILE FLAGS --output json`, its exit code checked; each object's outcome as "object: outcome vN". */
  const runImport = async (file: string, flags: string[] = [], exitCode = 0) => {
    const result = await cli(withEndpoint('import', '--file', file, ...flags, '--output', 'json'))
    expect(result.code, describeRun(`import ${flags.join(' ')}`, result, redactor)).toBe(exitCode)
    const { results } = JSON.parse(result.stdout) as {
      results: { object: string; outcome: string; version?: number }[]
    }
    const outcomes = results.map(
      ({ object, outcome, version }) => `${object}: ${outcome}${version === undefined ? '' : ` v${version}`}`,
    )
    return { stderr: result.stderr, outcomes }
  }

  test(
    'an export (YAML) of an issuer with its bindings records each version; after the issuer is deleted, import brings back the same objects, and a second import changes nothing',
    async () => {
      const other = await createTestIssuer({ alg: 'ES256' })
      await adminPut(
        broker,
        '/v1/admin/issuers/export-a',
        { issuer: 'https://oidc.export-a.example.com', audiences: ['irsa-broker'], jwks: other.jwks },
        redactor,
      )
      await putBindings(broker, redactor, 'export-a', {
        reader: { roleArn: READER_ROLE_ARN, subjects: ['system:serviceaccount:export:reader'] },
        writer: { roleArn: WRITER_ROLE_ARN, subjects: ['system:serviceaccount:export:writer'] },
      })
      ok(
        'bindings put export-a/writer (to version 2)',
        await cli(
          withEndpoint(
            'bindings',
            'put',
            'export-a/writer',
            '--description',
            'second version',
            '--if-version',
            '1',
          ),
        ),
      )
      const before = await objects()

      const exported = ok(
        'export',
        await cli(withEndpoint('export', '--issuer', 'export-a', '--format', 'yaml')),
      )
      expect(exported.stderr).toBe('irsa-broker: exported 1 issuer(s) and 2 binding(s)\n')
      writeFileSync(exportFile(), exported.stdout)
      const document = parse(exported.stdout) as Record<string, unknown>
      expect(document).toMatchObject({
        kind: 'irsa-broker/export',
        formatVersion: 1,
        source: broker.url,
        issuers: [before.issuer],
        bindings: before.bindings,
      })
      expect((document.bindings as { version: number }[]).map((binding) => binding.version)).toEqual([1, 2])

      ok('issuers delete --cascade', await cli(withEndpoint('issuers', 'delete', 'export-a', '--cascade')))
      const imported = await runImport(exportFile())
      expect(imported.outcomes).toEqual([
        'issuer export-a: created v1',
        'binding export-a/reader: created v1',
        'binding export-a/writer: created v1',
      ])
      expect(imported.stderr).toBe('irsa-broker: import: 3 created\n')
      const after = await objects()
      expect(withoutServerFields(after.issuer)).toEqual(withoutServerFields(before.issuer))
      expect(after.bindings.map(withoutServerFields)).toEqual(before.bindings.map(withoutServerFields))

      expect((await runImport(exportFile())).outcomes).toEqual([
        'issuer export-a: unchanged v1',
        'binding export-a/reader: unchanged v1',
        'binding export-a/writer: unchanged v1',
      ])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'an object changed since the export is a conflict (exit 1, left alone); --dry-run --force only reports; --force overwrites it',
    async () => {
      writeFileSync(
        snapshotFile(),
        ok('export', await cli(withEndpoint('export', '--issuer', 'export-a'))).stdout,
      )
      ok(
        'bindings put export-a/reader (changed since the export)',
        await cli(
          withEndpoint(
            'bindings',
            'put',
            'export-a/reader',
            '--duration-seconds',
            '900',
            '--if-version',
            '1',
          ),
        ),
      )

      const conflict = await runImport(snapshotFile(), [], 1)
      expect(conflict.outcomes).toEqual([
        'issuer export-a: unchanged v1',
        'binding export-a/reader: conflict v2',
        'binding export-a/writer: unchanged v1',
      ])
      expect(conflict.stderr).toBe(
        'irsa-broker: import: 2 unchanged, 1 conflict; 1 object(s) not imported, see above\n',
      )
      expect(await reader()).toMatchObject({ version: 2, durationSeconds: 900 })

      const dryRun = await runImport(snapshotFile(), ['--dry-run', '--force'])
      expect(dryRun.outcomes).toContain('binding export-a/reader: would-update v2')
      expect(dryRun.stderr).toMatch(/^irsa-broker: import \(dry run, nothing written\): /)
      expect(await reader()).toMatchObject({ version: 2, durationSeconds: 900 })

      expect((await runImport(snapshotFile(), ['--force'])).outcomes).toContain(
        'binding export-a/reader: updated v3',
      )
      expect(await reader()).toMatchObject({ version: 3, durationSeconds: 3600 })
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'an export edited by hand, at the version the broker holds, updates that object',
    async () => {
      const edited = JSON.parse(
        ok('export', await cli(withEndpoint('export', '--issuer', 'export-a'))).stdout,
      ) as { bindings: Record<string, unknown>[] }
      for (const binding of edited.bindings)
        if (binding.bindingId === 'reader') binding.description = 'edited'
      writeFileSync(snapshotFile(), JSON.stringify(edited))
      expect((await runImport(snapshotFile())).outcomes).toEqual([
        'issuer export-a: unchanged v1',
        'binding export-a/reader: updated v4',
        'binding export-a/writer: unchanged v1',
      ])
      expect(await reader()).toMatchObject({ version: 4, description: 'edited' })
    },
    TEST_TIMEOUT_MS,
  )
})

describe('configure after a binding is deleted', () => {
  test(
    "bind two roles, configure, delete one binding, configure again: its profile is gone, the other and a user's own profile untouched; delete the last: exit 1 NoRoles and its profile gone too",
    async () => {
      const worker = { roleArn: READER_ROLE_ARN, subjects: ['system:serviceaccount:stale:worker'] }
      await putBindings(broker, redactor, 'onprem-a', { 'stale-a': worker, 'stale-b': worker })
      const token = await issuer.mint({ namespace: 'stale', serviceAccount: 'worker' })
      tokens.push(token)
      redactor.add(token)
      const tokenFile = writeTokenFile(dir, 'stale-token', token)
      const config = join(dir, 'stale-config')
      const own =
        '# mine\n[profile mine]\nregion = eu-west-1\ncredential_process = /usr/local/bin/my-helper\n'
      writeFileSync(config, own)
      const configure = () =>
        runCli(
          withEndpoint(
            'configure',
            '--token-file',
            tokenFile,
            '--config-file',
            config,
            '--region',
            'eu-west-1',
          ),
          {
            redactor,
          },
        )
      ok('configure (two roles)', await configure())
      const sections = () =>
        readFileSync(config, 'utf8')
          .split('\n')
          .filter((line) => line.startsWith('['))
      expect(sections()).toEqual(['[profile mine]', '[profile stale-a]', '[profile stale-b]'])
      const staleA = readFileSync(config, 'utf8').split('[profile stale-a]')[1]?.split('\n\n')[0]

      ok('bindings delete stale-b', await cli(withEndpoint('bindings', 'delete', 'onprem-a/stale-b')))
      const again = ok('configure (one role)', await configure())
      expect(again.stdout.trim().split('\n')).toEqual([
        expect.stringMatching(/^PROFILE +ROLE +CHANGE$/),
        expect.stringMatching(new RegExp(`^stale-a +${READER_ROLE_ARN} +unchanged$`)),
        expect.stringMatching(/^stale-b +- +removed$/),
      ])
      expect(sections()).toEqual(['[profile mine]', '[profile stale-a]'])
      const text = readFileSync(config, 'utf8')
      expect(text.startsWith(own)).toBe(true)
      expect(text.split('[profile stale-a]')[1]?.trimEnd()).toBe(staleA)

      ok('bindings delete stale-a', await cli(withEndpoint('bindings', 'delete', 'onprem-a/stale-a')))
      failsWith(
        'configure (no role left)',
        await configure(),
        1,
        /^irsa-broker: the broker allows this token no role, so there is no profile to write; removed the 1 profile\(s\) it had written for roles no longer allowed\n$/,
      )
      expect(sections()).toEqual(['[profile mine]'])
      expect(readFileSync(config, 'utf8')).toBe(own)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('credential-process', () => {
  test(
    'prints credential_process JSON for the chosen role: Version 1, keys, the assumed role, an Expiration an hour ahead',
    async () => {
      const result = ok(
        'credential-process',
        await runCli(
          withEndpoint('credential-process', '--token-file', trainerTokenFile, '--role', 'ml-reader'),
          {
            redactor,
          },
        ),
      )
      expect(result.stderr).toBe('')
      const answer = JSON.parse(result.stdout) as Record<string, unknown>
      expect(answer).toEqual({
        Version: 1,
        AccessKeyId: expect.stringMatching(/^[A-Z0-9]{16,}$/),
        SecretAccessKey: expect.any(String),
        SessionToken: expect.any(String),
        Expiration: expect.any(String),
        RoleArn: READER_ROLE_ARN,
        AssumedRoleArn: READER_SESSION_ARN,
        SessionName: 'ml.trainer',
      })
      const left = Date.parse(answer.Expiration as string) - Date.now()
      expect(left).toBeGreaterThan(3500_000)
      expect(left).toBeLessThanOrEqual(3600_000)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    '--duration-seconds 900 asks for a shorter session: the Expiration is 15 minutes ahead',
    async () => {
      const result = ok(
        'credential-process --duration-seconds 900',
        await runCli(
          withEndpoint(
            'credential-process',
            '--token-file',
            trainerTokenFile,
            '--role',
            'ml-writer',
            '--duration-seconds',
            '900',
          ),
          { redactor },
        ),
      )
      const left = Date.parse((JSON.parse(result.stdout) as { Expiration: string }).Expiration) - Date.now()
      expect(left).toBeGreaterThan(800_000)
      expect(left).toBeLessThanOrEqual(900_000)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('bad input: one clear stderr line and the exit code the README gives', () => {
  test(
    'an empty token file (whitespace only): exit 1, "is empty", and no request reaches the broker',
    async () => {
      const empty = join(dir, 'empty-token')
      writeFileSync(empty, ' \n')
      const before = auditCount('credentials')
      failsWith(
        'credential-process (empty token file)',
        await runCli(withEndpoint('credential-process', '--token-file', empty), { redactor }),
        1,
        new RegExp(`^irsa-broker: token file ${empty} is empty\\n$`),
      )
      expect(auditCount('credentials')).toBe(before)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'an unreadable token file — missing, or a directory: exit 1 with the reason',
    async () => {
      const missing = join(dir, 'no-such-token')
      failsWith(
        'credential-process (missing token file)',
        await runCli(withEndpoint('credential-process', '--token-file', missing), { redactor }),
        1,
        new RegExp(`^irsa-broker: token file ${missing} does not exist\\n$`),
      )
      failsWith(
        'configure (token file is a directory)',
        await runCli(withEndpoint('configure', '--token-file', dir, '--config-file', join(dir, 'never')), {
          redactor,
        }),
        1,
        new RegExp(`^irsa-broker: token file ${dir} is a directory, not a file\\n$`),
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'the broker unreachable (nothing listens on the port): exit 3, "cannot reach the broker"',
    async () => {
      const port = await freePort()
      failsWith(
        'credential-process (unreachable)',
        await runCli(
          ['credential-process', '--endpoint', `http://127.0.0.1:${port}`, '--token-file', trainerTokenFile],
          { redactor },
        ),
        3,
        new RegExp(
          `^irsa-broker: cannot reach the broker at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED\\n$`,
        ),
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a 4xx from the broker: a token no binding admits is AccessDenied (403), a token with a bad signature InvalidIdentityToken (401); exit 1',
    async () => {
      failsWith(
        'credential-process (denied)',
        await runCli(withEndpoint('credential-process', '--token-file', deniedTokenFile), { redactor }),
        1,
        /^irsa-broker: the broker refused: AccessDenied: .+ \(HTTP 403, request id [\w-]+\)\n$/,
      )
      const [header, payload] = (tokens[0] ?? '').split('.')
      const forged = `${header}.${payload}.${randomBytes(256).toString('base64url')}`
      tokens.push(forged)
      redactor.add(forged)
      const forgedFile = writeTokenFile(dir, 'forged-token', forged)
      failsWith(
        'configure (forged token)',
        await runCli(
          withEndpoint('configure', '--token-file', forgedFile, '--config-file', join(dir, 'never')),
          {
            redactor,
          },
        ),
        1,
        /^irsa-broker: the broker refused: InvalidIdentityToken: .+ \(HTTP 401, request id [\w-]+\)\n$/,
      )
      expect(() => statSync(join(dir, 'never'))).toThrow(/ENOENT/)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'configure for a valid token that no binding admits: exit 1, "no role", and no config file written',
    async () => {
      const config = join(dir, 'no-roles-config')
      failsWith(
        'configure (no roles)',
        await runCli(withEndpoint('configure', '--token-file', deniedTokenFile, '--config-file', config), {
          redactor,
        }),
        1,
        /^irsa-broker: the broker allows this token no role, so there is no profile to write\n$/,
      )
      expect(() => statSync(config)).toThrow(/ENOENT/)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'configure with an AWS config file that cannot be parsed: exit 1 naming the line, the file untouched, no request made',
    async () => {
      const config = join(dir, 'broken-config')
      const broken = '[default]\nregion = us-east-1\nthis line is not a setting\n'
      writeFileSync(config, broken)
      const before = auditCount('roles')
      failsWith(
        'configure (broken config)',
        await runCli(withEndpoint('configure', '--token-file', trainerTokenFile, '--config-file', config), {
          redactor,
        }),
        1,
        new RegExp(
          `^irsa-broker: cannot parse ${config}, line 3: expected "name = value", a \\[section\\], or a comment\\n$`,
        ),
      )
      expect(readFileSync(config, 'utf8')).toBe(broken)
      expect(auditCount('roles')).toBe(before)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'usage errors exit 2 and point at --help: a missing flag, an unknown flag, plain http to a remote host, an unknown command',
    async () => {
      failsWith(
        'missing --token-file',
        await runCli(withEndpoint('credential-process'), { redactor }),
        2,
        /^irsa-broker: --token-file is required \(see: irsa-broker credential-process --help\)\n$/,
      )
      failsWith(
        'unknown flag',
        await runCli(withEndpoint('configure', '--token-file', trainerTokenFile, '--force'), { redactor }),
        2,
        /^irsa-broker: Unknown option '--force' \(see: irsa-broker configure --help\)\n$/,
      )
      failsWith(
        'plain http to a remote host',
        await runCli(
          ['credential-process', '--endpoint', 'http://broker.example.com', '--token-file', trainerTokenFile],
          {
            redactor,
          },
        ),
        2,
        /plain http is allowed only to loopback/,
      )
      failsWith(
        'unknown command',
        await runCli(['assume'], { redactor }),
        2,
        /^irsa-broker: unknown command "assume"/,
      )
    },
    TEST_TIMEOUT_MS,
  )
})

describe('the executable', () => {
  test(
    'the bundle scripts/build-cli.mjs makes runs from a folder without node_modules, and matches the sources run by the bin',
    async () => {
      const out = makeTempDir(tempDirs, 'irsa-broker-e2e-bundle-')
      ok(
        'build-cli',
        await runProcess(process.execPath, ['scripts/build-cli.mjs', '--outdir', join(out, 'cli')], {
          env: cleanEnv({}),
          redactor,
        }),
      )
      // The image layout docs/data-planes.md describes: dist/cli copied anywhere, run with node.
      const image = join(out, 'opt', 'irsa-broker')
      mkdirSync(join(image, 'chunks'), { recursive: true })
      for (const entry of ['irsa-broker.mjs', 'main.mjs'])
        copyFileSync(join(out, 'cli', entry), join(image, entry))
      for (const chunk of readdirSync(join(out, 'cli', 'chunks')))
        copyFileSync(join(out, 'cli', 'chunks', chunk), join(image, 'chunks', chunk))
      const bundled = ok(
        'bundle credential-process',
        await runProcess(
          process.execPath,
          [
            join(image, 'irsa-broker.mjs'),
            ...withEndpoint('credential-process', '--token-file', trainerTokenFile, '--role', 'ml-reader'),
          ],
          { env: cleanEnv({}), redactor, cwd: out },
        ),
      )
      expect(JSON.parse(bundled.stdout)).toMatchObject({ Version: 1, AssumedRoleArn: READER_SESSION_ARN })

      const fromBundle = ok(
        'bundle --help',
        await runProcess(process.execPath, [join(image, 'irsa-broker.mjs'), 'configure', '--help'], {
          env: cleanEnv({}),
          redactor,
          cwd: out,
        }),
      )
      const fromSource = ok(
        'bin from source --help',
        await runCli(['configure', '--help'], { redactor, env: { IRSA_BROKER_CLI_FROM_SOURCE: '1' } }),
      )
      expect(fromBundle.stdout).toMatch(/^usage: irsa-broker configure --endpoint URL --token-file PATH/)
      expect(fromBundle.stdout).toBe(fromSource.stdout)
      expect(statSync(join(ROOT, 'bin', 'irsa-broker.js')).mode & 0o111, 'the bin is executable').not.toBe(0)
    },
    TEST_TIMEOUT_MS,
  )
})
