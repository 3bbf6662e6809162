// The agent image's files (scripts/build-agent.mjs, what its Dockerfile runs): how long the
// build takes, how big the self-contained executable is, and what one `credential_process` call
// costs a workload with it — the process start, the token read and one request to a loopback
// stand-in of the broker's /v1/credentials — beside the same CLI run by node from the bundle.
// Each run is a fresh process, as the AWS SDKs start one per refresh. Prints figures only.
//
//   tsx test/bench/agent-executable.bench.ts [--runs N]      (default 20 per row)
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { agentTree } from '../support/agent-build.js'
import { distribution, ms, table } from './stats.js'

const ROOT = join(import.meta.dirname, '..', '..')
const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } })
const RUNS = Number(values.runs)
const print = (line = '') => process.stdout.write(`${line}\n`)

const timed = (command: string, args: string[]): Promise<number> =>
  new Promise((done, fail) => {
    const started = performance.now()
    const child = spawn(command, args, { env: {}, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.once('error', fail)
    child.once('exit', (code) =>
      code === 0
        ? done(performance.now() - started)
        : fail(new Error(`${command} exited ${code}: ${stderr}`)),
    )
  })

const work = mkdtempSync(join(tmpdir(), 'irsa-broker-bench-agent-'))
const server = createServer((request, response) => {
  request.resume()
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(
      JSON.stringify({
        Version: 1,
        AccessKeyId: 'ASIABENCHBENCHBENCH0',
        SecretAccessKey: 'bench',
        SessionToken: 'bench',
        Expiration: new Date(Date.now() + 3600_000).toISOString(),
      }),
    )
  })
})
try {
  const out = join(work, 'image')
  const started = performance.now()
  const build = spawnSync(process.execPath, ['scripts/build-agent.mjs', '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  const buildSeconds = (performance.now() - started) / 1000
  if (build.status !== 0) throw new Error(`build-agent failed:\n${build.stderr}`)
  const agent = agentTree(out)
  const token = join(work, 'token')
  writeFileSync(token, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2ln')
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const call = ['credential-process', '--endpoint', endpoint, '--token-file', token, '--role', 'bench']

  const rows: [string, string, string[]][] = [
    ['executable --version', agent.executable, ['--version']],
    ['node bundle --version', process.execPath, [agent.cliEntry, '--version']],
    ['executable credential-process', agent.executable, call],
    ['node bundle credential-process', process.execPath, [agent.cliEntry, ...call]],
  ]
  const samples = new Map(rows.map(([name]) => [name, [] as number[]]))
  // Interleaved, so that a burst of load elsewhere touches every row alike.
  for (let run = 0; run < RUNS; run++)
    for (const [name, command, args] of rows) samples.get(name)?.push(await timed(command, args))

  print(`## The agent image's executable (${new Date().toISOString()})`)
  print()
  print(`cpu ${cpus()[0]?.model} ×${availableParallelism()}, node ${process.version}, ${RUNS} runs per row`)
  print(
    `build (node scripts/build-agent.mjs): ${buildSeconds.toFixed(1)} s; executable ${(statSync(agent.executable).size / 2 ** 20).toFixed(1)} MiB`,
  )
  print()
  print(
    table(
      ['process, start to exit (ms)', 'p50', 'p90', 'max'],
      rows.map(([name]) => {
        const d = distribution(samples.get(name) ?? [])
        return [name, ms(d.p50), ms(d.p90), ms(d.max)]
      }),
    ),
  )
} finally {
  server.close()
  rmSync(work, { recursive: true, force: true })
}
