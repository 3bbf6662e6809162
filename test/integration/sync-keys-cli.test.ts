// `irsa-broker sync-keys` in-process: the Kubernetes API is the loopback stand-in over HTTPS
// (test/support/kube-api.ts, through a kubeconfig), the broker a scripted fetch, so that every
// outcome and exit code (README.md, "The irsa-broker CLI") can be provoked. The run against the
// real local broker is test/integration/key-push.test.ts.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createKeySyncer, type PushAnswer } from '../../dataplane/sync-keys/sync.js'
import { brokerError, jsonResponse, runScripted, type Step } from '../support/cli-run.js'
import { type KubeApiStandIn, kubeconfigFor, startKubeApiStandIn } from '../support/kube-api.js'
import { createTestCa, type TestCa } from '../support/test-ca.js'
import { createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

const KUBE_TOKEN = randomBytes(24).toString('base64url')
const SYNC_TOKEN = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(30).toString('base64url')}.${randomBytes(40).toString('base64url')}`
const ENDPOINT = 'https://broker.example.test'

let ca: TestCa
let dir: string
let api: KubeApiStandIn
let cluster: TestIssuer
let kubeconfig: string
let tokenFile: string

const answerOf = (changed: boolean, version: number): PushAnswer => ({
  issuerId: 'onprem-a',
  changed,
  version,
  keyCount: 1,
  kids: [cluster.kid],
  kidsAdded: changed ? [cluster.kid] : [],
  kidsRemoved: [],
})

const syncKeys = (steps: Step[], extra: string[] = [], kube = kubeconfig) =>
  runScripted(
    ['sync-keys', '--endpoint', ENDPOINT, '--issuer-id', 'onprem-a', '--token-file', tokenFile, ...extra],
    { steps, env: { KUBECONFIG: kube } },
  )

beforeAll(async () => {
  ca = createTestCa()
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-sync-keys-'))
  cluster = await createTestIssuer({ kid: 'cluster-a' })
  tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, `${SYNC_TOKEN}\n`)
})

afterAll(() => {
  ca?.remove()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

beforeEach(async () => {
  const serving = ca.issue(['kubernetes.default.svc'])
  api = await startKubeApiStandIn({ cert: serving.cert, key: serving.key, token: KUBE_TOKEN })
  api.setJwks(cluster.jwks)
  kubeconfig = join(dir, `kubeconfig-${api.port}.json`)
  writeFileSync(kubeconfig, kubeconfigFor(api, ca.cert, KUBE_TOKEN))
})

afterEach(async () => {
  await api?.stop()
})

describe('irsa-broker sync-keys', () => {
  it("PUTs the cluster's key set to /v1/issuers/ID/jwks with the key-sync token as Bearer; one JSON line, exit 0", async () => {
    // Act
    const result = await syncKeys([jsonResponse(200, answerOf(true, 4))])

    // Assess
    expect(result.code, result.stderr).toBe(0)
    expect(result.requests).toHaveLength(1)
    expect(result.requests[0]).toMatchObject({
      method: 'PUT',
      url: `${ENDPOINT}/v1/issuers/onprem-a/jwks`,
      body: cluster.jwks,
    })
    expect(new Headers(result.requests[0]?.init.headers).get('authorization')).toBe(`Bearer ${SYNC_TOKEN}`)
    expect(result.stdout.split('\n')).toHaveLength(2)
    expect(JSON.parse(result.stdout)).toMatchObject({
      outcome: 'changed',
      issuerId: 'onprem-a',
      version: 4,
      kidsAdded: ['cluster-a'],
    })
    expect(api.count('jwks')).toBe(1)
    expect(api.requests.find((request) => request.kind === 'jwks')?.path).toBe('/openid/v1/jwks')
  })

  it('a set the broker already holds: outcome unchanged, exit 0', async () => {
    const result = await syncKeys([jsonResponse(200, answerOf(false, 3))])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'unchanged', version: 3 })
  })

  it('the broker refuses (403): exit 1, its code on stderr, no token in it, nothing on stdout', async () => {
    const result = await syncKeys([
      brokerError(403, 'AccessDenied', 'Key push is not enabled for this issuer.'),
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/AccessDenied/)
    expect(result.stderr).not.toContain(SYNC_TOKEN)
    expect(result.stdout).toBe('')
  })

  it('the broker rate-limits (429) or fails (503): exit 3, and the push is not retried within the run', async () => {
    const limited = await syncKeys([
      brokerError(429, 'Throttling', 'Rate exceeded; retry later.', { 'retry-after': '30' }),
    ])
    const failing = await syncKeys([brokerError(503, 'IDPCommunicationError', 'retry later')])
    expect([limited.code, limited.requests.length]).toEqual([3, 1])
    expect([failing.code, failing.requests.length]).toEqual([3, 1])
  })

  it('an answer that is not a push result (not the broker): exit 3', async () => {
    const result = await syncKeys([jsonResponse(200, { hello: 'world' })])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/is --endpoint the broker/)
  })

  it('the Kubernetes API down: exit 3 naming it, no push', async () => {
    await api.down()
    const result = await syncKeys([])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/Kubernetes API at https:\/\/127\.0\.0\.1:\d+ is unavailable/)
    expect(result.requests).toEqual([])
  })

  it('the Kubernetes API refuses the credentials (401): exit 1, no push, no Kubernetes token in the message', async () => {
    const wrong = join(dir, 'kubeconfig-wrong.json')
    writeFileSync(wrong, kubeconfigFor(api, ca.cert, 'not-the-token-of-this-cluster'))
    const result = await syncKeys([], [], wrong)
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/refused/)
    expect(result.stderr).not.toContain('not-the-token-of-this-cluster')
    expect(result.requests).toEqual([])
  })

  it('a key set without keys, or not a key set: exit 1, nothing pushed', async () => {
    api.setJwks({ keys: [] })
    const empty = await syncKeys([])
    api.setJwks({ items: [] } as unknown as { keys: unknown[] })
    const other = await syncKeys([])
    expect([empty.code, empty.requests.length]).toEqual([1, 0])
    expect(empty.stderr).toMatch(/without keys/)
    expect([other.code, other.requests.length]).toEqual([1, 0])
    expect(other.stderr).toMatch(/did not answer a key set/)
  })

  it('a token file that does not exist: exit 1 naming it, nothing pushed', async () => {
    const result = await runScripted(
      ['sync-keys', '--endpoint', ENDPOINT, '--issuer-id', 'onprem-a', '--token-file', join(dir, 'missing')],
      { steps: [], env: { KUBECONFIG: kubeconfig } },
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/key-sync token file .*missing does not exist/)
    expect(result.requests).toEqual([])
  })

  it('usage: --issuer-id is required, an invalid id and --interval below 10 s are refused (exit 2)', async () => {
    const missing = await runScripted(['sync-keys', '--endpoint', ENDPOINT], {
      env: { KUBECONFIG: kubeconfig },
    })
    const invalid = await runScripted(['sync-keys', '--endpoint', ENDPOINT, '--issuer-id', 'no/slashes'], {
      env: { KUBECONFIG: kubeconfig },
    })
    const fast = await syncKeys([], ['--interval', '1'])
    expect([missing.code, invalid.code, fast.code]).toEqual([2, 2, 2])
  })
})

describe('the syncer across runs (--interval)', () => {
  it('pushes the first set, skips the push while the cluster holds the same keys in any order, pushes again when they change', async () => {
    // Prepare
    const next = await createTestIssuer({ kid: 'cluster-b' })
    let published: { keys: unknown[] } = { keys: [...cluster.jwks.keys, ...next.jwks.keys] }
    const pushed: unknown[] = []
    const syncer = createKeySyncer('onprem-a', {
      readClusterKeys: async () => published,
      push: async (jwks) => {
        pushed.push(jwks)
        return answerOf(pushed.length === 1, pushed.length + 1)
      },
    })

    // Act
    const first = await syncer.runOnce()
    published = { keys: [...next.jwks.keys, ...cluster.jwks.keys] }
    const second = await syncer.runOnce()
    published = next.jwks
    const third = await syncer.runOnce()

    // Assess
    expect([first.outcome, second.outcome, third.outcome]).toEqual(['changed', 'skipped', 'unchanged'])
    expect(pushed).toEqual([{ keys: [...cluster.jwks.keys, ...next.jwks.keys] }, next.jwks])
  })

  it('a push that fails is not remembered: the next run pushes the same set again', async () => {
    // Prepare
    let fail = true
    let pushes = 0
    const syncer = createKeySyncer('onprem-a', {
      readClusterKeys: async () => cluster.jwks,
      push: async () => {
        pushes++
        if (fail) throw new Error('refused')
        return answerOf(true, 2)
      },
    })

    // Act
    await expect(syncer.runOnce()).rejects.toThrow('refused')
    fail = false
    const retried = await syncer.runOnce()

    // Assess
    expect(pushes).toBe(2)
    expect(retried.outcome).toBe('changed')
  })
})
