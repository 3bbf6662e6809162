// What the broker writes to its log per credentials request, in bytes: the audit line of an
// issued, a cached and a denied request, and any other line (metrics, warnings). docs/cost.md
// prices CloudWatch Logs ingestion from these figures. Local stack, STS an in-process stub,
// loopback only; it prints figures and asserts nothing. `tsx test/bench/log-volume.bench.ts`.

import { createTestIssuer } from '../support/workload-issuer.js'
import {
  addCleanup,
  armWatchdog,
  createBenchSts,
  machineLines,
  print,
  registerIssuerAndBinding,
  runBench,
  startBenchStack,
} from './harness.js'
import { createKeepAliveClient } from './http-client.js'

const REQUESTS_PER_KIND = 50

type Kind = 'issued (STS called)' | 'issued (credential cache hit)' | 'denied (unknown signing key)'

await runBench(async () => {
  armWatchdog(120_000)
  const lines: { kind: Kind | 'setup'; line: string }[] = []
  let current: Kind | 'setup' = 'setup'
  const sts = createBenchSts()
  sts.use('stub')
  const stack = await startBenchStack({
    dataDirPrefix: 'irsa-broker-bench-logs-',
    logSink: (line) => lines.push({ kind: current, line }),
    wrapSts: sts.wrap,
  })
  const client = createKeepAliveClient()
  addCleanup(() => client.close())
  const dataPlane = await createTestIssuer()
  const stranger = await createTestIssuer()
  await registerIssuerAndBinding(client, stack, {
    issuerId: 'onprem-a',
    jwks: dataPlane.jwks,
    profile: 'ml-reader',
    roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
    subjects: ['system:serviceaccount:ml-*:*'],
    sessionTags: { namespace: '{/kubernetes.io/namespace}', 'data-plane': 'onprem-a' },
  })

  const ask = async (token: string) =>
    client.send('GET', `${stack.url}/v1/credentials?role=ml-reader`, { authorization: token })

  // A new service account per request: every one is a credential-cache miss and an STS call.
  current = 'issued (STS called)'
  for (let n = 0; n < REQUESTS_PER_KIND; n++)
    await ask(await dataPlane.mint({ namespace: 'ml-team', serviceAccount: `trainer-${n}` }))
  // The same identity again and again: the first was a miss above, these are cache hits.
  current = 'issued (credential cache hit)'
  const repeated = await dataPlane.mint({ namespace: 'ml-team', serviceAccount: 'trainer-0' })
  for (let n = 0; n < REQUESTS_PER_KIND; n++) await ask(repeated)
  current = 'denied (unknown signing key)'
  for (let n = 0; n < REQUESTS_PER_KIND; n++) await ask(await stranger.mint({ namespace: 'ml-team' }))

  print(machineLines().join('\n'))
  print(`requests: ${REQUESTS_PER_KIND} of each kind, one identity per STS-called request`)
  print()
  print(
    'kind                            lines/request  audit line bytes (min/median/max)  other bytes/request',
  )
  for (const kind of [
    'issued (STS called)',
    'issued (credential cache hit)',
    'denied (unknown signing key)',
  ] as const) {
    const own = lines.filter((entry) => entry.kind === kind)
    const audit = own
      .filter((entry) => entry.line.includes('"message":"audit"'))
      .map((entry) => Buffer.byteLength(entry.line) + 1)
      .sort((a, b) => a - b)
    const other = own
      .filter((entry) => !entry.line.includes('"message":"audit"'))
      .reduce((sum, entry) => sum + Buffer.byteLength(entry.line) + 1, 0)
    const median = audit[Math.floor(audit.length / 2)] ?? 0
    print(
      `${kind.padEnd(32)}${(own.length / REQUESTS_PER_KIND).toFixed(2).padStart(13)}  ${`${audit[0]} / ${median} / ${audit.at(-1)}`.padStart(33)}  ${(other / REQUESTS_PER_KIND).toFixed(1).padStart(19)}`,
    )
  }
  print()
  print('one audit line of each kind, as written (bytes include the newline):')
  for (const kind of ['issued (STS called)', 'denied (unknown signing key)'] as const) {
    const example = lines.find((entry) => entry.kind === kind && entry.line.includes('"message":"audit"'))
    if (example) print(`${kind}: ${example.line}`)
  }
})
