// Structured JSON lines to a writable sink (stdout in Lambda and locally). The logger
// writes what it is given; callers pass allow-listed fields only, never a token or secret.
import type { AuditSink, Logger } from '../core/ports.js'

export type LineSink = (line: string) => void

export const stdoutSink: LineSink = (line) => {
  process.stdout.write(`${line}\n`)
}

const errorFields = (value: unknown): unknown =>
  value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value

export const createJsonLogger = (
  sink: LineSink,
  base: Record<string, unknown> = {},
): Logger & { audit: AuditSink } => {
  const write = (level: string, message: string, fields: Record<string, unknown> = {}) => {
    const entry: Record<string, unknown> = { level, time: new Date().toISOString(), message, ...base }
    for (const [key, value] of Object.entries(fields)) entry[key] = errorFields(value)
    sink(JSON.stringify(entry))
  }
  return {
    info: (message, fields) => write('INFO', message, fields),
    warn: (message, fields) => write('WARN', message, fields),
    error: (message, fields) => write('ERROR', message, fields),
    audit: (record) => write('INFO', 'audit', { ...record }),
  }
}
