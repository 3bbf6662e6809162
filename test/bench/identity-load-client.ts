// Child process of test/bench/memory.bench.ts: one test issuer and a token for each of N distinct
// service accounts, kept here so the tokens do not count in the broker's memory. It sends the
// issuer's JWKS to the bench, waits for the go, then sends GET /v1/credentials over keep-alive
// connections to loopback, cycling through the identities, and reports every `checkpointEvery`
// answers so the bench can sample the broker's RSS at that point. Bounded by count and time.
// (The bench imports only this module's types: its top level runs the client.)
import { createTestIssuer } from '../support/workload-issuer.js'
import { createKeepAliveClient } from './http-client.js'

export interface IdentityLoadJob {
  type: 'go'
  url: string
  requests: number
  connections: number
  timeLimitMs: number
  checkpointEvery: number
  timeoutMs: number
}

export type IdentityLoadMessage =
  | { type: 'jwks'; jwks: unknown; identities: number; mintMs: number }
  | {
      type: 'checkpoint' | 'done'
      answered: number
      ok: number
      unexpected: number
      failed: number
      elapsedMs: number
    }

// 100 namespaces, one service account per identity: sub = system:serviceaccount:mem-<n>:sa-<i>.
const namespaceOf = (index: number) => `mem-${index % 100}`
const serviceAccountOf = (index: number) => `sa-${index}`

const send = (message: IdentityLoadMessage) => process.send?.(message)

const isJob = (value: unknown): value is IdentityLoadJob =>
  typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'go'

const drive = async (job: IdentityLoadJob, tokens: readonly string[]) => {
  const client = createKeepAliveClient({ connections: job.connections, timeoutMs: job.timeoutMs })
  const tally = { answered: 0, ok: 0, unexpected: 0, failed: 0 }
  const started = performance.now()
  const deadline = started + job.timeLimitMs
  let next = 0
  let nextCheckpoint = job.checkpointEvery
  const connection = async () => {
    while (next < job.requests && performance.now() < deadline) {
      const token = tokens[next % tokens.length] ?? ''
      next++
      try {
        const { status } = await client.send('GET', job.url, { authorization: token })
        if (status === 200) tally.ok++
        else tally.unexpected++
      } catch {
        tally.failed++
      }
      tally.answered++
      if (tally.answered >= nextCheckpoint) {
        nextCheckpoint += job.checkpointEvery
        send({ type: 'checkpoint', ...tally, elapsedMs: performance.now() - started })
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: job.connections }, connection))
  } finally {
    client.close()
  }
  send({ type: 'done', ...tally, elapsedMs: performance.now() - started })
}

if (!process.send) {
  process.stderr.write('identity-load-client.ts is started by test/bench/memory.bench.ts, not by hand\n')
  process.exit(2)
}

const identities = Number(process.argv[2] ?? '0')
if (!Number.isInteger(identities) || identities < 1 || identities > 100_000) {
  process.stderr.write('identity-load-client.ts: the first argument is the number of identities (1–100000)\n')
  process.exit(2)
}

const started = performance.now()
const issuer = await createTestIssuer()
const tokens: string[] = []
for (let index = 0; index < identities; index++) {
  tokens.push(await issuer.mint({ namespace: namespaceOf(index), serviceAccount: serviceAccountOf(index) }))
}
send({ type: 'jwks', jwks: issuer.jwks, identities, mintMs: performance.now() - started })

process.on('message', async (message: unknown) => {
  if (!isJob(message)) {
    process.stderr.write('identity-load-client: ignored a message that is not a job\n')
    return
  }
  await drive(message, tokens)
})
