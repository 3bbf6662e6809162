// The webhook served over HTTPS by its composition root (dataplane/webhook/main.ts
// startWebhook), with a CA made at test time, against the stand-in Kubernetes API
// (test/support/kube-api.ts; no API server runs here): request rules, /healthz and /readyz,
// TLS rotation without a restart, rules reload, metrics, and the API going down.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadWebhookConfig, type WebhookConfig } from '../../dataplane/webhook/config.js'
import { startWebhook, type WebhookRuntime } from '../../dataplane/webhook/main.js'
import { eventually } from '../support/eventually.js'
import { type KubeApiStandIn, kubeconfigFor, startKubeApiStandIn } from '../support/kube-api.js'
import { capturingSink } from '../support/log-capture.js'
import { applyAdditions, podSchemaProblem } from '../support/pod-patch.js'
import { createSecretVolume, type SecretVolume } from '../support/secret-volume.js'
import { createTestCa, type IssuedCertificate, type TestCa } from '../support/test-ca.js'
import { createWebhookClient, podReview, typicalPod, type WebhookClient } from '../support/webhook-client.js'

const TOKEN = 'stand-in-api-token-for-the-https-webhook'
const ROLE = 'irsa-broker.io/role'
const SERVICE_NAMES = ['irsa-broker-webhook', 'irsa-broker-webhook.irsa-broker.svc']

let ca: TestCa
let dir: string

interface Instance {
  api: KubeApiStandIn
  runtime: WebhookRuntime
  client: WebhookClient
  tlsVolume: SecretVolume
  logs: Record<string, unknown>[]
  metrics(): Promise<string>
  stop(): Promise<void>
}

const startInstance = async (
  name: string,
  options: { holdLists?: boolean; flags?: Record<string, string>; tls?: SecretVolume } = {},
): Promise<Instance & { releaseLists: () => void }> => {
  const apiCert = ca.issue(['kubernetes.default.svc'])
  const api = await startKubeApiStandIn({ cert: apiCert.cert, key: apiCert.key, token: TOKEN })
  api.apply('team-a', 'reader', { [ROLE]: 'ml-reader' })
  api.apply('team-a', 'default')
  const releaseLists = options.holdLists ? api.holdLists() : () => {}
  const kubeconfig = join(dir, `${name}.kubeconfig`)
  writeFileSync(kubeconfig, kubeconfigFor(api, ca.cert, TOKEN))
  const serving = ca.issue(SERVICE_NAMES)
  const tlsVolume =
    options.tls ??
    createSecretVolume(join(dir, `${name}-tls`), { 'tls.crt': serving.cert, 'tls.key': serving.key })
  const config: WebhookConfig = {
    ...loadWebhookConfig(
      {
        'broker-url': 'https://broker.example.com',
        'tls-cert': tlsVolume.path('tls.crt'),
        'tls-key': tlsVolume.path('tls.key'),
        'agent-image': 'registry.example.com/irsa-broker/agent:0.1.0',
        namespace: 'irsa-broker',
        address: '127.0.0.1',
        port: '0',
        'metrics-port': '0',
        'shutdown-delay': '0',
        ...options.flags,
      },
      {},
      () => {
        throw new Error('no namespace file in tests')
      },
    ),
    // Faster than the smallest flag value (1 s), so rotation tests take a fraction of a second.
    reloadIntervalMs: 100,
  }
  const logs: Record<string, unknown>[] = []
  const runtime = await startWebhook(config, {
    env: { KUBECONFIG: kubeconfig },
    logSink: capturingSink(`webhook-${name}`, (line) => logs.push(JSON.parse(line))),
    view: { backoff: { initialMs: 20, maxMs: 200 }, failureTtlMs: 200, watchTimeoutSeconds: () => 30 },
  })
  const client = createWebhookClient({ port: runtime.port, ca: ca.cert })
  const metricsAt = `http://127.0.0.1:${runtime.metricsPort}/metrics`
  return {
    api,
    runtime,
    client,
    tlsVolume,
    logs,
    releaseLists,
    metrics: async () => (await fetch(metricsAt)).text(),
    stop: async () => {
      client.close()
      await runtime.stop()
      await api.stop()
    },
  }
}

