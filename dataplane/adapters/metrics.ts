// Prometheus metrics of the webhook: counters, gauges and histograms kept in memory and written
// in the text exposition format 0.0.4 on GET /metrics. A dozen families need no library; why
// not prom-client: docs/decisions.md ("The webhook program").

export type Labels = Readonly<Record<string, string>>

export interface Counter {
  inc(labels?: Labels, value?: number): void
}

export interface Gauge {
  set(value: number, labels?: Labels): void
}

export interface Histogram {
  observe(value: number, labels?: Labels): void
}

export interface MetricsRegistry {
  /** `known` label sets are written as 0 before their first increment, so a rate() has a start. */
  counter(name: string, help: string, labelNames?: readonly string[], known?: readonly Labels[]): Counter
  /** `collect`, when given, is asked for the value at each scrape. */
  gauge(name: string, help: string, collect?: () => number): Gauge
  histogram(name: string, help: string, buckets: readonly number[], labelNames?: readonly string[]): Histogram
  /** The text exposition format. */
  render(): string
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const escapeLabelValue = (value: string) =>
  value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const escapeHelp = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

/** Prometheus' float format: integers plain, +Inf/-Inf/NaN spelt its way. */
export const formatValue = (value: number): string =>
  Number.isNaN(value) ? 'NaN' : value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : String(value)

interface Family {
  render(lines: string[]): void
}

export const createMetricsRegistry = (): MetricsRegistry => {
  const families: Family[] = []
  const names = new Set<string>()

  const declare = (name: string, labelNames: readonly string[]) => {
    if (!NAME.test(name)) throw new Error(`metric name ${name} is not valid`)
    if (names.has(name)) throw new Error(`metric ${name} declared twice`)
    for (const label of labelNames)
      if (!LABEL.test(label) || label === 'le') throw new Error(`label ${label} is not valid`)
    names.add(name)
  }

  /** `{a="x",b="y"}` in the declared order; a missing label is written empty, an undeclared one refused. */
  const labelText = (labelNames: readonly string[], labels: Labels | undefined, extra = ''): string => {
    if (labels)
      for (const key in labels) if (!labelNames.includes(key)) throw new Error(`undeclared label ${key}`)
    const parts = labelNames.map((label) => `${label}="${escapeLabelValue(labels?.[label] ?? '')}"`)
    if (extra) parts.push(extra)
    return parts.length > 0 ? `{${parts.join(',')}}` : ''
  }

  const header = (lines: string[], name: string, help: string, type: string) => {
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
  }

  return {
    counter(name, help, labelNames = [], known = []) {
      declare(name, labelNames)
      const values = new Map<string, number>()
      const inc: Counter['inc'] = (labels, value = 1) => {
        if (!(value >= 0)) throw new Error(`counter ${name} cannot decrease`)
        const key = labelText(labelNames, labels)
        values.set(key, (values.get(key) ?? 0) + value)
      }
      if (labelNames.length === 0) values.set('', 0)
      for (const labels of known) inc(labels, 0)
      families.push({
        render(lines) {
          header(lines, name, help, 'counter')
          for (const [key, value] of values) lines.push(`${name}${key} ${formatValue(value)}`)
        },
      })
      return { inc }
    },

    gauge(name, help, collect) {
      declare(name, [])
      let current = 0
      families.push({
        render(lines) {
          header(lines, name, help, 'gauge')
          lines.push(`${name} ${formatValue(collect ? collect() : current)}`)
        },
      })
      return {
        set(value) {
          current = value
        },
      }
    },

    histogram(name, help, buckets, labelNames = []) {
      declare(name, labelNames)
      const bounds = [...buckets].sort((a, b) => a - b)
      const series = new Map<
        string,
        { labels: Labels | undefined; counts: number[]; sum: number; count: number }
      >()
      families.push({
        render(lines) {
          header(lines, name, help, 'histogram')
          for (const { labels, counts, sum, count } of series.values()) {
            let cumulative = 0
            bounds.forEach((bound, index) => {
              cumulative += counts[index] ?? 0
              lines.push(
                `${name}_bucket${labelText(labelNames, labels, `le="${formatValue(bound)}"`)} ${cumulative}`,
              )
            })
            lines.push(`${name}_bucket${labelText(labelNames, labels, 'le="+Inf"')} ${count}`)
            lines.push(`${name}_sum${labelText(labelNames, labels)} ${formatValue(sum)}`)
            lines.push(`${name}_count${labelText(labelNames, labels)} ${count}`)
          }
        },
      })
      return {
        observe(value, labels) {
          const key = labelText(labelNames, labels)
          let entry = series.get(key)
          if (!entry) {
            entry = { labels, counts: bounds.map(() => 0), sum: 0, count: 0 }
            series.set(key, entry)
          }
          const index = bounds.findIndex((bound) => value <= bound)
          if (index !== -1) entry.counts[index] = (entry.counts[index] ?? 0) + 1
          entry.sum += value
          entry.count += 1
        },
      }
    },

    render() {
      const lines: string[] = []
      for (const family of families) family.render(lines)
      return `${lines.join('\n')}\n`
    },
  }
}
