// The admin commands' behaviour that needs no real broker (the e2e suite runs them against
// one): what `put` sends (a merge onto the stored object, or a replacement), errors in the
// words of the command line, the retired --version, lists that follow nextToken, explain's exit
// code and table, and trust-policy naming --issuer-url.
import { describe, expect, it } from 'vitest'
import { errorForAnswer } from '../../../cli/http.js'
import { CLI_VERSION } from '../../../cli/main.js'
import { createAdmin } from '../../../shared/core/admin.js'
import { BrokerError } from '../../../shared/core/errors.js'
import { brokerError, jsonResponse, runScripted, type Step } from '../../support/cli-run.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createAuditLog, createTestClock, makeBinding, makeIssuer } from '../fixtures.js'

const ENDPOINT = ['--endpoint', 'https://broker.example.com']
const ADMIN = { IRSA_BROKER_ADMIN_TOKEN: 'admin-token-for-tests' }
const BINDING_URL = 'https://broker.example.com/v1/admin/issuers/onprem-a/bindings/ml-reader'

const STORED = {
  issuerId: 'onprem-a',
  bindingId: 'ml-reader',
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
  profile: 'ml-reader',
  subjects: ['system:serviceaccount:ml:*'],
  sessionTags: { team: '{/kubernetes.io/namespace}' },
  durationSeconds: 3600,
  enabled: true,
  version: 3,
  createdAt: '2031-05-04T12:00:00.000Z',
  updatedAt: '2031-05-04T12:00:00.000Z',
  updatedBy: 'local-admin',
}

const put = (argv: string[], steps: Step[] = []) =>
  runScripted(['bindings', 'put', 'onprem-a/ml-reader', ...argv, ...ENDPOINT], { steps, env: ADMIN })

describe('bindings put without --file: the flags merged onto the stored binding', () => {
  it('--if-version N at the stored version: sends the stored binding with the flags set, so no field is dropped', async () => {
    const result = await put(
      ['--duration-seconds', '900', '--disabled', '--if-version', '3'],
      [jsonResponse(200, STORED), jsonResponse(200, { ...STORED, version: 4 })],
    )
    expect(result.code).toBe(0)
    expect(result.requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      `GET ${BINDING_URL}`,
      `PUT ${BINDING_URL}`,
    ])
    expect(result.requests[1]?.body).toEqual({ ...STORED, durationSeconds: 900, enabled: false, version: 3 })
    expect(result.stderr).toBe('irsa-broker: updated binding onprem-a/ml-reader (version 4)\n')
  })

  it('an existing binding without --if-version: exit 1 naming the flag and the version to give, nothing written', async () => {
    const result = await put(['--duration-seconds', '900'], [jsonResponse(200, STORED)])
    expect(result).toMatchObject({ code: 1, stdout: '' })
    expect(result.stderr).toBe(
      'irsa-broker: binding onprem-a/ml-reader exists (version 3); give --if-version 3 to set the fields you name and keep the others, or with --replace to replace it whole\n',
    )
    expect(result.requests.map((request) => request.method)).toEqual(['GET'])
  })

  it('a stale --if-version: exit 1, nothing written', async () => {
    const result = await put(['--duration-seconds', '900', '--if-version', '2'], [jsonResponse(200, STORED)])
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(
      'irsa-broker: binding onprem-a/ml-reader is at version 3, not 2; nothing was changed\n',
    )
    expect(result.requests.map((request) => request.method)).toEqual(['GET'])
  })

  it('a binding that does not exist is created from the flags alone; with --if-version it is an error', async () => {
    const missing = () => brokerError(404, 'NotFound', 'Binding "onprem-a/ml-reader" does not exist.')
    const created = await put(
      ['--role-arn', STORED.roleArn],
      [missing(), jsonResponse(201, { ...STORED, version: 1 })],
    )
    expect(created.code).toBe(0)
    expect(created.requests[1]?.body).toEqual({ roleArn: STORED.roleArn })
    expect(created.stderr).toBe('irsa-broker: created binding onprem-a/ml-reader (version 1)\n')

    const updateOfNothing = await put(['--role-arn', STORED.roleArn, '--if-version', '1'], [missing()])
    expect(updateOfNothing.code).toBe(1)
    expect(updateOfNothing.stderr).toBe(
      'irsa-broker: binding onprem-a/ml-reader does not exist; leave out --if-version to create it\n',
    )
  })
})

describe('bindings put that replaces: --replace, or --file', () => {
  it('--replace --if-version N sends only the flags (the fields they do not name are dropped), without reading first', async () => {
    const result = await put(
      ['--replace', '--role-arn', STORED.roleArn, '--if-version', '3'],
      [jsonResponse(200, { ...STORED, version: 4 })],
    )
    expect(result.code).toBe(0)
    expect(result.requests.map((request) => request.method)).toEqual(['PUT'])
    expect(result.requests[0]?.body).toEqual({ roleArn: STORED.roleArn, version: 3 })
  })
})

