// The rules file (`--rules`, a mounted ConfigMap): parsed by the core's parseWebhookRules, read
// again when it changes; a new file that does not parse leaves the last good rules in force.
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

/** Reads and parses the file; throws RulesFileError with the parser's message. */
export const loadRulesFile = (
  path: string,
  readFile: (path: string) => Buffer = (p) => readFileSync(p),
): LoadedRules => {
  let raw: Buffer
  try {
    raw = readFile(path)
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
    ...(options.readFile ? { readFile: options.readFile } : {}),
    onChange: ([raw]) => {
      try {
        options.onReload(parseRules(raw as Buffer))
      } catch (error) {
        options.onRejected((error as Error).message)
      }
    },
    onReadError: (error) => options.onRejected(`cannot read the file: ${error.message}`),
  })
