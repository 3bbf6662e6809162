// What a newcomer's clone runs, with nothing beside it: the repository's tracked files (as they
// are in this working tree, so an uncommitted change counts) copied into an empty temporary
// folder whose parent holds no `shared/`, `npm ci --offline` there (from the npm cache the
// outer `npm ci` filled), then the README's two commands as far as a test can run them inside
// `npm test`: every suite that reads the third-party corpus, the documentation checks, and
// `npm start` until it answers, then stopped. (The whole `npm test` in a real `git clone` is
// scripts/clean-clone-check.sh: running it from inside `npm test` would recurse.)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../infra/local/processes.js'
import { cleanEnv, ROOT } from '../support/local-broker.js'

const INSTALL_TIMEOUT_MS = 600_000
const SUITES_TIMEOUT_MS = 600_000

/**
 * The suites that read test/corpus — between them every file of it (corpus-files.test.ts holds
 * the list) — and the checks that the docs stay inside the repository. The other readers
 * (jws-verify, remote-jwks-corpus, the e2e corpus run) read the same files and are timing-heavy
 * on a loaded machine; the clean-clone script runs them with everything else.
 */
const CORPUS_SUITES = ['test/unit/corpus', 'test/unit/api-doc.test.ts']

let base: string
let clone: string
let broker: ChildProcess | undefined

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'irsa-broker-clone-'))
  clone = join(base, 'x', 'repo')
  const tracked = spawnSync('git', ['ls-files', '-z', '--cached'], { cwd: ROOT, encoding: 'utf8' })
  expect(tracked.status, tracked.stderr).toBe(0)
  for (const file of tracked.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue // deleted in the working tree, not yet committed
    mkdirSync(dirname(join(clone, file)), { recursive: true })
    copyFileSync(join(ROOT, file), join(clone, file))
  }
  const install = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], {
    cwd: clone,
    env: cleanEnv({}),
    encoding: 'utf8',
    timeout: INSTALL_TIMEOUT_MS,
  })
  expect(install.status, `npm ci --offline:\n${install.stdout}\n${install.stderr}`).toBe(0)
}, INSTALL_TIMEOUT_MS + 60_000)

afterAll(() => {
  if (broker?.pid !== undefined && broker.exitCode === null) broker.kill('SIGKILL')
  if (base) rmSync(base, { recursive: true, force: true })
}, 300_000) // a node_modules of its own to delete

describe('a clone with nothing beside it', () => {
  it('has no ../shared to lean on', () => {
    expect(existsSync(join(clone, '..', 'shared'))).toBe(false)
    expect(existsSync(join(clone, '..', '..', 'shared'))).toBe(false)
    expect(existsSync(join(clone, 'test', 'corpus', 'README.md'))).toBe(true)
  })

  it('passes every suite that reads the third-party corpus, and the documentation checks', {
    timeout: SUITES_TIMEOUT_MS,
  }, () => {
    const run = spawnSync('npx', ['vitest', 'run', '--maxWorkers=1', ...CORPUS_SUITES], {
      cwd: clone,
      env: cleanEnv({ NO_COLOR: '1', FORCE_COLOR: '0' }),
      encoding: 'utf8',
      timeout: SUITES_TIMEOUT_MS,
    })
    const output = `${run.stdout}\n${run.stderr}`
    const failures = output.split('\n').filter((line) => /^\s*(FAIL|×)\s|Error: /.test(line))
    expect(run.status, `${failures.slice(0, 40).join('\n')}\n…\n${output.slice(-3000)}`).toBe(0)
    const summary = (name: string) => new RegExp(`^\\s*${name}\\s+(.*)$`, 'm').exec(output)?.[1] ?? ''
    expect(summary('Test Files')).toMatch(/^\d+ passed \(\d+\)$/)
    expect(summary('Tests')).toMatch(/^\d+ passed \(\d+\)$/)
  })

  it('npm start answers as an OIDC issuer, and stops on SIGTERM', { timeout: 180_000 }, async () => {
    const port = await freePort()
    broker = spawn('npm', ['start', '--silent'], {
      cwd: clone,
      env: cleanEnv({ PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    broker.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    broker.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const exited = new Promise<number | null>((done) => broker?.once('close', done))
    const url = `http://127.0.0.1:${port}/.well-known/openid-configuration`
    const deadline = Date.now() + 120_000
    let answer: Response | undefined
    while (!answer && Date.now() < deadline && broker.exitCode === null) {
      answer = await fetch(url).catch(() => undefined)
      if (!answer) await new Promise((done) => setTimeout(done, 250))
    }
    expect(answer?.status, output).toBe(200)
    const discovery = (await answer?.json()) as { issuer?: string } | undefined
    expect(discovery?.issuer).toBe(`http://127.0.0.1:${port}`)
    const lock = JSON.parse(readFileSync(join(clone, '.irsa-broker', 'broker.lock'), 'utf8')) as {
      pid: number
    }

    broker.kill('SIGTERM')
    expect(await exited, output).toBe(0)
    expect(existsSync(join(clone, '.irsa-broker', 'broker.lock')), 'the lock is released').toBe(false)
    expect(() => process.kill(lock.pid, 0), 'the broker process is gone').toThrow(/ESRCH/)
  })
})
