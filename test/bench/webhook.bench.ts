// Benchmark of `irsa-broker webhook` (issue 11): mutations per second and latency of POST
// /mutate for a typical pod (one app container and one native sidecar, its ServiceAccount
// annotated and in the cache), over loopback HTTPS with keep-alive. The webhook runs as the
// real CLI process (bin/irsa-broker.js) against the stand-in Kubernetes API, so this process's
// client does not share its event loop. Bounded in count and time; prints figures only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { kubeconfigFor, startKubeApiStandIn } from '../support/kube-api.js'
import { createTestCa } from '../support/test-ca.js'
import { createWebhookClient, podReview, typicalPod, type WebhookClient } from '../support/webhook-client.js'
import { spawnWebhook, webhookFlags } from '../support/webhook-process.js'
import { addCleanup, armWatchdog, latencyRow, machineLines, print, progress, runBench } from './harness.js'
import { distribution, ms, perSecond, table } from './stats.js'

const SETTINGS = {
  sequentialWarmup: 300,
  sequentialRequests: 3_000,
  connections: [1, 8],
  warmupMs: 1_000,
  durationMs: 8_000,
  maxRequestsPerRun: 200_000,
  /** The whole run; past it the bench stops what it started and exits 1. */
  hardDeadlineMs: 180_000,
} as const

const TOKEN = 'bench-stand-in-api-token'

/** The webhook as a child process, stopped at cleanup; resolves to its port once it is ready. */
const startWebhookProcess = async (args: string[], env: Record<string, string>): Promise<number> => {
  const webhook = spawnWebhook(args, env)
  addCleanup(async () => {
    if (webhook.child.exitCode !== null) return
    webhook.child.kill('SIGTERM')
    await webhook.exited
  })
  const started = await webhook.line('webhook started')
  await webhook.line('webhook ready')
  // One JSON line per review from here on: read (the pipe must not fill up) and dropped.
  webhook.quiet()
  return Number(started.port)
}

interface RunResult {
  connections: number
  requests: number
  failures: number
  elapsedMs: number
  latencies: number[]
}

/** `connections` loops, each sending the next request when its answer is in, until time or budget ends. */
const drive = async (
  client: WebhookClient,
  body: string,
  connections: number,
  durationMs: number,
): Promise<RunResult> => {
  const latencies: number[] = []
  let failures = 0
  let sent = 0
  const started = performance.now()
  const deadline = started + durationMs
  const loop = async () => {
    while (performance.now() < deadline && sent < SETTINGS.maxRequestsPerRun) {
      sent++
      const begin = performance.now()
      try {
        const answer = await client.send('POST', '/mutate?timeout=5s', body)
        if (answer.status !== 200) failures++
        else latencies.push(performance.now() - begin)
      } catch {
        failures++
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, loop))
  return {
    connections,
    requests: latencies.length,
    failures,
    elapsedMs: performance.now() - started,
    latencies,
  }
}

const main = async () => {
  armWatchdog(SETTINGS.hardDeadlineMs)
  const ca = createTestCa()
  addCleanup(() => ca.remove())
  const dir = mkdtempSync(join(tmpdir(), 'irsa-broker-bench-webhook-'))
  addCleanup(() => rmSync(dir, { recursive: true, force: true }))
  const apiCert = ca.issue(['kubernetes.default.svc'])
  const api = await startKubeApiStandIn({ cert: apiCert.cert, key: apiCert.key, token: TOKEN })
  addCleanup(() => api.stop())
  api.apply('team-a', 'trainer', { 'irsa-broker.io/role': 'ml-reader' })
  for (let index = 0; index < 1_000; index++) api.apply(`ns-${index % 50}`, `sa-${index}`)
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, kubeconfigFor(api, ca.cert, TOKEN))
  const serving = ca.issue(['irsa-broker-webhook.irsa-broker.svc'])
  writeFileSync(join(dir, 'tls.crt'), serving.cert)
  writeFileSync(join(dir, 'tls.key'), serving.key)

  progress('starting irsa-broker webhook')
  const port = await startWebhookProcess(
    webhookFlags(
      { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
      { region: 'eu-west-1', 'shutdown-delay': '0' },
    ),
    { KUBECONFIG: kubeconfig },
  )
  const body = JSON.stringify(podReview(typicalPod('trainer')))
  const probe = createWebhookClient({ port, ca: ca.cert, keepAlive: true, maxSockets: 1 })
  const first = await probe.send('POST', '/mutate', body)
  const response = JSON.parse(first.body).response as { patch?: string; allowed: boolean }
  const operations = response.patch
    ? (JSON.parse(Buffer.from(response.patch, 'base64').toString()) as unknown[]).length
    : 0
  if (first.status !== 200 || !response.allowed)
    throw new Error(`the webhook answered ${first.status} ${first.body.slice(0, 300)}`)
  progress(`one review: ${first.body.length} bytes answered, ${operations} patch operations`)

  // Sequential: one request at a time on one connection, the latency of a lone review.
  for (let index = 0; index < SETTINGS.sequentialWarmup; index++) await probe.send('POST', '/mutate', body)
  const sequential: number[] = []
  for (let index = 0; index < SETTINGS.sequentialRequests; index++) {
    const begin = performance.now()
    const answer = await probe.send('POST', '/mutate', body)
    if (answer.status !== 200) throw new Error(`answered ${answer.status}`)
    sequential.push(performance.now() - begin)
  }
  probe.close()

  const runs: RunResult[] = []
  for (const connections of SETTINGS.connections) {
    const client = createWebhookClient({ port, ca: ca.cert, keepAlive: true, maxSockets: connections })
    progress(`${connections} connection(s): warm-up ${SETTINGS.warmupMs} ms, then ${SETTINGS.durationMs} ms`)
    await drive(client, body, connections, SETTINGS.warmupMs)
    runs.push(await drive(client, body, connections, SETTINGS.durationMs))
    client.close()
  }

  print('# irsa-broker webhook: POST /mutate for a typical pod (test/bench/webhook.bench.ts)')
  print()
  for (const line of machineLines()) print(line)
  print(
    `load:     ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')} (1/5/15-min load average, at the end)`,
  )
  print(
    `pod:      one app container + one native sidecar, ServiceAccount annotated irsa-broker.io/role, in the cache;`,
  )
  print(
    `          answer ${first.body.length} bytes, ${operations} JSON Patch operations; the webhook logs one JSON line per review`,
  )
  print()
  print(
    table(
      ['sequential, 1 connection', 'count', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      [latencyRow('POST /mutate', sequential)],
    ),
  )
  print()
  print(
    table(
      ['keep-alive connections', 'mutations/s', 'requests', 'failures', 'p50 ms', 'p99 ms'],
      runs.map((run) => {
        const { p50, p99 } = distribution(run.latencies)
        return [
          String(run.connections),
          perSecond((run.requests * 1000) / run.elapsedMs),
          String(run.requests),
          String(run.failures),
          ms(p50),
          ms(p99),
        ]
      }),
    ),
  )
}

await runBench(main)
