// The rules file (`--rules`, a mounted ConfigMap): parsed by the core's parseWebhookRules, read
// again when it changes; a new file that does not parse leaves the last good rules in force. A
// file that is not there is no rules, like an empty one: the shipped Deployment mounts an
// optional ConfigMap, absent until an admin creates it (and gone again when one deletes it).
import { readFileSync } from 'node:fs'
import { parseWebhookRules, type WebhookRule } from '../core/index.js'
import { pollFiles } from './file-poller.js'

export class RulesFileError extends Error {
  override readonly name = 'RulesFileError'
  readonly code = 'RulesFileInvalid'
}

export interface LoadedRules {
  rules: readonly WebhookRule[]
  raw: Buffer
}

const NO_FILE = Buffer.alloc(0)

/** The file's bytes, or none when it does not exist; other read errors are thrown. */
const readOrNothing =
  (readFile: (path: string) => Buffer) =>
  (path: string): Buffer => {
    try {
      return readFile(path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return NO_FILE
      throw error
    }
  }

const readFromDisk = (path: string) => readFileSync(path)

/** Reads and parses the file (absent: no rules); throws RulesFileError with the parser's message. */
export const loadRulesFile = (
  path: string,
  readFile: (path: string) => Buffer = readFromDisk,
): LoadedRules => {
  let raw: Buffer
  try {
    raw = readOrNothing(readFile)(path)
  } catch (error) {
    throw new RulesFileError(`cannot read ${path}: ${(error as Error).message}`)
  }
  return parseRules(raw)
}

const parseRules = (raw: Buffer): LoadedRules => {
  const parsed = parseWebhookRules(raw.toString('utf8'))
  if (!parsed.ok) throw new RulesFileError(parsed.message)
  return { rules: Object.freeze([...parsed.rules]), raw }
}

export const watchRulesFile = (options: {
  path: string
  intervalMs: number
  current: LoadedRules
  onReload(loaded: LoadedRules): void
  onRejected(reason: string): void
  readFile?: (path: string) => Buffer
}) =>
  pollFiles({
    paths: [options.path],
    intervalMs: options.intervalMs,
    initial: [options.current.raw],
    readFile: readOrNothing(options.readFile ?? readFromDisk),
    onChange: ([raw]) => {
      try {
        options.onReload(parseRules(raw as Buffer))
      } catch (error) {
        options.onRejected((error as Error).message)
      }
    },
    onReadError: (error) => options.onRejected(`cannot read the file: ${error.message}`),
  })
