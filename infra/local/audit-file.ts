// The local stack's audit trail on disk: every audit line the broker writes to stdout is also
// appended to `<data folder>/audit.log` (mode 0600), so `irsa-broker`'s decisions can be read
// back with jq after the terminal is gone. Rotated by size: audit.log → audit.log.1 → … → .N.
import { chmodSync, closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export const AUDIT_FILE = 'audit.log'

/**
 * An audit line as createJsonLogger writes it: the record's own fields come after these three,
 * so `"message":"audit"` here is the top-level member, never a value inside another field.
 */
const AUDIT_LINE = /^\{"level":"[A-Z]+","time":"[^"]*","message":"audit",/

export const isAuditLine = (line: string): boolean => AUDIT_LINE.test(line)

export interface AuditFileOptions {
  /** Rotate before a write would take the file past this size. */
  maxBytes?: number
  /** Rotated files kept besides the current one. */
  keep?: number
}

export interface AuditFile {
  path: string
  /** Appends `line` if it is an audit line; anything else is ignored. */
  write(line: string): void
  describeRotation(): string
  close(): void
}

export const DEFAULT_AUDIT_MAX_BYTES = 10 * 1024 * 1024
export const DEFAULT_AUDIT_KEEP = 5

export const createAuditFile = (dataDir: string, options: AuditFileOptions = {}): AuditFile => {
  const maxBytes = options.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES
  const keep = options.keep ?? DEFAULT_AUDIT_KEEP
  const path = join(dataDir, AUDIT_FILE)
  let fd: number | undefined
  let size = 0

  const open = () => {
    fd = openSync(path, 'a', 0o600)
    // An older file, or a umask, may have left wider permissions: audit lines name workloads and roles.
    chmodSync(path, 0o600)
    size = fstatSync(fd).size
  }

  const rotate = () => {
    if (fd !== undefined) closeSync(fd)
    fd = undefined
    rmSync(`${path}.${keep}`, { force: true })
    for (let n = keep - 1; n >= 1; n--) {
      if (existsSync(`${path}.${n}`)) renameSync(`${path}.${n}`, `${path}.${n + 1}`)
    }
    if (keep >= 1) renameSync(path, `${path}.1`)
    else rmSync(path, { force: true })
    open()
  }

  return {
    path,
    write: (line) => {
      if (!isAuditLine(line)) return
      const bytes = Buffer.from(`${line}\n`, 'utf8')
      if (fd === undefined) open()
      if (size > 0 && size + bytes.length > maxBytes) rotate()
      size += writeSync(fd as number, bytes)
    },
    describeRotation: () =>
      `rotated at ${Math.round(maxBytes / 1024 / 1024)} MiB, ${keep} older files kept as ${AUDIT_FILE}.1…${keep}`,
    close: () => {
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
  }
}