describe('errors in the words of the command line', () => {
  /** The admin core's own refusals, as the broker would send them. */
  const coreMessages = async () => {
    const registry = createMemoryRegistry()
    registry.seed({
      issuers: [makeIssuer({ issuerId: 'onprem-a' })],
      bindings: [makeBinding({ issuerId: 'onprem-a', bindingId: 'ml-reader', profile: 'ml-reader' })],
    })
    const admin = createAdmin({ registry, clock: createTestClock(), audit: createAuditLog().sink })
    const context = { actor: 'test', requestId: 'req-1' }
    const refusal = async (action: Promise<unknown>) => {
      try {
        await action
      } catch (error) {
        if (error instanceof BrokerError) return error.message
      }
      throw new Error('expected the core to refuse')
    }
    return {
      exists: await refusal(
        admin.putBinding(
          'onprem-a',
          'ml-reader',
          { roleArn: STORED.roleArn, subjects: STORED.subjects },
          context,
        ),
      ),
      hasBindings: await refusal(admin.deleteIssuer('onprem-a', { cascade: false }, context)),
    }
  }

  it('the broker\'s "version" and ?cascade=true become --if-version and --cascade', async () => {
    const { exists, hasBindings } = await coreMessages()
    const said = (message: string) =>
      errorForAnswer('https://b', 409, { error: { code: 'Conflict', message, requestId: 'r' } }).message
    expect(said(exists)).toBe(
      'the broker refused: Conflict: Binding "onprem-a/ml-reader" exists already; give --if-version N (its version) to update it. (HTTP 409, request id r)',
    )
    expect(said(hasBindings)).toBe(
      'the broker refused: Conflict: Issuer "onprem-a" still has 1 binding(s); delete them first or give --cascade. (HTTP 409, request id r)',
    )
  })

  it('issuers delete of an issuer with bindings: the one stderr line names --cascade', async () => {
    const { hasBindings } = await coreMessages()
    const result = await runScripted(['issuers', 'delete', 'onprem-a', ...ENDPOINT], {
      steps: [brokerError(409, 'Conflict', hasBindings)],
      env: ADMIN,
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/delete them first or give --cascade\. \(HTTP 409/)
    expect(result.stderr).not.toMatch(/\?cascade|"version"/)
  })

  it.each([
    [['bindings', 'put', 'a/b', '--role-arn', 'x', '--version', '3']],
    [['bindings', 'delete', 'a/b', '--version', '3']],
    [['issuers', 'put', 'a', '--issuer', 'https://x', '--version', '3']],
    [['issuers', 'delete', 'a', '--version=3']],
  ])(
    '%j: --version is refused (exit 2) pointing at --if-version and at irsa-broker --version',
    async (argv) => {
      const result = await runScripted([...argv, ...ENDPOINT], { env: ADMIN })
      expect(result).toMatchObject({ code: 2, stdout: '', requests: [] })
      expect(result.stderr).toMatch(
        /^irsa-broker: --version is now --if-version N \(the version the stored object must be at\); irsa-broker --version prints the version of this client \(see: irsa-broker \w+ \w+ --help\)\n$/,
      )
      expect(await runScripted(['--version'])).toMatchObject({
        code: 0,
        stdout: `irsa-broker ${CLI_VERSION}\n`,
      })
    },
  )

  it('--if-version and --cascade go into the DELETE query', async () => {
    const result = await runScripted(
      ['issuers', 'delete', 'onprem-a', '--if-version', '4', '--cascade', ...ENDPOINT],
      {
        steps: [new Response(null, { status: 204 })],
        env: ADMIN,
      },
    )
    expect(result.code).toBe(0)
    expect(result.requests[0]?.url).toBe(
      'https://broker.example.com/v1/admin/issuers/onprem-a?version=4&cascade=true',
    )
  })
})

describe('lists follow nextToken', () => {
  it('issuers list reads every page the broker announces and prints them as one list', async () => {
    const result = await runScripted(['issuers', 'list', ...ENDPOINT], {
      steps: [
        jsonResponse(200, { issuers: [{ issuerId: 'a' }], nextToken: 'page 2' }),
        jsonResponse(200, { issuers: [{ issuerId: 'b' }] }),
      ],
      env: ADMIN,
    })
    expect(result.code).toBe(0)
    expect(result.requests.map((request) => request.url)).toEqual([
      'https://broker.example.com/v1/admin/issuers',
      'https://broker.example.com/v1/admin/issuers?nextToken=page+2',
    ])
    expect(JSON.parse(result.stdout)).toEqual({ issuers: [{ issuerId: 'a' }, { issuerId: 'b' }] })
  })

  it('a broker that repeats a nextToken is not followed forever (exit 3)', async () => {
    const page = () => jsonResponse(200, { bindings: [], nextToken: 'same' })
    const result = await runScripted(['bindings', 'list', 'onprem-a', ...ENDPOINT], {
      steps: [page(), page()],
      env: ADMIN,
    })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/repeats a nextToken/)
  })
})

describe('explain', () => {
  const ALLOW = {
    decision: 'allow',
    iss: 'https://kubernetes.default.svc.cluster.local',
    issuerId: 'onprem-a',
    sub: 'system:serviceaccount:ml:trainer',
    candidates: [
      {
        issuerId: 'onprem-a',
        outcome: 'verified',
        key: { alg: 'RS256', kid: 'k1' },
        claimChecks: [
          { check: 'aud', passed: true },
          { check: 'lifetime', passed: true },
        ],
      },
    ],
    bindings: [
      { bindingId: 'ml-reader', profile: 'ml-reader', roleArn: STORED.roleArn, matched: true },
      {
        bindingId: 'finance',
        profile: 'finance',
        roleArn: 'arn:aws:iam::111122223333:role/finance',
        matched: false,
        failedRule: 'subjects',
      },
    ],
    selected: {
      bindingId: 'ml-reader',
      profile: 'ml-reader',
      roleArn: STORED.roleArn,
      sessionName: 'ml.trainer',
      sourceIdentity: 'onprem-a.ml.trainer',
      sessionTags: {},
      durationSeconds: 3600,
      mode: 'broker',
    },
  }
  const DENY = {
    decision: 'deny',
    code: 'AccessDenied',
    reason: 'no_binding_matched',
    issuerId: 'onprem-a',
    sub: 'system:serviceaccount:finance:payroll',
    candidates: [],
    bindings: [],
  }

  const explain = async (trace: unknown, ...flags: string[]) => {
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'irsa-broker-explain-')), 'token')
    writeFileSync(tokenFile, 'aaaa.bbbb.cccc')
    return runScripted(['explain', '--token-file', tokenFile, ...flags, ...ENDPOINT], {
      steps: [jsonResponse(200, trace)],
      env: ADMIN,
    })
  }

  it('exits 0 when the broker would allow the token and 1 when it would deny it, the trace on stdout either way', async () => {
    const allowed = await explain(ALLOW)
    expect(allowed).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(allowed.stdout)).toEqual(ALLOW)
    const denied = await explain(DENY)
    expect(denied.code).toBe(1)
    expect(JSON.parse(denied.stdout)).toEqual(DENY)
    expect(denied.stderr).toBe(
      'irsa-broker: the broker would deny this token (AccessDenied, no_binding_matched)\n',
    )
  })

  it('--output table shows the decision, the issuers tried, the claim checks, the bindings and the session in columns', async () => {
    const result = await explain(ALLOW, '--output', 'table')
    expect(result.stdout.split('\n')).toEqual([
      'FIELD      VALUE',
      'DECISION   allow',
      'ISS        https://kubernetes.default.svc.cluster.local',
      'ISSUER_ID  onprem-a',
      'SUB        system:serviceaccount:ml:trainer',
      'SELECTED   ml-reader',
      '',
      'ISSUER_TRIED  OUTCOME   REASON  KEY',
      'onprem-a      verified  -       RS256 k1',
      '',
      'CLAIM_CHECK  PASSED  REASON',
      'aud          true    -',
      'lifetime     true    -',
      '',
      'BINDING    PROFILE    ROLE_ARN                                     MATCHED  FAILED_RULE  DETAIL',
      'ml-reader  ml-reader  arn:aws:iam::111122223333:role/ml-s3-reader  true     -            -',
      'finance    finance    arn:aws:iam::111122223333:role/finance       false    subjects     -',
      '',
      'FIELD                     VALUE',
      'SESSION_ROLE_ARN          arn:aws:iam::111122223333:role/ml-s3-reader',
      'SESSION_NAME              ml.trainer',
      'SESSION_SOURCE_IDENTITY   onprem-a.ml.trainer',
      'SESSION_TAGS              {}',
      'SESSION_DURATION_SECONDS  3600',
      'SESSION_MODE              broker',
      '',
    ])
  })
})

describe('trust-policy against a local broker', () => {
  it('without --issuer-url, the http issuer URL of the discovery document is refused naming --issuer-url (exit 1)', async () => {
    const result = await runScripted(['trust-policy', '--binding', 'onprem-a/ml-reader', ...ENDPOINT], {
      steps: [jsonResponse(200, STORED), jsonResponse(200, { issuer: 'http://127.0.0.1:8787' })],
      env: ADMIN,
    })
    expect(result).toMatchObject({ code: 1, stdout: '' })
    expect(result.stderr).toMatch(
      /^irsa-broker: the broker's issuer URL http:\/\/127\.0\.0\.1:8787 \(from its discovery document\) cannot be an IAM OIDC provider .+ give the deployed broker's with --issuer-url https:\/\/\.\.\.\n$/,
    )
  })
})
