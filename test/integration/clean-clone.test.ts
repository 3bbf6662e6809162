// What a newcomer's clone runs, with nothing beside it: the repository's tracked files (as they
// are in this working tree, so an uncommitted change counts) copied into an empty temporary
// folder whose parent holds no `shared/`, `npm ci --offline` there (from the npm cache the
// outer `npm ci` filled), then the README's two commands as far as a test can run them inside
// `npm test`: every suite that reads the third-party corpus, the documentation checks, and
// `npm start` until it answers, then stopped. (The whole `npm test` in a real `git clone` is
// scripts/clean-clone-check.sh: running it from inside `npm test` would recurse.)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../infra/local/processes.js'
import { CORPUS_DIR } from '../support/corpus.js'
import { cleanEnv, ROOT } from '../support/local-broker.js'

const INSTALL_TIMEOUT_MS = 600_000
const SUITES_TIMEOUT_MS = 600_000

/**
 * Every unit suite that reads test/corpus (through test/support/corpus.ts; corpus-files.test.ts
 * holds every reader to it, and the folder to what they read), and the checks that the docs
 * stay inside the repository. Left out, because the suites run here open every file they open:
 * jws-verify (the attack tokens and Wycheproof vectors again, with a differential run of 3,000
 * generated tokens that is most of its time), and the integration and end-to-end readers
 * (remote-jwks-corpus, the e2e corpus run), which start whole stacks. The clean-clone script
 * runs those with everything else.
 */
const SAME_FILES_AS_ABOVE = new Set(['test/unit/core/jws-verify.test.ts'])
const CORPUS_SUITES = [
  ...readdirSync(join(ROOT, 'test', 'unit'), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.test.ts'))
    .filter((path) => readFileSync(join(ROOT, 'test', 'unit', path), 'utf8').includes('/support/corpus.js'))
    .map((path) => `test/unit/${path}`)
    .filter((path) => !SAME_FILES_AS_ABOVE.has(path)),
  'test/unit/api-doc.test.ts',
].sort()

let base: string
let clone: string
let broker: ChildProcess | undefined

beforeAll(() => {
  const started = performance.now()
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
  // What this suite costs in CI, for docs/testing.md (reported, not asserted).
  console.info(`clean clone: copy and npm ci --offline ${Math.round((performance.now() - started) / 1000)} s`)
}, INSTALL_TIMEOUT_MS + 60_000)

afterAll(() => {
  if (broker?.pid !== undefined && broker.exitCode === null) broker.kill('SIGKILL')
  const started = performance.now()
  // `rm -rf`, not rmSync: on the loaded machine Node 20's rmSync took 96-98 s for this tree, rm 56 s.
  if (base) expect(spawnSync('rm', ['-rf', base]).status).toBe(0)
  console.info(`clean clone: removed in ${Math.round((performance.now() - started) / 1000)} s`)
}, 300_000) // a node_modules of its own to delete

describe('a clone with nothing beside it', () => {
  it('has no ../shared to lean on', () => {
    expect(existsSync(join(clone, '..', 'shared'))).toBe(false)
    expect(existsSync(join(clone, '..', '..', 'shared'))).toBe(false)
    expect(existsSync(join(clone, relative(ROOT, CORPUS_DIR), 'README.md'))).toBe(true)
  })

  it('passes every suite that reads the third-party corpus, and the documentation checks', {
    timeout: SUITES_TIMEOUT_MS,
  }, () => {
    // The list found the readers of each kind of data (a guard against a list that finds none).
    expect(CORPUS_SUITES).toEqual(
      expect.arrayContaining([
        'test/unit/corpus/attacks.test.ts',
        'test/unit/dataplane/pod-identity-corpus.test.ts',
      ]),
    )
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
    expect(summary('Test Files'), 'every suite ran').toBe(
      `${CORPUS_SUITES.length} passed (${CORPUS_SUITES.length})`,
    )
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
