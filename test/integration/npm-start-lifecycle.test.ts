// The real `npm start`, signalled the ways it gets stopped — `kill` of npm (SIGTERM, SIGHUP),
// a terminal's Ctrl-C (SIGINT to the whole process group), npm killed outright (its child sees
// its parent go), the broker itself killed outright — and after each: no process of its tree
// (npm, node, moto_server) survives, by pid, and the next start on the same data folder works.
// And while one broker runs, a second on its folder is refused with one line.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LOCK_FILE } from '../../infra/local/data-dir-lock.js'
import { freePort, hasMotoServer, MOTO_MISSING_MESSAGE } from '../../infra/local/processes.js'
import { cleanEnv, ROOT } from '../support/local-broker.js'

const START_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 20_000
/** Two starts and a stop, each with moto_server, on a machine shared with other suites. */
const TEST_TIMEOUT_MS = 2 * START_TIMEOUT_MS + STOP_TIMEOUT_MS

/** Every process and its parent (ps is on Linux and macOS alike); zombies count as gone. */
const processTable = (): Map<number, { ppid: number; state: string }> => {
  const ps = spawnSync('ps', ['-A', '-o', 'pid=,ppid=,stat='], { encoding: 'utf8' })
  const table = new Map<number, { ppid: number; state: string }>()
  for (const line of ps.stdout.split('\n')) {
    const [pid, ppid, state] = line.trim().split(/\s+/)
    if (pid && ppid && state) table.set(Number(pid), { ppid: Number(ppid), state })
  }
  return table
}

const descendantsOf = (root: number): number[] => {
  const table = processTable()
  const found: number[] = []
  const walk = (pid: number) => {
    for (const [child, { ppid }] of table) {
      if (ppid === pid && !found.includes(child)) {
        found.push(child)
        walk(child)
      }
    }
  }
  walk(root)
  return found
}

const alive = (pids: readonly number[]): number[] => {
  const table = processTable()
  return pids.filter((pid) => {
    const entry = table.get(pid)
    return entry !== undefined && !entry.state.startsWith('Z')
  })
}

const waitUntil = async (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (condition()) return true
    await new Promise((done) => setTimeout(done, 100))
  }
  return condition()
}

