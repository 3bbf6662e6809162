// Child services of the local stack: a free loopback port, and `moto_server` started from
// PATH for STS (and, in tests, KMS) — stopped with the process that started it, however that
// process ends (stop(), or a last SIGKILL to what is left when it exits).
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export const MOTO_MISSING_MESSAGE =
  'moto_server was not found on PATH. Install it with `pip install "moto[server]"`, or point the broker at an STS with AWS_ENDPOINT_URL_STS.'

/**
 * Whether an executable `moto_server` is on PATH. Looked up, not run: running it to ask costs a
 * Python start-up (seconds on a loaded machine) on every `npm start`; a moto_server that is
 * there but broken still fails the start, with its own stderr (startMotoServer).
 */
export const hasMotoServer = (path = process.env.PATH ?? ''): boolean =>
  path
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, 'moto_server'), constants.X_OK)
        return true
      } catch {
        return false
      }
    })

/** Children started here and not yet exited, with the command line that started them. */
const running = new Map<ChildProcess, string>()

/** The children still running (the data folder's lock records them: infra/local/data-dir-lock.ts). */
export const runningChildren = (): { pid: number; command: string }[] =>
  [...running].flatMap(([child, command]) => (child.pid === undefined ? [] : [{ pid: child.pid, command }]))

// However this process ends — a stop() that did not finish, process.exit() on a second signal,
// an uncaught error — no child it started outlives it. ('exit' handlers run synchronously;
// kill() is a synchronous system call.)
process.on('exit', () => {
  for (const child of running.keys()) child.kill('SIGKILL')
})

const track = (child: ChildProcess, command: string) => {
  running.set(child, command)
  child.once('exit', () => running.delete(child))
}

export interface MotoServer {
  endpoint: string
  stop(): Promise<void>
}

const waitForHttp = async (url: string, child: ChildProcess, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`moto_server exited with code ${child.exitCode} before it was ready`)
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) })
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  throw new Error(`moto_server did not answer at ${url} within ${timeoutMs} ms`)
}

/** Starts `moto_server` on a free loopback port and waits until it answers. */
export const startMotoServer = async (options: { timeoutMs?: number } = {}): Promise<MotoServer> => {
  if (!hasMotoServer()) throw new Error(MOTO_MISSING_MESSAGE)
  const port = await freePort()
  const args = ['-H', '127.0.0.1', '-p', String(port)]
  const child = spawn('moto_server', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
  })
  track(child, ['moto_server', ...args].join(' '))
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const endpoint = `http://127.0.0.1:${port}`
  try {
    await waitForHttp(`${endpoint}/moto-api/`, child, options.timeoutMs ?? 20_000)
  } catch (error) {
    child.kill('SIGKILL')
    throw new Error(`${(error as Error).message}\n${stderr}`)
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
        setTimeout(() => child.kill('SIGKILL'), 3000).unref()
      }),
  }
}
