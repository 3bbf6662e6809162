// Child services of the local stack: a free loopback port, and `moto_server` started from
// PATH for STS (and, in tests, KMS) — stopped with the process that started it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'

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

export const hasMotoServer = (): boolean =>
  spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0

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
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
  })
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