interface Started {
  npm: ChildProcess
  /** npm and everything under it once the broker listens: node, moto_server. */
  tree: number[]
  url: string
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const spawnNpmStart = (dataDir: string, port: number, args: string[] = []) => {
  // detached: its own process group, as a terminal gives a job, so a Ctrl-C can be sent to it.
  const npm = spawn('npm', ['start', '--silent', ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: ROOT,
    env: cleanEnv({ PORT: String(port), IRSA_BROKER_DATA_DIR: dataDir }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let stdout = ''
  let stderr = ''
  npm.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  npm.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    npm.once('close', (code, signal) => done({ code, signal })),
  )
  return { npm, exited, output: () => `${stderr}\n${stdout}`, stderr: () => stderr }
}

const started: ChildProcess[] = []

const startBroker = async (dataDir: string, args: string[] = []): Promise<Started> => {
  const port = await freePort()
  const run = spawnNpmStart(dataDir, port, args)
  started.push(run.npm)
  const ready = await waitUntil(
    () =>
      /listening on http:\/\/127\.0\.0\.1:\d+/.test(run.output()) && /moto_server started/.test(run.output()),
    START_TIMEOUT_MS,
  )
  expect(ready, `npm start printed its banner:\n${run.output()}`).toBe(true)
  const tree = [run.npm.pid as number, ...descendantsOf(run.npm.pid as number)]
  const url = `http://127.0.0.1:${port}`
  const discovery = await fetch(`${url}/.well-known/openid-configuration`)
  expect(discovery.status).toBe(200)
  return { npm: run.npm, tree, url, output: run.output, exited: run.exited }
}

const lockOwner = () => (JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as { pid: number }).pid

const commandOf = (pid: number) =>
  spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim()

const expectTreeGone = async (broker: Started, what: string) => {
  const gone = await waitUntil(() => alive(broker.tree).length === 0, STOP_TIMEOUT_MS)
  const left = alive(broker.tree).map((pid) => `${pid} ${commandOf(pid)}`)
  expect(gone, `after ${what}, still running: ${left.join('; ')}\n${broker.output()}`).toBe(true)
}

let dataDir: string
const tempDirs: string[] = []

beforeAll(() => {
  if (!hasMotoServer()) throw new Error(MOTO_MISSING_MESSAGE)
  dataDir = mkdtempSync(join(tmpdir(), 'irsa-broker-lifecycle-'))
})

afterAll(() => {
  for (const npm of started) {
    if (npm.pid !== undefined && npm.exitCode === null) {
      try {
        process.kill(-npm.pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  }
  for (const dir of [dataDir, ...tempDirs]) rmSync(dir, { recursive: true, force: true })
})

describe('npm start stops its whole tree, and starts again on the same folder', {
  timeout: TEST_TIMEOUT_MS,
}, () => {
  it('runs as npm → node → moto_server, no shell or wrapper process between npm and the broker', async () => {
    const broker = await startBroker(dataDir)
    const table = processTable()
    const childrenOf = (pid: number) => broker.tree.filter((child) => table.get(child)?.ppid === pid)
    const [node, ...others] = childrenOf(broker.npm.pid as number)
    expect(others).toEqual([])
    expect(commandOf(node as number)).toMatch(/node .*--import tsx infra\/local\/main\.ts/)
    // Besides moto_server, node may still run esbuild's service process (tsx's transformer).
    expect(childrenOf(node as number).map(commandOf)).toContainEqual(
      expect.stringMatching(/moto_server -H 127\.0\.0\.1 -p \d+/),
    )
    // Its audit lines also go to <data folder>/audit.log, 0600.
    const denied = await fetch(`${broker.url}/v1/credentials`, { headers: { authorization: 'not-a-token' } })
    expect(denied.status).toBe(401)
    const auditLog = join(dataDir, 'audit.log')
    const last = JSON.parse(readFileSync(auditLog, 'utf8').trimEnd().split('\n').at(-1) ?? '{}')
    expect(last).toMatchObject({
      message: 'audit',
      event: 'credentials',
      decision: 'deny',
      reason: 'token_malformed',
    })
    expect(statSync(auditLog).mode & 0o777).toBe(0o600)

    process.kill(broker.npm.pid as number, 'SIGTERM')
    expect(await broker.exited).toEqual({ code: 0, signal: null })
    await expectTreeGone(broker, 'SIGTERM to npm')
    expect(broker.output()).toContain('irsa-broker: SIGTERM received, stopping')
    expect(() => readFileSync(join(dataDir, LOCK_FILE)), 'the lock is released').toThrow(/ENOENT/)
  })

  it('SIGINT to the process group (Ctrl-C in a terminal: npm, node and moto_server all get it)', async () => {
    const broker = await startBroker(dataDir)
    process.kill(-(broker.npm.pid as number), 'SIGINT')
    await broker.exited
    await expectTreeGone(broker, 'SIGINT to the process group')
    expect(broker.output()).toContain('irsa-broker: SIGINT received, stopping')
    expect(broker.output(), 'one keypress arrives twice (group + npm) and is one stop').not.toMatch(/again/)
  })

  it('SIGHUP to npm', async () => {
    const broker = await startBroker(dataDir)
    process.kill(broker.npm.pid as number, 'SIGHUP')
    await broker.exited
    await expectTreeGone(broker, 'SIGHUP to npm')
    // npm forwards SIGHUP or dies of it; the broker stops either way.
    expect(broker.output()).toMatch(
      /irsa-broker: (SIGHUP received|the parent process \(pid \d+\) is gone), stopping/,
    )
  })

  it('SIGKILL of npm: the broker sees its parent go and stops, moto_server with it', async () => {
    const broker = await startBroker(dataDir)
    process.kill(broker.npm.pid as number, 'SIGKILL')
    await expectTreeGone(broker, 'SIGKILL to npm')
    expect(broker.output()).toContain(
      `irsa-broker: the parent process (pid ${broker.npm.pid}) is gone, stopping`,
    )
  })

  it('SIGKILL of the broker itself: the next start takes over the stale lock and stops the moto_server left behind', async () => {
    const broker = await startBroker(dataDir)
    const node = broker.tree.find(
      (pid) => /infra\/local\/main\.ts/.test(commandOf(pid)) && pid !== broker.npm.pid,
    )
    const moto = broker.tree.find((pid) => /moto_server/.test(commandOf(pid)))
    if (node === undefined || moto === undefined)
      throw new Error(`no broker or moto_server in ${broker.tree}`)
    const lock = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as {
      pid: number
      children: { pid: number }[]
    }
    expect(lock.pid).toBe(node)
    expect(lock.children.map((child) => child.pid)).toEqual([moto])
    process.kill(node, 'SIGKILL')
    await broker.exited
    expect(alive([moto]), 'nothing can stop a child when its parent is SIGKILLed').toEqual([moto])

    const next = await startBroker(dataDir)
    expect(next.output()).toContain(
      `irsa-broker: took over the lock of pid ${node}, which is gone; stopped what it left running (pid ${moto})`,
    )
    expect(await waitUntil(() => alive([moto]).length === 0, STOP_TIMEOUT_MS)).toBe(true)

    // While it runs, a second broker on the same folder is refused with one line and exit 3.
    const second = spawnNpmStart(dataDir, await freePort())
    started.push(second.npm)
    expect(await second.exited).toEqual({ code: 3, signal: null })
    const lines = second.stderr().trimEnd().split('\n')
    expect(lines).toEqual([
      `irsa-broker: the data folder ${dataDir} is in use by another broker (pid ${lockOwner()}, started ${
        (JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as { startedAt: string }).startedAt
      }); stop that one, or set IRSA_BROKER_DATA_DIR to another folder`,
    ])
    expect(
      (await fetch(`${next.url}/.well-known/openid-configuration`)).status,
      'the first still serves',
    ).toBe(200)

    process.kill(next.npm.pid as number, 'SIGTERM')
    expect(await next.exited).toEqual({ code: 0, signal: null })
    await expectTreeGone(next, 'SIGTERM to npm')
  })
})

describe('npm start -- --rotate-admin-token', { timeout: TEST_TIMEOUT_MS }, () => {
  const adminStatus = async (url: string, token: string) =>
    (await fetch(`${url}/v1/admin/issuers`, { headers: { authorization: `Bearer ${token}` } })).status

  it('replaces the generated admin token: printed once, stored 0600, the old one refused', async () => {
    // A folder whose token an earlier start generated (a token of the same shape, written here).
    const folder = mkdtempSync(join(tmpdir(), 'irsa-broker-rotate-'))
    tempDirs.push(folder)
    const tokenFile = join(folder, 'admin-token')
    const before = randomBytes(32).toString('hex')
    writeFileSync(tokenFile, `${before}\n`, { mode: 0o600 })
    const broker = await startBroker(folder, ['--rotate-admin-token'])
    const printed = /^ {2}admin token {2}([0-9a-f]{64})$/m.exec(broker.output())?.[1]
    const after = readFileSync(tokenFile, 'utf8').trim()
    expect(printed, 'the new token is printed').toBe(after)
    expect(after).not.toBe(before)
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600)
    expect(await adminStatus(broker.url, before)).toBe(401)
    expect(await adminStatus(broker.url, after)).toBe(200)
    process.kill(broker.npm.pid as number, 'SIGTERM')
    expect(await broker.exited).toEqual({ code: 0, signal: null })
    await expectTreeGone(broker, 'SIGTERM to npm')
  })

  it('is refused in one line when IRSA_BROKER_ADMIN_TOKEN sets the token (rotate that instead)', async () => {
    const npm = spawn('npm', ['start', '--silent', '--', '--rotate-admin-token'], {
      cwd: ROOT,
      env: cleanEnv({
        PORT: String(await freePort()),
        IRSA_BROKER_DATA_DIR: dataDir,
        IRSA_BROKER_ADMIN_TOKEN: 'an-admin-token-of-the-operator',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    started.push(npm)
    let stderr = ''
    npm.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const code = await new Promise((done) => npm.once('close', done))
    expect(code).toBe(2)
    expect(stderr.trimEnd().split('\n')).toEqual([
      'irsa-broker: --rotate-admin-token rotates the generated token; with IRSA_BROKER_ADMIN_TOKEN set, change that instead',
    ])
  })
})
