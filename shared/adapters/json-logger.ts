// Structured JSON lines to a writable sink (stdout in Lambda and locally). The logger
// writes what it is given; callers pass allow-listed fields only, never a token or secret.
import type { AuditSink, Logger } from '../core/ports.js'

export type LineSink = (line: string) => void

export const stdoutSink: LineSink = (line) => {
  process.stdout.write(`${line}\n`)
}

const errorFields = (value: unknown): unknown =>
  value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value

/** The CloudWatch namespace of the broker's metrics. */
export const METRIC_NAMESPACE = 'irsa-broker'

export interface JsonLoggerOptions {
  /**
   * Dimensions every metric carries, e.g. `{ FunctionName }` in Lambda: they tell one stack's
   * functions apart from another's in the same account and Region, so its alarms count only
   * its own. A metric with dimensions of its own is also written rolled up to these alone.
   */
  metricDimensions?: Readonly<Record<string, string>>
}

export const createJsonLogger = (
  sink: LineSink,
  base: Record<string, unknown> = {},
  options: JsonLoggerOptions = {},
): Logger & { audit: AuditSink } => {
  const scope = options.metricDimensions ?? {}
  const scopeKeys = Object.keys(scope)
  const write = (level: string, message: string, fields: Record<string, unknown> = {}, now = new Date()) => {
    const entry: Record<string, unknown> = { level, time: now.toISOString(), message, ...base }
    // One line per request on the hot path: a plain loop, no intermediate arrays.
    for (const key in fields) if (Object.hasOwn(fields, key)) entry[key] = errorFields(fields[key])
    sink(JSON.stringify(entry))
  }
  return {
    info: (message, fields) => write('INFO', message, fields),
    warn: (message, fields) => write('WARN', message, fields),
    error: (message, fields) => write('ERROR', message, fields),
    // CloudWatch Embedded Metric Format: Lambda's log pipeline turns this line into a data point,
    // its dimensions being members of the line itself.
    metric: (name, value, dimensions) => {
      const now = new Date()
      const own = Object.keys(dimensions).filter((key) => !Object.hasOwn(scope, key))
      write(
        'INFO',
        'metric',
        {
          ...dimensions,
          ...scope,
          [name]: value,
          _aws: {
            Timestamp: now.getTime(),
            CloudWatchMetrics: [
              {
                Namespace: METRIC_NAMESPACE,
                Dimensions:
                  scopeKeys.length === 0
                    ? [own]
                    : own.length === 0
                      ? [scopeKeys]
                      : [[...scopeKeys, ...own], scopeKeys],
                Metrics: [{ Name: name, Unit: 'Count' }],
              },
            ],
          },
        },
        now,
      )
    },
    audit: (record) => write('INFO', 'audit', record),
  }
}
