// `irsa-broker webhook` as a child process (bin/irsa-broker.js, or however the caller spawned
// it), for the process tests, the bench and the e2e: its JSON log lines parsed as they come (and
// captured for the secret scan), a wait for a given line, and its exit code.
import { type ChildProcess, spawn } from 'node:child_process'
import { CLI_BIN } from './local-broker.js'
import { captureText } from './log-capture.js'

export interface WebhookProcess {
  child: ChildProcess
  readonly lines: Record<string, unknown>[]
  stderr(): string
  exited: Promise<number | null>
  /** The first log line with this message, once written; throws if the process exits first or time runs out. */
  line(message: string, timeoutMs?: number): Promise<Record<string, unknown>>
  /** From now on, output is read and dropped (a bench's one line per review). */
  quiet(): void
}

/**
 * The flags of a test start: loopback, ephemeral ports, the given TLS files, with `overrides`
 * replacing or adding flags by name (the CLI refuses a flag given twice).
 */
export const webhookFlags = (
  tls: { certFile: string; keyFile: string },
  overrides: Record<string, string> = {},
): string[] =>
  Object.entries({
    'broker-url': 'https://broker.example.com',
    'tls-cert': tls.certFile,
    'tls-key': tls.keyFile,
    'agent-image': 'registry.example.com/irsa-broker/agent:0.1.0',
    namespace: 'irsa-broker',
    address: '127.0.0.1',
    port: '0',
    'metrics-port': '0',
    ...overrides,
  }).flatMap(([name, value]) => [`--${name}`, value])

export const spawnWebhook = (args: string[], env: Record<string, string>): WebhookProcess =>
  followWebhook(
    spawn(process.execPath, [CLI_BIN, 'webhook', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )

/** A webhook started some other way (the e2e runs the agent image's entry point), stdout and stderr piped. */
export const followWebhook = (child: ChildProcess): WebhookProcess => {
  const lines: Record<string, unknown>[] = []
  let pending = ''
  let stderr = ''
  let quiet = false
  const waiters: (() => void)[] = []
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    if (quiet) return
    captureText('child:irsa-broker webhook:stdout', chunk)
    pending += chunk
    let newline = pending.indexOf('\n')
    while (newline !== -1) {
      lines.push(JSON.parse(pending.slice(0, newline)))
      pending = pending.slice(newline + 1)
      newline = pending.indexOf('\n')
    }
    for (const waiter of waiters.splice(0)) waiter()
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    captureText('child:irsa-broker webhook:stderr', chunk)
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    async line(message, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs
      for (;;) {
        const found = lines.find((entry) => entry.message === message)
        if (found) return found
        if (Date.now() > until || child.exitCode !== null)
          throw new Error(`no "${message}" log line; stderr: ${stderr.slice(0, 500)}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 200)
        })
      }
    },
    quiet: () => {
      quiet = true
    },
  }
}
