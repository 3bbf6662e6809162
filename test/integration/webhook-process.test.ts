// `irsa-broker webhook` as the container runs it: the real CLI process (bin/irsa-broker.js),
// against the stand-in Kubernetes API (test/support/kube-api.ts; no API server runs here).
// Start-up refusals name their flag; SIGTERM drains the request in flight and exits 0.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type KubeApiStandIn, kubeconfigFor, startKubeApiStandIn } from '../support/kube-api.js'
import { createTestCa, type TestCa } from '../support/test-ca.js'
import { createWebhookClient, podReview, typicalPod } from '../support/webhook-client.js'
import { spawnWebhook, type WebhookProcess, webhookFlags } from '../support/webhook-process.js'

const TOKEN = 'stand-in-api-token-for-the-webhook-process'

let ca: TestCa
let dir: string
let api: KubeApiStandIn
let kubeconfig: string
let certFile: string
let keyFile: string

const children: WebhookProcess[] = []

const start = (args: string[]): WebhookProcess => {
  const webhook = spawnWebhook(args, { KUBECONFIG: kubeconfig, HOME: dir })
  children.push(webhook)
  return webhook
}

const flags = (overrides: Record<string, string> = {}) => webhookFlags({ certFile, keyFile }, overrides)

beforeAll(async () => {
  ca = createTestCa()
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-webhook-process-'))
  const apiCert = ca.issue(['kubernetes.default.svc'])
  api = await startKubeApiStandIn({ cert: apiCert.cert, key: apiCert.key, token: TOKEN })
  api.apply('team-a', 'default')
  kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, kubeconfigFor(api, ca.cert, TOKEN))
  const serving = ca.issue(['irsa-broker-webhook.irsa-broker.svc'])
  certFile = join(dir, 'tls.crt')
  keyFile = join(dir, 'tls.key')
  writeFileSync(certFile, serving.cert)
  writeFileSync(keyFile, serving.key)
})

afterEach(() => {
  for (const { child } of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

afterAll(async () => {
  await api?.stop()
  ca?.remove()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('irsa-broker webhook (the process)', () => {
  it('refuses to start on a bad flag with exit 2 and a message naming the flag', async () => {
    // Act
    const plainHttp = start(flags({ 'broker-url': 'http://broker.example.com' }))
    const shortToken = start(flags({ 'token-expiration': '60' }))
    // Assess
    expect(await plainHttp.exited).toBe(2)
    expect(plainHttp.stderr()).toMatch(/^irsa-broker: --broker-url must be an https URL/)
    expect(await shortToken.exited).toBe(2)
    expect(shortToken.stderr()).toMatch(
      /^irsa-broker: --token-expiration must be a whole number from 600 to 86400/,
    )
  })

  it('refuses to start with exit 1 when the TLS key does not belong to the certificate', async () => {
    // Prepare
    const other = ca.issue(['elsewhere'])
    const wrongKey = join(dir, 'other.key')
    writeFileSync(wrongKey, other.key)
    // Act
    const mismatched = start(flags({ 'tls-key': wrongKey }))
    // Assess
    expect(await mismatched.exited).toBe(1)
    expect(mismatched.stderr()).toMatch(
      /^irsa-broker: --tls-cert\/--tls-key: the certificate and key do not make a TLS context/,
    )
  })

  it('on SIGTERM fails /readyz, answers the request in flight, stops accepting, and exits 0', async () => {
    // Prepare
    const webhook = start(flags({ 'shutdown-delay': '1', 'shutdown-grace': '10' }))
    try {
      const started = await webhook.line('webhook started')
      await webhook.line('webhook ready')
      const client = createWebhookClient({ port: Number(started.port), ca: ca.cert })
      expect((await client.send('GET', '/readyz')).status).toBe(200)
      // A ServiceAccount the cache does not know: its GET takes 1.5 s, so the review is in flight
      api.delayGets(1_500)
      const gets = api.count('get')
      const inFlight = client.post('/mutate', podReview(typicalPod('not-cached-yet'), { uid: 'in-flight' }))
      while (api.count('get') === gets) await new Promise((resolve) => setTimeout(resolve, 20))
      // Act
      webhook.child.kill('SIGTERM')
      await webhook.line('webhook shutting down')
      const readyWhileDraining = await client.send('GET', '/readyz')
      const answer = await inFlight
      const code = await webhook.exited
      // Assess
      expect([readyWhileDraining.status, readyWhileDraining.body]).toEqual([
        503,
        'not ready: shutting down\n',
      ])
      expect(answer.status).toBe(200)
      expect(JSON.parse(answer.body).response).toMatchObject({ uid: 'in-flight', allowed: true })
      expect(code).toBe(0)
      expect(await webhook.line('webhook stopped')).toMatchObject({ drained: true })
      await expect(client.send('GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/)
      client.close()
    } finally {
      api.delayGets(0)
    }
  })

  it('never writes the Kubernetes API token to its output', async () => {
    // Prepare
    const webhook = start(flags({ 'shutdown-delay': '0' }))
    await webhook.line('webhook ready')
    // Act
    webhook.child.kill('SIGINT')
    // Assess
    expect(await webhook.exited).toBe(0)
    expect(JSON.stringify(webhook.lines) + webhook.stderr()).not.toContain(TOKEN)
  })
})
