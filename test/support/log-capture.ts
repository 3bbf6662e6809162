// Captures what the broker and the tests write during the whole run, for the secret scan in
// test/global-setup.ts. Installed in every worker by test/setup.ts; each worker appends JSON
// lines to its own file in the run folder the global setup created. Captured:
//  - every write to process.stdout / process.stderr of a worker (the broker's stdout log sink);
//  - every console.* call in a worker (vitest forwards those to its reporter);
//  - every line handed to a broker log sink that a test keeps in memory (`capturingSink`);
//  - stdout and stderr of broker processes the tests spawn (`npm start`, `node --import tsx infra/local/main.ts`).
// Not captured: vitest's own reporter (the main process), and spawned AWS clients and the CLI,
// whose job is to print credentials.
import childProcess, { type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { join } from 'node:path'
import { format } from 'node:util'
import type { CapturedRecord } from './secret-scan.js'

export const CAPTURE_DIR_VARIABLE = 'IRSA_BROKER_TEST_CAPTURE_DIR'

const INSTALLED = Symbol.for('irsa-broker.test.log-capture')

/** A spawned process is a broker when it runs the local entry point. */
export const isBrokerCommand = (command: string, args: readonly string[]): boolean => {
  const line = [command, ...args].join(' ')
  return /infra[\\/]local[\\/]main\.[cm]?[jt]s\b/.test(line) || /\bnpm\b.*\bstart\b/.test(line)
}

let currentFile: () => string | undefined = () => undefined
let captureFile: string | undefined

/** Appends one record to this worker's capture file (no-op when no run folder is configured). */
export const captureText = (source: string, text: string): void => {
  if (!captureFile || text === '') return
  const record: CapturedRecord = { source, text }
  const file = currentFile()
  if (file) record.file = file
  try {
    appendFileSync(captureFile, `${JSON.stringify(record)}\n`)
  } catch {
    // The run folder is gone: the scan at the end fails on its absence, so nothing goes unseen.
  }
}

/** Wraps an in-memory log sink so that its lines are scanned like stdout lines. */
export const capturingSink =
  (name: string, sink: (line: string) => void): ((line: string) => void) =>
  (line) => {
    captureText(`sink:${name}`, line)
    sink(line)
  }

const teeChild = (child: ChildProcess, command: string) => {
  for (const [stream, name] of [
    [child.stdout, 'stdout'],
    [child.stderr, 'stderr'],
  ] as const) {
    stream?.on('data', (chunk: Buffer | string) => captureText(`child:${command}:${name}`, chunk.toString()))
  }
}

const wrapWrite = (stream: NodeJS.WriteStream, source: string) => {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    captureText(source, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))
    return write(chunk, ...rest)
  }) as typeof stream.write
}

export const installLogCapture = (options: {
  dir: string | undefined
  testFile: () => string | undefined
}) => {
  const global = globalThis as Record<symbol, boolean>
  if (global[INSTALLED]) return
  global[INSTALLED] = true
  currentFile = options.testFile
  if (!options.dir) return
  captureFile = join(options.dir, `worker-${process.pid}.jsonl`)

  wrapWrite(process.stdout, 'stdout')
  wrapWrite(process.stderr, 'stderr')

  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    const original = console[method].bind(console)
    console[method] = (...args: unknown[]) => {
      captureText(`console.${method}`, format(...args))
      original(...args)
    }
  }

  const spawn = childProcess.spawn
  childProcess.spawn = function capturingSpawn(this: unknown, ...args: unknown[]) {
    const child = (spawn as (...a: unknown[]) => ChildProcess).apply(this, args)
    const [command, commandArgs] = args as [string, unknown]
    const list = Array.isArray(commandArgs) ? commandArgs.map(String) : []
    if (isBrokerCommand(command, list)) teeChild(child, [command, ...list].join(' ').slice(0, 120))
    return child
  } as typeof childProcess.spawn
  syncBuiltinESMExports()
}
