// Data on stdout: JSON (the default, for scripts and jq) or a plain aligned table for people.

export type OutputFormat = 'json' | 'table'
export const OUTPUT_FORMATS = ['json', 'table'] as const

export interface Column<T> {
  header: string
  value: (row: T) => unknown
}

const cell = (value: unknown): string => {
  if (value === undefined || value === null) return '-'
  if (typeof value === 'string') return value === '' ? '-' : value.replace(/\s+/g, ' ')
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join(',') || '-'
  return JSON.stringify(value)
}

export const table = <T>(rows: readonly T[], columns: readonly Column<T>[]): string => {
  const cells = [
    columns.map((column) => column.header),
    ...rows.map((row) => columns.map((c) => cell(c.value(row)))),
  ]
  const widths = columns.map((_, index) => Math.max(...cells.map((line) => (line[index] ?? '').length)))
  return `${cells
    .map((line) =>
      line
        .map((text, index) => (index === line.length - 1 ? text : text.padEnd(widths[index] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`
}

/** Columns by header: a field of the row, or what a function makes of the row. */
export const columns = (
  spec: Record<string, string | ((row: Record<string, unknown>) => unknown)>,
): Column<Record<string, unknown>>[] =>
  Object.entries(spec).map(([header, field]) => ({
    header,
    value: typeof field === 'string' ? (row) => row[field] : field,
  }))

/** One object as KEY / VALUE rows, top-level fields in their order. */
export const objectTable = (object: Record<string, unknown>): string =>
  table(Object.entries(object), [
    { header: 'FIELD', value: ([key]) => key },
    { header: 'VALUE', value: ([, value]) => value },
  ])

export const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`
