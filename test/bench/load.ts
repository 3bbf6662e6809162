// Fixed-concurrency load: N keep-alive connections each sending one request after another
// until the time or the request budget runs out. It runs in a child process (load-client.ts)
// so the client does not share the event loop of the server it measures.
import { type ChildProcess, fork } from 'node:child_process'
import { createKeepAliveClient } from './http-client.js'
import { distribution } from './stats.js'

export interface LoadJob {
  url: string
  headers: Record<string, string>
  connections: number
  warmupMs: number
  durationMs: number
  /** A cap besides the clock, so a run is bounded even if the clock misbehaves. */
  maxRequests: number
  expectStatus: number
  timeoutMs: number
}

export interface LoadResult {
  requests: number
  /** Answers with another status than `expectStatus`: counted, not hidden in the rate. */
  unexpected: number
  failures: number
  elapsedMs: number
  requestsPerSecond: number
  /** Latency of the answered requests of the measured run (nearest rank, ms). */
  p50Ms: number
  p99Ms: number
}

interface Tally {
  requests: number
  unexpected: number
  failures: number
  /** Milliseconds from sending each request to its whole answer. */
  latencies: number[]
}

const drive = async (
  job: LoadJob,
  durationMs: number,
  maxRequests: number,
): Promise<Tally & { elapsedMs: number }> => {
  const client = createKeepAliveClient({ connections: job.connections, timeoutMs: job.timeoutMs })
  const tally: Tally = { requests: 0, unexpected: 0, failures: 0, latencies: [] }
  const started = performance.now()
  const deadline = started + durationMs
  let sent = 0
  const connection = async () => {
    while (performance.now() < deadline && sent < maxRequests) {
      sent++
      try {
        const sentAt = performance.now()
        const { status } = await client.send('GET', job.url, job.headers)
        tally.latencies.push(performance.now() - sentAt)
        tally.requests++
        if (status !== job.expectStatus) tally.unexpected++
      } catch {
        tally.failures++
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: job.connections }, connection))
    return { ...tally, elapsedMs: performance.now() - started }
  } finally {
    client.close()
  }
}

/** Warm-up (not counted), then the measured run on fresh connections. */
export const runLoad = async (job: LoadJob): Promise<LoadResult> => {
  await drive(job, job.warmupMs, job.maxRequests)
  const measured = await drive(job, job.durationMs, job.maxRequests)
  const { p50, p99 } = distribution(measured.latencies)
  return {
    requests: measured.requests,
    unexpected: measured.unexpected,
    failures: measured.failures,
    elapsedMs: measured.elapsedMs,
    requestsPerSecond: (measured.requests * 1000) / measured.elapsedMs,
    // NaN would not survive the IPC channel (JSON): a run without answers reports 0.
    p50Ms: Number.isFinite(p50) ? p50 : 0,
    p99Ms: Number.isFinite(p99) ? p99 : 0,
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null

export const isLoadJob = (value: unknown): value is LoadJob =>
  isRecord(value) &&
  typeof value.url === 'string' &&
  isRecord(value.headers) &&
  ['connections', 'warmupMs', 'durationMs', 'maxRequests', 'expectStatus', 'timeoutMs'].every(
    (key) => typeof value[key] === 'number',
  )

const isLoadResult = (value: unknown): value is LoadResult =>
  isRecord(value) &&
  ['requests', 'unexpected', 'failures', 'elapsedMs', 'requestsPerSecond', 'p50Ms', 'p99Ms'].every(
    (key) => typeof value[key] === 'number',
  )

export interface LoadClient {
  run(job: LoadJob): Promise<LoadResult>
  stop(): void
}

const SLACK_MS = 30_000

/** Forks load-client.ts under tsx; one process serves every run, one run at a time. */
export const startLoadClient = (): LoadClient => {
  const child: ChildProcess = fork(new URL('./load-client.ts', import.meta.url), [], {
    // The child is TypeScript too, and the tsx CLI's loader does not follow a fork by itself.
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const run = (job: LoadJob) =>
    new Promise<LoadResult>((resolve, reject) => {
      const timer = setTimeout(
        () => settle(new Error('the load client did not report in time')),
        job.warmupMs + job.durationMs + SLACK_MS,
      )
      const onMessage = (message: unknown) =>
        isLoadResult(message)
          ? settle(undefined, message)
          : settle(new Error('the load client sent an unexpected message'))
      const onExit = (code: number | null) => settle(new Error(`the load client exited (code ${code})`))
      const settle = (error?: Error, result?: LoadResult) => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
        if (result) resolve(result)
        else reject(error)
      }
      child.on('message', onMessage)
      child.once('exit', onExit)
      child.send(job)
    })
  const stop = () => {
    if (child.connected) child.disconnect()
    if (child.exitCode === null) child.kill()
  }
  return { run, stop }
}