/** The value of one sample line of the text format, e.g. `name{a="b"}`. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** POSTs headers promising `contentLength` bytes, then only `part`; resolves to the status answered. */
const sendPartly = (port: number, contentLength: number, part: string) =>
  new Promise<number>((resolve, reject) => {
    const outgoing = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mutate',
        ca: ca.cert,
        headers: { 'content-type': 'application/json', 'content-length': String(contentLength) },
      },
      (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
        outgoing.destroy()
      },
    )
    outgoing.on('error', reject)
    outgoing.write(part)
  })

beforeAll(() => {
  ca = createTestCa()
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-webhook-https-'))
})

afterAll(() => {
  ca?.remove()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('webhook over HTTPS: health and readiness', () => {
  it('answers /healthz at once, and /readyz 503 until the ServiceAccounts are listed, then 200', async () => {
    // Prepare
    const instance = await startInstance('ready', { holdLists: true })
    try {
      // Act
      const health = await instance.client.send('GET', '/healthz')
      const before = await instance.client.send('GET', '/readyz')
      const metricsBefore = await instance.metrics()
      instance.releaseLists()
      await instance.runtime.whenReady()
      const after = await instance.client.send('GET', '/readyz')
      // Assess
      expect(health.status).toBe(200)
      expect([before.status, before.body]).toEqual([503, 'not ready: ServiceAccounts not synced yet\n'])
      expect(sample(metricsBefore, 'irsa_broker_webhook_ready')).toBe(0)
      expect(after.status).toBe(200)
      expect(sample(await instance.metrics(), 'irsa_broker_webhook_ready')).toBe(1)
    } finally {
      await instance.stop()
    }
  })
})

describe('webhook over HTTPS: request rules', () => {
  let instance: Instance

  beforeAll(async () => {
    instance = await startInstance('rules')
    await instance.runtime.whenReady()
  })

  afterAll(() => instance?.stop())

  it('answers an AdmissionReview with its uid, apiVersion and kind, allowed, even with the API server query ?timeout=5s', async () => {
    // Act
    const answer = await instance.client.post(
      '/mutate?timeout=5s',
      podReview(typicalPod('default'), { uid: 'uid-1' }),
    )
    // Assess
    expect(answer.status).toBe(200)
    expect(answer.headers['content-type']).toBe('application/json')
    expect(JSON.parse(answer.body)).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-1', allowed: true },
    })
  })

  it('wires a pod of an annotated ServiceAccount: the patch, decoded and applied, adds the token volume, mount and env', async () => {
    // Prepare
    const pod = typicalPod('reader')
    // Act
    const answer = await instance.client.post('/mutate', podReview(pod, { uid: 'wired' }))
    // Assess
    expect(answer.status).toBe(200)
    const { response } = JSON.parse(answer.body)
    expect(response).toMatchObject({ uid: 'wired', allowed: true, patchType: 'JSONPatch' })
    const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'))
    const patched = applyAdditions(pod, patch) as ReturnType<typeof typicalPod>
    expect(podSchemaProblem(patched)).toBeUndefined()
    const tokenVolume = patched.spec.volumes.find((volume) => volume.name === 'irsa-broker-token')
    expect(JSON.stringify(tokenVolume)).toContain('"audience":"irsa-broker"')
    for (const container of [...patched.spec.containers, ...patched.spec.initContainers]) {
      const env = Object.fromEntries(
        ((container as { env?: { name: string; value?: string }[] }).env ?? []).map((entry) => [
          entry.name,
          entry.value,
        ]),
      )
      expect(env).toMatchObject({
        AWS_CONTAINER_CREDENTIALS_FULL_URI: 'https://broker.example.com/v1/credentials?role=ml-reader',
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/var/run/secrets/irsa-broker/serviceaccount/token',
      })
      expect(container.volumeMounts).toContainEqual(
        expect.objectContaining({
          name: 'irsa-broker-token',
          mountPath: '/var/run/secrets/irsa-broker/serviceaccount',
        }),
      )
    }
    expect(patched.spec.initContainers[0]?.restartPolicy).toBe('Always')
    // Sent again (reinvocation), the wired pod gets no patch
    const again = JSON.parse((await instance.client.post('/mutate', podReview(patched))).body).response
    expect(again.patch).toBeUndefined()
  })

  it('maps /mutate/namespace to namespace injection: a pod of an unannotated ServiceAccount is wired there, not on /mutate', async () => {
    // Act
    const elsewhere = JSON.parse(
      (await instance.client.post('/mutate', podReview(typicalPod('default')))).body,
    )
    const labelled = JSON.parse(
      (await instance.client.post('/mutate/namespace', podReview(typicalPod('default')))).body,
    )
    // Assess
    expect(elsewhere.response.patch).toBeUndefined()
    expect(labelled.response.patchType).toBe('JSONPatch')
  })

  it('admits a pod whose annotation makes no sense without that setting, with an AdmissionReview warning', async () => {
    // Prepare
    const pod = typicalPod('reader', { 'irsa-broker.io/token-expiration': '100' })
    // Act
    const answer = await instance.client.post('/mutate', podReview(pod))
    // Assess
    const { response } = JSON.parse(answer.body)
    expect(answer.status).toBe(200)
    expect(response.allowed).toBe(true)
    expect(response.patchType).toBe('JSONPatch')
    expect(response.warnings).toHaveLength(1)
    expect(response.warnings[0]).toContain('irsa-broker.io/token-expiration')
    const patched = applyAdditions(pod, JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')))
    expect(JSON.stringify(patched)).toContain('"expirationSeconds":3600')
  })

  it('answers 400 for a body that is not JSON, and for JSON that is not an AdmissionReview', async () => {
    // Act
    const garbage = await instance.client.send(
      'POST',
      '/mutate',
      '{"apiVersion": "admission.k8s.io/v1", "kind"',
    )
    const notReview = await instance.client.post('/mutate', typicalPod('default'))
    const noUid = await instance.client.post('/mutate/namespace', {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { operation: 'CREATE' },
    })
    // Assess
    for (const answer of [garbage, notReview, noUid]) {
      expect(answer.status).toBe(400)
      expect(JSON.parse(answer.body).error.code).toBe('MalformedAdmissionReview')
    }
    expect(JSON.parse(garbage.body).error.message).toBe('the body is not JSON')
  })

  it('answers 415 for a Content-Type other than application/json, and accepts a charset parameter', async () => {
    // Act
    const body = JSON.stringify(podReview(typicalPod('default')))
    const text = await instance.client.send('POST', '/mutate', body, { 'content-type': 'text/plain' })
    const none = await instance.client.send('POST', '/mutate', body, {})
    const charset = await instance.client.send('POST', '/mutate', body, {
      'content-type': 'application/json; charset=utf-8',
    })
    // Assess
    expect([text.status, none.status, charset.status]).toEqual([415, 415, 200])
    expect(JSON.parse(text.body).error.code).toBe('UnsupportedMediaType')
  })

  it('answers 413 for a body over 3 MiB, whether declared or streamed', async () => {
    // Prepare
    const pod = typicalPod('default')
    const big = JSON.stringify(
      podReview({
        ...pod,
        metadata: { ...pod.metadata, annotations: { filler: 'x'.repeat(3 * 1024 * 1024) } },
      }),
    )
    // Act
    const declared = await instance.client.send('POST', '/mutate', big)
    const streamed = await instance.client.send('POST', '/mutate', big, {
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
    })
    const after = await instance.client.post('/mutate', podReview(typicalPod('default')))
    // Assess
    expect([declared.status, streamed.status]).toEqual([413, 413])
    expect(JSON.parse(streamed.body).error.code).toBe('PayloadTooLarge')
    expect(after.status).toBe(200)
  })

  it('answers 413 on a declared Content-Length over 3 MiB before any of the body arrives', async () => {
    // Act: the headers promise 4 MiB; only a few bytes follow, and the request is never ended
    const status = await sendPartly(instance.runtime.port, 4 * 1024 * 1024, '{"apiVersion"')
    // Assess
    expect(status).toBe(413)
  })

  it('answers 408 when the body trickles in and never completes', async () => {
    // Act: 100 bytes promised, 10 sent, the rest never
    const status = await sendPartly(instance.runtime.port, 100, '{"apiVersi')
    // Assess: cut off by the server (REQUEST_DEADLINE_MS + 1 s, swept every second), not by the test
    expect(status).toBe(408)
  })

  it('answers 405 for another method on /mutate, 404 elsewhere, and never 5xx for what a caller sends', async () => {
    // Act
    const get = await instance.client.send('GET', '/mutate')
    const elsewhere = await instance.client.post('/validate', podReview(typicalPod('default')))
    const odd = await Promise.all(
      [
        'null',
        '[]',
        '"x"',
        '1e309',
        '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}',
      ].map((body) => instance.client.send('POST', '/mutate', body)),
    )
    const podShapes = await Promise.all(
      [
        null,
        1,
        'pod',
        [],
        { spec: null },
        { spec: { containers: 'app' } },
        { metadata: { annotations: [] } },
      ].map((object) => instance.client.post('/mutate', podReview(object as Record<string, unknown>))),
    )
    // Assess
    expect([get.status, get.headers.allow]).toEqual([405, 'POST'])
    expect(elsewhere.status).toBe(404)
    expect(odd.map((answer) => answer.status)).toEqual([400, 400, 400, 400, 400])
    expect(podShapes.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200, 200])
  })

  it('gives a dryRun request the same answer as the real one', async () => {
    // Act
    const real = await instance.client.post('/mutate', podReview(typicalPod('reader'), { uid: 'same' }))
    const dryRun = await instance.client.post(
      '/mutate',
      podReview(typicalPod('reader'), { uid: 'same', dryRun: true }),
    )
    // Assess
    expect(real.status).toBe(200)
    expect(dryRun.body).toBe(real.body)
  })

  it('logs one line per review with uid, namespace, pod, ServiceAccount, outcome and route, and never the pod', async () => {
    // Act
    await instance.client.post('/mutate/namespace', podReview(typicalPod('reader'), { uid: 'logged-uid' }))
    // Assess
    const line = instance.logs.find((entry) => entry.uid === 'logged-uid')
    expect(line).toMatchObject({
      level: 'INFO',
      message: 'admission review',
      component: 'webhook',
      namespace: 'team-a',
      pod: 'trainer-7d9f8c6b5-',
      serviceAccount: 'reader',
      serviceAccountSource: 'cache',
      route: 'mutate_namespace',
      dryRun: false,
    })
    expect(typeof line?.outcome).toBe('string')
    expect(JSON.stringify(line)).not.toContain('registry.example.com/ml/trainer')
  })

  it('counts reviews by outcome, HTTP answers by code, latency, and ServiceAccount cache hits in /metrics', async () => {
    // Prepare
    const before = await instance.metrics()
    // Act
    await instance.client.post('/mutate', podReview(typicalPod('reader')))
    await instance.client.send('POST', '/mutate', 'not json')
    const after = await instance.metrics()
    // Assess
    const delta = (series: string) => (sample(after, series) ?? 0) - (sample(before, series) ?? 0)
    const outcomes = ['mutated', 'unchanged', 'not-selected', 'skipped'].map((outcome) =>
      delta(`irsa_broker_webhook_mutations_total{outcome="${outcome}",route="mutate"}`),
    )
    expect(outcomes.reduce((a, b) => a + b, 0)).toBe(1)
    expect(delta('irsa_broker_webhook_http_requests_total{route="mutate",code="400"}')).toBe(1)
    expect(delta('irsa_broker_webhook_request_duration_seconds_count{route="mutate"}')).toBe(2)
    expect(delta('irsa_broker_webhook_serviceaccount_cache_hits_total')).toBe(1)
    expect(sample(after, 'irsa_broker_webhook_serviceaccount_cache_entries')).toBe(2)
    // Every line is a comment or a sample of the text format
    for (const line of after.trimEnd().split('\n'))
      expect(line).toMatch(
        /^(# (HELP|TYPE) [a-z_:]+ .+|[a-z_:]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.e]+(Inf)?)$/i,
      )
  })
})

describe('webhook over HTTPS: TLS rotation without a restart', () => {
  it('serves the new certificate to new connections once kubelet swaps the ..data symlink', async () => {
    // Prepare
    const instance = await startInstance('rotation')
    try {
      const first = await instance.client.send('GET', '/healthz')
      const next: IssuedCertificate = ca.issue(SERVICE_NAMES)
      // Act
      instance.tlsVolume.update({ 'tls.crt': next.cert, 'tls.key': next.key })
      // Assess
      await eventually(async () =>
        expect((await instance.client.send('GET', '/healthz')).serialNumber).toBe(next.serialNumber),
      )
      expect(first.serialNumber).not.toBe(next.serialNumber)
      expect(sample(await instance.metrics(), 'irsa_broker_webhook_tls_reloads_total{result="ok"}')).toBe(2)
      expect(instance.logs.some((entry) => entry.message === 'tls certificate reloaded')).toBe(true)
    } finally {
      await instance.stop()
    }
  })

  it('keeps serving the last good certificate while the pair is half written, then takes the whole new pair', async () => {
    // Prepare: plain files written one after the other, as a hand-made update would
    const first = ca.issue(SERVICE_NAMES)
    const tlsDir = join(dir, 'half-tls')
    const plain: SecretVolume = {
      dir: tlsDir,
      path: (name) => join(tlsDir, name),
      update: (files) => {
        for (const [name, content] of Object.entries(files)) writeFileSync(join(tlsDir, name), content)
      },
    }
    mkdirSync(tlsDir)
    plain.update({ 'tls.crt': first.cert, 'tls.key': first.key })
    const instance = await startInstance('half', { tls: plain })
    try {
      const next = ca.issue(SERVICE_NAMES)
      // Act: the certificate lands, the key not yet
      plain.update({ 'tls.crt': next.cert })
      await eventually(async () =>
        expect(
          sample(await instance.metrics(), 'irsa_broker_webhook_tls_reloads_total{result="failed"}'),
        ).toBe(1),
      )
      const whileHalf = await instance.client.send('GET', '/healthz')
      plain.update({ 'tls.key': next.key })
      // Assess
      expect(whileHalf.status).toBe(200)
      expect(whileHalf.serialNumber).toBe(first.serialNumber)
      const warning = instance.logs.find((entry) => String(entry.message).startsWith('tls files changed'))
      expect(warning).toMatchObject({ level: 'WARN', serialNumber: first.serialNumber })
      expect(String(warning?.reason)).toContain('do not make a TLS context')
      await eventually(async () =>
        expect((await instance.client.send('GET', '/healthz')).serialNumber).toBe(next.serialNumber),
      )
    } finally {
      await instance.stop()
    }
  })
})

describe('webhook over HTTPS: rules file reload', () => {
  it('keeps the last good rules when the file changes to something that does not parse, and takes the next good one', async () => {
    // Prepare
    const rulesFile = join(dir, 'rules.yaml')
    writeFileSync(rulesFile, 'rules:\n  - namespaces: [team-a]\n    role: ml-reader\n')
    const instance = await startInstance('rules-file', { flags: { rules: rulesFile } })
    try {
      const atStart = sample(await instance.metrics(), 'irsa_broker_webhook_rules')
      // Act
      writeFileSync(rulesFile, 'rules: [ {namespaces: [team-a], role: ')
      await eventually(async () =>
        expect(
          sample(await instance.metrics(), 'irsa_broker_webhook_rules_reloads_total{result="failed"}'),
        ).toBe(1),
      )
      const afterBad = sample(await instance.metrics(), 'irsa_broker_webhook_rules')
      writeFileSync(rulesFile, 'rules:\n  - namespaces: [team-a]\n  - namespaces: [team-b]\n')
      // Assess
      await eventually(async () =>
        expect(sample(await instance.metrics(), 'irsa_broker_webhook_rules')).toBe(2),
      )
      expect([atStart, afterBad]).toEqual([1, 1])
      expect(sample(await instance.metrics(), 'irsa_broker_webhook_rules_reloads_total{result="ok"}')).toBe(1)
      expect(
        instance.logs.some((entry) =>
          String(entry.message).startsWith('rules file changed but does not parse'),
        ),
      ).toBe(true)
    } finally {
      await instance.stop()
    }
  })
})

describe('webhook over HTTPS: a rules file that is not there', () => {
  it('starts with no rules when the file is absent (an optional ConfigMap not created), takes it when it appears, and none when it goes', async () => {
    // Prepare
    const rulesFile = join(dir, 'absent-rules.yaml')
    const instance = await startInstance('rules-absent', { flags: { rules: rulesFile } })
    try {
      const atStart = sample(await instance.metrics(), 'irsa_broker_webhook_rules')
      // Act
      writeFileSync(rulesFile, 'rules:\n  - namespaces: [team-a]\n    role: ml-reader\n')
      await eventually(async () =>
        expect(sample(await instance.metrics(), 'irsa_broker_webhook_rules')).toBe(1),
      )
      rmSync(rulesFile)
      // Assess
      await eventually(async () =>
        expect(sample(await instance.metrics(), 'irsa_broker_webhook_rules')).toBe(0),
      )
      expect(atStart).toBe(0)
      expect(
        sample(await instance.metrics(), 'irsa_broker_webhook_rules_reloads_total{result="failed"}'),
      ).toBe(0)
    } finally {
      await instance.stop()
    }
  })
})

describe('webhook over HTTPS: the Kubernetes API is down', () => {
  it('still answers 200 within the deadline: a cached ServiceAccount as usual, an unknown one unwired with a warning, pod annotations and namespace labels still wired', async () => {
    // Prepare
    const instance = await startInstance('api-down')
    try {
      await instance.runtime.whenReady()
      await instance.api.down()
      // Act
      const cached = await instance.client.post('/mutate', podReview(typicalPod('reader'), { uid: 'cached' }))
      const started = Date.now()
      const unknown = await instance.client.post(
        '/mutate',
        podReview(typicalPod('created-just-now'), { uid: 'unknown' }),
      )
      const elapsed = Date.now() - started
      const byPodAnnotation = await instance.client.post(
        '/mutate',
        podReview(typicalPod('created-just-now', { [ROLE]: 'ml-writer' }), { uid: 'pod-annotated' }),
      )
      const byNamespaceLabel = await instance.client.post(
        '/mutate/namespace',
        podReview(typicalPod('created-just-now'), { uid: 'labelled' }),
      )
      const ready = await instance.client.send('GET', '/readyz')
      // Assess: what needs no ServiceAccount annotation is still wired
      expect(JSON.parse(byPodAnnotation.body).response.patchType).toBe('JSONPatch')
      expect(JSON.parse(byNamespaceLabel.body).response.patchType).toBe('JSONPatch')
      expect(JSON.parse(unknown.body).response.patch).toBeUndefined()
      expect(cached.status).toBe(200)
      expect(JSON.parse(cached.body).response.warnings ?? []).toEqual([])
      expect(unknown.status).toBe(200)
      expect(elapsed).toBeLessThan(4_000)
      expect(JSON.parse(unknown.body).response).toMatchObject({
        uid: 'unknown',
        allowed: true,
        warnings: [
          'ServiceAccount team-a/created-just-now unreadable (Kubernetes API): its annotations were not applied',
        ],
      })
      expect(ready.status).toBe(200)
      expect(instance.logs.find((entry) => entry.uid === 'unknown')).toMatchObject({
        serviceAccountSource: 'unavailable',
      })
    } finally {
      await instance.stop()
    }
  })
})
