// The local audit file: the audit lines of the broker's real JSON logger and nothing else,
// mode 0600 whatever the umask, rotated by size with a bounded number of old files.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AUDIT_FILE, createAuditFile, isAuditLine } from '../../../infra/local/audit-file.js'
import { createJsonLogger } from '../../../shared/adapters/json-logger.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-audit-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** The lines the broker's own logger writes, one of each kind. */
const loggerLines = () => {
  const lines: string[] = []
  const logger = createJsonLogger((line) => lines.push(line), { service: 'irsa-broker-local' })
  logger.info('listening', { port: 1 })
  logger.audit({ type: 'audit', event: 'credentials', decision: 'deny', reason: 'issuer_unknown' })
  logger.warn('dependency unavailable', { reason: 'sts_unavailable', error: { message: 'audit' } })
  logger.error('request failed', { error: new Error('"message":"audit"') })
  logger.metric('Credentials', 1, { outcome: 'issued' })
  logger.audit({ type: 'audit', event: 'admin.issuer.put', issuerId: 'a' })
  return lines
}

const readLines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n')

describe('the local audit file', () => {
  it('keeps exactly the audit lines of the JSON logger, byte for byte', () => {
    const lines = loggerLines()
    const file = createAuditFile(dir)
    for (const line of lines) file.write(line)
    file.close()
    expect(readLines(join(dir, AUDIT_FILE))).toEqual([lines[1], lines[5]])
    expect(lines.filter(isAuditLine)).toEqual([lines[1], lines[5]])
  })

  it('is 0600 even when the file existed with wider permissions', () => {
    writeFileSync(join(dir, AUDIT_FILE), '', { mode: 0o644 })
    const file = createAuditFile(dir)
    file.write(loggerLines()[1] as string)
    file.close()
    expect(statSync(join(dir, AUDIT_FILE)).mode & 0o777).toBe(0o600)
  })

  it('rotates before a line would pass the size limit, keeping the newest files only', () => {
    const base = loggerLines()[1] as string
    const lines = Array.from({ length: 12 }, (_, n) => base.replace('"decision"', `"n":${n % 10},"decision"`))
    const perFile = 3
    const file = createAuditFile(dir, { maxBytes: Buffer.byteLength(`${lines[0]}\n`) * perFile, keep: 2 })
    for (const line of lines) file.write(line)
    file.close()
    expect(readdirSync(dir).sort()).toEqual([AUDIT_FILE, `${AUDIT_FILE}.1`, `${AUDIT_FILE}.2`])
    const numbers = (name: string) =>
      readLines(join(dir, name)).map((l) => (JSON.parse(l) as { n: number }).n)
    expect(numbers(`${AUDIT_FILE}.2`)).toEqual([3, 4, 5])
    expect(numbers(`${AUDIT_FILE}.1`)).toEqual([6, 7, 8])
    expect(numbers(AUDIT_FILE)).toEqual([9, 0, 1])
    for (const name of readdirSync(dir)) expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600)
  })
})
